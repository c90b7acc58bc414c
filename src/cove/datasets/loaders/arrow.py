"""Arrow IPC files (stream or file format), record batch by record batch."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from cove.datasets.table import iter_arrow


def read(source, options: dict) -> Iterator[pa.RecordBatch]:
    if isinstance(source, str):
        yield from iter_arrow(source)
        return
    yield from pa.ipc.open_stream(source)
