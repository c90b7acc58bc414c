"""Reconstruction: for many byte ranges of a file whose terms span two xorbs and reuse chunks, the v1
and v2 JSON, read the way the client reads them, and the server-side stream give exactly the bytes
of the range; fetch intervals are merged; Range headers parse as the client sends them."""

from __future__ import annotations

import io
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cove.errors import RangeNotSatisfiable
from cove.server.cas import reconstruct
from cove.server.cas.convert import convert_file
from cove.server.cas.errors import InvalidXetData, XetStoreError
from cove.server.cas.hashes import file_hash, from_hex, to_hex
from cove.server.cas.reconstruct import (
    parse_range,
    plan_range,
    reconstruction_v1,
    reconstruction_v2,
    stream_range,
)
from cove.server.cas.shard import Term
from cove.server.cas.store import CasStore, MemoryStore
from cove.server.cas.xorb import Scheme, decode_range, serialize_xorb


@pytest.fixture(scope="module")
def setup(chunks_d):
    cas = CasStore(MemoryStore())
    x1 = serialize_xorb(chunks_d[:6], Scheme.LZ4)
    x2 = serialize_xorb(chunks_d[6:], None)
    for body, index in (x1, x2):
        cas.put_xorb(index.hash, body)
    a, b = x1[1], x2[1]
    spans = [(a, 0, 6), (b, 0, 3), (a, 2, 4), (b, 3, 5), (a, 5, 6), (a, 0, 1)]
    terms = [Term(x.hash, s, e, sum(c.size for c in x.chunks[s:e])) for x, s, e in spans]
    data = b"".join(b"".join(chunks_d[(0 if x is a else 6) + s:(0 if x is a else 6) + e]) for x, s, e in spans)
    return cas, terms, data


def fetch_url(xorb: bytes, first: int, last: int) -> str:
    return f"http://cas/fetch/{to_hex(xorb)}?bytes={first}-{last}"


def client_read(body: dict, cas: CasStore, version: int) -> bytes:
    """Follow the JSON as hf_xet does: each term from the fetch range that contains it."""
    out = []
    for t in body["terms"]:
        c0, c1 = t["range"]["start"], t["range"]["end"]
        if version == 1:
            entries = [(e["range"]["start"], e["range"]["end"], e["url_range"]["start"], e["url_range"]["end"], e["url"])
                       for e in body["fetch_info"][t["hash"]]]
        else:
            entries = [(r["chunks"]["start"], r["chunks"]["end"], r["bytes"]["start"], r["bytes"]["end"], e["url"])
                       for e in body["xorbs"][t["hash"]] for r in e["ranges"]]
        (a, b, first, last, url), = [e for e in entries if e[0] <= c0 and c1 <= e[1]]
        assert url == fetch_url(from_hex(t["hash"]), first, last)
        index = cas.index(from_hex(t["hash"]))
        chunks = list(decode_range(cas.read(index.hash, first, last + 1), index, a, b))[c0 - a:c1 - a]
        assert sum(map(len, chunks)) == t["unpacked_length"]
        out += chunks
    data = b"".join(out)[body["offset_into_first_range"]:]
    return data


def test_whole_file_and_random_ranges(setup):
    cas, terms, data = setup
    rng = random.Random(3)
    ranges = [(0, len(data)), (0, 1), (len(data) - 1, len(data)), (117737, 117738), (117736, 117738)]
    ranges += [tuple(sorted(rng.sample(range(len(data) + 1), 2))) for _ in range(40)]
    for s, e in ranges:
        plan = plan_range(terms, cas.index, s, e)
        for version, build in ((1, reconstruction_v1), (2, reconstruction_v2)):
            body = build(plan, cas.index, fetch_url)
            assert client_read(body, cas, version)[:e - s] == data[s:e], (s, e, version)
        assert b"".join(stream_range(plan, cas.index, cas.read)) == data[s:e]


def test_fetch_ranges_are_merged_and_disjoint(setup):
    cas, terms, data = setup
    body = reconstruction_v1(plan_range(terms, cas.index, 0, len(data)), cas.index, fetch_url)
    x1 = to_hex(terms[0].xorb)
    # x1 needs [0,6), [2,4), [5,6), [0,1): one interval; x2 needs [0,3) and [3,5): touching, kept apart
    assert [e["range"] for e in body["fetch_info"][x1]] == [{"start": 0, "end": 6}]
    assert [e["range"] for e in body["fetch_info"][to_hex(terms[1].xorb)]] == [{"start": 0, "end": 3},
                                                                               {"start": 3, "end": 5}]
    assert len(body["terms"]) == 6
    # a middle range: only what it needs, with the offset into the first term's first chunk
    plan = plan_range(terms, cas.index, 200_000, 200_010)
    assert plan.offset == 200_000 - 117737 - 47918 and len(plan.pieces) == 1
    assert (plan.pieces[0].start, plan.pieces[0].end) == (2, 3)


def test_intervals_never_share_a_start():
    plan = reconstruct.Plan(0, 1, 0, tuple(reconstruct.Piece(b"x", a, b, 1) for a, b in
                                           [(0, 1), (0, 2), (5, 7), (7, 8), (10, 11), (6, 9)]))
    assert plan.fetch_intervals() == {b"x": [(0, 2), (5, 9), (10, 11)]}


def test_stream_reads_in_bounded_spans(setup, monkeypatch):
    cas, terms, data = setup
    reads = []

    def read(xorb, first, end):
        reads.append(end - first)
        return cas.read(xorb, first, end)

    monkeypatch.setattr(reconstruct, "READ_SPAN", 150_000)
    plan = plan_range(terms, cas.index, 0, len(data))
    assert b"".join(stream_range(plan, cas.index, read)) == data
    assert max(reads) <= 150_000 and len(reads) >= len(plan.pieces)


def test_terms_and_fetches_are_bounded(setup, monkeypatch):
    """Long terms are cut at READ_SPAN stored bytes, each with its own fetch range, and still rebuild the file."""
    cas, terms, data = setup
    whole = plan_range(terms, cas.index, 0, len(data))
    monkeypatch.setattr(reconstruct, "READ_SPAN", 150_000)
    for start, end in [(0, len(data)), (123_457, len(data) - 99), (200_000, 200_010)]:
        plan = plan_range(terms, cas.index, start, end)
        assert b"".join(stream_range(plan, cas.index, cas.read)) == data[start:end]
        for body in (reconstruction_v1(plan, cas.index, fetch_url), reconstruction_v2(plan, cas.index, fetch_url)):
            ranges = [e["url_range"] for v in body.get("fetch_info", {}).values() for e in v]
            ranges += [r["bytes"] for v in body.get("xorbs", {}).values() for e in v for r in e["ranges"]]
            assert ranges and all(r["end"] - r["start"] + 1 <= 150_000 for r in ranges)
            assert sum(t["unpacked_length"] for t in body["terms"]) >= end - start
    assert len(plan_range(terms, cas.index, 0, len(data)).pieces) > len(whole.pieces)


def test_convert_file_round_trip(data_d):
    cas = CasStore(MemoryStore())
    record, xorbs = convert_file(io.BytesIO(data_d), cas)
    assert to_hex(record.hash) == "d2d31f60fc5649d7024fc5d3dcf5fadd47fd0e0b427dd8412e2c1facd287d99c"
    assert to_hex(record.sha256) == "17468052bf180d189e5b13c320cb83a99a8d0ed62dfdecc391789adfa1f25699"
    assert len(xorbs) == 1 and record.size == len(data_d)
    plan = plan_range(record.terms, cas.index, 0, len(data_d))
    assert b"".join(stream_range(plan, cas.index, cas.read)) == data_d
    assert file_hash(xorbs[0].nodes()) == record.hash


@pytest.mark.parametrize("header, size, expected", [
    (None, 10, (0, 10)), ("bytes=0-9", 10, (0, 10)), ("bytes=0-99", 10, (0, 10)), ("bytes=3-3", 10, (3, 4)),
    ("bytes=3-", 10, (3, 10)), ("bytes=-4", 10, (6, 10)), ("bytes=-40", 10, (0, 10)), (" bytes=1-2 ", 10, (1, 3)),
])
def test_parse_range(header, size, expected):
    assert parse_range(header, size) == expected


@pytest.mark.parametrize("header, size, error", [
    ("bytes=10-20", 10, RangeNotSatisfiable), ("bytes=0-0", 0, RangeNotSatisfiable), ("bytes=-0", 10, RangeNotSatisfiable),
    ("bytes=5-2", 10, InvalidXetData), ("bytes=0-1,3-4", 10, InvalidXetData), ("items=0-1", 10, InvalidXetData),
    ("bytes=-", 10, InvalidXetData), ("bytes=a-b", 10, InvalidXetData),
])
def test_parse_range_refusals(header, size, error):
    with pytest.raises(error):
        parse_range(header, size)


def test_missing_xorb_is_a_store_error(setup):
    cas, terms, data = setup
    with pytest.raises(XetStoreError, match="is not stored"):
        plan_range(terms, lambda x: None, 0, 10)
    with pytest.raises(XetStoreError, match="terms hold"):
        plan_range(terms[:1], cas.index, 0, len(data))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), st.integers(0, 10**12))
def test_fuzz_parse_range(header, size):
    try:
        s, e = parse_range(header, size)
    except (InvalidXetData, RangeNotSatisfiable):
        return
    assert 0 <= s < e <= size


def test_a_second_upload_with_other_compression_keeps_the_first(chunks_d):
    cas = CasStore(MemoryStore())
    plain, index = serialize_xorb(chunks_d[:3], Scheme.NONE)
    packed, index2 = serialize_xorb(chunks_d[:3], Scheme.LZ4)
    assert index.hash == index2.hash and plain != packed
    assert cas.put_xorb(index.hash, plain) == (index, True)
    assert cas.put_xorb(index.hash, packed) == (index, False)  # the stored copy's offsets, not index2's
    with pytest.raises(InvalidXetData, match="hash mismatch"):
        cas.put_xorb(chunks_d[0][:32], plain)
