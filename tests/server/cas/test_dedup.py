"""Global dedup (§9): what an accepted shard adds to the index, and the shard that answers a query."""

from __future__ import annotations

from cove.server.cas.dedup import KEY_TTL, MemoryDedupIndex, answer_query, dedup_entries
from cove.server.cas.hashes import ZERO_HASH, chunk_hash, dedup_eligible, file_hash, keyed, verification_hash
from cove.server.cas.shard import (
    CHUNK_FLAG_GLOBAL_DEDUP,
    ChunkRecord,
    FileRecord,
    Term,
    XorbRecord,
    parse_shard,
    serialize_shard,
    validate_shard,
)
from cove.server.cas.xorb import serialize_xorb


def _eligible_chunk() -> bytes:
    i = 0
    while not dedup_eligible(chunk_hash(data := i.to_bytes(4, "little") * 3000)):
        i += 1
    return data


def test_entries_and_answer():
    eligible = _eligible_chunk()
    chunks = [b"first" * 2000, b"plain" * 2000, eligible, b"flagged" * 2000]
    index = serialize_xorb(chunks)[1]
    f = FileRecord(file_hash(index.nodes(1, 4)), (Term(index.hash, 1, 4, index.raw_size - 10_000),),
                   (verification_hash(c.hash for c in index.chunks[1:]),))
    rec = XorbRecord.from_index(index)
    flagged = ChunkRecord(rec.chunks[3].hash, rec.chunks[3].offset, rec.chunks[3].size, CHUNK_FLAG_GLOBAL_DEDUP)
    body = serialize_shard([f], [XorbRecord(rec.hash, rec.chunks[:3] + (flagged,), rec.raw_size)])
    shard = validate_shard(parse_shard(body), {index.hash: index}.get)
    table = MemoryDedupIndex()
    table.add(dedup_entries(shard, {index.hash: index}.get))
    # the file's first chunk (chunk 1 of the xorb), the eligible one, the flagged one; not chunk 0
    assert set(table.table) == {index.chunks[1].hash, index.chunks[2].hash, index.chunks[3].hash}
    assert answer_query(index.chunks[0].hash, table.find, {index.hash: index}.get) is None

    answer = answer_query(index.chunks[2].hash, table.find, {index.hash: index}.get, hmac_key=b"k" * 32, now=1000)
    parsed = parse_shard(answer)
    assert parsed.files == () and parsed.footer.key_expiry == 1000 + KEY_TTL and parsed.footer.hmac_key == b"k" * 32
    assert [c.hash for c in parsed.xorbs[0].chunks] == [keyed(b"k" * 32, c.hash) for c in index.chunks]
    clear = parse_shard(answer_query(index.chunks[2].hash, table.find, {index.hash: index}.get, hmac_key=ZERO_HASH))
    assert [c.hash for c in clear.xorbs[0].chunks] == [c.hash for c in index.chunks]
    random_key = parse_shard(answer_query(index.chunks[2].hash, table.find, {index.hash: index}.get))
    assert random_key.footer.hmac_key != ZERO_HASH
