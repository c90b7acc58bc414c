"""``Dataset``: rows of an Arrow table, usually memory-mapped, seen through an optional index map.

A dataset is a ``pyarrow.Table`` (its ``data``), the ``Features`` of its columns, and optionally an
``indices`` array: ``select``, ``shuffle``, ``sort``, ``filter`` and ``shard`` only build a new index
map, never copy rows. ``map`` writes its new columns to a cache file named by the fingerprint
(:mod:`cove.datasets.fingerprint`) next to the dataset's own files, and memory-maps the result.

This file holds the container: indexing, iteration, formats. Transforms live in
:mod:`cove.datasets.transforms`, building and writing in :mod:`cove.datasets.io`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from cove.datasets import io as _io
from cove.datasets import transforms as _tf
from cove.datasets.features import DatasetInfo, Features, needs_decoding
from cove.datasets.fingerprint import cleanup_cache_files, random_fingerprint
from cove.datasets.formatting import Format, format_batch, format_column, format_row
from cove.datasets.table import take_rows, write_arrow

ITER_BATCH = 1000
GATHER_WINDOW = 65536


class Dataset:
    """A map-style dataset. Build one with ``Dataset.from_dict`` / ``from_list`` / ``from_pandas`` /
    ``from_generator`` / ``from_parquet`` / ``from_csv`` / ``from_json`` / ``from_text``, or with
    :func:`cove.datasets.load_dataset` / :func:`cove.datasets.load_from_disk`."""

    def __init__(self, table: pa.Table, *, features: Features | None = None, indices: pa.Array | None = None,
                 fingerprint: str | None = None, cache_files: tuple[str, ...] = (),
                 info: DatasetInfo | None = None, split: str | None = None, fmt: Format | None = None) -> None:
        self._table = table
        self._features = Features(features) if features is not None else Features.from_arrow_schema(table.schema)
        self._indices = indices
        self._fingerprint = fingerprint or random_fingerprint()
        self._cache_files = tuple(str(f) for f in cache_files)
        self.info = info or DatasetInfo()
        self.split = split
        self._format = fmt or Format()

    def _new(self, **changes) -> Dataset:
        """A dataset sharing this one's table unless ``changes`` replace it (and its format, info)."""
        out = copy.copy(self)
        for key, value in changes.items():
            setattr(out, f"_{key}" if key != "info" and key != "split" else key, value)
        if "features" in changes:
            out._features = Features(changes["features"])
        return out

    # -- shape -----------------------------------------------------------------------------------

    @property
    def data(self) -> pa.Table:
        """The underlying Arrow table (before the index map)."""
        return self._table

    @property
    def features(self) -> Features:
        return self._features.copy()

    @property
    def column_names(self) -> list[str]:
        return list(self._table.column_names)

    @property
    def num_columns(self) -> int:
        return self._table.num_columns

    @property
    def num_rows(self) -> int:
        return len(self._indices) if self._indices is not None else self._table.num_rows

    @property
    def shape(self) -> tuple[int, int]:
        return self.num_rows, self.num_columns

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    @property
    def cache_files(self) -> list[dict]:
        return [{"filename": f} for f in self._cache_files]

    @property
    def cache_dir(self) -> Path | None:
        """Where transforms write their cache files: beside this dataset's own files, if any."""
        return Path(self._cache_files[0]).parent if self._cache_files else None

    @property
    def format(self) -> dict:
        return self._format.to_dict()

    def __len__(self) -> int:
        return self.num_rows

    def __repr__(self) -> str:
        return f"Dataset({{\n    features: {list(self._features)},\n    num_rows: {self.num_rows}\n}})"

    # -- reading rows ----------------------------------------------------------------------------

    def _slice(self, start: int, stop: int) -> pa.Table:
        """Rows ``start:stop`` of the view as a table (zero-copy without an index map)."""
        if self._indices is None:
            return self._table.slice(start, max(0, stop - start))
        return take_rows(self._table, self._indices.slice(start, max(0, stop - start)).to_numpy())

    def _batches(self, start: int, stop: int, size: int) -> Iterator[pa.Table]:
        """Rows ``start:stop`` in tables of ``size`` rows. Through an index map, rows are gathered a
        window of at least 64k rows at a time, so each chunk of the data is visited once per window."""
        if self._indices is None:
            for lo in range(start, stop, size):
                yield self._table.slice(lo, min(size, stop - lo))
            return
        window = max(size, GATHER_WINDOW // size * size)
        for w in range(start, stop, window):
            gathered = self._slice(w, min(w + window, stop))
            for lo in range(0, gathered.num_rows, size):
                yield gathered.slice(lo, size)

    def _take(self, rows: np.ndarray) -> pa.Table:
        if self._indices is not None:
            rows = self._indices.take(pa.array(rows, pa.int64())).to_numpy()
        return take_rows(self._table, rows)

    def _view(self) -> pa.Table:
        """Every row of the view as a table (a copy only when there is an index map)."""
        return self._slice(0, self.num_rows) if self._indices is not None else self._table

    def _positions(self, key) -> np.ndarray:
        rows = np.asarray(key, dtype=np.int64) if not isinstance(key, range) else \
            np.arange(key.start, key.stop, key.step, dtype=np.int64)
        rows = np.where(rows < 0, rows + self.num_rows, rows)
        if rows.size and (rows.min() < 0 or rows.max() >= self.num_rows):
            raise IndexError(f"Index out of range for a dataset of {self.num_rows} rows")
        return rows

    def __getitem__(self, key):
        """``ds[i]`` a row, ``ds[a:b]`` / ``ds[[i, j]]`` a batch (dict of columns), ``ds["col"]`` a column."""
        if isinstance(key, str):
            if key not in self._table.column_names:
                raise KeyError(f"Column {key!r} not in the dataset: {self.column_names}")
            column = self._table.select([key])
            if self._indices is not None:
                column = take_rows(column, self._indices.to_numpy())
            return format_column(column, self._features, self._format, key)
        if isinstance(key, int | np.integer):
            i = int(key) + self.num_rows if key < 0 else int(key)
            if not 0 <= i < self.num_rows:
                raise IndexError(f"Index {key} out of range for a dataset of {self.num_rows} rows")
            return format_row(self._slice(i, i + 1), self._features, self._format)
        if isinstance(key, slice):
            start, stop, step = key.indices(self.num_rows)
            table = self._slice(start, stop) if step == 1 else self._take(np.arange(start, stop, step))
            return format_batch(table, self._features, self._format)
        if isinstance(key, list | tuple | range | np.ndarray):
            return format_batch(self._take(self._positions(key)), self._features, self._format)
        raise TypeError(f"Cannot index a dataset with {type(key).__name__}")

    def __getitems__(self, keys: list[int]) -> list:
        """A list of rows (what a torch DataLoader asks for with automatic batching)."""
        batch = self[list(keys)]
        if not isinstance(batch, dict):
            return [batch.iloc[i] if hasattr(batch, "iloc") else batch.slice(i, 1) for i in range(len(keys))]
        return [{k: v[i] for k, v in batch.items()} for i in range(len(keys))]

    def iter(self, batch_size: int, drop_last_batch: bool = False) -> Iterator:
        """Batches of ``batch_size`` rows in the current format."""
        for table in self._batches(0, self.num_rows, batch_size):
            if drop_last_batch and table.num_rows < batch_size:
                return
            yield format_batch(table, self._features, self._format)

    def __iter__(self) -> Iterator:
        for table in self._batches(0, self.num_rows, ITER_BATCH):
            if self._format.type is None and self._format.columns is None:
                rows = table.to_pylist()
                if self._needs_decoding():
                    rows = [self._features.decode_example(r) for r in rows]
                yield from rows
            else:
                for i in range(table.num_rows):
                    yield format_row(table.slice(i, 1), self._features, self._format)

    def _needs_decoding(self) -> list[str]:
        return [k for k, f in self._features.items() if needs_decoding(f)]

    # -- formats ---------------------------------------------------------------------------------

    def set_format(self, type: str | None = None, columns: list[str] | None = None,
                   output_all_columns: bool = False, *, dtype=None, device=None) -> None:
        """Set the output format in place: ``python``, ``numpy``, ``torch``, ``pandas`` or ``arrow``."""
        if columns is not None:
            columns = [columns] if isinstance(columns, str) else list(columns)
            missing = set(columns) - set(self.column_names)
            if missing:
                raise ValueError(f"Columns {sorted(missing)} not in the dataset: {self.column_names}")
        kwargs = {k: v for k, v in (("dtype", dtype), ("device", device)) if v is not None}
        self._format = Format(type, tuple(columns) if columns is not None else None, output_all_columns, kwargs)

    def with_format(self, type: str | None = None, columns: list[str] | None = None,
                    output_all_columns: bool = False, *, dtype=None, device=None) -> Dataset:
        out = copy.copy(self)
        out.set_format(type, columns, output_all_columns, dtype=dtype, device=device)
        return out

    def reset_format(self) -> None:
        self._format = Format()

    # -- conversion ------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return format_batch(self._view(), self._features, Format())

    def to_list(self) -> list[dict]:
        return list(self.with_format(None))

    def to_pandas(self):
        return self._view().to_pandas()

    def flatten_indices(self) -> Dataset:
        """The same rows with the index map applied: a contiguous table (written to the cache if file-backed)."""
        if self._indices is None:
            return self
        fingerprint = _tf.next_fingerprint(self, "flatten_indices", {})
        table = self._view().replace_schema_metadata(self._features.arrow_schema.metadata)
        files = ()
        if self.cache_dir is not None:
            path = write_arrow(table, self.cache_dir / f"cache-{fingerprint}.arrow")
            table, files = _io.read_cached(path), (str(path),)
        return self._new(table=table, indices=None, fingerprint=fingerprint, cache_files=files)

    def cleanup_cache_files(self) -> int:
        """Delete this dataset's cache directory's ``cache-*.arrow`` files that it does not use."""
        if self.cache_dir is None:
            return 0
        return cleanup_cache_files(self.cache_dir, {str(Path(f).resolve()) for f in self._cache_files})

    # -- building and writing: cove.datasets.io ----------------------------------------------------

    from_dict = classmethod(_io.from_dict)
    from_list = classmethod(_io.from_list)
    from_pandas = classmethod(_io.from_pandas)
    from_generator = classmethod(_io.from_generator)
    from_parquet = classmethod(_io.from_parquet)
    from_csv = classmethod(_io.from_csv)
    from_json = classmethod(_io.from_json)
    from_text = classmethod(_io.from_text)
    from_arrow = classmethod(_io.from_arrow)
    save_to_disk = _io.save_to_disk
    to_parquet = _io.to_parquet
    to_csv = _io.to_csv
    to_json = _io.to_json

    # -- transforms: cove.datasets.transforms ------------------------------------------------------

    map = _tf.map
    filter = _tf.filter
    select = _tf.select
    shuffle = _tf.shuffle
    sort = _tf.sort
    shard = _tf.shard
    train_test_split = _tf.train_test_split
    rename_column = _tf.rename_column
    rename_columns = _tf.rename_columns
    remove_columns = _tf.remove_columns
    select_columns = _tf.select_columns
    cast = _tf.cast
    cast_column = _tf.cast_column
    flatten = _tf.flatten
    unique = _tf.unique
    add_column = _tf.add_column
    class_encode_column = _tf.class_encode_column
    take = _tf.take
    skip = _tf.skip

    def to_iterable_dataset(self, num_shards: int = 1):
        """An ``IterableDataset`` reading this dataset's rows in ``num_shards`` contiguous shards."""
        from cove.datasets.iterable import from_dataset

        return from_dataset(self, num_shards)

    def push_to_hub(self, repo_id: str, *, config_name: str = "default", split: str | None = None,
                    private: bool | None = None, token: str | None = None, endpoint: str | None = None,
                    commit_message: str | None = None, revision: str | None = None,
                    max_shard_size: int | str = "500MB", num_shards: int | None = None):
        """Upload as Parquet shards ``data/{split}-0000i-of-0000n.parquet`` plus a card ``datasets`` reads."""
        from cove.datasets.hub import push_splits

        return push_splits({split or self.split or "train": self}, repo_id, config_name=config_name,
                           private=private, token=token, endpoint=endpoint, commit_message=commit_message,
                           revision=revision, max_shard_size=max_shard_size, num_shards=num_shards)
