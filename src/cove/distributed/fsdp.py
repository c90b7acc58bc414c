"""FSDP for the Trainer: torch's ``fully_shard`` (FSDP2) over the model's blocks, and full-weight
save/load around it.

Each element of every ``nn.ModuleList`` (the transformer blocks) becomes its own FSDP unit and the
root holds the rest (embeddings, heads, tied weights). It runs under torchrun on CUDA (nccl) and on
CPU (gloo); torch's older ``FullyShardedDataParallel`` wrapper fails on gloo, FSDP2 does not.
Gradients are averaged over ranks as DDP does, so the Trainer's loss scaling is the same.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from cove.distributed.env import DistEnv

OPTIONS = ("full_shard", "shard_grad_op", "auto_wrap")


def parse_option(option: str) -> bool:
    """transformers' ``fsdp`` string (e.g. ``"full_shard auto_wrap"``) -> ``reshard_after_forward``."""
    words = option.split()
    unknown = [w for w in words if w not in OPTIONS]
    if unknown or not words:
        raise ValueError(f"fsdp takes words among {OPTIONS} (e.g. 'full_shard auto_wrap'), got {option!r}")
    if "full_shard" in words and "shard_grad_op" in words:
        raise ValueError("fsdp: choose one of 'full_shard' and 'shard_grad_op'")
    return "shard_grad_op" not in words


def wrap(model: nn.Module, env: DistEnv, device: torch.device, option: str) -> nn.Module:
    """Shard ``model`` in place with ``fully_shard`` when distributed (the model itself otherwise)."""
    reshard = parse_option(option)
    if not env.is_distributed:
        return model
    from torch.distributed.fsdp import fully_shard

    for module in list(model.modules()):
        if isinstance(module, nn.ModuleList):
            for block in module:
                fully_shard(block, reshard_after_forward=reshard)
    fully_shard(model, reshard_after_forward=reshard)
    return model


def full_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The unsharded weights on CPU, on rank 0 (``{}`` on the others). Every rank must call it."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def load_full_state_dict(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load unsharded weights (the same on every rank) into a sharded model. Every rank must call it."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    set_model_state_dict(model, state, options=StateDictOptions(full_state_dict=True, strict=False))


def save_pretrained(model: nn.Module, folder: str | Path, env: DistEnv) -> None:
    """Gather the full weights and, on rank 0, write ``config.json`` and ``model.safetensors`` as
    ``PreTrainedModel.save_pretrained`` does (tied copies left out). Every rank must call it."""
    from cove.formats.safetensors import save_file  # Cove's own writer: no safetensors package needed

    state = full_state_dict(model)
    if env.rank == 0:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        config = getattr(model, "config", None)
        tied = (
            set(getattr(model, "tied_weights", ()) or ())
            if getattr(config, "tie_word_embeddings", False)
            else set()
        )
        state = {k: v.contiguous() for k, v in state.items() if k not in tied}
        save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
        if config is not None:
            architecture = (
                type(model).__mro__[1].__name__ if type(model).__name__.startswith("FSDP") else None
            )
            overrides = {"architectures": [architecture or type(model).__name__]}
            config.with_overrides(overrides).save_pretrained(folder)
    dist.barrier()
