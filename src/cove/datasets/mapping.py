"""The engine behind ``map`` and ``filter``: run a Python function over rows or batches, turn what it
returns into Arrow, and split the work over forked processes for ``num_proc``.

Only the columns the function returns are converted and written; the input columns it leaves alone
are reused as they are (zero-copy from the memory-mapped input), which is where most of the speed
of an unbatched ``map`` comes from. Worker processes are forked (no pickling of the function), each
takes a contiguous range of rows, writes its output to an Arrow file and the parent memory-maps them.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from tqdm.auto import tqdm

from cove.datasets.features import (
    Features,
    Image,
    Value,
    encode_value,
    from_arrow_type,
    needs_decoding,
    needs_encoding,
    to_arrow_type,
)
from cove.datasets.formatting import Format, format_batch
from cove.datasets.table import read_arrow, write_arrow

WRITER_BATCH = 1000


@dataclass
class Job:
    """One ``map`` or ``filter`` call: the function and how to call it."""

    function: Any
    batched: bool = False
    batch_size: int = 1000
    drop_last_batch: bool = False
    with_indices: bool = False
    input_columns: list[str] | None = None
    fn_kwargs: dict = field(default_factory=dict)
    desc: str = "Map"


def _plain(value):
    """torch tensors and numpy scalars -> what ``pa.array`` takes."""
    module = type(value).__module__
    if module.startswith("torch"):
        return value.detach().cpu().numpy()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _is_image(value) -> bool:
    return type(value).__module__.startswith("PIL.")


def to_arrow(values, hint) -> tuple[pa.Array, Any]:
    """A column of Python values -> (Arrow array, its feature). ``hint`` is the input column's feature:
    kept when the values fit it (a ClassLabel passed through stays a ClassLabel), else inferred."""
    values = _plain(values)
    if isinstance(values, np.ndarray):
        values = values if values.ndim == 1 and values.dtype != object else list(values)
    if isinstance(values, list) and values and not isinstance(values[0], str | int | float | bool | type(None)):
        values = [_plain(v) for v in values]
    if hint is not None:
        try:
            encoded = [encode_value(hint, v) for v in values] if needs_encoding(hint) else values
            return pa.array(encoded, to_arrow_type(hint)), hint
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, KeyError, AttributeError):
            pass
    first = next((v for v in values if v is not None), None)
    if _is_image(first):
        feature = Image()
        return pa.array([feature.encode_example(v) for v in values], to_arrow_type(feature)), feature
    array = pa.array(values)
    return array, from_arrow_type(array.type)


class _Output:
    """Accumulates a function's outputs and converts them to Arrow every ``WRITER_BATCH`` rows."""

    def __init__(self, hints: Features) -> None:
        self.hints = hints
        self.tables: list[pa.Table] = []
        self.features: dict = {}

    def add(self, columns: dict[str, Any]) -> None:
        arrays, names = [], []
        lengths = {k: len(v) for k, v in columns.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"The function returned columns of different lengths: {lengths}")
        for name, values in columns.items():
            hint = self.features.get(name, self.hints.get(name))
            array, feature = to_arrow(values, hint)
            if self.features.get(name, Value("null")) == Value("null"):
                self.features[name] = feature
            arrays.append(array)
            names.append(name)
        if names:
            self.tables.append(pa.Table.from_arrays(arrays, names=names))

    def table(self) -> pa.Table | None:
        if not self.tables:
            return None
        return pa.concat_tables(self.tables, promote_options="permissive")


class _LazyColumns:
    """A batch whose columns become Python lists only when a row first reads them."""

    def __init__(self, table: pa.Table, features: Features) -> None:
        self.table, self.features, self.cache = table, features, {}
        self.names = table.column_names

    def column(self, name: str) -> list:
        values = self.table.column(name).to_pylist()  # KeyError for an unknown column
        if name in self.features and needs_decoding(self.features[name]):
            values = self.features.decode_column(name, values)
        self.cache[name] = values
        return values


class LazyRow(Mapping):
    """A read-only row of a ``_LazyColumns`` batch: what ``filter`` hands its predicate, so a
    predicate reading one column never converts the others (as ``datasets`` does)."""

    __slots__ = ("_columns", "_i")

    def __init__(self, columns: _LazyColumns, i: int) -> None:
        self._columns, self._i = columns, i

    def __getitem__(self, key: str):
        cache = self._columns.cache
        return (cache[key] if key in cache else self._columns.column(key))[self._i]

    def __iter__(self):
        return iter(self._columns.names)

    def __len__(self) -> int:
        return len(self._columns.names)

    def __repr__(self) -> str:
        return repr(dict(self))


def _rows(table: pa.Table, features: Features, fmt: Format) -> list:
    if fmt.type is None and fmt.columns is None:
        rows = table.to_pylist()
        if any(needs_decoding(features[c]) for c in table.column_names if c in features):
            rows = [features.decode_example(r) for r in rows]
        return rows
    batch = format_batch(table, features, fmt)
    keys = list(batch)
    return [dict(zip(keys, values)) for values in zip(*batch.values())]


def _call(job: Job, data, indices):
    args = (data,) if job.input_columns is None else tuple(data[c] for c in job.input_columns)
    if job.with_indices:
        args += (indices,)
    return job.function(*args, **job.fn_kwargs)


def _each(job: Job, rows: list, first_index: int) -> list:
    """``job.function`` applied to each row (the common one-argument case without per-call overhead)."""
    fn = job.function
    if job.input_columns is None and not job.with_indices and not job.fn_kwargs:
        return [fn(row) for row in rows]
    return [_call(job, row, first_index + i) for i, row in enumerate(rows)]


def _columns_of(results: list) -> dict[str, list]:
    """Per-row output dicts -> columns (rows returning None are skipped)."""
    results = [r for r in results if r is not None]
    if not results:
        return {}
    keys = list(results[0])
    try:
        columns = {k: [r[k] for r in results] for k in keys}
    except KeyError as e:
        raise ValueError(f"The function returned {e} for some rows only: every row must return the same keys") from None
    if any(len(r) != len(keys) for r in results):
        raise ValueError(f"The function returned other keys than {keys} for some rows")
    return columns


def run_map(ds, job: Job, start: int, stop: int, progress) -> pa.Table | None:
    """Apply ``job`` to rows ``start:stop`` of ``ds``; the returned columns as a table (None if none)."""
    out = _Output(ds._features)
    needed = job.input_columns or ds.column_names
    step = job.batch_size if job.batched else WRITER_BATCH
    lo = start
    for table in ds._batches(start, stop, step):
        hi = lo + table.num_rows
        if job.batched and job.drop_last_batch and hi - lo < step:
            break
        table = table.select(needed)
        if job.batched:
            result = _call(job, format_batch(table, ds._features, ds._format), list(range(lo, hi)))
            if result is not None:
                out.add(dict(result))
        else:
            out.add(_columns_of(_each(job, _rows(table, ds._features, ds._format), lo)))
        progress(hi - lo)
        lo = hi
    table = out.table()
    if table is not None:
        table = table.replace_schema_metadata(Features(out.features).arrow_schema.metadata)
    return table


def run_filter(ds, job: Job, start: int, stop: int, progress) -> np.ndarray:
    """The positions in ``start:stop`` whose rows the predicate keeps (absolute, int64)."""
    kept = []
    needed = job.input_columns or ds.column_names
    step = job.batch_size if job.batched else WRITER_BATCH
    lo = start
    for table in ds._batches(start, stop, step):
        hi = lo + table.num_rows
        table = table.select(needed)
        if job.batched:
            mask = np.asarray(_call(job, format_batch(table, ds._features, ds._format), list(range(lo, hi))),
                              dtype=bool)
        else:
            if ds._format.type is None and ds._format.columns is None:
                columns = _LazyColumns(table, ds._features)
                rows = [LazyRow(columns, i) for i in range(table.num_rows)]
            else:
                rows = _rows(table, ds._features, ds._format)
            mask = np.array([bool(r) for r in _each(job, rows, lo)], dtype=bool)
        kept.append(np.flatnonzero(mask) + lo)
        progress(hi - lo)
        lo = hi
    return np.concatenate(kept) if kept else np.zeros(0, np.int64)


# -- processes ----------------------------------------------------------------------------------------


def bounds(n: int, parts: int) -> list[tuple[int, int]]:
    """Contiguous ``(start, stop)`` ranges splitting ``n`` rows in ``parts`` (as ``shard(contiguous=True)``)."""
    div, mod = divmod(n, parts)
    out, start = [], 0
    for i in range(parts):
        stop = start + div + (1 if i < mod else 0)
        out.append((start, stop))
        start = stop
    return out


def run(kind: str, ds, job: Job, *, num_proc: int | None, workdir: Path | None, progress: bool = True):
    """Run ``run_map`` / ``run_filter`` over every row, in ``num_proc`` forked processes if > 1.
    Map returns a table of the output columns (or None), filter the kept positions."""
    n = ds.num_rows
    work = run_map if kind == "map" else run_filter
    bar = tqdm(total=n, desc=job.desc, unit=" examples", disable=None if progress else True)
    try:
        if not num_proc or num_proc <= 1 or n < 2:
            return work(ds, job, 0, n, bar.update)
        return _in_processes(kind, ds, job, min(num_proc, n), workdir, bar)
    finally:
        bar.close()


def _in_processes(kind: str, ds, job: Job, num_proc: int, workdir: Path | None, bar):
    import tempfile

    ctx = multiprocessing.get_context("fork")
    done = ctx.Value("q", 0)
    tmp = tempfile.TemporaryDirectory(dir=workdir) if workdir else tempfile.TemporaryDirectory()
    base = Path(tmp.name)

    def child(i: int, start: int, stop: int) -> None:
        def tick(k: int) -> None:
            with done.get_lock():
                done.value += k

        try:
            result = (run_map if kind == "map" else run_filter)(ds, job, start, stop, tick)
            if kind == "filter":
                np.save(base / f"{i}.npy", result)
            elif result is not None:
                write_arrow(result, base / f"{i}.arrow")
            os._exit(0)
        except BaseException:  # noqa: BLE001 - reported to the parent through a file
            (base / f"{i}.error").write_text(traceback.format_exc())
            os._exit(1)

    procs = []
    for i, (start, stop) in enumerate(bounds(ds.num_rows, num_proc)):
        p = ctx.Process(target=child, args=(i, start, stop), daemon=True)
        p.start()
        procs.append(p)
    try:
        while any(p.is_alive() for p in procs):
            bar.update(done.value - bar.n)
            time.sleep(0.05)
        bar.update(done.value - bar.n)
        errors = [(base / f"{i}.error").read_text() for i in range(num_proc) if (base / f"{i}.error").exists()]
        if errors:
            raise RuntimeError(f"A {kind} worker failed:\n{errors[0]}")
        if any(p.exitcode != 0 for p in procs):
            raise RuntimeError(f"A {kind} worker died (exit codes {[p.exitcode for p in procs]})")
        if kind == "filter":
            return np.concatenate([np.load(base / f"{i}.npy") for i in range(num_proc)])
        parts = [read_arrow(base / f"{i}.arrow", in_memory=True) for i in range(num_proc)
                 if (base / f"{i}.arrow").exists()]
        if not parts:
            return None
        metadata = parts[0].schema.metadata
        return pa.concat_tables(parts, promote_options="permissive").replace_schema_metadata(metadata)
    finally:
        for p in procs:
            p.join(timeout=1)
        tmp.cleanup()
