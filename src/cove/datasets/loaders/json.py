"""JSON Lines (one object per line), or one JSON document: a list of rows, or an object whose
``field`` holds the rows. A local file is parsed by pyarrow at once; a remote file (a file object)
is parsed line by line, so a stream reads only as far as it is iterated."""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.json as pajson

BATCH = 10_000
STREAM_BATCH = 1000


def _document(data, field: str | None) -> list[dict]:
    if field is not None:
        data = data[field]
    if isinstance(data, dict):  # {"col": [values]}
        return [dict(zip(data, values)) for values in zip(*data.values())]
    return data


def _stream(source, field: str | None) -> Iterator[pa.RecordBatch]:
    reader = source if isinstance(source, io.BufferedIOBase) else io.BufferedReader(source)
    lines = (line for line in reader if line.strip())
    first = next(lines, None)
    if first is None:
        return
    try:
        row = json.loads(first) if field is None else None
    except ValueError:
        row = None
    if not isinstance(row, dict):  # one document: read it whole
        data = json.loads(first + b"".join(lines))
        yield from pa.Table.from_pylist(_document(data, field)).to_batches(BATCH)
        return
    pending = [row]
    while True:
        pending += [json.loads(line) for line in itertools.islice(lines, STREAM_BATCH - len(pending))]
        if not pending:
            return
        yield pa.RecordBatch.from_pylist(pending)
        pending = []


def read(source, options: dict) -> Iterator[pa.RecordBatch]:
    field = options.get("field")
    if not isinstance(source, str):
        yield from _stream(source, field)
        return
    if field is None:
        try:
            yield from pajson.read_json(source).to_batches(BATCH)
            return
        except pa.ArrowInvalid:
            pass  # not JSON Lines: one document
    with open(source, encoding="utf-8") as f:
        data = json.load(f)
    yield from pa.Table.from_pylist(_document(data, field)).to_batches(BATCH)
