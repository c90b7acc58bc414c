"""Xorbs: the spec's serialized vector, every compression scheme both ways, chunk ranges read back,
and every malformed or unverifiable body refused with InvalidXetData (fuzzed with hypothesis)."""

from __future__ import annotations

import os

import lz4.frame
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cove.server.cas.errors import InvalidXetData, XetStoreError
from cove.server.cas.hashes import chunk_hash, crc64_nvme, merkle_root, to_hex
from cove.server.cas.xorb import (
    MAX_XORB_BODY,
    MAX_XORB_CHUNKS,
    MAX_XORB_RAW,
    Scheme,
    XorbIndex,
    decode_range,
    encode_chunk,
    pack_chunks,
    serialize_xorb,
    verify_xorb,
)


def header(csize: int, scheme: int, usize: int, version: int = 0) -> bytes:
    return bytes([version]) + csize.to_bytes(3, "little") + bytes([scheme]) + usize.to_bytes(3, "little")


def root_of(chunks: list[bytes]) -> bytes:
    return merkle_root([(chunk_hash(c), len(c)) for c in chunks])


def test_vector_d_serialized_uncompressed(chunks_d):
    body, index = serialize_xorb(chunks_d, Scheme.NONE)
    assert len(body) == 1_000_088
    assert crc64_nvme(body) == 11560200954488894900
    assert to_hex(index.hash) == "0096ffcdf68edd9ebd812ab70e18b9a668cfb1a1e65d87fb5098645c579f3683"
    assert verify_xorb(body, index.hash) == index
    assert index.raw_size == 1_000_000 and index.stored_size == len(body)


@pytest.mark.parametrize("scheme", [None, Scheme.NONE, Scheme.LZ4, Scheme.BG4_LZ4])
def test_every_scheme_round_trips_and_reads_back_any_range(scheme):
    chunks = [os.urandom(9000), bytes(20001), b"abc" * 5001, bytes(range(256)) * 40 + b"z", os.urandom(8194),
              b"\x01\x02\x03\x04" * 3000 + b"xyz"]
    body, index = serialize_xorb(chunks, scheme)
    assert verify_xorb(body, index.hash) == index and index.hash == root_of(chunks)
    assert XorbIndex.from_bytes(index.to_bytes()) == index
    for a in range(len(chunks)):
        for z in range(a + 1, len(chunks) + 1):
            first, end = index.byte_range(a, z)
            assert list(decode_range(body[first:end], index, a, z)) == chunks[a:z]


def test_auto_scheme_compresses_only_what_shrinks():
    body, index = serialize_xorb([os.urandom(10_000), bytes(10_000)])
    assert body[4] == Scheme.NONE and body[index.chunks[1].offset + 4] == Scheme.LZ4
    assert index.chunks[1].stored < 200


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 131072])
def test_bg4_any_length(n):
    data = os.urandom(n)
    body, index = serialize_xorb([data], Scheme.BG4_LZ4)
    assert list(decode_range(body, index, 0, 1)) == [data]
    planes = lz4.frame.decompress(body[8:])
    assert planes == data[0::4] + data[1::4] + data[2::4] + data[3::4]


def test_footer_is_tolerated_and_left_out(chunks_d):
    body, index = serialize_xorb(chunks_d[:3])
    got = verify_xorb(body + b"XETBLOB\x01" + os.urandom(100), index.hash)
    assert got == index and got.stored_size == len(body)


def _one(data: bytes, scheme: Scheme = Scheme.NONE) -> tuple[bytes, bytes]:
    return encode_chunk(data, scheme), chunk_hash(data)


def _bad_bodies() -> dict[str, tuple[bytes, bytes, str]]:
    """name -> (body, expected hash, message regex)"""
    good, h = _one(b"x" * 100)
    lz, hz = _one(bytes(1000), Scheme.LZ4)
    frame = lz4.frame.compress(bytes(1000))
    return {
        "empty": (b"", h, "empty xorb"),
        "truncated header": (good[:5], h, "truncated header"),
        "truncated payload": (good[:-1], h, "does not fit"),
        "truncated second chunk": (good + good[:7], h, "truncated header"),
        "version": (header(100, 0, 100, version=1) + b"x" * 100, h, "header version 1"),
        "scheme": (header(100, 3, 100) + b"x" * 100, h, "unknown compression scheme 3"),
        "zero size": (header(0, 0, 0), h, "uncompressed size 0"),
        "empty payload": (header(0, 0, 10), h, "empty payload"),
        "oversized chunk": (header(10, 0, 131073) + b"x" * 10, h, "uncompressed size 131073"),
        "raw size mismatch": (header(100, 0, 99) + b"x" * 100, h, "uncompressed payload of 100 bytes"),
        "lz4 garbage": (header(50, 1, 1000) + os.urandom(50), hz, "bad LZ4 frame"),
        "lz4 raw block": (header(len(frame) - 7, 1, 1000) + frame[7:], hz, "bad LZ4 frame"),
        "lz4 too long": (header(len(frame), 1, 999) + frame, hz, "decodes to 1000 bytes .*says 999"),
        "lz4 too short": (header(len(frame), 1, 1001) + frame, hz, "decodes to 1000 bytes"),
        "lz4 trailing": (header(len(frame) + 3, 1, 1000) + frame + b"abc", hz, "trailing data: True"),
        "lz4 truncated frame": (header(len(frame) - 4, 1, 1000) + frame[:-4], hz, "LZ4 frame"),
        "wrong hash": (good, hz, "xorb hash mismatch: the chunks hash to"),
        "flipped byte": (good[:50] + b"y" + good[51:], h, "xorb hash mismatch"),
        "too large": (good * (MAX_XORB_BODY // len(good) + 1), h, "the limit is"),
        "too many chunks": (encode_chunk(b"a") * (MAX_XORB_CHUNKS + 1), h, "more than 8192 chunks"),
        "too much raw data": (lz * 0 + encode_chunk(bytes(131072), Scheme.LZ4) * 513, h,
                              f"more than {MAX_XORB_RAW} bytes"),
    }


@pytest.mark.parametrize("name", list(_bad_bodies()))
def test_bad_xorbs_are_refused_with_a_clear_message(name):
    body, expected, message = _bad_bodies()[name]
    with pytest.raises(InvalidXetData, match=message):
        verify_xorb(body, expected)


def test_decompression_is_bounded():
    # 64 MiB of zeros in one LZ4 frame, announced as 1000 bytes: refused without inflating it all
    frame = lz4.frame.compress(bytes(64 << 20))
    with pytest.raises(InvalidXetData, match="at least 1001 bytes"):
        verify_xorb(header(len(frame), 1, 1000) + frame, bytes(32))


def test_index_byte_range_and_damaged_store():
    body, index = serialize_xorb([b"a" * 100, b"b" * 200], Scheme.NONE)
    assert index.byte_range(0, 2) == (0, len(body)) and index.byte_range(1, 2) == (108, len(body))
    for bad in [(0, 0), (1, 1), (2, 3), (-1, 1)]:
        with pytest.raises(InvalidXetData, match="outside the xorb"):
            index.byte_range(*bad)
    with pytest.raises(XetStoreError, match="does not match its index"):
        list(decode_range(body[:108] + body[:108], index, 0, 2))
    with pytest.raises(XetStoreError, match="1 of 2 chunks"):
        list(decode_range(body[:108], index, 0, 2))
    with pytest.raises(XetStoreError, match="truncated"):
        list(decode_range(body[:110], index, 0, 2))
    for damaged in (b"", index.to_bytes()[:-1], index.to_bytes() + b"x", index.to_bytes()[:32] + bytes(4)):
        with pytest.raises(XetStoreError, match="damaged"):
            XorbIndex.from_bytes(damaged)


def test_pack_chunks_respects_the_limits():
    groups = list(pack_chunks([b"x"] * (MAX_XORB_CHUNKS + 5)))
    assert [len(g) for g in groups] == [MAX_XORB_CHUNKS, 5]
    big = bytes(131072)
    groups = list(pack_chunks([big] * 513))
    assert [len(g) for g in groups] == [512, 1]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_fuzz_random_bodies(body):
    try:
        verify_xorb(body, bytes(32))
    except InvalidXetData:
        pass


_SEED_BODY, _SEED_INDEX = serialize_xorb([b"q" * 3000, bytes(5000), os.urandom(700)], None)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_SEED_BODY) - 1), st.integers(0, 255)), max_size=4),
       st.integers(0, len(_SEED_BODY)))
def test_fuzz_mutated_xorbs(flips, cut):
    body = bytearray(_SEED_BODY)
    for pos, value in flips:
        body[pos] = value
    body = bytes(body[:cut]) if cut else bytes(body)
    try:
        index = verify_xorb(body, _SEED_INDEX.hash)
    except InvalidXetData:
        return
    assert index == _SEED_INDEX  # whatever passes is the original content
