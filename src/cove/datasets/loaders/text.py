"""Plain text: one row per line (``sample_by="line"``, line breaks dropped), per paragraph (blank-line
separated) or per ``"document"``, in a ``text`` column."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pyarrow as pa

BATCH = 10_000


def _text(source) -> io.TextIOBase:
    if isinstance(source, str):
        return open(source, encoding="utf-8")
    return io.TextIOWrapper(source if isinstance(source, io.BufferedIOBase) else io.BufferedReader(source), "utf-8")


def read(source, options: dict) -> Iterator[pa.RecordBatch]:
    by = options.get("sample_by") or "line"
    with _text(source) as f:
        if by == "line":
            lines: list[str] = []
            for line in f:
                lines.append(line.rstrip("\r\n"))
                if len(lines) == BATCH:
                    yield pa.record_batch({"text": pa.array(lines, pa.string())})
                    lines = []
            if lines:
                yield pa.record_batch({"text": pa.array(lines, pa.string())})
            return
        content = f.read()
    rows = [content] if by == "document" else [p.strip("\n") for p in content.split("\n\n") if p.strip()]
    yield pa.record_batch({"text": pa.array(rows, pa.string())})
