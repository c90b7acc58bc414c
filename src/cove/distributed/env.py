"""The distributed environment as a frozen value, read from torchrun's variables (never a global).

env = read_env()          # DistEnv(rank=0, local_rank=0, world_size=1) outside torchrun
if env.is_distributed: ...
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits in a torchrun job.

    Args:
        rank: global index of this process (0 .. world_size-1).
        local_rank: index on this machine (picks the GPU).
        world_size: number of processes.
    """

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main_process(self) -> bool:
        return self.rank == 0


def read_env(environ: Mapping[str, str] | None = None) -> DistEnv:
    """``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` (as torchrun sets them) -> ``DistEnv``."""
    environ = os.environ if environ is None else environ
    return DistEnv(
        rank=int(environ.get("RANK", 0)),
        local_rank=int(environ.get("LOCAL_RANK", 0)),
        world_size=int(environ.get("WORLD_SIZE", 1)),
    )
