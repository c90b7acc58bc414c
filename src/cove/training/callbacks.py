"""The callback API (transformers' names): state, control flags, and the built-in callbacks.

A callback overrides any of the ``on_*`` events; each receives ``(args, state, control, **kwargs)``
where kwargs carry ``model``, ``optimizer``, ``logs`` or ``metrics`` as the event has them. A callback
steers training by setting ``control`` flags (``should_training_stop``, ``should_save``, ...).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cove.training.args import TrainingArguments

EVENTS = (
    "on_init_end",
    "on_train_begin",
    "on_train_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_step_begin",
    "on_step_end",
    "on_evaluate",
    "on_predict",
    "on_save",
    "on_log",
)


@dataclass
class TrainerState:
    """Progress of a run; written to ``trainer_state.json`` in every checkpoint."""

    epoch: float = 0.0
    global_step: int = 0
    max_steps: int = 0
    num_train_epochs: int = 0
    steps_per_epoch: int = 0
    logging_steps: int = 500
    train_batch_size: int = 0
    log_history: list[dict[str, Any]] = field(default_factory=list)
    best_metric: float | None = None
    best_model_checkpoint: str | None = None
    is_world_process_zero: bool = True

    def save_to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load_from_json(cls, path: str | Path) -> TrainerState:
        return cls(**json.loads(Path(path).read_text()))


@dataclass
class TrainerControl:
    """Flags the callbacks set; the Trainer acts on them and resets the per-step ones."""

    should_training_stop: bool = False
    should_epoch_stop: bool = False
    should_save: bool = False
    should_evaluate: bool = False
    should_log: bool = False


class TrainerCallback:
    """Base class: every event is a no-op. Override the ones you need."""

    def on_init_end(self, args, state, control, **kwargs): ...
    def on_train_begin(self, args, state, control, **kwargs): ...
    def on_train_end(self, args, state, control, **kwargs): ...
    def on_epoch_begin(self, args, state, control, **kwargs): ...
    def on_epoch_end(self, args, state, control, **kwargs): ...
    def on_step_begin(self, args, state, control, **kwargs): ...
    def on_step_end(self, args, state, control, **kwargs): ...
    def on_evaluate(self, args, state, control, **kwargs): ...
    def on_predict(self, args, state, control, **kwargs): ...
    def on_save(self, args, state, control, **kwargs): ...
    def on_log(self, args, state, control, **kwargs): ...


class CallbackHandler:
    """Calls an event on every callback in order (a callback may be a class or an instance)."""

    def __init__(self, callbacks: list[TrainerCallback | type[TrainerCallback]]) -> None:
        self.callbacks = [c() if isinstance(c, type) else c for c in callbacks]

    def add(self, callback: TrainerCallback | type[TrainerCallback]) -> None:
        self.callbacks.append(callback() if isinstance(callback, type) else callback)

    def remove(self, kind: type[TrainerCallback]) -> None:
        self.callbacks = [c for c in self.callbacks if not isinstance(c, kind)]

    def fire(
        self, event: str, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        for callback in self.callbacks:
            result = getattr(callback, event)(args, state, control, **kwargs)
            if isinstance(result, TrainerControl):
                control = result
        return control


class DefaultFlowCallback(TrainerCallback):
    """Sets log/eval/save flags from ``logging_steps`` and the eval/save strategies; stops at max_steps."""

    def on_step_end(self, args, state, control, **kwargs):
        step = state.global_step
        if args.logging_steps > 0 and step % args.logging_steps == 0:
            control.should_log = True
        if args.eval_strategy == "steps" and args.eval_steps and step % args.eval_steps == 0:
            control.should_evaluate = True
        if args.save_strategy == "steps" and args.save_steps > 0 and step % args.save_steps == 0:
            control.should_save = True
        if step >= state.max_steps:
            control.should_training_stop = True
            if args.save_strategy == "steps":  # "epoch" saves at the epoch's end, after its evaluation
                control.should_save = True
        return control

    def on_epoch_end(self, args, state, control, **kwargs):
        if args.eval_strategy == "epoch":
            control.should_evaluate = True
        if args.save_strategy == "epoch":
            control.should_save = True
        return control


class ProgressCallback(TrainerCallback):
    """A tqdm bar over the optimizer steps, and one over evaluation batches."""

    def __init__(self) -> None:
        self.bar = None

    def on_train_begin(self, args, state, control, **kwargs):
        from tqdm.auto import tqdm

        if state.is_world_process_zero:
            self.bar = tqdm(total=state.max_steps, initial=state.global_step, dynamic_ncols=True)

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.bar is not None and logs:
            self.bar.set_postfix({k: round(v, 4) for k, v in logs.items() if isinstance(v, float)})

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class JsonlLoggerCallback(TrainerCallback):
    """``report_to="jsonl"``: appends each log (with ``step`` and ``epoch``) to ``<output_dir>/log.jsonl``."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        path = Path(args.output_dir) / "log.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            f.write(json.dumps({**logs, "step": state.global_step, "epoch": state.epoch}) + "\n")


class EarlyStoppingCallback(TrainerCallback):
    """Stop when ``args.metric_for_best_model`` has not improved by more than ``early_stopping_threshold``
    for ``early_stopping_patience`` evaluations in a row.

    Args:
        early_stopping_patience: evaluations without improvement before stopping.
        early_stopping_threshold: the least change that counts as an improvement.
    """

    def __init__(self, early_stopping_patience: int = 1, early_stopping_threshold: float = 0.0) -> None:
        self.patience = early_stopping_patience
        self.threshold = early_stopping_threshold
        self.bad_evaluations = 0
        self.best: float | None = None

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        name = args.metric_for_best_model
        name = name if name.startswith("eval_") else f"eval_{name}"
        value = (metrics or {}).get(name)
        if value is None:
            raise KeyError(
                f"EarlyStoppingCallback needs {name!r} in the metrics, got {sorted(metrics or {})}"
            )
        best = self.best
        better = args.greater_is_better
        if best is None or (value - best > self.threshold if better else best - value > self.threshold):
            self.best = value
            self.bad_evaluations = 0
        else:
            self.bad_evaluations += 1
        if self.bad_evaluations >= self.patience or (isinstance(value, float) and math.isnan(value)):
            control.should_training_stop = True
        return control


class TensorBoardCallback(TrainerCallback):
    """``report_to="tensorboard"``: each numeric log becomes a scalar (``train/loss``, ``eval/loss``, ...)
    in TensorBoard event files under ``args.logging_dir``, written with ``torch.utils.tensorboard``.

    Raises ImportError naming the package when ``tensorboard`` is not installed.
    """

    def __init__(self) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:
            raise ImportError(
                "report_to='tensorboard' needs the 'tensorboard' package: pip install tensorboard"
            ) from e
        self._writer_class = SummaryWriter
        self.writer = None

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero and self.writer is None:
            self.writer = self._writer_class(log_dir=args.logging_dir)
            self.writer.add_text("args", json.dumps(args.to_dict(), indent=2, sort_keys=True))

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        if self.writer is None:  # evaluate() outside train()
            self.writer = self._writer_class(log_dir=args.logging_dir)
        for key, value in logs.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                tag = key.replace("eval_", "eval/", 1) if key.startswith("eval_") else f"train/{key}"
                self.writer.add_scalar(tag, value, state.global_step)
        self.writer.flush()

    def on_train_end(self, args, state, control, **kwargs):
        if self.writer is not None:
            self.writer.close()
            self.writer = None
