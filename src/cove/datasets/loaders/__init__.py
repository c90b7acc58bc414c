"""File formats, one module each: ``read(source, options)`` yields Arrow record batches.

``source`` is a path or a binary file object (a Hub file read over HTTP when streaming). The
package maps file extensions to formats and casts every batch to one schema (the first batch's, or
the given features) so a dataset made of several files has one set of columns.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import pyarrow as pa

from cove.datasets.features import Features, cast_table

#: format -> the extensions it reads (compressed variants are not supported)
EXTENSIONS = {
    "parquet": (".parquet",),
    "csv": (".csv", ".tsv"),
    "json": (".json", ".jsonl", ".ndjson"),
    "text": (".txt", ".text"),
    "arrow": (".arrow",),
}
FORMATS = tuple(EXTENSIONS)


def format_of(path: str) -> str | None:
    """The format a file name implies (``"train.jsonl"`` -> ``"json"``), or None."""
    lower = path.lower()
    for kind, exts in EXTENSIONS.items():
        if lower.endswith(exts):
            return kind
    return None


def read_source(kind: str, source, options: dict) -> Iterator[pa.RecordBatch]:
    """The batches of one file (path or binary file object) in format ``kind``."""
    if kind not in EXTENSIONS:
        raise ValueError(f"Unknown format {kind!r}: expected one of {', '.join(FORMATS)}")
    module = importlib.import_module(f"cove.datasets.loaders.{kind}")
    if kind == "csv" and isinstance(source, str) and source.lower().endswith(".tsv") and options.get("sep") in (None, ","):
        options = {**options, "sep": "\t"}
    return module.read(source, options)


def read_batches(kind: str, sources: list, *, features: Features | None = None,
                 options: dict | None = None) -> Iterator[pa.RecordBatch]:
    """Every batch of ``sources`` in order, cast to ``features`` (or to the first batch's schema)."""
    schema = features.arrow_schema if features is not None else None
    options = dict(options or {})
    for source in sources:
        for batch in read_source(kind, source, options):
            if schema is None:
                inferred = Features.from_arrow_schema(batch.schema)
                schema = inferred.arrow_schema
                target = inferred
            else:
                target = features or Features.from_arrow_schema(schema)
            table = pa.Table.from_batches([batch])
            if table.schema.names != schema.names or table.schema.types != schema.types:
                table = cast_table(table.select([n for n in schema.names]), target) \
                    if set(table.schema.names) >= set(schema.names) else _fill(table, schema, target)
            yield from table.replace_schema_metadata(schema.metadata).to_batches()


def _fill(table: pa.Table, schema: pa.Schema, features: Features) -> pa.Table:
    """A batch missing some columns gets them as nulls (JSON rows need not have every key)."""
    columns = [table.column(n) if n in table.column_names else pa.nulls(table.num_rows, schema.field(n).type)
               for n in schema.names]
    return cast_table(pa.table(dict(zip(schema.names, columns))), features)
