"""Learning-rate schedules and the AdamW optimizer, as transformers builds them.

Each schedule is a multiplier of the base learning rate as a function of the optimizer step, wrapped
in ``torch.optim.lr_scheduler.LambdaLR``; the values equal ``transformers.get_scheduler`` step by step.
"""

from __future__ import annotations

import math
from functools import partial

import torch
from torch import nn

from cove.training.args import TrainingArguments


def _constant(step: int) -> float:
    return 1.0


def _constant_with_warmup(step: int, *, warmup: int) -> float:
    return step / max(1, warmup) if step < warmup else 1.0


def _linear(step: int, *, warmup: int, total: int) -> float:
    if step < warmup:
        return step / max(1, warmup)
    return max(0.0, (total - step) / max(1, total - warmup))


def _cosine(step: int, *, warmup: int, total: int, num_cycles: float = 0.5) -> float:
    if step < warmup:
        return step / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * num_cycles * 2.0 * progress)))


def get_scheduler(
    name: str, optimizer: torch.optim.Optimizer, *, num_warmup_steps: int = 0, num_training_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` for ``linear``, ``cosine``, ``constant`` or ``constant_with_warmup``."""
    lambdas = {
        "constant": _constant,
        "constant_with_warmup": partial(_constant_with_warmup, warmup=num_warmup_steps),
        "linear": partial(_linear, warmup=num_warmup_steps, total=num_training_steps),
        "cosine": partial(_cosine, warmup=num_warmup_steps, total=num_training_steps),
    }
    if name not in lambdas:
        raise ValueError(f"Unknown scheduler {name!r}; expected one of {sorted(lambdas)}")
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambdas[name])


def decay_parameter_names(model: nn.Module) -> set[str]:
    """Parameters that get weight decay: all but biases and normalization weights (as transformers)."""
    no_decay: set[str] = set()
    for module_name, module in model.named_modules():
        is_norm = isinstance(module, nn.LayerNorm | nn.GroupNorm) or "norm" in type(module).__name__.lower()
        for name, _ in module.named_parameters(recurse=False):
            full = f"{module_name}.{name}" if module_name else name
            if is_norm or name == "bias":
                no_decay.add(full)
    return {name for name, p in model.named_parameters() if name not in no_decay}


def create_optimizer(model: nn.Module, args: TrainingArguments) -> torch.optim.AdamW:
    """``torch.optim.AdamW`` with two groups: decay (``args.weight_decay``) and no decay."""
    decay = decay_parameter_names(model)
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for n, p in params if n in decay], "weight_decay": args.weight_decay},
        {"params": [p for n, p in params if n not in decay], "weight_decay": 0.0},
    ]
    # The fused kernel runs on CPU and CUDA for floating-point parameters (as transformers' default).
    fused = args.optim == "adamw_torch_fused" and all(
        p.device.type in ("cpu", "cuda") and p.is_floating_point() for _, p in params
    )
    return torch.optim.AdamW(
        groups,
        lr=args.learning_rate,
        betas=(args.adam_beta1, args.adam_beta2),
        eps=args.adam_epsilon,
        fused=fused or None,
    )
