"""CSV and TSV (``sep``), parsed by pandas in chunks as ``datasets`` does, so the inferred types
match (e.g. an int column with a missing value is float64; strings are what pandas gives)."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

CHUNK = 10_000


def read(source, options: dict) -> Iterator[pa.RecordBatch]:
    import pandas as pd

    for df in pd.read_csv(source, sep=options.get("sep") or ",", chunksize=CHUNK):
        yield from pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(None).to_batches()
