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
:meth:`~cove.server.cas.xorb.XorbIndex.to_bytes` (40 bytes a chunk), written after the xorb, by the
writer whose bytes were kept, so an index never names a missing xorb nor describes another copy's
bytes; a missing index is rebuilt from the xorb.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from cove.server.cas.errors import InvalidXetData, XetStoreError
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
        return self.keep(index, lambda: self.blobs.put(xorb_key(xorb), bytes(memoryview(body)[:index.stored_size])))

    def put_verified(self, body: bytes, index: XorbIndex) -> bool:
        """Store a xorb this server serialized itself (conversions); no re-verification."""
        return self.keep(index, lambda: self.blobs.put(xorb_key(index.hash), body))[1]

    def keep(self, index: XorbIndex, put_body: Callable[[], bool]) -> tuple[XorbIndex, bool]:
        """Store a verified xorb: ``put_body()`` stores its bytes (False: another copy was there first),
        then its index. ``(index of the stored copy, was_inserted)``.

        Only the writer whose bytes were kept writes the index, so two concurrent uploads of one
        xorb, compressed differently, never leave one's index next to the other's bytes.
        """
        stored = self.index(index.hash)
        if stored is not None:
            return stored, False
        if put_body():
            self.blobs.put(xorb_key(index.hash) + ".index", index.to_bytes())
            return index, True
        stored = self.index(index.hash)
        if stored is None:
            raise XetStoreError(f"xorb {to_hex(index.hash)} vanished while it was stored")
        return stored, False

    def index(self, xorb: bytes) -> XorbIndex | None:
        """The index of a stored xorb, or None.

        A xorb stored without its index (a writer that stopped between the two, or is still between
        them) gets its index rebuilt from its bytes.
        """
        key = xorb_key(xorb)
        data = self.blobs.get(key + ".index")
        if data is not None:
            return XorbIndex.from_bytes(data)
        body = self.blobs.get(key)
        if body is None:
            return None
        try:
            index = verify_xorb(body, xorb)
        except InvalidXetData as e:
            raise XetStoreError(f"stored xorb {to_hex(xorb)} is damaged: {e.message}") from None
        self.blobs.put(key + ".index", index.to_bytes())
        return index

    def read(self, xorb: bytes, first: int, end: int) -> bytes:
        """Stored bytes ``[first, end)`` of a xorb."""
        data = self.blobs.get_range(xorb_key(xorb), first, end)
        if len(data) != end - first:
            raise XetStoreError(f"xorb {to_hex(xorb)}: {len(data)} of {end - first} stored bytes read")
        return data
