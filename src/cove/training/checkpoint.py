"""Checkpoints of a Trainer run: what a ``checkpoint-N/`` folder holds, writing, rotating and resuming.

    checkpoint-N/
        config.json, model.safetensors     the model (``save_pretrained``; sharded past 5 GB)
        adapter_config.json,               instead, for a ``cove.peft`` model: its adapters only
        adapter_model.safetensors          (the frozen base is not written again)
        tokenizer.json, ...                the ``processing_class``, when the Trainer has one
        optimizer.pt, scheduler.pt         torch state dicts (read back with ``weights_only=True``)
        rng_state.pth                      python, numpy and torch RNG states (``rng_state_<rank>.pth``
                                           per rank under torchrun)
        trainer_state.json                 step, epoch, log history, best metric and checkpoint
        training_args.json                 the run's ``TrainingArguments`` (without the token)

Weights are written and read with ``cove.formats.safetensors`` (no other package needed); a model
without ``save_pretrained`` is written as one ``model.safetensors`` of its state dict.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cove.formats import safetensors as st
from cove.peft.model import PeftModel
from cove.training.callbacks import TrainerState

CHECKPOINT = "checkpoint-{}"
STATE_FILE = "trainer_state.json"
ARGS_FILE = "training_args.json"
OPTIMIZER_FILE = "optimizer.pt"
SCHEDULER_FILE = "scheduler.pt"


def checkpoint_folder(output_dir: str | Path, step: int) -> Path:
    return Path(output_dir) / CHECKPOINT.format(step)


def rng_file(rank: int, *, distributed: bool) -> str:
    return f"rng_state_{rank}.pth" if distributed else "rng_state.pth"


def sorted_checkpoints(output_dir: str | Path) -> list[Path]:
    """``checkpoint-N`` folders of ``output_dir``, oldest (smallest N) first."""
    found = [
        (int(m.group(1)), p)
        for p in Path(output_dir).glob("checkpoint-*")
        if (m := re.fullmatch(r"checkpoint-(\d+)", p.name)) and p.is_dir()
    ]
    return [p for _, p in sorted(found)]


def resolve(output_dir: str | Path, resume: str | Path | bool) -> Path:
    """The folder ``train(resume_from_checkpoint=...)`` names: ``True`` is the newest in ``output_dir``."""
    if resume is True:
        folders = sorted_checkpoints(output_dir)
        if not folders:
            raise FileNotFoundError(f"No checkpoint-N folder in {output_dir} to resume from")
        return folders[-1]
    folder = Path(resume)
    if not folder.is_dir():
        raise FileNotFoundError(f"resume_from_checkpoint: {folder} is not a checkpoint folder")
    return folder


def save_weights(model: nn.Module, folder: Path) -> None:
    """``model.save_pretrained(folder)``, or its state dict as ``model.safetensors`` for a plain module."""
    if hasattr(model, "save_pretrained"):
        model.save_pretrained(folder)
        return
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach() for k, v in model.state_dict().items()}
    st.save_file(state, folder / "model.safetensors", metadata={"format": "pt"})


def read_weights(folder: Path, device: torch.device) -> dict[str, torch.Tensor]:
    """Every tensor of the checkpoint in ``folder`` (one file or sharded with an index), on ``device``."""
    checkpoint = st.open_checkpoint(folder)
    if checkpoint is None:
        raise FileNotFoundError(f"No model.safetensors (or model.safetensors.index.json) in {folder}")
    return {name: checkpoint[name].to(device) for name in checkpoint}


def load_weights(model: nn.Module, folder: Path, device: torch.device) -> None:
    """Load the checkpoint's weights into ``model``; tied copies may be absent, nothing else may."""
    if isinstance(model, PeftModel):
        model.load_adapter_weights(folder)
        return
    missing, unexpected = model.load_state_dict(read_weights(folder, device), strict=False)
    tied = set(getattr(model, "tied_weights", ()) or ())
    if unexpected or set(missing) - tied:
        raise ValueError(
            f"Checkpoint {folder} does not match the model: missing {missing}, unexpected {unexpected}"
        )


def save_optimizer(
    folder: Path, optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler
) -> None:
    torch.save(optimizer.state_dict(), folder / OPTIMIZER_FILE)
    torch.save(scheduler.state_dict(), folder / SCHEDULER_FILE)


def load_optimizer(
    folder: Path, optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler
) -> None:
    optimizer.load_state_dict(torch.load(folder / OPTIMIZER_FILE, weights_only=True))
    scheduler.load_state_dict(torch.load(folder / SCHEDULER_FILE, weights_only=True))


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def restore_state(state: TrainerState, folder: Path) -> None:
    """Copy the progress saved in ``folder/trainer_state.json`` into ``state`` (a fresh run's)."""
    saved = TrainerState.load_from_json(folder / STATE_FILE)
    state.global_step, state.epoch = saved.global_step, saved.epoch
    state.log_history, state.best_metric = saved.log_history, saved.best_metric
    state.best_model_checkpoint = saved.best_model_checkpoint


def rotate(output_dir: str | Path, limit: int | None, best: str | None) -> None:
    """Delete the oldest checkpoints past ``limit``, never the ``best`` one; as transformers, a limit of
    1 keeps both the best and the newest (to resume from)."""
    if not limit:
        return
    folders = sorted_checkpoints(output_dir)
    if limit == 1 and best is not None and str(folders[-1]) != best:
        limit = 2
    removable = [f for f in folders if str(f) != best]
    keep = limit - (1 if best in map(str, folders) else 0)
    for folder in removable[: max(0, len(removable) - keep)]:
        shutil.rmtree(folder)
