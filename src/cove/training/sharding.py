"""Which rows each rank handles under torchrun: one rule for the Trainer's train and eval loaders.

Training: the rows of epoch e are a permutation seeded by ``seed + e`` (the same on every rank), cut in
global batches of ``per_device_train_batch_size * world_size``; rank r takes the contiguous share r of
each (``ceil(len / world)`` rows). A short last batch is split evenly, and a rank it leaves empty
repeats the batch's first share, so every rank steps (DDP needs every rank in every all-reduce).
Iterable datasets are cut the same way as they stream.

Evaluation: rank r takes the contiguous block r of ``ceil(n / world)`` rows; a short last block is
padded with repeats of row 0 so every rank runs the same number of forwards (FSDP needs it), and the
caller drops the repeats after gathering. With one process every function returns all rows.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

import torch

Row = TypeVar("Row")


def rank_slice(rows: Sequence[Row], rank: int, world: int) -> list[Row]:
    """Rank ``rank``'s contiguous share of ``rows``: ``ceil(len / world)`` of them, fewer (or none)
    for the last ranks when ``rows`` is short."""
    share = math.ceil(len(rows) / world)
    return list(rows[rank * share : (rank + 1) * share])


def rank_share(rows: Sequence[Row], rank: int, world: int) -> list[Row]:
    """``rank_slice``, except that a rank left empty repeats the first share (every rank steps)."""
    return rank_slice(rows, rank, world) or rank_slice(rows, 0, world)


def epoch_order(n: int, *, seed: int, epoch: int) -> list[int]:
    """The row order of ``epoch``: a permutation of ``range(n)`` seeded by ``seed + epoch``."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch)).tolist()


#: batches per megabatch of ``group_by_length`` (transformers' ``get_length_grouped_indices``)
MEGABATCH = 50


def length_grouped(order: list[int], lengths: Sequence[int], size: int) -> list[int]:
    """``order`` cut in megabatches of ``MEGABATCH * size`` rows, each sorted longest first, so that a
    batch of ``size`` holds rows of about one length; the longest row of all goes first (an
    out-of-memory error shows at once)."""
    mega = MEGABATCH * size
    chunks = [sorted(order[i : i + mega], key=lambda r: -lengths[r]) for i in range(0, len(order), mega)]
    out = list(itertools.chain.from_iterable(chunks))
    if out:
        longest = max(range(len(out)), key=lambda i: lengths[out[i]])
        out[0], out[longest] = out[longest], out[0]
    return out


def train_batches(n: int, *, batch_size: int, rank: int, world: int, seed: int, epoch: int,
                  lengths: Sequence[int] | None = None) -> list[list[int]]:
    """This rank's index batches of ``epoch`` over ``n`` rows (``batch_size`` per device); with
    ``lengths`` (one per row), batches of rows of about one length (``length_grouped``)."""
    order, size = epoch_order(n, seed=seed, epoch=epoch), batch_size * world
    if lengths is not None:
        order = length_grouped(order, lengths, size)
    return [rank_share(order[i : i + size], rank, world) for i in range(0, n, size)]


def stream_batches(rows: Iterable[Row], *, batch_size: int, rank: int, world: int) -> Iterator[list[Row]]:
    """This rank's batches of rows from a stream, cut as ``train_batches`` cuts an epoch."""
    stream, size = iter(rows), batch_size * world
    while batch := list(itertools.islice(stream, size)):
        yield rank_share(batch, rank, world)


def eval_batches(n: int, *, batch_size: int, rank: int, world: int) -> tuple[list[list[int]], int]:
    """(this rank's index batches over ``n`` rows, how many of its rows are real, not padding)."""
    rows = rank_slice(range(n), rank, world)
    real = len(rows)
    if world > 1:
        rows += [0] * (math.ceil(n / world) - real)
    return [rows[i : i + batch_size] for i in range(0, len(rows), batch_size)], real
