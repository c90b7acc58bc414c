"""The chunker against spec §5/§11 and against hf_xet: the gear table, the boundaries of the test
vectors, the byte loop of §5 (the vectorized scan must place every boundary where it does, whatever
the block size it is fed), and file IDs equal to ``hf_xet.hash_files`` on files of many sizes and
kinds."""

from __future__ import annotations

import hashlib
import io
import random
import struct

import pytest

from cove.server.cas.chunker import GEAR_TABLE, MAX_CHUNK, MIN_CHUNK, Chunker, file_id, iter_chunks
from cove.server.cas.hashes import to_hex


def reference_chunks(data: bytes) -> list[int]:
    """The byte loop of spec §5, verbatim: chunk lengths."""
    out, h, start = [], 0, 0
    for i, b in enumerate(data):
        h = ((h << 1) + GEAR_TABLE[b]) & 0xFFFFFFFFFFFFFFFF
        size = i + 1 - start
        if size < MIN_CHUNK:
            continue
        if size >= MAX_CHUNK or (h & 0xFFFF000000000000) == 0:
            out.append(size)
            start, h = i + 1, 0
    if start < len(data):
        out.append(len(data) - start)
    return out


def lengths(data: bytes, block: int = 1 << 20) -> list[int]:
    return [len(c) for c in iter_chunks(io.BytesIO(data), block_size=block)]


def test_gear_table_checksum():
    packed = struct.pack("<256Q", *GEAR_TABLE)
    assert hashlib.sha256(packed).hexdigest() == "e1d3936666d7ae7a977c958e9afcc75f90aaca758ce5fbe4ece61dffefe1912c"


def test_vector_d(data_d):
    assert lengths(data_d) == [117737, 47918, 131072, 121856, 16547, 106122, 72144, 82514, 85138, 112102, 106850]
    fid, size = file_id(io.BytesIO(data_d))
    assert to_hex(fid) == "d2d31f60fc5649d7024fc5d3dcf5fadd47fd0e0b427dd8412e2c1facd287d99c" and size == 1_000_000


def test_vector_zeros():
    assert lengths(bytes(300_000)) == [131072, 131072, 37856]
    assert to_hex(file_id(io.BytesIO(bytes(300_000)))[0]) == (
        "3d7bd4178bc2851ba07d59c24c3a88ae0c7220e9920d6c5c6a06b01556d46404")
    assert lengths(bytes(1_000_000)) == [131072] * 7 + [82496]


def test_empty_and_small():
    assert lengths(b"") == []
    assert to_hex(file_id(io.BytesIO(b""))[0]) == "0" * 64
    assert lengths(b"x") == [1] and lengths(bytes(MIN_CHUNK - 1)) == [MIN_CHUNK - 1]
    assert to_hex(file_id(io.BytesIO(b"hello world"))[0]) == (
        "f15edd43b7e85cfd25e2758ffe13b99fdd09dfa817e8d9f6548722a7a126db7f")


def _low_entropy(rng: random.Random, n: int) -> bytes:
    # few distinct bytes: cut candidates are dense, so MIN_CHUNK and the block edges matter
    return bytes(rng.choice(b"ab\x00") for _ in range(n))


@pytest.mark.parametrize("kind", ["random", "low_entropy", "text"])
def test_same_boundaries_as_the_byte_loop(kind):
    rng = random.Random(kind)
    n = 400_000
    data = {"random": lambda: rng.randbytes(n), "low_entropy": lambda: _low_entropy(rng, n),
            "text": lambda: b" ".join(rng.choice([b"the", b"cat", b"sat", b"on", b"mat\n"]) for _ in range(n // 3))[:n]}[kind]()
    expected = reference_chunks(data)
    assert sum(expected) == len(data) and len(expected) > 3
    for block in (63, 4096, 65537, 1 << 20):  # blocks shorter than the 64-byte window, and longer
        assert lengths(data, block) == expected, block


def test_chunker_fed_uneven_pieces(data_d):
    rng = random.Random(7)
    c, out, pos = Chunker(), [], 0
    while pos < len(data_d):
        step = rng.choice([1, 10, 1000, 70_000, 300_000])
        out += c.update(data_d[pos:pos + step])
        pos += step
    out += c.finish()
    assert b"".join(out) == data_d
    assert [len(x) for x in out] == lengths(data_d)


def _files(tmp_path) -> dict[str, bytes]:
    rng = random.Random(1234)
    words = [rng.randbytes(rng.randint(1, 8)).hex().encode() for _ in range(500)]
    text = b" ".join(rng.choice(words) for _ in range(400_000))[:3_000_000]
    mixed = b"".join(rng.randbytes(rng.randint(1, 200_000)) if i % 2 else bytes(rng.randint(1, 300_000))
                     for i in range(20))
    floats = struct.pack("<250000f", *(rng.gauss(0, 1) for _ in range(250_000)))
    files = {f"random_{n}": rng.randbytes(n) for n in (1, 100, 8191, 8192, 8193, 131071, 131072, 131073,
                                                         262145, 1_000_000)}
    files.update(empty=b"", text=text, mixed=mixed, floats=floats, zeros=bytes(2_500_000),
                 repeated=rng.randbytes(50_000) * 40, random_10mb=rng.randbytes(10_000_000))
    return files


def test_file_ids_equal_hf_xet_hash_files(tmp_path):
    hf_xet = pytest.importorskip("hf_xet")
    files = _files(tmp_path)
    paths = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    theirs = hf_xet.hash_files(paths)
    for (name, data), info in zip(files.items(), theirs):
        with open(tmp_path / name, "rb") as f:
            fid, size = file_id(f)
        assert (to_hex(fid), size) == (info.hash, info.file_size), name
        assert size == len(data)


def test_chunker_holds_one_block_and_one_unfinished_chunk():
    rng = random.Random(2)
    c, total = Chunker(), 0
    for _ in range(40):
        block = rng.randbytes(1 << 20) if rng.random() < 0.7 else bytes(1 << 20)
        total += sum(map(len, c.update(block)))
        assert len(c._buf) < MAX_CHUNK  # everything else was handed out as chunks
    total += sum(map(len, c.finish()))
    assert total == 40 << 20
