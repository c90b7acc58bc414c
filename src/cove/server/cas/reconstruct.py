"""Reconstruction (spec §8): which chunks of which xorbs make bytes ``[s, e)`` of a file.

:func:`plan_range` walks a file's terms (from its shard) and keeps the chunks that overlap the
range; :func:`reconstruction_v1` / :func:`reconstruction_v2` turn the plan into the JSON the Xet
client reads (terms of at most :data:`READ_SPAN` stored bytes, ``offset_into_first_range``, and
per xorb the disjoint chunk intervals with their stored byte ranges and fetch URLs);
:func:`stream_range` produces the bytes themselves, for a plain ``GET resolve`` with or without
``Range``.

Chunk ranges are end-exclusive; byte ranges in the JSON (``url_range``, ``bytes``) are inclusive and
index the stored, footerless xorb (§8.2). A fetch URL comes from the caller's ``fetch_url(xorb,
first_byte, last_byte)`` (inclusive bytes, as in ``url_range``): the route signs it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from cove.errors import RangeNotSatisfiable
from cove.server.cas.errors import InvalidXetData, XetStoreError
from cove.server.cas.hashes import to_hex
from cove.server.cas.shard import Term
from cove.server.cas.xorb import XorbIndex, decode_range

Lookup = Callable[[bytes], XorbIndex | None]
FetchUrl = Callable[[bytes, int, int], str]
ReadRange = Callable[[bytes, int, int], bytes]  # (xorb, start, end exclusive) -> stored bytes

_RANGE = re.compile(r"bytes=(\d{0,20})-(\d{0,20})")  # longer numbers are no byte offsets
# Stored bytes read at once while streaming, and covered at most by one term and so one fetch URL
# (one chunk may exceed it: it is never split). hf_xet receives each fetch into one fresh buffer:
# 64 MiB fetches cost it a page fault per 4 KiB received and ~400 MB of RSS for a 1 GiB file, 8 MiB
# ones let it reuse memory (client system time and RSS about halved: docs/benchmarks.md).
READ_SPAN = 8 << 20


def parse_range(header: str | None, size: int) -> tuple[int, int]:
    """``[s, e)`` of a ``Range: bytes=a-b`` header (one range; ``a-``, ``-n`` too) against ``size``.

    No header: the whole file. ``b`` is clamped to the end. A start at or past the end (or a range
    of an empty file) raises :class:`cove.errors.RangeNotSatisfiable` (416); a malformed or
    multi-range header raises :class:`InvalidXetData` (400).
    """
    if header is None:
        return 0, size
    m = _RANGE.fullmatch(header.strip())
    if not m or m.group(1) == m.group(2) == "":
        raise InvalidXetData(f"unsupported Range header {header[:100]!r}: use bytes=a-b")
    a, b = m.group(1), m.group(2)
    if a == "":  # the last b bytes
        start, end = max(0, size - int(b)), size
        if int(b) == 0:
            raise RangeNotSatisfiable(f"{header} selects no bytes")
    else:
        start = int(a)
        end = size if b == "" else min(int(b) + 1, size)
        if b != "" and int(b) < start:
            raise InvalidXetData(f"Range {header[:100]!r} ends before it starts")
    if start >= size:
        raise RangeNotSatisfiable(f"{header} is outside a file of {size} bytes")
    return start, end


@dataclass(frozen=True, slots=True)
class Piece:
    """Chunks ``[start, end)`` of ``xorb`` that the range needs, holding ``size`` raw bytes."""

    xorb: bytes
    start: int
    end: int
    size: int


@dataclass(frozen=True)
class Plan:
    """The chunks behind bytes ``[start, end)`` of a file: drop ``offset`` bytes of the first piece."""

    start: int
    end: int
    offset: int
    pieces: tuple[Piece, ...]

    def fetch_intervals(self) -> dict[bytes, list[tuple[int, int]]]:
        """Per xorb, the union of the pieces' chunk ranges as sorted, disjoint intervals.

        The client matches each term to the one fetch range containing it and caches by the range
        start: two ranges sharing a start made it panic (§8.1), hence overlapping ranges are merged.
        Touching ones stay apart, so that each fetch stays within :data:`READ_SPAN`.
        """
        needed: dict[bytes, list[tuple[int, int]]] = {}
        for p in self.pieces:
            needed.setdefault(p.xorb, []).append((p.start, p.end))
        merged: dict[bytes, list[tuple[int, int]]] = {}
        for xorb, ranges in needed.items():
            out: list[tuple[int, int]] = []
            for a, b in sorted(ranges):
                if out and a < out[-1][1]:
                    out[-1] = (out[-1][0], max(out[-1][1], b))
                else:
                    out.append((a, b))
            merged[xorb] = out
        return merged


def _index(lookup: Lookup, xorb: bytes) -> XorbIndex:
    idx = lookup(xorb)
    if idx is None:
        raise XetStoreError(f"xorb {to_hex(xorb)} of the file is not stored")
    return idx


def plan_range(terms: Sequence[Term], lookup: Lookup, start: int, end: int) -> Plan:
    """The pieces covering file bytes ``[start, end)`` (``0 <= start < end <= size``; see :func:`parse_range`).

    Only terms that overlap the range are looked up; the others are skipped by their size.
    """
    if not 0 <= start <= end:
        raise ValueError(f"bad range [{start}, {end})")
    pieces: list[Piece] = []
    offset = 0
    pos = 0
    for t in terms:
        if pos >= end:
            break
        if pos + t.size <= start:
            pos += t.size
            continue
        idx = _index(lookup, t.xorb)
        c0 = c1 = None
        for c in range(t.start, t.end):
            size = idx.chunks[c].size
            if pos + size > start and pos < end:
                if c0 is None:
                    c0 = c
                    if not pieces:
                        offset = start - pos
                c1 = c + 1
            pos += size
        if c0 is not None:
            pieces.extend(Piece(t.xorb, a, b, sum(idx.chunks[c].size for c in range(a, b)))
                          for a, b in _spans(idx, c0, c1))
    if pos < end:
        raise XetStoreError(f"the file's terms hold {pos} bytes, the range ends at {end}")
    return Plan(start, end, offset, tuple(pieces))


def _terms_json(plan: Plan) -> list[dict]:
    return [{"hash": to_hex(p.xorb), "unpacked_length": p.size, "range": {"start": p.start, "end": p.end}}
            for p in plan.pieces]


def reconstruction_v1(plan: Plan, lookup: Lookup, fetch_url: FetchUrl) -> dict:
    """The ``GET /v1/reconstructions/{file}`` body (§8.2)."""
    fetch_info = {}
    for xorb, intervals in plan.fetch_intervals().items():
        idx = _index(lookup, xorb)
        entries = []
        for a, b in intervals:
            first, end = idx.byte_range(a, b)
            entries.append({"range": {"start": a, "end": b}, "url": fetch_url(xorb, first, end - 1),
                            "url_range": {"start": first, "end": end - 1}})
        fetch_info[to_hex(xorb)] = entries
    return {"offset_into_first_range": plan.offset, "terms": _terms_json(plan), "fetch_info": fetch_info}


def reconstruction_v2(plan: Plan, lookup: Lookup, fetch_url: FetchUrl) -> dict:
    """The ``GET /v2/reconstructions/{file}`` body: ``xorbs`` in place of ``fetch_info``, one URL per interval."""
    xorbs = {}
    for xorb, intervals in plan.fetch_intervals().items():
        idx = _index(lookup, xorb)
        entries = []
        for a, b in intervals:
            first, end = idx.byte_range(a, b)
            entries.append({"url": fetch_url(xorb, first, end - 1),
                            "ranges": [{"chunks": {"start": a, "end": b}, "bytes": {"start": first, "end": end - 1}}]})
        xorbs[to_hex(xorb)] = entries
    return {"offset_into_first_range": plan.offset, "terms": _terms_json(plan), "xorbs": xorbs}


def _spans(idx: XorbIndex, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Split chunks ``[start, end)`` into runs of at most READ_SPAN stored bytes (at least one chunk)."""
    a = start
    while a < end:
        b = a + 1
        base = idx.chunks[a].offset
        while b < end and idx.chunks[b].offset + idx.chunks[b].stored - base <= READ_SPAN:
            b += 1
        yield a, b
        a = b


def stream_range(plan: Plan, lookup: Lookup, read: ReadRange) -> Iterator[bytes]:
    """The bytes ``[plan.start, plan.end)`` of the file, a chunk at a time, reading at most READ_SPAN at once.

    ``read(xorb, first, end)`` returns stored bytes ``[first, end)`` of a xorb.
    """
    skip = plan.offset
    left = plan.end - plan.start
    for p in plan.pieces:
        idx = _index(lookup, p.xorb)
        for a, b in _spans(idx, p.start, p.end):
            first, end = idx.byte_range(a, b)
            stored = read(p.xorb, first, end)
            if len(stored) != end - first:
                raise XetStoreError(f"xorb {to_hex(p.xorb)}: read {len(stored)} of {end - first} stored bytes")
            for data in decode_range(stored, idx, a, b):
                if skip >= len(data):
                    skip -= len(data)
                    continue
                out = data[skip:skip + left] if skip or len(data) - skip > left else data
                skip = 0
                left -= len(out)
                yield out
                if left == 0:
                    return
    if left:
        raise XetStoreError(f"reconstruction ended {left} bytes short")
