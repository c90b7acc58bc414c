"""``IterableDataset``: rows read lazily, shard by shard, through a chain of lazy transforms.

A shard is a zero-argument function returning an iterator of Arrow record batches (a local file, a
Hub file read over HTTP range requests, a generator). Transforms (``map``, ``filter``, ``shuffle``
with a buffer, ``take``, ``skip``, column edits) are steps applied to the row stream while it is
iterated, so streaming reads only what the loop consumes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa

from cove.datasets.features import Features, cast_table, needs_decoding
from cove.datasets.formatting import Format, format_batch

Shard = Callable[[], Iterator[pa.RecordBatch]]
Step = Callable[[Iterator[dict], int], Iterator[dict]]  # (rows, epoch) -> rows


class IterableDataset:
    """A stream of rows from ``shards`` (see the module docstring)."""

    def __init__(self, shards: list[Shard], *, features: Features | None = None, steps: tuple[Step, ...] = (),
                 fmt: Format | None = None, split: str | None = None) -> None:
        self._shards = list(shards)
        self._features = Features(features) if features is not None else None
        self._source_features = self._features
        self._steps = steps
        self._format = fmt or Format()
        self._epoch = 0
        self.split = split

    def _with(self, *, shards=None, step: Step | None = None, features=..., fmt=None) -> IterableDataset:
        out = IterableDataset(self._shards if shards is None else shards,
                              features=self._features if features is ... else features,
                              steps=self._steps + ((step,) if step else ()), fmt=fmt or self._format,
                              split=self.split)
        out._epoch, out._source_features = self._epoch, self._source_features
        return out

    @staticmethod
    def from_generator(generator, features: Features | None = None, gen_kwargs: dict | None = None) -> IterableDataset:
        """Rows from a generator function, read lazily (see :func:`from_generator`)."""
        return from_generator(generator, features, gen_kwargs)

    @property
    def features(self) -> Features | None:
        return self._features.copy() if self._features is not None else None

    @property
    def column_names(self) -> list[str] | None:
        return list(self._features) if self._features is not None else None

    @property
    def n_shards(self) -> int:
        return len(self._shards)

    def __repr__(self) -> str:
        return f"IterableDataset({{\n    features: {self.column_names},\n    n_shards: {self.n_shards}\n}})"

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle differently each epoch (the seed becomes ``seed + epoch``)."""
        self._epoch = epoch

    # -- iteration ------------------------------------------------------------------------------

    def _raw_rows(self, shards: list[Shard]) -> Iterator[dict]:
        """Rows as stored, with images and audio decoded by the features the shards were made with."""
        features = self._source_features
        decode = features is not None and any(needs_decoding(f) for f in features.values())
        for shard in shards:
            for batch in shard():
                rows = batch.to_pylist()
                yield from (features.decode_example(r) for r in rows) if decode else rows

    def _rows(self) -> Iterator[dict]:
        rows = self._raw_rows(self._shard_order())
        for step in self._steps:
            rows = step(rows, self._epoch)
        return rows

    def _shard_order(self) -> list[Shard]:
        return self._shards

    def __iter__(self) -> Iterator:
        if self._format.type is None:
            yield from self._rows()
            return
        for batch in self.iter(batch_size=1):
            yield {k: v[0] for k, v in batch.items()} if isinstance(batch, dict) else batch

    def iter(self, batch_size: int, drop_last_batch: bool = False) -> Iterator:
        """Batches of ``batch_size`` rows in the current format."""
        rows = self._rows()
        while True:
            chunk = list(itertools.islice(rows, batch_size))
            if not chunk or (drop_last_batch and len(chunk) < batch_size):
                return
            columns = {k: [r.get(k) for r in chunk] for k in chunk[0]}
            if self._format.type is None:
                yield columns
                continue
            table = pa.Table.from_pydict(self._features.encode_batch(columns) if self._features else columns)
            yield format_batch(table, self._features or Features.from_arrow_schema(table.schema), self._format)

    def take(self, n: int) -> IterableDataset:
        return self._with(step=lambda rows, epoch: itertools.islice(rows, n))

    def skip(self, n: int) -> IterableDataset:
        return self._with(step=lambda rows, epoch: itertools.islice(rows, n, None))

    # -- transforms -------------------------------------------------------------------------------

    def map(self, function=None, with_indices: bool = False, input_columns: str | list[str] | None = None,
            batched: bool = False, batch_size: int = 1000, remove_columns: str | list[str] | None = None,
            features: Features | None = None, fn_kwargs: dict | None = None) -> IterableDataset:
        """Lazily apply ``function`` (arguments as ``Dataset.map``); features become unknown unless given."""
        if function is None:
            return self if not remove_columns else self.remove_columns(remove_columns)
        remove = [remove_columns] if isinstance(remove_columns, str) else list(remove_columns or [])
        inputs = [input_columns] if isinstance(input_columns, str) else input_columns
        kwargs = dict(fn_kwargs or {})

        def call(data, idx):
            args = (data,) if inputs is None else tuple(data[c] for c in inputs)
            return function(*args, *((idx,) if with_indices else ()), **kwargs) or {}

        def rows_step(rows, epoch):
            for i, row in enumerate(rows):
                out = call(row, i)
                merged = {k: v for k, v in row.items() if k not in remove}
                merged.update(out)
                yield merged

        def batch_step(rows, epoch):
            start = 0
            while chunk := list(itertools.islice(rows, batch_size)):
                batch = {k: [r.get(k) for r in chunk] for k in chunk[0]}
                out = call(batch, list(range(start, start + len(chunk))))
                start += len(chunk)
                merged = {k: v for k, v in batch.items() if k not in remove}
                merged.update({k: list(v) for k, v in out.items()})
                n = len(next(iter(merged.values()))) if merged else 0
                keys = list(merged)
                yield from (dict(zip(keys, vals)) for vals in zip(*(merged[k] for k in keys))) if n else ()

        return self._with(step=batch_step if batched else rows_step, features=features)

    def filter(self, function=None, with_indices: bool = False, input_columns: str | list[str] | None = None,
               batched: bool = False, batch_size: int = 1000, fn_kwargs: dict | None = None) -> IterableDataset:
        if function is None:
            return self
        inputs = [input_columns] if isinstance(input_columns, str) else input_columns
        kwargs = dict(fn_kwargs or {})

        def call(data, idx):
            args = (data,) if inputs is None else tuple(data[c] for c in inputs)
            return function(*args, *((idx,) if with_indices else ()), **kwargs)

        def step(rows, epoch):
            if not batched:
                yield from (r for i, r in enumerate(rows) if call(r, i))
                return
            start = 0
            while chunk := list(itertools.islice(rows, batch_size)):
                batch = {k: [r.get(k) for r in chunk] for k in chunk[0]}
                keep = call(batch, list(range(start, start + len(chunk))))
                start += len(chunk)
                yield from (r for r, k in zip(chunk, keep) if k)

        return self._with(step=step)

    def shuffle(self, seed: int | None = None, buffer_size: int = 1000) -> IterableDataset:
        """Shuffle the shard order, then rows through a buffer of ``buffer_size`` (seeded per epoch)."""
        base = np.random.SeedSequence(seed).generate_state(1)[0] if seed is not None else None
        parent = self

        class _Shuffled(IterableDataset):
            def _shard_order(self) -> list[Shard]:
                rng = np.random.default_rng(None if base is None else int(base) + self._epoch)
                return [self._shards[i] for i in rng.permutation(len(self._shards))]

        def step(rows, epoch):
            rng = np.random.default_rng(None if base is None else int(base) + epoch + 1)
            buffer = []
            for row in rows:
                if len(buffer) < buffer_size:
                    buffer.append(row)
                    continue
                i = int(rng.integers(buffer_size))
                yield buffer[i]
                buffer[i] = row
            rng.shuffle(buffer)
            yield from buffer

        out = _Shuffled(parent._shards, features=parent._features, steps=parent._steps + (step,),
                        fmt=parent._format, split=parent.split)
        out._epoch, out._source_features = parent._epoch, parent._source_features
        return out

    def shard(self, num_shards: int, index: int, contiguous: bool = True) -> IterableDataset:
        """Shard ``index`` of ``num_shards`` over the dataset's shards (files)."""
        if not 0 <= index < num_shards:
            raise ValueError("index should be in [0, num_shards-1]")
        if contiguous:
            div, mod = divmod(self.n_shards, num_shards)
            start = div * index + min(index, mod)
            return self._with(shards=self._shards[start:start + div + (1 if index < mod else 0)])
        return self._with(shards=self._shards[index::num_shards])

    def rename_columns(self, column_mapping: dict[str, str]) -> IterableDataset:
        features = Features({column_mapping.get(k, k): v for k, v in self._features.items()}) \
            if self._features is not None else None
        return self._with(step=lambda rows, epoch: ({column_mapping.get(k, k): v for k, v in r.items()} for r in rows),
                          features=features)

    def rename_column(self, original_column_name: str, new_column_name: str) -> IterableDataset:
        return self.rename_columns({original_column_name: new_column_name})

    def remove_columns(self, column_names: str | list[str]) -> IterableDataset:
        drop = {column_names} if isinstance(column_names, str) else set(column_names)
        features = Features({k: v for k, v in self._features.items() if k not in drop}) \
            if self._features is not None else None
        return self._with(step=lambda rows, epoch: ({k: v for k, v in r.items() if k not in drop} for r in rows),
                          features=features)

    def select_columns(self, column_names: str | list[str]) -> IterableDataset:
        keep = [column_names] if isinstance(column_names, str) else list(column_names)
        features = Features({k: self._features[k] for k in keep}) if self._features is not None else None
        return self._with(step=lambda rows, epoch: ({k: r[k] for k in keep} for r in rows), features=features)

    def cast(self, features: Features) -> IterableDataset:
        features = Features(features)

        def step(rows, epoch):
            while chunk := list(itertools.islice(rows, 1000)):
                table = pa.Table.from_pylist(chunk)
                yield from cast_table(table, features).to_pylist()

        return self._with(step=step, features=features)

    def with_format(self, type: str | None = None) -> IterableDataset:
        return self._with(fmt=Format(type))


# -- building -------------------------------------------------------------------------------------


def from_dataset(ds, num_shards: int = 1) -> IterableDataset:
    """An ``IterableDataset`` over a map-style dataset's rows, in ``num_shards`` contiguous shards."""
    from cove.datasets.mapping import bounds

    def shard(start: int, stop: int) -> Shard:
        def batches():
            for table in ds._batches(start, stop, 1000):
                yield from table.to_batches()
        return batches

    shards = [shard(a, b) for a, b in bounds(ds.num_rows, max(1, min(num_shards, ds.num_rows)))]
    return IterableDataset(shards, features=ds._features, split=ds.split)


def from_generator(generator, features: Features | None = None, gen_kwargs: dict | None = None) -> IterableDataset:
    """Rows from a generator function, read lazily (list-valued ``gen_kwargs`` split it into shards)."""
    kwargs = dict(gen_kwargs or {})
    lists = [k for k, v in kwargs.items() if isinstance(v, list)]
    n = len(kwargs[lists[0]]) if lists else 1

    def shard(i: int) -> Shard:
        def batches():
            args = {k: ([v[i]] if k in lists else v) for k, v in kwargs.items()}
            rows = generator(**args)
            while chunk := list(itertools.islice(rows, 1000)):
                if features is None:
                    yield pa.RecordBatch.from_pylist(chunk)
                else:
                    encoded = [features.encode_example(r) for r in chunk]
                    yield pa.RecordBatch.from_pylist(encoded, schema=features.arrow_schema)
        return batches

    return IterableDataset([shard(i) for i in range(n)], features=features)


def split_dataset_by_node(dataset, rank: int, world_size: int):
    """The part of ``dataset`` that node ``rank`` of ``world_size`` reads: a contiguous shard of a
    map-style dataset; for an iterable one, whole shards when they divide evenly, else every
    ``world_size``-th row starting at ``rank`` (as ``datasets.distributed``)."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in [0, {world_size})")
    if not isinstance(dataset, IterableDataset):
        return dataset.shard(num_shards=world_size, index=rank, contiguous=True)
    if dataset.n_shards % world_size == 0:
        return dataset.shard(world_size, rank, contiguous=False)
    return dataset._with(step=lambda rows, epoch: itertools.islice(rows, rank, None, world_size))


def concatenate_iterable(dsets: list[IterableDataset]) -> IterableDataset:
    def chained(d: IterableDataset) -> Shard:
        def batches():
            for chunk in d.iter(1000):
                yield pa.RecordBatch.from_pydict(chunk)
        return batches

    return IterableDataset([chained(d) for d in dsets], features=dsets[0]._features)


def interleave_iterable(dsets: list[IterableDataset], probabilities, seed, stopping_strategy: str) -> IterableDataset:
    """Rows from each source in turn (or sampled with ``probabilities``). A source is exhausted when its
    last row has been taken: ``first_exhausted`` stops then, ``all_exhausted`` restarts it until every
    source has been exhausted once (the order ``datasets`` gives)."""
    if stopping_strategy not in ("first_exhausted", "all_exhausted"):
        raise ValueError(f"Unknown stopping_strategy {stopping_strategy!r}: first_exhausted or all_exhausted")
    end = object()

    def batches():
        iterators = [iter(d) for d in dsets]
        ahead = [next(it, end) for it in iterators]  # one row of lookahead tells when a source ends
        exhausted = [False] * len(dsets)
        rng = np.random.default_rng(seed)
        order = itertools.cycle(range(len(dsets))) if probabilities is None else \
            (int(i) for _ in itertools.count() for i in rng.choice(len(dsets), size=1000, p=probabilities))
        out = []
        for i in order:
            if ahead[i] is end:
                break  # an empty source
            out.append(ahead[i])
            ahead[i] = next(iterators[i], end)
            if ahead[i] is end:
                exhausted[i] = True
                if stopping_strategy == "first_exhausted" or all(exhausted):
                    break
                iterators[i] = iter(dsets[i])
                ahead[i] = next(iterators[i], end)
            if len(out) == 1000:
                yield pa.RecordBatch.from_pylist(out)
                out = []
        if out:
            yield pa.RecordBatch.from_pylist(out)

    return IterableDataset([batches], features=dsets[0]._features)
