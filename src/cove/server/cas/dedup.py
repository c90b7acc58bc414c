"""Global dedup (spec §9, route #6 ``GET /v1/chunks/{prefix}/{chunk}``): what to index, how to answer.

From every accepted shard the CAS indexes a few chunk hashes per xorb: the first chunk of each file,
and the chunks of each new xorb that are dedup-eligible (``w3 % 1024 == 0``, §4.7) or flagged by the
client (bit 31). A query for an indexed chunk is answered with a full shard (§7.5): no files, the
CAS block of the xorb holding the chunk, lookup tables and a footer whose key expires in a week.
With an HMAC key (random per answer by default) the chunk hashes in it are keyed, so the answer
only confirms chunks the client already has.

:class:`MemoryDedupIndex` is the reference of the ``chunk -> xorb`` table a database will hold.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence

from cove.server.cas.hashes import dedup_eligible
from cove.server.cas.shard import CHUNK_FLAG_GLOBAL_DEDUP, ValidShard, XorbRecord, serialize_shard
from cove.server.cas.xorb import XorbIndex

KEY_TTL = 7 * 24 * 3600  # seconds a dedup answer's key stays valid (clients drop expired shards)


def dedup_entries(shard: ValidShard, lookup: Callable[[bytes], XorbIndex | None]) -> Iterator[tuple[bytes, bytes]]:
    """``(chunk hash, xorb hash)`` pairs to index from an accepted shard (§9)."""
    for f in shard.files:
        if f.terms:
            t = f.terms[0]
            idx = lookup(t.xorb)
            if idx is not None:
                yield idx.chunks[t.start].hash, t.xorb
    for x in shard.xorbs:
        for c in x.chunks:
            if c.flags & CHUNK_FLAG_GLOBAL_DEDUP or dedup_eligible(c.hash):
                yield c.hash, x.hash


def dedup_response(xorbs: Sequence[XorbIndex], *, hmac_key: bytes | None = None, now: int | None = None,
                   ttl: int = KEY_TTL) -> bytes:
    """The shard answering a dedup query: these xorbs' chunk lists, keyed by ``hmac_key``.

    ``hmac_key=None`` draws a random key; 32 zero bytes send the chunk hashes in the clear.
    """
    key = os.urandom(32) if hmac_key is None else hmac_key
    now = int(time.time()) if now is None else now
    records = [XorbRecord.from_index(x, hmac_key=key, bytes_on_disk=x.stored_size) for x in xorbs]
    return serialize_shard([], records, footer=True, hmac_key=key, creation_ts=now, key_expiry=now + ttl)


def answer_query(chunk: bytes, find: Callable[[bytes], bytes | None], lookup: Callable[[bytes], XorbIndex | None],
                 *, hmac_key: bytes | None = None, now: int | None = None) -> bytes | None:
    """The answer to a query for ``chunk``, or None (the route's 404).

    ``find(chunk)`` returns the xorb indexed for it; ``lookup(xorb)`` its index.
    """
    xorb = find(chunk)
    idx = None if xorb is None else lookup(xorb)
    if idx is None:
        return None
    return dedup_response([idx], hmac_key=hmac_key, now=now)


class MemoryDedupIndex:
    """``chunk hash -> xorb hash``, first registration wins (what a DB table will hold)."""

    def __init__(self) -> None:
        self.table: dict[bytes, bytes] = {}

    def add(self, entries: Iterator[tuple[bytes, bytes]]) -> None:
        for chunk, xorb in entries:
            self.table.setdefault(chunk, xorb)

    def find(self, chunk: bytes) -> bytes | None:
        return self.table.get(chunk)
