"""Xet hashes (spec §4): keyed blake3 for chunks, Merkle nodes, files and term verification.

A hash is 32 raw bytes (``bytes``), exactly as it sits in xorbs and shards. Its text form (URLs, JSON,
``X-Xet-Hash``, the lines inside Merkle nodes) reverses each 8-byte group before printing hex
(§1): :func:`to_hex` and :func:`from_hex`. Everything here is pure and matches hf_xet 1.8 (the test
vectors of spec §11 are in ``tests/server/cas/test_hashes.py``).

Also here: CRC-64/NVME, the checksum the 1.8 client sends with xorb grant requests (§3.3). It is a
table-driven Python loop (a few MB/s), only needed if Cove ever implements grants.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

import blake3
import numpy as np

from cove.server.cas.errors import InvalidXetData

HASH_LEN = 32
ZERO_HASH = bytes(HASH_LEN)

DATA_KEY = bytes([102, 151, 245, 119, 91, 149, 80, 222, 49, 53, 203, 172, 165, 151, 24, 28,
                  157, 228, 33, 16, 155, 235, 43, 88, 180, 208, 176, 75, 147, 173, 242, 41])
INTERNAL_NODE_KEY = bytes([1, 126, 197, 199, 165, 71, 41, 150, 253, 148, 102, 102, 180, 138, 2, 230,
                           93, 221, 83, 111, 55, 199, 109, 210, 248, 99, 82, 230, 74, 83, 113, 63])
VERIFICATION_KEY = bytes([127, 24, 87, 214, 206, 86, 237, 102, 18, 127, 249, 19, 231, 165, 195, 243,
                          164, 205, 38, 213, 181, 219, 73, 230, 65, 36, 152, 127, 40, 251, 148, 195])
FILE_KEY = ZERO_HASH

# Merkle grouping (§4.3): a group closes after the node whose w3 % 4 == 0 (tested from the third
# node on), or at 9 nodes.
_MERKLE_MAX_GROUP = 9
_MERKLE_MEAN_BRANCHING = 4
# Global dedup eligibility (§4.7): about one chunk in 1024, plus the first chunk of every file.
_DEDUP_MODULUS = 1024

_WORDS = struct.Struct("<4Q")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def to_hex(h: bytes) -> str:
    """The 64-hex text form of a raw hash: each 8-byte group read as a u64 LE, printed as 16 digits."""
    a, b, c, d = _WORDS.unpack(h)
    return f"{a:016x}{b:016x}{c:016x}{d:016x}"


def from_hex(text: str) -> bytes:
    """The raw hash of a 64-hex string (either case); :class:`InvalidXetData` for anything else."""
    if len(text) != 2 * HASH_LEN or not _HEX_DIGITS.issuperset(text):
        raise InvalidXetData(f"not a Xet hash (64 hex digits expected): {text[:80]!r}")
    return _WORDS.pack(*(int(text[i:i + 16], 16) for i in range(0, 64, 16)))


def w0(h: bytes) -> int:
    """The first 8 bytes of a hash as a u64 LE (the key of the shard lookup tables, §7.4)."""
    return int.from_bytes(h[0:8], "little")


def w3(h: bytes) -> int:
    """The last 8 bytes of a hash as a u64 LE (Merkle cuts, dedup eligibility)."""
    return int.from_bytes(h[24:32], "little")


def keyed(key: bytes, data: bytes | bytearray | memoryview) -> bytes:
    """blake3 keyed with a 32-byte key, 32 bytes of output."""
    return blake3.blake3(data, key=key).digest()


def chunk_hash(data: bytes | bytearray | memoryview) -> bytes:
    """The hash of one chunk's raw (uncompressed) bytes (§4.2)."""
    return blake3.blake3(data, key=DATA_KEY).digest()


def _merkle_level(nodes: Sequence[tuple[bytes, int]]) -> list[tuple[bytes, int]]:
    words = np.frombuffer(b"".join(h for h, _ in nodes), dtype="<u8")  # (4 n,) the hashes' u64 words
    text = words.astype(">u8").tobytes().hex()  # each word printed as 16 hex digits: §1 for all nodes at once
    cuts = (words[3::4] % _MERKLE_MEAN_BRANCHING == 0).tolist()  # w3 % 4 == 0, per node
    lines = [f"{text[64 * k:64 * k + 64]} : {size}\n" for k, (_, size) in enumerate(nodes)]
    out = []
    i, n = 0, len(nodes)
    while i < n:
        left = n - i
        cut = left if left <= 2 else min(_MERKLE_MAX_GROUP, left)
        if left > 2:
            for j in range(2, min(_MERKLE_MAX_GROUP, left)):
                if cuts[i + j]:
                    cut = j + 1
                    break
        out.append((keyed(INTERNAL_NODE_KEY, "".join(lines[i:i + cut]).encode()),
                    sum(size for _, size in nodes[i:i + cut])))
        i += cut
    return out


def merkle_root(nodes: Sequence[tuple[bytes, int]]) -> bytes:
    """The Merkle root of ``(hash, size)`` nodes (§4.3): the xorb hash of a xorb's chunks.

    An empty list gives 32 zero bytes; a single node is its own root.
    """
    level = list(nodes)
    if not level:
        return ZERO_HASH
    while len(level) > 1:
        level = _merkle_level(level)
    return level[0][0]


def file_hash(chunks: Sequence[tuple[bytes, int]], *, salt: bytes | None = None) -> bytes:
    """The file ID (§4.4) of a file made of ``(chunk hash, size)`` in file order.

    ``blake3_keyed(FILE_KEY or salt, merkle_root(chunks))``; an empty file is all zeros, unhashed.
    """
    if not chunks:
        return ZERO_HASH
    return keyed(FILE_KEY if salt is None else salt, merkle_root(chunks))


def verification_hash(chunk_hashes: Iterable[bytes]) -> bytes:
    """The verification hash of a term (§4.5): keyed blake3 of its chunks' raw hashes, concatenated."""
    h = blake3.blake3(key=VERIFICATION_KEY)
    for c in chunk_hashes:
        h.update(c)
    return h.digest()


def keyed_chunk_hash(chunk: bytes, key: bytes) -> bytes:
    """A chunk hash hidden behind a dedup response's HMAC key (§4.6); a zero key leaves it as is."""
    return chunk if key == ZERO_HASH else keyed(key, chunk)


def dedup_eligible(chunk: bytes, *, first_in_file: bool = False) -> bool:
    """Whether a chunk is a global dedup key (§4.7): the first chunk of a file or ``w3 % 1024 == 0``."""
    return first_in_file or w3(chunk) % _DEDUP_MODULUS == 0


def _crc64_table() -> tuple[int, ...]:
    poly = 0x9A6C9329AC4BC9B5  # CRC-64/NVME, reflected
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC64_TABLE = _crc64_table()
_U64 = 0xFFFFFFFFFFFFFFFF


def crc64_nvme(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-64/NVME (init and xorout all ones); pass the previous result as ``crc`` to continue."""
    table = _CRC64_TABLE
    c = crc ^ _U64
    for b in bytes(data):
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ _U64
