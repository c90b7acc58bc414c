"""Parquet, read one row group at a time (only the requested ``columns``), so a stream over HTTP
fetches the footer and then only the row groups it reaches."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq


def read(source, options: dict) -> Iterator[pa.RecordBatch]:
    pf = pq.ParquetFile(source)
    schema = pf.schema_arrow
    columns = options.get("columns")
    if columns:
        schema = pa.schema([schema.field(c) for c in columns], metadata=schema.metadata)
    for group in range(pf.num_row_groups):
        for batch in pf.read_row_group(group, columns=columns).to_batches():
            yield pa.RecordBatch.from_arrays(batch.columns, schema=schema)
