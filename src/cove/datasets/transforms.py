"""Dataset transforms, each a function of the dataset returning a new one (``Dataset`` binds them as
methods). They give the rows ``datasets`` gives for the same call: the same seeded permutations
(``np.random.default_rng(seed).permutation``), the same split sizes, the same stable sort.

Row-selecting transforms (``select``, ``shuffle``, ``sort``, ``filter``, ``shard``) only compose an
index map. Transforms that compute new data write it to ``cache-<fingerprint>.arrow`` beside the
dataset's files (when it has any) and reuse that file when the same call comes again.
"""

from __future__ import annotations

from math import ceil, floor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cove.datasets.features import ClassLabel, Features, cast_array, cast_table, to_arrow_type
from cove.datasets.fingerprint import cache_path, random_fingerprint, update_fingerprint
from cove.datasets.formatting import Format
from cove.datasets.mapping import Job, run
from cove.datasets.table import read_arrow, write_arrow


def next_fingerprint(ds, transform: str, args: dict) -> str:
    return update_fingerprint(ds._fingerprint, transform, args)


def _columns(ds, names, what: str) -> list[str]:
    names = [names] if isinstance(names, str) else list(names or [])
    missing = [n for n in names if n not in ds.column_names]
    if missing:
        raise ValueError(f"{what}: columns {missing} not in the dataset {ds.column_names}")
    return names


def _store(ds, table: pa.Table, features: Features, fingerprint: str, *, keep_in_memory: bool = False,
           cache_file_name: str | None = None):
    """A dataset of ``table``; written to the cache and memory-mapped when ``ds`` is file-backed."""
    table = table.replace_schema_metadata(features.arrow_schema.metadata)
    if keep_in_memory or (ds.cache_dir is None and cache_file_name is None):
        return ds._new(table=table, features=features, indices=None, fingerprint=fingerprint, cache_files=())
    path = Path(cache_file_name) if cache_file_name else cache_path(ds.cache_dir, fingerprint)
    write_arrow(table, path)
    return ds._new(table=read_arrow(path), features=features, indices=None, fingerprint=fingerprint,
                   cache_files=(str(path),))


def _cached(ds, fingerprint: str, cache_file_name: str | None, load_from_cache_file: bool, keep_in_memory: bool):
    if keep_in_memory or not load_from_cache_file:
        return None
    if cache_file_name is None and ds.cache_dir is None:
        return None
    path = Path(cache_file_name) if cache_file_name else cache_path(ds.cache_dir, fingerprint)
    if not path.exists():
        return None
    table = read_arrow(path)
    return ds._new(table=table, features=Features.from_arrow_schema(table.schema), indices=None,
                   fingerprint=fingerprint, cache_files=(str(path),))


# -- map and filter ----------------------------------------------------------------------------------


def map(self, function=None, with_indices: bool = False, input_columns: str | list[str] | None = None,
        batched: bool = False, batch_size: int | None = 1000, drop_last_batch: bool = False,
        remove_columns: str | list[str] | None = None, keep_in_memory: bool = False,
        load_from_cache_file: bool = True, cache_file_name: str | None = None, features: Features | None = None,
        fn_kwargs: dict | None = None, num_proc: int | None = None, new_fingerprint: str | None = None,
        desc: str | None = None, progress: bool = True):
    """Apply ``function`` to every row (or batch of rows) and merge the columns it returns.

    Args:
        function: ``row -> dict`` (or ``batch -> dict of lists`` with ``batched``); with ``with_indices``
            it also gets the row index (list of indices); with ``input_columns`` it gets those columns
            as positional arguments instead of the row. None returns the dataset (minus ``remove_columns``).
        batch_size: rows per batch; None or <= 0 means the whole dataset in one batch.
        remove_columns: input columns dropped from the output (the function still sees them).
        features: the output features (the result is cast to them).
        num_proc: forked worker processes, each taking a contiguous range of rows.
        load_from_cache_file: reuse ``cache-<fingerprint>.arrow`` when it exists.
    """
    remove = _columns(self, remove_columns, "map")
    inputs = _columns(self, input_columns, "map") or None
    if batch_size is None or batch_size <= 0:
        batch_size = max(1, self.num_rows)
    fingerprint = new_fingerprint or next_fingerprint(self, "map", {
        "function": function, "with_indices": with_indices, "input_columns": inputs, "batched": batched,
        "batch_size": batch_size, "drop_last_batch": drop_last_batch, "remove_columns": remove,
        "features": features, "fn_kwargs": fn_kwargs, "format": self._format.to_dict()})
    hit = _cached(self, fingerprint, cache_file_name, load_from_cache_file, keep_in_memory)
    if hit is not None:
        return hit
    if function is None:
        out, out_features = None, {}
    else:
        job = Job(function, batched, batch_size, drop_last_batch, with_indices, inputs, dict(fn_kwargs or {}),
                  desc or "Map")
        out = run("map", self, job, num_proc=num_proc, workdir=self.cache_dir, progress=progress)
        out_features = Features.from_arrow_schema(out.schema) if out is not None else {}
    kept = [c for c in self.column_names if c not in remove]
    base = self._view()
    n_out = out.num_rows if out is not None else self.num_rows
    columns, result_features = {}, Features()
    for name in kept:
        if out is None or name not in out.column_names:
            if n_out != self.num_rows:
                raise ValueError(f"The function returned {n_out} rows for {self.num_rows}: remove or return "
                                 f"the input column {name!r} too (remove_columns=...)")
            columns[name], result_features[name] = base.column(name), self._features[name]
        else:
            columns[name], result_features[name] = out.column(name), out_features[name]
    for name in out.column_names if out is not None else []:
        if name not in columns:
            columns[name], result_features[name] = out.column(name), out_features[name]
    table = pa.table(columns) if columns else pa.table({}).slice(0, 0)
    if features is not None:
        result_features = Features(features)
        table = cast_table(table, result_features)
    fmt = _format_without(self._format, remove)
    return _store(self, table, result_features, fingerprint, keep_in_memory=keep_in_memory,
                  cache_file_name=cache_file_name)._new(format=fmt)


def filter(self, function=None, with_indices: bool = False, input_columns: str | list[str] | None = None,
           batched: bool = False, batch_size: int | None = 1000, fn_kwargs: dict | None = None,
           num_proc: int | None = None, keep_in_memory: bool = False, load_from_cache_file: bool = True,
           new_fingerprint: str | None = None, desc: str | None = None, progress: bool = True):
    """Keep the rows for which ``function`` returns True (a list of bools with ``batched``).
    The kept positions are cached as ``cache-<fingerprint>.arrow`` beside file-backed data."""
    inputs = _columns(self, input_columns, "filter") or None
    if batch_size is None or batch_size <= 0:
        batch_size = max(1, self.num_rows)
    fingerprint = new_fingerprint or next_fingerprint(self, "filter", {
        "function": function, "with_indices": with_indices, "input_columns": inputs, "batched": batched,
        "batch_size": batch_size, "fn_kwargs": fn_kwargs, "format": self._format.to_dict()})
    path = cache_path(self.cache_dir, fingerprint) if self.cache_dir and not keep_in_memory else None
    if path is not None and load_from_cache_file and path.exists():
        return _with_positions(self, read_arrow(path).column("indices").combine_chunks(), fingerprint)
    if function is None:
        return self._new(fingerprint=fingerprint)
    job = Job(function, batched, batch_size, False, with_indices, inputs, dict(fn_kwargs or {}), desc or "Filter")
    kept = run("filter", self, job, num_proc=num_proc, workdir=self.cache_dir, progress=progress)
    positions = pa.array(kept, pa.int64())
    if path is not None:
        write_arrow(pa.table({"indices": positions}), path)
    return _with_positions(self, positions, fingerprint)


def _with_positions(ds, positions: pa.Array, fingerprint: str):
    indices = ds._indices.take(positions) if ds._indices is not None else positions
    return ds._new(indices=indices.cast(pa.int64()), fingerprint=fingerprint)


# -- selecting rows -----------------------------------------------------------------------------------


def select(self, indices, keep_in_memory: bool = False, new_fingerprint: str | None = None):
    """The rows at ``indices`` (any iterable of ints), in that order."""
    if isinstance(indices, pa.Array | pa.ChunkedArray):
        positions = np.asarray(indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    elif isinstance(indices, range):
        positions = np.arange(indices.start, indices.stop, indices.step, dtype=np.int64)
    else:
        positions = np.fromiter(indices, dtype=np.int64) if not isinstance(indices, np.ndarray) else \
            indices.astype(np.int64, copy=False)
    if positions.size and (positions.min() < 0 or positions.max() >= self.num_rows):
        raise IndexError(f"select: indices out of range for a dataset of {self.num_rows} rows")
    fingerprint = new_fingerprint or next_fingerprint(self, "select", {"indices": positions})
    n = len(positions)
    if self._indices is None and (n == 0 or (positions[-1] - positions[0] == n - 1
                                             and np.all(np.diff(positions) == 1))):
        start = int(positions[0]) if n else 0
        return self._new(table=self._table.slice(start, n), fingerprint=fingerprint)
    return _with_positions(self, pa.array(positions), fingerprint)


def take(self, n: int):
    return select(self, range(min(n, self.num_rows)))


def skip(self, n: int):
    return select(self, range(min(n, self.num_rows), self.num_rows))


def shuffle(self, seed: int | None = None, generator: np.random.Generator | None = None,
            keep_in_memory: bool = False, new_fingerprint: str | None = None):
    """Rows in the order of ``np.random.default_rng(seed).permutation(len(ds))``, as ``datasets``."""
    if generator is None:
        generator = np.random.default_rng(seed)
        fingerprint = new_fingerprint or (next_fingerprint(self, "shuffle", {"seed": seed})
                                          if seed is not None else random_fingerprint())
    else:
        fingerprint = new_fingerprint or random_fingerprint()
    return select(self, generator.permutation(self.num_rows), new_fingerprint=fingerprint)


def sort(self, column_names: str | list[str], reverse: bool | list[bool] = False,
         null_placement: str = "at_end", keep_in_memory: bool = False, new_fingerprint: str | None = None):
    """Rows ordered by ``column_names`` (a stable sort; ``reverse`` per column)."""
    names = _columns(self, column_names, "sort")
    reverse = [reverse] * len(names) if isinstance(reverse, bool) else list(reverse)
    null_placement = {"first": "at_start", "last": "at_end"}.get(null_placement, null_placement)
    keys = [(c, "descending" if r else "ascending", null_placement) for c, r in zip(names, reverse)]
    order = pc.sort_indices(self._view().select(names), options=pc.SortOptions(keys))
    fingerprint = new_fingerprint or next_fingerprint(self, "sort", {"columns": names, "reverse": reverse,
                                                                     "null_placement": null_placement})
    return select(self, order, new_fingerprint=fingerprint)


def shard(self, num_shards: int, index: int, contiguous: bool = True, keep_in_memory: bool = False):
    """Shard ``index`` of ``num_shards``: a contiguous block, or every ``num_shards``-th row."""
    if not 0 <= index < num_shards:
        raise ValueError("index should be in [0, num_shards-1]")
    if contiguous:
        div, mod = divmod(self.num_rows, num_shards)
        start = div * index + min(index, mod)
        return select(self, range(start, start + div + (1 if index < mod else 0)))
    return select(self, np.arange(index, self.num_rows, num_shards))


def train_test_split(self, test_size: int | float | None = None, train_size: int | float | None = None,
                     shuffle: bool = True, seed: int | None = None,
                     generator: np.random.Generator | None = None):
    """A ``DatasetDict`` with ``train`` and ``test`` (the sizes and permutation ``datasets`` uses)."""
    from cove.datasets.dataset_dict import DatasetDict

    n = self.num_rows
    if test_size is None and train_size is None:
        test_size = 0.25
    for size, what in ((test_size, "test_size"), (train_size, "train_size")):
        if isinstance(size, float) and not 0 < size < 1 or isinstance(size, int) and not 0 < size < n:
            raise ValueError(f"{what}={size} should be a fraction in (0, 1) or a count in (0, {n})")
    n_test = ceil(test_size * n) if isinstance(test_size, float) else test_size
    n_train = floor(train_size * n) if isinstance(train_size, float) else train_size
    n_train = n - n_test if train_size is None else n_train
    n_test = n - n_train if test_size is None else n_test
    if n_train + n_test > n or n_train == 0:
        raise ValueError(f"train_size={n_train} and test_size={n_test} do not fit {n} rows")
    if not shuffle:
        train, test = np.arange(n_train), np.arange(n_train, n_train + n_test)
    else:
        permutation = (generator or np.random.default_rng(seed)).permutation(n)
        test, train = permutation[:n_test], permutation[n_test:n_test + n_train]
    fp = {"test_size": test_size, "train_size": train_size, "shuffle": shuffle, "seed": seed}
    random = shuffle and (seed is None or generator is not None)
    return DatasetDict({
        "train": select(self, train, new_fingerprint=random_fingerprint() if random else
                        next_fingerprint(self, "train_test_split:train", fp)),
        "test": select(self, test, new_fingerprint=random_fingerprint() if random else
                       next_fingerprint(self, "train_test_split:test", fp)),
    })


# -- columns ------------------------------------------------------------------------------------------


def _format_without(fmt: Format, removed) -> Format:
    if fmt.columns is None:
        return fmt
    return Format(fmt.type, tuple(c for c in fmt.columns if c not in removed), fmt.output_all_columns, fmt.kwargs)


def rename_columns(self, column_mapping: dict[str, str], new_fingerprint: str | None = None):
    _columns(self, list(column_mapping), "rename_columns")
    names = [column_mapping.get(c, c) for c in self.column_names]
    if len(set(names)) != len(names):
        raise ValueError(f"rename_columns: the new names {names} are not unique")
    features = Features({column_mapping.get(k, k): v for k, v in self._features.items()})
    table = self._table.rename_columns(names).replace_schema_metadata(features.arrow_schema.metadata)
    fmt = self._format
    if fmt.columns is not None:
        fmt = Format(fmt.type, tuple(column_mapping.get(c, c) for c in fmt.columns), fmt.output_all_columns,
                     fmt.kwargs)
    fingerprint = new_fingerprint or next_fingerprint(self, "rename_columns", {"mapping": column_mapping})
    return self._new(table=table, features=features, fingerprint=fingerprint, format=fmt)


def rename_column(self, original_column_name: str, new_column_name: str, new_fingerprint: str | None = None):
    return rename_columns(self, {original_column_name: new_column_name}, new_fingerprint)


def remove_columns(self, column_names: str | list[str], new_fingerprint: str | None = None):
    names = _columns(self, column_names, "remove_columns")
    features = Features({k: v for k, v in self._features.items() if k not in names})
    table = self._table.drop_columns(names).replace_schema_metadata(features.arrow_schema.metadata)
    fingerprint = new_fingerprint or next_fingerprint(self, "remove_columns", {"columns": names})
    return self._new(table=table, features=features, fingerprint=fingerprint,
                     format=_format_without(self._format, names))


def select_columns(self, column_names: str | list[str], new_fingerprint: str | None = None):
    names = _columns(self, column_names, "select_columns")
    return remove_columns(self, [c for c in self.column_names if c not in names], new_fingerprint)


def cast(self, features: Features, keep_in_memory: bool = False, new_fingerprint: str | None = None):
    """Cast every column to ``features`` (same names); e.g. strings to ``ClassLabel`` ids."""
    features = Features(features)
    if sorted(features) != sorted(self.column_names):
        raise ValueError(f"cast: the features' columns {list(features)} differ from {self.column_names}")
    fingerprint = new_fingerprint or next_fingerprint(self, "cast", {"features": features})
    table = cast_table(self._view().select(list(features)), features)
    return _store(self, table, features, fingerprint, keep_in_memory=keep_in_memory)


def cast_column(self, column: str, feature, new_fingerprint: str | None = None):
    """Cast one column; a change of decoding only (``Image(decode=False)``) touches no data."""
    _columns(self, column, "cast_column")
    features = self._features.copy()
    features[column] = feature
    fingerprint = new_fingerprint or next_fingerprint(self, "cast_column", {"column": column,
                                                                            "features": Features({column: feature})})
    if to_arrow_type(feature) == self._table.schema.field(column).type and not isinstance(feature, ClassLabel):
        table = self._table.replace_schema_metadata(features.arrow_schema.metadata)
        return self._new(table=table, features=features, fingerprint=fingerprint)
    base = self._view()
    table = base.set_column(base.column_names.index(column), column, cast_array(base.column(column), feature))
    return _store(self, table, features, fingerprint)


def flatten(self, new_fingerprint: str | None = None):
    """Struct (dict) columns become ``parent.child`` columns, recursively; media columns stay whole."""
    table, features = self._table, self._features
    while any(isinstance(f, dict) for f in features.values()):
        columns, names, flat = [], [], Features()
        for name, feature in features.items():
            if isinstance(feature, dict):
                column = table.column(name)
                for child, sub in feature.items():
                    columns.append(pc.struct_field(column, child))
                    names.append(f"{name}.{child}")
                    flat[f"{name}.{child}"] = sub
            else:
                columns.append(table.column(name))
                names.append(name)
                flat[name] = feature
        table, features = pa.table(dict(zip(names, columns))), flat
    table = table.replace_schema_metadata(features.arrow_schema.metadata)
    fingerprint = new_fingerprint or next_fingerprint(self, "flatten", {})
    return self._new(table=table, features=features, fingerprint=fingerprint)


def unique(self, column: str) -> list:
    """The distinct values of ``column`` in order of first appearance in the underlying table (as
    ``datasets``: an index map covering every row, e.g. a shuffle, does not change the order)."""
    _columns(self, column, "unique")
    table = self._table if self._indices is None or len(self._indices) == self._table.num_rows else self._view()
    return table.column(column).unique().to_pylist()


def add_column(self, name: str, column, new_fingerprint: str | None = None, feature=None):
    """A new column (a list, array or Arrow array of ``len(ds)`` values) at the end."""
    if name in self.column_names:
        raise ValueError(f"add_column: the dataset already has a column {name!r}")
    from cove.datasets.mapping import to_arrow

    array, inferred = (column, None) if isinstance(column, pa.Array | pa.ChunkedArray) else to_arrow(list(column), feature)
    if len(array) != self.num_rows:
        raise ValueError(f"add_column: {len(array)} values for {self.num_rows} rows")
    feature = feature or inferred or Features.from_arrow_schema(pa.schema([(name, array.type)]))[name]
    features = self._features.copy()
    features[name] = feature
    table = self._view().append_column(name, cast_array(array, feature))
    fingerprint = new_fingerprint or next_fingerprint(self, "add_column", {"name": name, "column": list(column)
                                                                           if not isinstance(column, pa.Array | pa.ChunkedArray) else column.to_pylist()})
    return _store(self, table, features, fingerprint)


def class_encode_column(self, column: str, include_nulls: bool = False):
    """A string column becomes ``ClassLabel`` ids, with the sorted distinct values as names."""
    _columns(self, column, "class_encode_column")
    values = unique(self, column)
    names = sorted(str(v) for v in values if include_nulls or v is not None)
    feature = ClassLabel(names=names)
    base = self._view()
    strings = pc.cast(base.column(column), pa.string())
    if include_nulls:
        strings = pc.fill_null(strings, "None")
    ids = pc.index_in(strings, value_set=pa.array(names, pa.string()))
    ids = pc.if_else(pc.is_null(ids), pa.scalar(None, pa.int64()), pc.cast(ids, pa.int64()))
    features = self._features.copy()
    features[column] = feature
    table = base.set_column(base.column_names.index(column), column, ids)
    fingerprint = next_fingerprint(self, "class_encode_column", {"column": column, "include_nulls": include_nulls})
    return _store(self, table, features, fingerprint)
