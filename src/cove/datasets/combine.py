"""Combining datasets: ``concatenate_datasets`` (rows or columns) and ``interleave_datasets``
(alternating or sampled sources, the same row order as ``datasets`` for the same seed)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from cove.datasets.fingerprint import update_fingerprint


def concatenate_datasets(dsets: list, info=None, split: str | None = None, axis: int = 0):
    """One dataset of the rows of ``dsets`` in order (``axis=0``, same features), or of their columns
    side by side (``axis=1``, same number of rows). Memory-mapped inputs stay memory-mapped."""
    from cove.datasets.iterable import IterableDataset, concatenate_iterable

    if not dsets:
        raise ValueError("concatenate_datasets: nothing to concatenate")
    if all(isinstance(d, IterableDataset) for d in dsets):
        return concatenate_iterable(dsets)
    first = dsets[0]
    fingerprint = update_fingerprint(first._fingerprint, "concatenate", {"others": [d._fingerprint for d in dsets],
                                                                          "axis": axis})
    files = tuple(f for d in dsets for f in d._cache_files)
    if axis == 1:
        if len({len(d) for d in dsets}) != 1:
            raise ValueError(f"concatenate_datasets(axis=1): row counts differ: {[len(d) for d in dsets]}")
        columns, features = {}, first._features.copy()
        for d in dsets:
            view = d._view()
            for name in view.column_names:
                if name in columns:
                    raise ValueError(f"concatenate_datasets(axis=1): column {name!r} appears twice")
                columns[name] = view.column(name)
                features[name] = d._features[name]
        table = pa.table(columns).replace_schema_metadata(features.arrow_schema.metadata)
        return first._new(table=table, features=features, indices=None, fingerprint=fingerprint, cache_files=files,
                          info=info or first.info, split=split)
    for d in dsets[1:]:
        if sorted(d._features) != sorted(first._features):
            raise ValueError(f"concatenate_datasets: the columns differ: {first.column_names} vs {d.column_names}")
    dsets = [d if d._features == first._features else d.cast(first._features) for d in dsets]
    schema = first._features.arrow_schema
    tables = [d._table.select(list(first._features)).replace_schema_metadata(schema.metadata) for d in dsets]
    table = pa.concat_tables(tables)
    indices = None
    if any(d._indices is not None for d in dsets):
        parts, offset = [], 0
        for d, t in zip(dsets, tables):
            own = d._indices.to_numpy() if d._indices is not None else np.arange(t.num_rows)
            parts.append(own + offset)
            offset += t.num_rows
        indices = pa.array(np.concatenate(parts), pa.int64())
    return first._new(table=table, features=first._features, indices=indices, fingerprint=fingerprint,
                      cache_files=files, info=info or first.info, split=split)


def interleave_indices(lengths: list[int], probabilities: list[float] | None, seed: int | None,
                       stopping_strategy: str) -> list[int]:
    """Positions into the concatenation of sources of ``lengths``, in the order ``datasets`` picks."""
    offsets = np.cumsum([0] + lengths[:-1])
    oversampling = stopping_strategy == "all_exhausted"
    if stopping_strategy not in ("first_exhausted", "all_exhausted"):
        raise ValueError(f"Unknown stopping_strategy {stopping_strategy!r}: first_exhausted or all_exhausted")
    if probabilities is None and not oversampling:
        return (offsets.reshape(1, -1) + np.arange(min(lengths)).reshape(-1, 1)).flatten().tolist()
    if probabilities is None:
        rows = np.mod(np.arange(max(lengths)).reshape(-1, 1), np.array(lengths).reshape(1, -1))
        return (rows + offsets).flatten().tolist()
    n = len(lengths)
    lengths_arr = np.asarray(lengths, dtype=np.int64)
    drawable = np.asarray(probabilities, dtype=np.float64) > 0
    if any(lengths[i] == 0 and drawable[i] for i in range(n)):
        raise ValueError("interleave_datasets: a source that can be sampled is empty")
    if oversampling and not drawable.all():
        raise ValueError("interleave_datasets: all_exhausted cannot exhaust a source of probability 0")
    rng = np.random.default_rng(seed)
    blocks, counts, reached = [], np.zeros(n, np.int64), np.zeros(n, bool)
    while not (reached[drawable].all() if oversampling else reached[drawable].any()):
        block = rng.choice(n, size=1000, p=probabilities)
        blocks.append(block)
        counts += np.bincount(block, minlength=n)
        reached = counts >= lengths_arr
    draws = np.concatenate(blocks)
    exhaust = np.full(n, -1, np.int64)
    for s in range(n):
        occurrences = np.flatnonzero(draws == s)
        if drawable[s] and len(occurrences) >= lengths[s]:
            exhaust[s] = occurrences[lengths[s] - 1]
    valid = exhaust[exhaust >= 0]
    used = draws[: (valid.max() if oversampling else valid.min()) + 1]
    out = np.empty(len(used), np.int64)
    for s in range(n):
        if drawable[s]:
            pos = np.flatnonzero(used == s)
            out[pos] = (np.arange(len(pos)) % lengths[s]) + offsets[s]
    return out.tolist()


def interleave_datasets(dsets: list, probabilities: list[float] | None = None, seed: int | None = None,
                        split: str | None = None, stopping_strategy: str = "first_exhausted"):
    """Rows taken from each source in turn (or at random with ``probabilities``), until the first
    source runs out (``first_exhausted``) or every one has been seen (``all_exhausted``)."""
    from cove.datasets.iterable import IterableDataset, interleave_iterable

    if not dsets:
        raise ValueError("interleave_datasets: nothing to interleave")
    if all(isinstance(d, IterableDataset) for d in dsets):
        return interleave_iterable(dsets, probabilities, seed, stopping_strategy)
    combined = concatenate_datasets(dsets, split=split)
    return combined.select(interleave_indices([len(d) for d in dsets], probabilities, seed, stopping_strategy))
