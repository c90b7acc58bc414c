"""The training and evaluation steps as plain functions; the ``Trainer`` only schedules them.

The loss is computed here from the model output's logits and ``labels`` (positions
labelled -100 are ignored; a causal LM's labels are shifted by one, as transformers does inside its
models). A step's loss is normalized by the number of labelled items over the whole accumulation
window, so accumulating k micro-batches equals one batch k times larger.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cove.training.collators import IGNORE_INDEX

LABEL_KEYS = ("labels", "label", "label_ids")


def forward_parameters(model: nn.Module) -> list[str]:
    """The names ``model.forward`` takes (the columns a batch may carry into the model); a PEFT
    model's are those of the model it wraps."""
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    params = inspect.signature(model.forward).parameters.values()
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def logits_of(output: Any) -> torch.Tensor:
    """The logits of a model's output object (``out["logits"]``), or a tensor a plain module returned."""
    return output if isinstance(output, torch.Tensor) else output["logits"]


def is_causal_lm(model: nn.Module) -> bool:
    return type(model).__name__.endswith("ForCausalLM") or type(model).__name__.endswith("LMHeadModel")


def loss_sum(logits: torch.Tensor, labels: torch.Tensor, *, causal: bool) -> tuple[torch.Tensor, int]:
    """(summed loss, number of labelled items) for classification, token tasks, LMs and regression."""
    if causal:  # predict token t+1 from position t
        logits, labels = logits[..., :-1, :], labels[..., 1:]
    if logits.shape[-1] == 1 and labels.is_floating_point():  # regression (num_labels == 1)
        return F.mse_loss(logits.squeeze(-1).float(), labels.float(), reduction="sum"), labels.numel()
    flat_labels = labels.reshape(-1).long()
    loss = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(), flat_labels, ignore_index=IGNORE_INDEX, reduction="sum"
    )
    return loss, int((flat_labels != IGNORE_INDEX).sum())


def count_items(labels: torch.Tensor, *, causal: bool) -> int:
    if causal:
        labels = labels[..., 1:]
    return int((labels != IGNORE_INDEX).sum()) if not labels.is_floating_point() else labels.numel()


def autocast_factory(device: torch.device, *, bf16: bool, fp16: bool) -> Callable[[], AbstractContextManager]:
    """A function returning the mixed-precision context of the forward passes.

    bf16: ``torch.autocast(device, bfloat16)`` (CPU and CUDA). fp16: ``torch.autocast("cuda", float16)``;
    float16 on CPU is refused, as transformers does (no fast CPU kernels, and the loss scaling it needs
    is a CUDA feature). Neither: a no-op context.
    """
    if fp16:
        if device.type != "cuda":
            raise ValueError(
                f"fp16 mixed precision requires a CUDA device (this run is on {device.type!r}); "
                "use bf16=True on CPU"
            )
        return lambda: torch.autocast("cuda", dtype=torch.float16)
    if bf16:
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ValueError("bf16 mixed precision needs a GPU with bfloat16 support (Ampere or newer)")
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


def split_batch(
    batch: Mapping[str, Any], device: torch.device, model: nn.Module | None = None
) -> tuple[dict[str, Any], torch.Tensor | None]:
    """(model inputs on ``device``, labels on ``device`` or None). An encoder-decoder ``model`` whose
    batch has labels but no ``decoder_input_ids`` gets them from the labels (shifted right, as its
    forward would make them when given ``labels``)."""
    inputs = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    labels = None
    for key in LABEL_KEYS:
        if key in inputs:
            labels = inputs.pop(key)
            break
    if labels is not None and model is not None and "decoder_input_ids" not in inputs:
        inner = getattr(model, "module", model)  # DDP wraps the model
        if getattr(getattr(inner, "config", None), "is_encoder_decoder", False):
            inputs["decoder_input_ids"] = inner.prepare_decoder_input_ids_from_labels(labels=labels)
    return inputs, labels


def train_step(
    model: nn.Module,
    micro_batches: Iterable[Mapping[str, Any]],
    *,
    device: torch.device,
    causal: bool,
    sum_over_ranks: Callable[[float], float] | None = None,
    world_size: int = 1,
    autocast: Callable[[], AbstractContextManager] = contextlib.nullcontext,
    scaler: torch.amp.GradScaler | None = None,
) -> float:
    """Forward and backward over one accumulation window; returns the window's mean loss.

    Gradients accumulate in ``.grad``; the caller clips, steps the optimizer and zeroes them. Under DDP
    (which averages gradients over ``world_size`` ranks) the item count is summed over ranks with
    ``sum_over_ranks`` and the loss scaled by ``world_size``, so the update equals one big batch.
    The forward runs inside ``autocast()``; the loss itself is computed in float32. With an fp16
    ``scaler`` the backward pass runs on the scaled loss.
    """
    batches = [split_batch(b, device, model) for b in micro_batches]
    total = sum(count_items(labels, causal=causal) for _, labels in batches if labels is not None)
    if sum_over_ranks is not None:
        total = sum_over_ranks(total)
    window_loss = 0.0
    for inputs, labels in batches:
        if labels is None:
            raise ValueError("The batch has no 'labels': the Trainer needs labels to compute the loss")
        with autocast():
            logits = logits_of(model(**inputs))
        summed, _ = loss_sum(logits, labels, causal=causal)
        loss = summed * world_size / max(total, 1)
        (scaler.scale(loss) if scaler is not None else loss).backward()
        window_loss += loss.item()
    return window_loss


def optimizer_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    *,
    max_grad_norm: float,
    scaler: torch.amp.GradScaler | None = None,
) -> float | None:
    """Clip, step, schedule, zero. Returns the gradient norm before clipping (None without clipping).

    With an fp16 ``scaler`` the gradients are unscaled before clipping and the step is skipped when
    they overflowed (the scaler then lowers its scale), as ``torch.amp`` prescribes.
    """
    norm = None
    if scaler is not None:
        scaler.unscale_(optimizer)
    if max_grad_norm and max_grad_norm > 0:
        total = nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        norm = float(total.full_tensor() if hasattr(total, "full_tensor") else total)  # FSDP: a DTensor
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return norm


@torch.no_grad()
def eval_step(
    model: nn.Module,
    batch: Mapping[str, Any],
    *,
    device: torch.device,
    causal: bool,
    autocast: Callable[[], AbstractContextManager] = contextlib.nullcontext,
    keep: int | None = None,
) -> tuple[torch.Tensor | None, int, torch.Tensor, torch.Tensor | None]:
    """(summed loss or None, labelled items, logits, labels) for one batch, without gradients; only the
    first ``keep`` rows count (the rest pad a distributed shard)."""
    inputs, labels = split_batch(batch, device, model)
    with autocast():
        logits = logits_of(model(**inputs))[:keep]
    labels = labels[:keep] if labels is not None else None
    if labels is None:
        return None, 0, logits, None
    summed, n = loss_sum(logits, labels, causal=causal)
    return summed, n, logits, labels
