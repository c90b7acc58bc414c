"""``Accelerator``: the few helpers a hand-written training loop needs to run unchanged on one process
or under torchrun (DDP), with accelerate's names.

    accelerator = Accelerator(mixed_precision="bf16")
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    for batch in loader:                      # this rank's share, already on accelerator.device
        with accelerator.autocast():
            loss = loss_fn(model(**inputs), labels)
        accelerator.backward(loss)
        optimizer.step(); scheduler.step(); optimizer.zero_grad()
    accelerator.gather(predictions)           # every rank's rows, in rank order

A prepared ``DataLoader`` gives rank r the batches r, r + world, r + 2 * world, ... of the original
loader (each rank keeps ``batch_size``; the global batch is ``batch_size * world``). When the batches
do not divide evenly, the last ranks repeat the first batches so every rank steps the same number of
times, as accelerate's ``even_batches`` does. Shuffling loaders must draw the same order on every rank:
seed them (``set_seed``) identically.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader

from cove.distributed import ddp
from cove.distributed.env import read_env
from cove.training.loop import autocast_factory

PRECISIONS = ("no", "bf16", "fp16")


def _to_device(value: Any, device: torch.device) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, Mapping):
        return {k: _to_device(v, device) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_device(v, device) for v in value)
    return value


class ShardedLoader:
    """A ``DataLoader`` seen from one rank: its share of the batches, moved to ``device``."""

    def __init__(self, loader: DataLoader, *, rank: int, world_size: int, device: torch.device) -> None:
        self.loader, self.rank, self.world_size, self.device = loader, rank, world_size, device

    def __len__(self) -> int:
        return -(-len(self.loader) // self.world_size)

    def set_epoch(self, epoch: int) -> None:
        for target in (
            self.loader.sampler,
            getattr(self.loader.batch_sampler, "sampler", None),
            self.loader.dataset,
        ):
            if hasattr(target, "set_epoch"):
                target.set_epoch(epoch)

    def __iter__(self) -> Iterator[Any]:
        first: list[Any] = []  # the first world_size batches, to even out a short last round
        mine = None
        for i, batch in enumerate(self.loader):
            if len(first) < self.world_size:
                first.append(batch)
            if i % self.world_size == self.rank:
                mine = batch
            if i % self.world_size == self.world_size - 1:
                yield _to_device(mine, self.device)
                mine = None
        served = len(self.loader) % self.world_size
        if served:  # a short last round: ranks without a batch take one from the start
            yield _to_device(
                mine if mine is not None else first[(self.rank - served) % len(first)], self.device
            )


class _ScaledOptimizer:
    """fp16: ``step`` goes through the gradient scaler (skipped on overflow); the rest is the optimizer."""

    def __init__(self, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler) -> None:
        self.optimizer, self.scaler = optimizer, scaler

    def step(self, closure=None) -> None:
        self.scaler.step(self.optimizer)
        self.scaler.update()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.optimizer, name)


class Accelerator:
    """One process or a torchrun job, behind the same calls.

    Args:
        mixed_precision: ``"no"``, ``"bf16"`` (CPU or CUDA autocast) or ``"fp16"`` (CUDA, with a
            gradient scaler).
    """

    def __init__(self, mixed_precision: str = "no") -> None:
        if mixed_precision not in PRECISIONS:
            raise ValueError(f"mixed_precision must be one of {PRECISIONS}, got {mixed_precision!r}")
        self.env = read_env()
        self.device = ddp.setup(self.env)
        self.mixed_precision = mixed_precision
        self._autocast = autocast_factory(
            self.device, bf16=mixed_precision == "bf16", fp16=mixed_precision == "fp16"
        )
        self.scaler = torch.amp.GradScaler("cuda") if mixed_precision == "fp16" else None

    # --- where this process sits --------------------------------------------------------------

    @property
    def is_main_process(self) -> bool:
        return self.env.is_main_process

    @property
    def is_local_main_process(self) -> bool:
        return self.env.local_rank == 0

    @property
    def process_index(self) -> int:
        return self.env.rank

    @property
    def num_processes(self) -> int:
        return self.env.world_size

    # --- preparing objects --------------------------------------------------------------------

    def prepare(self, *objects: Any) -> Any:
        """Models go to ``device`` (wrapped in DDP under torchrun), data loaders are sharded across ranks,
        optimizers get the fp16 scaler; anything else (schedulers) is returned as is. Returns the
        objects in the order given (one object: the object itself)."""
        out = [self._prepare_one(o) for o in objects]
        return out[0] if len(out) == 1 else tuple(out)

    def _prepare_one(self, obj: Any) -> Any:
        if isinstance(obj, nn.Module):
            return ddp.wrap(obj.to(self.device), self.env, self.device)
        if isinstance(obj, DataLoader):
            return ShardedLoader(obj, rank=self.env.rank, world_size=self.env.world_size, device=self.device)
        if isinstance(obj, torch.optim.Optimizer) and self.scaler is not None:
            return _ScaledOptimizer(obj, self.scaler)
        return obj

    def unwrap_model(self, model: nn.Module) -> nn.Module:
        """The model inside a DDP wrapper."""
        return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model

    # --- the step -----------------------------------------------------------------------------

    def autocast(self) -> contextlib.AbstractContextManager:
        """The mixed-precision context for forward passes (a no-op with ``mixed_precision="no"``)."""
        return self._autocast()

    def backward(self, loss: torch.Tensor) -> None:
        """``loss.backward()``, through the gradient scaler under fp16."""
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def clip_grad_norm_(self, parameters, max_norm: float) -> torch.Tensor:
        """Clip after unscaling fp16 gradients (call at most once per step, before ``optimizer.step``)."""
        if self.scaler is not None:
            raise NotImplementedError("clip_grad_norm_ with fp16 needs the optimizer: unscale_ it yourself")
        return nn.utils.clip_grad_norm_(parameters, max_norm)

    # --- collectives --------------------------------------------------------------------------

    def gather(self, tensor: Any) -> Any:
        """Concatenate a tensor (or a dict/list of tensors) from every rank along dim 0, in rank order.
        Shapes must agree beyond dim 0."""
        if isinstance(tensor, Mapping):
            return {k: self.gather(v) for k, v in tensor.items()}
        if isinstance(tensor, list | tuple):
            return type(tensor)(self.gather(t) for t in tensor)
        if not self.env.is_distributed:
            return tensor
        tensor = tensor.contiguous()
        if tensor.dim() == 0:
            tensor = tensor[None]
        sizes = [torch.zeros(1, dtype=torch.long, device=self.device) for _ in range(self.env.world_size)]
        dist.all_gather(sizes, torch.tensor([len(tensor)], device=self.device))
        longest = int(max(s.item() for s in sizes))
        padded = torch.zeros((longest, *tensor.shape[1:]), dtype=tensor.dtype, device=self.device)
        padded[: len(tensor)] = tensor
        parts = [torch.empty_like(padded) for _ in range(self.env.world_size)]
        dist.all_gather(parts, padded)
        return torch.cat([p[: int(n.item())] for p, n in zip(parts, sizes)])

    def reduce(self, tensor: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
        """The sum (or mean) of ``tensor`` over ranks."""
        if reduction not in ("sum", "mean"):
            raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
        if not self.env.is_distributed:
            return tensor
        out = tensor.clone()
        dist.all_reduce(out)
        return out / self.env.world_size if reduction == "mean" else out

    def wait_for_everyone(self) -> None:
        ddp.barrier(self.env)

    @contextlib.contextmanager
    def main_process_first(self) -> Iterator[None]:
        """Rank 0 runs the block first (e.g. to download or preprocess into a cache); the others then."""
        if not self.is_main_process:
            self.wait_for_everyone()
        yield
        if self.is_main_process:
            self.wait_for_everyone()

    def print(self, *args: Any, **kwargs: Any) -> None:
        """``print`` on the main process only."""
        if self.is_main_process:
            print(*args, **kwargs)

    def save(self, obj: Any, path: str) -> None:
        """``torch.save`` on the main process only."""
        if self.is_main_process:
            torch.save(obj, path)
