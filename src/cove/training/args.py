"""TrainingArguments: the knobs of a training run, with transformers' field names.

A plain dataclass: a script written for ``transformers.TrainingArguments`` runs by changing its import
(for the fields listed here). ``to_dict`` is what a checkpoint writes as ``training_args.json``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup")
STRATEGIES = ("no", "steps", "epoch")
REPORTERS = ("none", "jsonl")


@dataclass
class TrainingArguments:
    """What a ``Trainer`` run does. Defaults are transformers' defaults.

    Args:
        output_dir: where checkpoints (``checkpoint-N/``) and logs go.
        num_train_epochs: epochs to train; ignored when ``max_steps > 0``.
        max_steps: total optimizer steps; overrides ``num_train_epochs`` when positive.
        gradient_accumulation_steps: micro-batches per optimizer step.
        lr_scheduler_type: one of ``linear``, ``cosine``, ``constant``, ``constant_with_warmup``.
        warmup_steps / warmup_ratio: warmup length; ``warmup_steps`` wins when positive.
        eval_strategy / save_strategy: ``no``, ``steps`` (every ``eval_steps``/``save_steps``) or ``epoch``.
        report_to: ``none`` or ``jsonl`` (``<output_dir>/log.jsonl``, one line per log).
        remove_unused_columns: drop the example keys the model's ``forward`` does not take.
    """

    output_dir: str = "trainer_output"
    num_train_epochs: float = 3.0
    max_steps: int = -1
    per_device_train_batch_size: int = 8
    per_device_eval_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    learning_rate: float = 5e-5
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    lr_scheduler_type: str = "linear"
    warmup_steps: int = 0
    warmup_ratio: float = 0.0
    max_grad_norm: float = 1.0
    seed: int = 42
    logging_steps: int = 500
    eval_strategy: str = "no"
    eval_steps: int | None = None
    save_strategy: str = "steps"
    save_steps: int = 500
    save_total_limit: int | None = None
    metric_for_best_model: str | None = None
    greater_is_better: bool | None = None
    report_to: str = "none"
    remove_unused_columns: bool = True
    dataloader_num_workers: int = 0
    disable_tqdm: bool = False
    label_names: list[str] = field(default_factory=lambda: ["labels"])

    def __post_init__(self) -> None:
        if self.lr_scheduler_type not in SCHEDULERS:
            raise ValueError(f"lr_scheduler_type must be one of {SCHEDULERS}, got {self.lr_scheduler_type!r}")
        for name in ("eval_strategy", "save_strategy"):
            if getattr(self, name) not in STRATEGIES:
                raise ValueError(f"{name} must be one of {STRATEGIES}, got {getattr(self, name)!r}")
        if self.report_to not in REPORTERS:
            raise ValueError(f"report_to must be one of {REPORTERS}, got {self.report_to!r}")
        if self.gradient_accumulation_steps < 1:
            raise ValueError("gradient_accumulation_steps must be >= 1")
        if self.eval_strategy == "steps" and self.eval_steps is None:
            self.eval_steps = self.logging_steps  # transformers' fallback
        if self.metric_for_best_model is None:
            self.metric_for_best_model = "loss"
        if self.greater_is_better is None:
            self.greater_is_better = not self.metric_for_best_model.removeprefix("eval_").endswith("loss")

    def num_warmup_steps(self, num_training_steps: int) -> int:
        """``warmup_steps`` if set, else ``ceil(warmup_ratio * num_training_steps)`` (as transformers)."""
        if self.warmup_steps > 0:
            return self.warmup_steps
        return math.ceil(num_training_steps * self.warmup_ratio)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
