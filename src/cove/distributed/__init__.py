"""torch.distributed plumbing: the environment torchrun sets, as a frozen value; process-group setup;
collectives the Trainer needs. ``import cove.distributed.env`` does not import torch."""

from cove.distributed.env import DistEnv, read_env

__all__ = ["DistEnv", "read_env"]
