"""TrainingArguments: the knobs of a training run, with transformers' field names.

A plain dataclass: a script written for ``transformers.TrainingArguments`` runs by changing its import
(for the fields listed here). ``to_dict`` is what a checkpoint writes as ``training_args.json``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup")
STRATEGIES = ("no", "steps", "epoch")
REPORTERS = ("none", "jsonl", "tensorboard")


OPTIMIZERS = ("adamw_torch_fused", "adamw_torch")

@dataclass
class TrainingArguments:
    """What a ``Trainer`` run does. Defaults are transformers' defaults.

    Args:
        output_dir: where checkpoints (``checkpoint-N/``) and logs go.
        num_train_epochs: epochs to train; ignored when ``max_steps > 0``.
        max_steps: total optimizer steps; overrides ``num_train_epochs`` when positive.
        gradient_accumulation_steps: micro-batches per optimizer step.
        lr_scheduler_type: one of ``linear``, ``cosine``, ``constant``, ``constant_with_warmup``.
        optim: ``adamw_torch_fused`` (transformers' default: one fused kernel for all parameters, on CPU
            and GPU) or ``adamw_torch`` (a loop over tensors).
        warmup_steps / warmup_ratio: warmup length; ``warmup_steps`` wins when positive.
        eval_strategy / save_strategy: ``no``, ``steps`` (every ``eval_steps``/``save_steps``) or ``epoch``.
        report_to: ``none``, ``jsonl`` (``<output_dir>/log.jsonl``, one line per log), ``tensorboard``
            (event files in ``logging_dir``, needs the ``tensorboard`` package), or a list of these.
        remove_unused_columns: drop the example keys the model's ``forward`` does not take.
        group_by_length: train on batches of rows of about the same length (shuffled megabatches of 50
            batches, each sorted by length, as transformers does), so that padding wastes little
            compute; the length of a row is that of its ``length_column_name`` (``input_ids``).
        bf16 / fp16: autocast the forward passes to bfloat16 / float16 (fp16 needs CUDA and uses a
            gradient scaler); weights and optimizer state stay float32.
        load_best_model_at_end: after training, load the checkpoint with the best
            ``metric_for_best_model`` (needs eval and save strategies that match).
        push_to_hub / hub_model_id / hub_token / hub_private_repo: upload the final model, its card and
            the training logs to a Cove (or Hugging Face) Hub at the end of ``train``.
        fsdp: ``"full_shard"`` or ``"shard_grad_op"`` (optionally with ``"auto_wrap"``) shards the model
            with torch FSDP (``fully_shard``) under torchrun instead of DDP.
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
    optim: str = "adamw_torch_fused"
    seed: int = 42
    logging_steps: int = 500
    eval_strategy: str = "no"
    eval_steps: int | None = None
    save_strategy: str = "steps"
    save_steps: int = 500
    save_total_limit: int | None = None
    metric_for_best_model: str | None = None
    greater_is_better: bool | None = None
    report_to: str | list[str] = "none"
    logging_dir: str | None = None
    remove_unused_columns: bool = True
    group_by_length: bool = False
    length_column_name: str = "input_ids"
    dataloader_num_workers: int = 0
    disable_tqdm: bool = False
    label_names: list[str] = field(default_factory=lambda: ["labels"])
    bf16: bool = False
    fp16: bool = False
    load_best_model_at_end: bool = False
    push_to_hub: bool = False
    hub_model_id: str | None = None
    hub_token: str | None = None
    hub_private_repo: bool | None = None
    hub_endpoint: str | None = None
    fsdp: str = ""

    def __post_init__(self) -> None:
        if self.optim not in OPTIMIZERS:
            raise ValueError(f"optim must be one of {OPTIMIZERS}, got {self.optim!r}")
        if self.lr_scheduler_type not in SCHEDULERS:
            raise ValueError(f"lr_scheduler_type must be one of {SCHEDULERS}, got {self.lr_scheduler_type!r}")
        for name in ("eval_strategy", "save_strategy"):
            if getattr(self, name) not in STRATEGIES:
                raise ValueError(f"{name} must be one of {STRATEGIES}, got {getattr(self, name)!r}")
        for reporter in self.reporters:
            if reporter not in REPORTERS:
                raise ValueError(
                    f"report_to must be one of {REPORTERS} (or a list of them), got {reporter!r}"
                )
        if self.bf16 and self.fp16:
            raise ValueError("At most one of fp16 and bf16 can be True, but not both")
        if self.fsdp:
            from cove.distributed.fsdp import parse_option  # validates; imports torch, as training does

            parse_option(self.fsdp)
        if self.logging_dir is None:
            self.logging_dir = str(Path(self.output_dir) / "runs")
        if self.gradient_accumulation_steps < 1:
            raise ValueError("gradient_accumulation_steps must be >= 1")
        if self.eval_strategy == "steps" and self.eval_steps is None:
            self.eval_steps = self.logging_steps  # transformers' fallback
        if self.metric_for_best_model is None:
            self.metric_for_best_model = "loss"
        if self.greater_is_better is None:
            self.greater_is_better = not self.metric_for_best_model.removeprefix("eval_").endswith("loss")
        if self.load_best_model_at_end:
            self._check_best_model_strategies()

    def _check_best_model_strategies(self) -> None:
        """As transformers: the best model is a saved checkpoint, so saves must line up with evaluations."""
        if self.eval_strategy == "no" or self.save_strategy != self.eval_strategy:
            raise ValueError(
                "load_best_model_at_end needs the save and eval strategies to match and not be 'no', got "
                f"eval_strategy={self.eval_strategy!r}, save_strategy={self.save_strategy!r}"
            )
        if self.eval_strategy == "steps" and self.save_steps % self.eval_steps:
            raise ValueError(
                f"load_best_model_at_end needs save_steps ({self.save_steps}) to be a multiple of eval_steps "
                f"({self.eval_steps})"
            )

    @property
    def reporters(self) -> list[str]:
        """``report_to`` as a list (``"none"`` -> ``[]``)."""
        names = [self.report_to] if isinstance(self.report_to, str) else list(self.report_to)
        return [n for n in names if n != "none"]

    def num_warmup_steps(self, num_training_steps: int) -> int:
        """``warmup_steps`` if set, else ``ceil(warmup_ratio * num_training_steps)`` (as transformers)."""
        if self.warmup_steps > 0:
            return self.warmup_steps
        return math.ceil(num_training_steps * self.warmup_ratio)

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-ready values; ``hub_token`` is never written out."""
        out = dataclasses.asdict(self)
        out["hub_token"] = None
        return out
