"""Building datasets from Python data and files, and writing them out.

``from_dict`` / ``from_list`` / ``from_pandas`` / ``from_generator`` build in memory; ``from_parquet`` /
``from_csv`` / ``from_json`` / ``from_text`` / ``from_arrow`` convert the files once into an Arrow file in
the cache (keyed by the files' fingerprint) and memory-map it. ``save_to_disk`` / ``load_from_disk``
use the layout of ``datasets``: ``data-0000i-of-0000n.arrow`` shards (Arrow stream format, features in
the schema's ``huggingface`` metadata), ``dataset_info.json`` and ``state.json``; a ``DatasetDict``
adds ``dataset_dict.json`` and one folder per split.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from cove.datasets.features import DatasetInfo, Features, cast_table
from cove.datasets.fingerprint import default_cache_dir, files_fingerprint, random_fingerprint
from cove.datasets.formatting import Format
from cove.datasets.table import ArrowWriter, read_arrow

GENERATOR_BATCH = 1000


def parse_size(size: int | str) -> int:
    """``"500MB"`` -> 500_000_000 (also KB, GB, KiB, MiB, GiB)."""
    if isinstance(size, int):
        return size
    units = {"KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "KB": 10**3, "MB": 10**6, "GB": 10**9, "B": 1}
    text = size.strip().upper()
    for unit, factor in units.items():
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


def read_cached(path: str | os.PathLike) -> pa.Table:
    return read_arrow(path)


def _table_from_columns(columns: dict, features: Features | None) -> tuple[pa.Table, Features]:
    if features is not None:
        features = Features(features)
        encoded = features.encode_batch(columns)
        missing = set(features) - set(encoded)
        if missing:
            raise ValueError(f"Columns {sorted(missing)} of the features are missing from the data")
        arrays = [_array(encoded[k], features[k]) for k in features]
        return pa.Table.from_arrays(arrays, schema=features.arrow_schema), features
    from cove.datasets.mapping import to_arrow

    arrays, inferred = {}, Features()
    for name, values in columns.items():
        arrays[name], inferred[name] = to_arrow(values, None)
    table = pa.table(arrays) if arrays else pa.table({})
    return table.replace_schema_metadata(inferred.arrow_schema.metadata), inferred


def _array(values, feature) -> pa.Array:
    from cove.datasets.features import cast_array, to_arrow_type

    try:
        return pa.array(values, type=to_arrow_type(feature))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return cast_array(pa.array(values), feature)


def from_dict(cls, mapping: dict, features: Features | None = None, info: DatasetInfo | None = None,
              split: str | None = None):
    """A dataset from ``{column: values}``, cast to ``features`` when given."""
    table, features = _table_from_columns(dict(mapping), features)
    return cls(table, features=features, info=info, split=split)


def from_list(cls, rows: list[dict], features: Features | None = None, info: DatasetInfo | None = None,
              split: str | None = None):
    """A dataset from a list of rows (the first row's keys, then any new ones, are the columns)."""
    names = list(features) if features is not None else list(dict.fromkeys(k for r in rows for k in r))
    return from_dict(cls, {k: [r.get(k) for r in rows] for k in names}, features, info, split)


def from_pandas(cls, df, features: Features | None = None, info: DatasetInfo | None = None,
                split: str | None = None, preserve_index: bool | None = None):
    table = pa.Table.from_pandas(df, preserve_index=preserve_index)
    table = table.replace_schema_metadata(None)
    if features is not None:
        features = Features(features)
        table = cast_table(table, features)
    return cls(table, features=features, info=info, split=split)


def from_arrow(cls, table: pa.Table, features: Features | None = None, split: str | None = None):
    """A dataset over an existing Arrow table (no copy)."""
    if features is not None:
        table = cast_table(table, Features(features))
    return cls(table, features=features, split=split)


def from_generator(cls, generator: Callable[..., Iterable[dict]], features: Features | None = None,
                   gen_kwargs: dict | None = None, keep_in_memory: bool = False, split: str | None = None):
    """A dataset from the rows a generator function yields, written to the cache in batches of 1000."""
    batches, current, schema_features = [], {}, Features(features) if features is not None else None
    names: list[str] | None = list(features) if features is not None else None

    def flush():
        nonlocal current, schema_features
        if not current:
            return
        table, inferred = _table_from_columns(current, schema_features)
        schema_features = schema_features or inferred
        batches.append(table)
        current = {}

    for count, row in enumerate(generator(**(gen_kwargs or {})), 1):
        names = names or list(row)
        for key in names:
            current.setdefault(key, []).append(row.get(key))
        if count % GENERATOR_BATCH == 0:
            flush()
    flush()
    if not batches:
        return from_dict(cls, {k: [] for k in (features or {})}, features, split=split)
    table = pa.concat_tables(batches, promote_options="permissive")
    features = schema_features if features is not None else Features.from_arrow_schema(table.schema)
    table = table.replace_schema_metadata(features.arrow_schema.metadata)
    if keep_in_memory:
        return cls(table, features=features, split=split)
    path = default_cache_dir() / "generator" / f"{random_fingerprint()}.arrow"
    with ArrowWriter(path, table.schema) as writer:
        writer.write_table(table)
    return cls(read_arrow(path), features=features, cache_files=(str(path),), split=split)


# -- files ----------------------------------------------------------------------------------------


def from_files(cls, kind: str, paths, *, features: Features | None = None, split: str | None = None,
               cache_dir: str | os.PathLike | None = None, keep_in_memory: bool = False, options: dict | None = None):
    """Convert ``paths`` (one format) into one cached Arrow file and memory-map it."""
    from cove.datasets.loaders import read_batches

    paths = [str(p) for p in ([paths] if isinstance(paths, str | os.PathLike) else paths)]
    options = dict(options or {})
    fingerprint = files_fingerprint(paths, {"kind": kind, "features": features.to_dict() if features else None,
                                            **options})
    path = Path(cache_dir or default_cache_dir()) / kind / fingerprint / "data.arrow"
    if not path.exists() or keep_in_memory:
        batches = read_batches(kind, paths, features=features, options=options)
        first = next(batches, None)
        if first is None:
            raise ValueError(f"No rows in {paths}")
        if keep_in_memory:
            table = pa.Table.from_batches([first, *batches])
            return cls(table, features=features, fingerprint=fingerprint, split=split)
        with ArrowWriter(path, first.schema) as writer:
            writer.write_batch(first)
            for batch in batches:
                writer.write_batch(batch)
    table = read_arrow(path)
    return cls(table, fingerprint=fingerprint, cache_files=(str(path),), split=split)


def from_parquet(cls, path_or_paths, features: Features | None = None, split: str | None = None,
                 cache_dir: str | None = None, keep_in_memory: bool = False, columns: list[str] | None = None):
    return from_files(cls, "parquet", path_or_paths, features=features, split=split, cache_dir=cache_dir,
                      keep_in_memory=keep_in_memory, options={"columns": columns})


def from_csv(cls, path_or_paths, features: Features | None = None, split: str | None = None,
             cache_dir: str | None = None, keep_in_memory: bool = False, sep: str = ","):
    return from_files(cls, "csv", path_or_paths, features=features, split=split, cache_dir=cache_dir,
                      keep_in_memory=keep_in_memory, options={"sep": sep})


def from_json(cls, path_or_paths, features: Features | None = None, split: str | None = None,
              cache_dir: str | None = None, keep_in_memory: bool = False, field: str | None = None):
    return from_files(cls, "json", path_or_paths, features=features, split=split, cache_dir=cache_dir,
                      keep_in_memory=keep_in_memory, options={"field": field})


def from_text(cls, path_or_paths, features: Features | None = None, split: str | None = None,
              cache_dir: str | None = None, keep_in_memory: bool = False, sample_by: str = "line"):
    return from_files(cls, "text", path_or_paths, features=features, split=split, cache_dir=cache_dir,
                      keep_in_memory=keep_in_memory, options={"sample_by": sample_by})


# -- writing --------------------------------------------------------------------------------------


def _batches(ds, batch_size: int):
    yield from ds._batches(0, ds.num_rows, batch_size)


def to_parquet(self, path: str | os.PathLike, batch_size: int = 10_000, row_group_size: int | None = None) -> int:
    """Write Parquet (features in the ``huggingface`` schema metadata); returns the bytes written."""
    schema = self._features.arrow_schema
    with pq.ParquetWriter(str(path), schema) as writer:
        for table in _batches(self, row_group_size or batch_size):
            writer.write_table(pa.Table.from_batches(table.to_batches(), schema=schema) if table.num_rows else
                               table.cast(schema))
    return os.path.getsize(path)


def to_csv(self, path: str | os.PathLike, index: bool = False, batch_size: int = 10_000, sep: str = ",") -> int:
    """Write CSV through pandas (the same text ``datasets`` writes)."""
    with open(path, "w", newline="") as f:
        for i, table in enumerate(_batches(self, batch_size)):
            table.to_pandas().to_csv(f, index=index, header=i == 0, sep=sep)
    return os.path.getsize(path)


def to_json(self, path: str | os.PathLike, batch_size: int = 10_000, lines: bool = True) -> int:
    """Write JSON Lines (one object per row); ``lines=False`` writes one JSON list."""
    with open(path, "w", encoding="utf-8") as f:
        if not lines:
            f.write("[")
        first = True
        for table in _batches(self, batch_size):
            for row in table.to_pylist():
                text = json.dumps(row, ensure_ascii=False, default=_json_default)
                f.write(text + "\n" if lines else ("" if first else ",") + text)
                first = False
        if not lines:
            f.write("]")
    return os.path.getsize(path)


def _json_default(value):
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode()
    return str(value)


def save_to_disk(self, dataset_path: str | os.PathLike, max_shard_size: int | str = "500MB",
                 num_shards: int | None = None) -> None:
    """Write ``data-0000i-of-0000n.arrow`` shards, ``dataset_info.json`` and ``state.json`` (the layout
    ``datasets.load_from_disk`` reads)."""
    out = Path(dataset_path)
    out.mkdir(parents=True, exist_ok=True)
    size = self._view().nbytes if self._indices is not None else self._table.nbytes
    num_shards = num_shards or max(1, min(self.num_rows, -(-size // parse_size(max_shard_size))))
    schema = self._features.arrow_schema
    files = []
    for i in range(num_shards):
        start = self.num_rows * i // num_shards
        stop = self.num_rows * (i + 1) // num_shards
        name = f"data-{i:05d}-of-{num_shards:05d}.arrow"
        with ArrowWriter(out / name, schema) as writer:
            for table in self._batches(start, stop, 10_000):
                writer.write_table(table)
        files.append({"filename": name})
    fmt = self._format
    state = {"_data_files": files, "_fingerprint": self._fingerprint,
             "_format_columns": list(fmt.columns) if fmt.columns is not None else None,
             "_format_kwargs": {k: str(v) for k, v in fmt.kwargs.items()}, "_format_type": fmt.type,
             "_output_all_columns": fmt.output_all_columns, "_split": self.split}
    (out / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True))
    (out / "dataset_info.json").write_text(json.dumps(self.info.to_dict(self._features), indent=2))


def load_dataset_from_disk(cls, path: Path, keep_in_memory: bool = False):
    state = json.loads((path / "state.json").read_text())
    info = json.loads((path / "dataset_info.json").read_text()) if (path / "dataset_info.json").exists() else {}
    files = [path / f["filename"] for f in state["_data_files"]]
    tables = [read_arrow(f, in_memory=keep_in_memory) for f in files]
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    features = Features.from_dict(info["features"]) if info.get("features") else None
    fmt = Format(state.get("_format_type"), tuple(state["_format_columns"]) if state.get("_format_columns") else None,
                 bool(state.get("_output_all_columns")))
    return cls(table, features=features, fingerprint=state.get("_fingerprint"),
               cache_files=() if keep_in_memory else tuple(str(f) for f in files),
               info=DatasetInfo.from_dict(info), split=state.get("_split"), fmt=fmt)


def load_from_disk(dataset_path: str | os.PathLike, keep_in_memory: bool = False):
    """A ``Dataset`` or ``DatasetDict`` saved by ``save_to_disk`` (Cove's or ``datasets``'), memory-mapped."""
    from cove.datasets.dataset import Dataset
    from cove.datasets.dataset_dict import DatasetDict

    path = Path(dataset_path).resolve()
    if (path / "dataset_dict.json").exists():
        splits = json.loads((path / "dataset_dict.json").read_text())["splits"]
        return DatasetDict({s: load_dataset_from_disk(Dataset, path / s, keep_in_memory) for s in splits})
    if not (path / "state.json").exists():
        raise FileNotFoundError(f"{path} is not a dataset saved with save_to_disk (no state.json)")
    return load_dataset_from_disk(Dataset, path, keep_in_memory)
