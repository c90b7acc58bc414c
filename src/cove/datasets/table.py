"""Arrow tables in memory or memory-mapped from Arrow IPC files.

A dataset's data is a ``pyarrow.Table``. Read from an Arrow file through ``pa.memory_map`` its buffers
point into the page cache, so a dataset larger than RAM opens at once and costs little anonymous
memory. Files are written in the Arrow IPC *stream* format, as ``datasets`` writes its cache and
``save_to_disk`` files; both the stream and the file format are read.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

WRITER_BATCH_SIZE = 1000


def read_arrow(path: str | os.PathLike, *, in_memory: bool = False) -> pa.Table:
    """An Arrow IPC file (stream or file format) as a table, memory-mapped unless ``in_memory``."""
    source = pa.OSFile(str(path)) if in_memory else pa.memory_map(str(path))
    try:
        reader = pa.ipc.open_stream(source)
    except pa.ArrowInvalid:
        source.seek(0)
        return pa.ipc.open_file(source).read_all()
    return reader.read_all()


def iter_arrow(path: str | os.PathLike) -> Iterator[pa.RecordBatch]:
    """The record batches of an Arrow file, one at a time, memory-mapped."""
    source = pa.memory_map(str(path))
    try:
        yield from pa.ipc.open_stream(source)
    except pa.ArrowInvalid:
        source.seek(0)
        reader = pa.ipc.open_file(source)
        for i in range(reader.num_record_batches):
            yield reader.get_batch(i)


class ArrowWriter:
    """Appends record batches to an Arrow stream file; the file appears (atomically) on ``close``."""

    def __init__(self, path: str | os.PathLike, schema: pa.Schema) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.incomplete")
        self._sink = pa.OSFile(str(self._tmp), "wb")
        self._writer = pa.ipc.new_stream(self._sink, schema)
        self.schema = schema
        self.num_rows = 0

    def write_table(self, table: pa.Table, batch_size: int = WRITER_BATCH_SIZE) -> None:
        for batch in table.replace_schema_metadata(self.schema.metadata).to_batches(batch_size):
            self.write_batch(batch)

    def write_batch(self, batch: pa.RecordBatch) -> None:
        if batch.schema != self.schema:
            batch = pa.RecordBatch.from_arrays(batch.columns, schema=self.schema)
        self._writer.write_batch(batch)
        self.num_rows += batch.num_rows

    def close(self) -> Path:
        self._writer.close()
        self._sink.close()
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        self._writer.close()
        self._sink.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> ArrowWriter:
        return self

    def __exit__(self, exc_type, *rest) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_arrow(table: pa.Table, path: str | os.PathLike, *, batch_size: int = WRITER_BATCH_SIZE) -> Path:
    with ArrowWriter(path, table.schema) as writer:
        writer.write_table(table, batch_size)
    return Path(path)


def write_batches(batches: Iterable[pa.RecordBatch], path: str | os.PathLike, schema: pa.Schema) -> Path:
    with ArrowWriter(path, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
    return Path(path)


def take_rows(table: pa.Table, indices) -> pa.Table:
    """``table.take(indices)`` without concatenating the chunks of a memory-mapped table.

    pyarrow's take on a many-chunk column concatenates every chunk first: a copy of the whole column
    (and its cost in time and memory) to read a few rows. Here each chunk serves the rows that fall
    in it, then the rows are put back in the asked order. Large takes, where the copy pays off, and
    single-chunk tables go to pyarrow directly.
    """
    positions = np.asarray(indices, dtype=np.int64)
    if len(positions) == 0 or len(positions) > table.num_rows // 2 or \
            all(column.num_chunks <= 1 for column in table.columns):
        return table.take(pa.array(positions))
    return pa.Table.from_arrays([_take_chunked(column, positions) for column in table.columns], schema=table.schema)


def _take_chunked(column: pa.ChunkedArray, positions: np.ndarray) -> pa.Array:
    if column.num_chunks <= 1:
        return column.take(pa.array(positions)).combine_chunks()
    lengths = np.fromiter((len(c) for c in column.chunks), np.int64, column.num_chunks)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    which = np.searchsorted(starts, positions, side="right") - 1  # (K,) chunk of each row
    order = np.argsort(which, kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(which[order])) + 1)
    pieces = [column.chunk(int(which[g[0]])).take(pa.array(positions[g] - starts[which[g[0]]])) for g in groups]
    gathered = pa.concat_arrays(pieces)
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return gathered.take(pa.array(inverse))
