"""DDP for the Trainer: process-group setup, the model wrapper, and the few collectives it uses.

gloo on CPU, nccl on CUDA. The Trainer shards each global batch across ranks and normalizes the loss
by the item count summed over ranks, so N processes with batch b equal one process with batch N*b.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from cove.distributed.env import DistEnv


def setup(env: DistEnv) -> torch.device:
    """Join the process group (once) and return this rank's device."""
    if torch.cuda.is_available():
        device = torch.device("cuda", env.local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if env.is_distributed and not dist.is_initialized():
        dist.init_process_group(
            "nccl" if device.type == "cuda" else "gloo", rank=env.rank, world_size=env.world_size
        )
    return device


def wrap(model: nn.Module, env: DistEnv, device: torch.device) -> nn.Module:
    """``DistributedDataParallel(model)`` when distributed, else the model itself."""
    if not env.is_distributed:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def sum_over_ranks(value: float, env: DistEnv, device: torch.device) -> float:
    """The sum of ``value`` over all ranks (``value`` itself outside a distributed job)."""
    if not env.is_distributed:
        return value
    t = torch.tensor(float(value), dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t)


def gather_objects(value: object, env: DistEnv) -> list[object]:
    """``[value of rank 0, value of rank 1, ...]`` on every rank (``[value]`` outside a distributed job)."""
    if not env.is_distributed:
        return [value]
    out: list[object] = [None] * env.world_size
    dist.all_gather_object(out, value)
    return out


def barrier(env: DistEnv) -> None:
    if env.is_distributed:
        dist.barrier()
