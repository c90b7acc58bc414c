"""Shards: the spec's 912-byte upload shard, every §7.3 rule refused with InvalidXetData and a clear
message, the full form's lookup tables and footer (§7.4), and parsers fuzzed with hypothesis."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cove.server.cas.errors import InvalidXetData
from cove.server.cas.hashes import chunk_hash, file_hash, from_hex, keyed, to_hex, verification_hash, w0
from cove.server.cas.shard import (
    BOOKEND,
    FOOTER_LEN,
    SHARD_TAG,
    FileRecord,
    Term,
    XorbRecord,
    parse_shard,
    serialize_shard,
    upload_shard,
    validate_shard,
)
from cove.server.cas.xorb import Scheme, serialize_xorb


@pytest.fixture(scope="module")
def xorb_d(chunks_d):
    return serialize_xorb(chunks_d, Scheme.NONE)[1]


@pytest.fixture(scope="module")
def file_d(data_d, xorb_d):
    return FileRecord(file_hash(xorb_d.nodes()), (Term(xorb_d.hash, 0, 11, 1_000_000),),
                      (verification_hash(c.hash for c in xorb_d.chunks),), from_hex(hashlib.sha256(data_d).hexdigest()))


def test_vector_upload_shard(file_d, xorb_d):
    body = upload_shard([file_d], [xorb_d])
    assert len(body) == 912
    shard = parse_shard(body)
    assert shard.footer is None and shard.files == (file_d,)
    valid = validate_shard(shard, {xorb_d.hash: xorb_d}.get)
    f = valid.files[0]
    assert to_hex(f.hash) == "d2d31f60fc5649d7024fc5d3dcf5fadd47fd0e0b427dd8412e2c1facd287d99c"
    assert to_hex(f.sha256) == "17468052bf180d189e5b13c320cb83a99a8d0ed62dfdecc391789adfa1f25699"
    assert to_hex(f.verification[0]) == "a142f9956162a5b22588c769850988e2291dc805900f2799bdb5317a8bbd8ac9"
    assert f.size == 1_000_000
    assert serialize_shard(shard.files, shard.xorbs) == body


def test_dedup_terms_and_two_ranges_of_one_xorb(xorb_d):
    # a file made of chunks [2,5) then [0,11) then [2,5) again: terms may reuse any chunks
    terms = [(2, 5), (0, 11), (2, 5)]
    nodes = [n for a, b in terms for n in xorb_d.nodes(a, b)]
    f = FileRecord(file_hash(nodes), tuple(Term(xorb_d.hash, a, b, sum(s for _, s in xorb_d.nodes(a, b)))
                                           for a, b in terms),
                   tuple(verification_hash(h for h, _ in xorb_d.nodes(a, b)) for a, b in terms))
    assert to_hex(f.verification[0]) == "5230e09f96beb8eef2ad04b6e36ea6856c5656f5e13e2bcb5b08705c5ecd1d24"
    assert validate_shard(parse_shard(upload_shard([f], [])), {xorb_d.hash: xorb_d}.get).files == (f,)


def test_empty_file_and_empty_shard():
    empty = FileRecord(bytes(32), (), ())
    assert validate_shard(parse_shard(upload_shard([empty], [])), lambda x: None).files[0].size == 0
    assert parse_shard(serialize_shard([], [])).files == ()


def _validate(body, xorb_d):
    return validate_shard(parse_shard(body), {xorb_d.hash: xorb_d}.get)


def _invalid_records(file_d, xorb_d):
    t = file_d.terms[0]
    other = chunk_hash(b"other")
    good_x = XorbRecord.from_index(xorb_d)
    return {
        "unknown xorb": ([replace(file_d, terms=(replace(t, xorb=other),))], [], "is not stored"),
        "empty range": ([replace(file_d, terms=(replace(t, start=3, end=3),))], [], r"\[3, 3\) outside"),
        "range past end": ([replace(file_d, terms=(replace(t, end=12),))], [], r"\[0, 12\) outside xorb .* of 11"),
        "size": ([replace(file_d, terms=(replace(t, size=999_999),))], [], "999999 bytes announced"),
        "no verification": ([replace(file_d, verification=None)], [], "no verification entries"),
        "wrong verification": ([replace(file_d, verification=(other,))], [], "wrong verification hash"),
        "wrong file hash": ([replace(file_d, hash=other)], [], "terms' chunks hash to d2d31f60"),
        "empty file hash": ([FileRecord(other, (), ())], [], "hash to 0000"),
        "unstored cas block": ([], [replace(good_x, hash=other)], "is not stored"),
        "cas chunk count": ([], [replace(good_x, chunks=good_x.chunks[:-1])], "10 chunks listed"),
        "cas chunk hash": ([], [replace(good_x, chunks=(replace(good_x.chunks[0], hash=other),) + good_x.chunks[1:])],
                           "chunk 0 does not match"),
        "cas chunk offset": ([], [replace(good_x, chunks=good_x.chunks[:1] + (replace(good_x.chunks[1], offset=5),)
                                          + good_x.chunks[2:])], "chunk 1 does not match"),
        "cas raw size": ([], [replace(good_x, raw_size=5)], "5 bytes listed"),
    }


@pytest.mark.parametrize("case", ["unknown xorb", "empty range", "range past end", "size", "no verification",
                                  "wrong verification", "wrong file hash", "empty file hash", "unstored cas block",
                                  "cas chunk count", "cas chunk hash", "cas chunk offset", "cas raw size"])
def test_validation_refuses(case, file_d, xorb_d):
    files, xorbs, message = _invalid_records(file_d, xorb_d)[case]
    with pytest.raises(InvalidXetData, match=message):
        _validate(serialize_shard(files, xorbs), xorb_d)


def test_too_many_chunk_references(file_d, xorb_d):
    with pytest.raises(InvalidXetData, match="references 22 chunks: the limit is 21"):
        validate_shard(parse_shard(upload_shard([file_d, replace(file_d, hash=bytes(32))], [])),
                       {xorb_d.hash: xorb_d}.get, max_chunk_refs=21)


def _malformed(good: bytes) -> dict[str, tuple[bytes, str]]:
    header = struct.Struct("<32sQQ")
    file_header = good[48:96]
    n_flag = file_header[:32] + struct.pack("<IIQ", 0xC0000000, 10_000, 0)
    return {
        "short": (good[:20], "truncated in the header"),
        "tag": (b"X" + good[1:], "wrong tag"),
        "version": (header.pack(SHARD_TAG, 1, 0) + good[48:], "shard version 1"),
        "footer size": (header.pack(SHARD_TAG, 2, 7) + good[48:], "footer size 7"),
        "no file bookend": (good[:48 + 48 * 4], "no bookend"),
        "no cas bookend": (good[:-48], "the CAS info section \\(no bookend\\)"),
        "cut in a record": (good[:-50], "11 chunks announced, the shard is too short"),
        "absurd term count": (good[:48] + n_flag + good[96:], "10000 terms announced"),
        "absurd chunk count": (good[:-48 * 13] + good[-48 * 13:-48 * 13 + 36] + struct.pack("<I", 1 << 31)
                               + good[-48 * 13 + 40:], "2147483648 chunks announced"),
        "unknown flags": (good[:48] + file_header[:32] + struct.pack("<I", 0xC0000001) + file_header[36:] + good[96:],
                          "unknown flags 0xc0000001"),
        "duplicate file": (good[:48] + good[48:48 + 4 * 48] * 2 + good[48 + 4 * 48:], "appears twice"),
        "duplicate xorb": (good[:-48] + good[-13 * 48:-48] + BOOKEND, "appears twice"),
        "trailing bytes": (good + b"\x00", "1 bytes after the CAS info section"),
        "announced footer missing": (header.pack(SHARD_TAG, 2, 200) + good[48:], "announces a footer"),
    }


@pytest.mark.parametrize("case", ["short", "tag", "version", "footer size", "no file bookend", "no cas bookend",
                                  "cut in a record", "absurd term count", "absurd chunk count", "unknown flags",
                                  "duplicate file", "duplicate xorb", "trailing bytes", "announced footer missing"])
def test_malformed_shards_are_refused(case, file_d, xorb_d):
    body, message = _malformed(upload_shard([file_d], [xorb_d]))[case]
    with pytest.raises(InvalidXetData, match=message):
        parse_shard(body)


def _tables(body: bytes, footer) -> tuple[list, list, list]:
    def table(offset, num, fmt):
        return [struct.unpack_from(fmt, body, offset + i * struct.calcsize(fmt)) for i in range(num)]
    return (table(footer.file_lookup_offset, footer.file_lookup_num, "<QI"),
            table(footer.xorb_lookup_offset, footer.xorb_lookup_num, "<QI"),
            table(footer.chunk_lookup_offset, footer.chunk_lookup_num, "<QII"))


@pytest.mark.parametrize("key", [bytes(32), b"K" * 32])
def test_full_shard_lookup_tables_and_footer(key, file_d, xorb_d):
    small = serialize_xorb([b"a" * 10, b"b" * 20, b"c" * 30])[1]
    xorbs = [XorbRecord.from_index(x, hmac_key=key) for x in (xorb_d, small)]
    body = serialize_shard([file_d], xorbs, footer=True, hmac_key=key, creation_ts=100, key_expiry=200)
    shard = parse_shard(body)
    f = shard.footer
    assert (f.hmac_key, f.creation_ts, f.key_expiry, f.footer_offset) == (key, 100, 200, len(body) - FOOTER_LEN)
    assert (f.materialized_bytes, f.stored_bytes) == (1_000_000, 1_000_060)
    files, xorb_table, chunks = _tables(body, f)
    assert files == [(w0(file_d.hash), 0)]
    for table in (xorb_table, chunks):
        assert [e[0] for e in table] == sorted(e[0] for e in table)
    # each xorb key points at its header record, counted in 48-byte records from the CAS section
    for k, rec in xorb_table:
        (h,) = struct.unpack_from("<32s", body, f.xorb_info_offset + 48 * rec)
        assert w0(h) == k
    for k, rec, i in chunks:
        (h,) = struct.unpack_from("<32s", body, f.xorb_info_offset + 48 * (rec + 1 + i))
        assert w0(h) == k
    clear = {c.hash for c in xorb_d.chunks} | {c.hash for c in small.chunks}
    stored = {c.hash for x in shard.xorbs for c in x.chunks}
    assert stored == (clear if key == bytes(32) else {keyed(key, h) for h in clear})


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_random_shards(tail):
    for body in (tail, SHARD_TAG + struct.pack("<QQ", 2, 0) + tail, SHARD_TAG + struct.pack("<QQ", 2, 200) + tail):
        try:
            validate_shard(parse_shard(body), lambda x: None)
        except InvalidXetData:
            pass


_SEED_X = serialize_xorb([b"a" * 10, b"b" * 20, b"c" * 30])[1]
_SEED_F = FileRecord(file_hash(_SEED_X.nodes()), (Term(_SEED_X.hash, 0, 3, 60),),
                     (verification_hash(c.hash for c in _SEED_X.chunks),), bytes(32))
_SEED = serialize_shard([_SEED_F], [XorbRecord.from_index(_SEED_X)], footer=True)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_SEED) - 1), st.integers(0, 255)), max_size=3),
       st.integers(0, len(_SEED)))
def test_fuzz_mutated_shards(flips, cut):
    body = bytearray(_SEED)
    for pos, value in flips:
        body[pos] = value
    try:
        validate_shard(parse_shard(bytes(body[:cut] if cut else body)), {_SEED_X.hash: _SEED_X}.get)
    except InvalidXetData:
        pass
