"""Xorbs at rest: :class:`CasStore` keeps verified xorbs and their indexes in any :class:`ByteStore`.

The CAS core does no I/O of its own. A :class:`ByteStore` is four methods over immutable blobs named
by string keys; the Hub backs it with its blob store (filesystem or S3-compatible), the tests with
:class:`MemoryStore`. :class:`CasStore` is what the CAS routes call:

* ``put_xorb(hash, body)`` for ``POST /v1/xorbs/{prefix}/{hash}`` (verify, then store the xorb and
  its index; ``was_inserted`` is False when it was already there),
* ``index(hash)`` as the ``lookup`` of :func:`~cove.server.cas.shard.validate_shard` and of the
  reconstruction functions,
* ``read(hash, first, end)`` for fetch URLs and server-side reconstruction.

Keys: ``xorbs/<hex>`` holds the footerless xorb, ``xorbs/<hex>.index`` its
:meth:`~cove.server.cas.xorb.XorbIndex.to_bytes` (40 bytes a chunk), written after the xorb so an
index never names a missing xorb.
"""

from __future__ import annotations

from typing import Protocol

from cove.server.cas.errors import XetStoreError
from cove.server.cas.hashes import to_hex
from cove.server.cas.xorb import XorbIndex, verify_xorb


class ByteStore(Protocol):
    """Immutable blobs by key. ``put`` of an existing key keeps the first value and returns False."""

    def put(self, key: str, data: bytes) -> bool: ...

    def get(self, key: str) -> bytes | None: ...

    def get_range(self, key: str, start: int, end: int) -> bytes: ...  # bytes [start, end)

    def exists(self, key: str) -> bool: ...


class MemoryStore:
    """A :class:`ByteStore` in a dict (tests, tools)."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def put(self, key: str, data: bytes) -> bool:
        if key in self.blobs:
            return False
        self.blobs[key] = bytes(data)
        return True

    def get(self, key: str) -> bytes | None:
        return self.blobs.get(key)

    def get_range(self, key: str, start: int, end: int) -> bytes:
        return self.blobs[key][start:end]

    def exists(self, key: str) -> bool:
        return key in self.blobs


def xorb_key(xorb: bytes) -> str:
    return f"xorbs/{to_hex(xorb)}"


class CasStore:
    """Verified xorbs and their indexes on a :class:`ByteStore`."""

    def __init__(self, blobs: ByteStore) -> None:
        self.blobs = blobs

    def put_xorb(self, xorb: bytes, body: bytes) -> tuple[XorbIndex, bool]:
        """Verify an uploaded xorb against its URL hash and store it; ``(index, was_inserted)``.

        Raises :class:`~cove.server.cas.errors.InvalidXetData` (400) before anything is stored. If
        the xorb is already stored, the stored copy stays and its index is returned: the hash covers
        the raw chunks only, so another upload may hold the same chunks compressed differently.
        """
        index = verify_xorb(body, xorb)
        key = xorb_key(xorb)
        stored = self.index(xorb)
        if stored is not None:
            return stored, False
        self.blobs.put(key, bytes(memoryview(body)[:index.stored_size]))
        self.blobs.put(key + ".index", index.to_bytes())
        return index, True

    def put_verified(self, body: bytes, index: XorbIndex) -> bool:
        """Store a xorb this server serialized itself (conversions); no re-verification."""
        key = xorb_key(index.hash)
        if self.blobs.exists(key + ".index"):
            return False
        self.blobs.put(key, body)
        self.blobs.put(key + ".index", index.to_bytes())
        return True

    def index(self, xorb: bytes) -> XorbIndex | None:
        """The index of a stored xorb, or None."""
        data = self.blobs.get(xorb_key(xorb) + ".index")
        return None if data is None else XorbIndex.from_bytes(data)

    def read(self, xorb: bytes, first: int, end: int) -> bytes:
        """Stored bytes ``[first, end)`` of a xorb."""
        data = self.blobs.get_range(xorb_key(xorb), first, end)
        if len(data) != end - first:
            raise XetStoreError(f"xorb {to_hex(xorb)}: {len(data)} of {end - first} stored bytes read")
        return data
