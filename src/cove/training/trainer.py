"""Trainer: a thin shell over ``loop.py`` that owns the state, the callbacks and logging.

    trainer = Trainer(model, TrainingArguments("out", num_train_epochs=3), train_dataset=ds["train"],
                      eval_dataset=ds["test"], processing_class=tokenizer, compute_metrics=fn)
    trainer.train()
    trainer.evaluate()  # {"eval_loss": ..., "eval_accuracy": ..., ...}

The pieces it schedules live beside it: the train and eval steps (``loop.py``), which rows each rank
handles (``sharding.py``), what a ``checkpoint-N/`` folder holds and how a run resumes from one
(``checkpoint.py``: the same batches, the same random state, the same losses), the random state
(``rng.py``), the model card and loss plot of ``push_to_hub`` (``card.py``, ``plot.py``).

Also: ``bf16``/``fp16`` autocast (``loop.autocast_factory``); ``load_best_model_at_end`` (the best
checkpoint survives ``save_total_limit``); ``report_to`` jsonl/tensorboard; iterable train sets (with
``max_steps``); under torchrun, DDP or FSDP (``fsdp="full_shard"``) and evaluation gathered across ranks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from cove.distributed import ddp, fsdp
from cove.distributed.env import read_env
from cove.peft.model import PeftModel
from cove.training import checkpoint, loop, sharding
from cove.training.args import TrainingArguments
from cove.training.callbacks import (
    CallbackHandler,
    DefaultFlowCallback,
    JsonlLoggerCallback,
    ProgressCallback,
    TensorBoardCallback,
    TrainerCallback,
    TrainerControl,
    TrainerState,
)
from cove.training.collators import IGNORE_INDEX, DataCollatorWithPadding, default_data_collator
from cove.training.outputs import EvalPrediction, PredictionOutput, TrainOutput
from cove.training.rng import rng_state, set_rng_state, set_seed
from cove.training.schedules import create_optimizer, get_scheduler

__all__ = ["EvalPrediction", "PredictionOutput", "TrainOutput", "Trainer", "is_iterable", "set_seed"]


class Trainer:
    """Train, evaluate and predict with a Cove (or any ``nn.Module``) model whose forward returns logits.

    Args:
        model: the model to train; moved to CUDA when available.
        args: the run's ``TrainingArguments``.
        data_collator: examples -> batch; when None, ``DataCollatorWithPadding(processing_class)`` if
            a tokenizer is given, else ``default_data_collator`` (as transformers).
        train_dataset / eval_dataset: a Cove ``Dataset`` or any map-style torch dataset of dicts (the
            train set may also be iterable, with ``max_steps``).
        processing_class: the tokenizer (anything with ``save_pretrained``); saved with the model in
            every checkpoint and by ``save_model``, and pushed to the Hub with it.
        compute_metrics: ``EvalPrediction -> dict`` of metrics (prefixed ``eval_`` by ``evaluate``).
        callbacks: extra ``TrainerCallback`` instances or classes.
        tokenizer: the older name of ``processing_class`` (transformers 4).
    """

    def __init__(
        self,
        model: nn.Module,
        args: TrainingArguments | None = None,
        *,
        data_collator: Callable[[list[dict]], dict[str, torch.Tensor]] | None = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        processing_class: Any = None,
        compute_metrics: Callable[[EvalPrediction], dict[str, float]] | None = None,
        callbacks: Sequence[TrainerCallback | type[TrainerCallback]] | None = None,
        tokenizer: Any = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"Trainer: model must be a torch nn.Module, got {type(model).__name__}")
        if args is not None and not isinstance(args, TrainingArguments):
            raise TypeError(f"Trainer: args must be a TrainingArguments, got {type(args).__name__}")
        if tokenizer is not None and processing_class is not None and tokenizer is not processing_class:
            raise ValueError("Trainer: pass the tokenizer once, as processing_class= (tokenizer= is its old name)")
        for name, value in (("data_collator", data_collator), ("compute_metrics", compute_metrics)):
            if value is not None and not callable(value):
                raise TypeError(f"Trainer: {name} must be callable, got {type(value).__name__}")
        self.args = args if args is not None else TrainingArguments()
        self.dist = read_env()
        self.device = ddp.setup(self.dist)
        self._autocast = loop.autocast_factory(self.device, bf16=self.args.bf16, fp16=self.args.fp16)
        self._scaler = torch.amp.GradScaler("cuda") if self.args.fp16 else None
        self.processing_class = processing_class if processing_class is not None else tokenizer
        self.model = model.to(self.device)
        self._train_model: nn.Module | None = None  # the DDP wrapper under torchrun
        self._best_step: int | None = None  # the step whose evaluation set state.best_metric
        self._saved_step: int | None = None
        self.train_dataset = train_dataset
        self.eval_dataset = eval_dataset
        self.data_collator = data_collator or default_collator(self.processing_class)
        self.compute_metrics = compute_metrics
        defaults: list[TrainerCallback | type[TrainerCallback]] = [DefaultFlowCallback]
        if not self.args.disable_tqdm:
            defaults.append(ProgressCallback)
        if "jsonl" in self.args.reporters:
            defaults.append(JsonlLoggerCallback)
        if "tensorboard" in self.args.reporters:
            defaults.append(TensorBoardCallback())  # raises, naming the package, when it is missing
        self.callback_handler = CallbackHandler([*defaults, *(callbacks or [])])
        self.state = TrainerState(is_world_process_zero=self.dist.is_main_process)
        self.control = TrainerControl()
        self.causal = loop.is_causal_lm(self.model)
        self.optimizer: torch.optim.Optimizer | None = None
        self.lr_scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
        self._columns = (
            set(loop.forward_parameters(self.model)) | set(loop.LABEL_KEYS) | set(self.args.label_names)
        )
        self.control = self._fire("on_init_end")

    @property
    def tokenizer(self) -> Any:
        """The ``processing_class`` (transformers 4's name)."""
        return self.processing_class

    # --- callbacks --------------------------------------------------------------------------

    def add_callback(self, callback: TrainerCallback | type[TrainerCallback]) -> None:
        self.callback_handler.add(callback)

    def remove_callback(self, kind: type[TrainerCallback]) -> None:
        self.callback_handler.remove(kind)

    def _fire(self, event: str, **kwargs: Any) -> TrainerControl:
        return self.callback_handler.fire(
            event,
            self.args,
            self.state,
            self.control,
            model=self.model,
            optimizer=self.optimizer,
            lr_scheduler=self.lr_scheduler,
            **kwargs,
        )

    # --- data -------------------------------------------------------------------------------

    def _collate(self, features: list[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        if self.args.remove_unused_columns:
            features = [{k: v for k, v in f.items() if k in self._columns} for f in features]
        return self.data_collator(features)

    def _loader(self, dataset: Any, batches: list[list[int]]) -> DataLoader:
        # An explicit generator keeps the DataLoader from drawing on the global RNG (dropout's).
        return DataLoader(
            dataset,
            batch_sampler=batches,
            collate_fn=self._collate,
            num_workers=self.args.dataloader_num_workers,
            generator=torch.Generator().manual_seed(0),
        )

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """This rank's index batches of ``epoch`` (``sharding.train_batches``)."""
        lengths = None
        if self.args.group_by_length:
            lengths = [len(row) for row in self.train_dataset[self.args.length_column_name]]
        return sharding.train_batches(
            len(self.train_dataset),
            batch_size=self.args.per_device_train_batch_size,
            rank=self.dist.rank,
            world=self.dist.world_size,
            seed=self.args.seed,
            epoch=epoch,
            lengths=lengths,
        )

    def _eval_shard(self, n: int) -> tuple[list[list[int]], int]:
        """(this rank's index batches, how many of its rows are real): ``sharding.eval_batches``."""
        return sharding.eval_batches(
            n, batch_size=self.args.per_device_eval_batch_size, rank=self.dist.rank, world=self.dist.world_size
        )

    def _iterable_batches(self, epoch: int) -> Iterator[dict[str, torch.Tensor]]:
        """This rank's collated micro-batches from an iterable train set (``sharding.stream_batches``)."""
        if hasattr(self.train_dataset, "set_epoch"):
            self.train_dataset.set_epoch(epoch)
        shares = sharding.stream_batches(
            self.train_dataset,
            batch_size=self.args.per_device_train_batch_size,
            rank=self.dist.rank,
            world=self.dist.world_size,
        )
        return (self._collate(share) for share in shares)

    # --- training ---------------------------------------------------------------------------

    def create_optimizer_and_scheduler(self, num_training_steps: int) -> None:
        if self.optimizer is None:
            self.optimizer = create_optimizer(self.model, self.args)
        if self.lr_scheduler is None:
            self.lr_scheduler = get_scheduler(
                self.args.lr_scheduler_type,
                self.optimizer,
                num_warmup_steps=self.args.num_warmup_steps(num_training_steps),
                num_training_steps=num_training_steps,
            )

    def train(self, resume_from_checkpoint: str | bool | None = None) -> TrainOutput:
        """Train to ``max_steps`` (or ``num_train_epochs``), optionally resuming a checkpoint
        (``True``: the newest one in ``output_dir``)."""
        args = self.args
        if self.train_dataset is None:
            raise ValueError("Trainer.train needs a train_dataset")
        global_batch = args.per_device_train_batch_size * self.dist.world_size
        if is_iterable(self.train_dataset):
            if args.max_steps <= 0:
                raise ValueError(
                    "An iterable train_dataset has no length: set max_steps (> 0) to train on it"
                )
            max_steps = steps_per_epoch = args.max_steps  # an "epoch" is one pass, however long it is
            num_epochs = max_steps  # passes end early when the data runs out; each gives >= 1 step
        else:
            batches_per_epoch = math.ceil(len(self.train_dataset) / global_batch)
            steps_per_epoch = max(1, math.ceil(batches_per_epoch / args.gradient_accumulation_steps))
            max_steps = (
                args.max_steps if args.max_steps > 0 else math.ceil(args.num_train_epochs * steps_per_epoch)
            )
            num_epochs = math.ceil(max_steps / steps_per_epoch)
        set_seed(args.seed)
        self.state = TrainerState(
            max_steps=max_steps,
            num_train_epochs=num_epochs,
            steps_per_epoch=steps_per_epoch,
            logging_steps=args.logging_steps,
            train_batch_size=global_batch,
            is_world_process_zero=self.dist.is_main_process,
        )
        self.control = TrainerControl()
        self.optimizer = self.lr_scheduler = None  # each train() schedules its own max_steps
        if self._train_model is None:  # FSDP replaces the parameters: wrap before building the optimizer
            self._train_model = (
                fsdp.wrap(self.model, self.dist, self.device, args.fsdp)
                if args.fsdp
                else ddp.wrap(self.model, self.dist, self.device)
            )
        self.create_optimizer_and_scheduler(max_steps)
        if resume_from_checkpoint:
            if args.fsdp and self.dist.is_distributed:
                raise ValueError(
                    "Resuming an FSDP run from a checkpoint is not supported yet; the checkpoint's "
                    "model.safetensors holds the full weights: start a new run from them"
                )
            self._load_checkpoint(checkpoint.resolve(args.output_dir, resume_from_checkpoint))
        self.model.train()
        self._logged_loss, self._logged_steps, run_losses = 0.0, 0, []
        self.control = self._fire("on_train_begin")
        start = time.perf_counter()
        first_epoch = self.state.global_step // steps_per_epoch
        for epoch in range(first_epoch, self.state.num_train_epochs):
            self.control = self._fire("on_epoch_begin")
            skip = self.state.global_step - epoch * steps_per_epoch
            if is_iterable(self.train_dataset):  # passes differ in length: only a resume skips (once)
                skip = self.state.global_step if epoch == first_epoch else 0
            steps_before = self.state.global_step
            for window_index, window in enumerate(self._windows(epoch, skip), start=skip):
                self.control = self._fire("on_step_begin")
                loss = self._train_step(window)
                self._learning_rate = self.lr_scheduler.get_last_lr()[0]  # this step's, logged as transformers 5
                grad_norm = loop.optimizer_step(
                    self._train_model,
                    self.optimizer,
                    self.lr_scheduler,
                    max_grad_norm=args.max_grad_norm,
                    scaler=self._scaler,
                )
                self.state.global_step += 1
                self.state.epoch = epoch + (window_index + 1) / steps_per_epoch
                self._logged_loss += loss
                self._logged_steps += 1
                run_losses.append(loss)
                self._grad_norm = grad_norm
                self.control = self._fire("on_step_end")
                self._maybe_log_save_evaluate()
                if self.control.should_training_stop or self.control.should_epoch_stop:
                    break
            self.control.should_epoch_stop = False
            self.control = self._fire("on_epoch_end")
            self._maybe_log_save_evaluate()
            if self.control.should_training_stop or self.state.global_step >= max_steps:
                break
            if self.state.global_step == steps_before and not skip:
                raise ValueError("The train_dataset yielded no batch")
        runtime = time.perf_counter() - start
        training_loss = sum(run_losses) / max(len(run_losses), 1)
        metrics = {
            "train_runtime": runtime,
            "train_loss": training_loss,
            "train_steps_per_second": len(run_losses) / max(runtime, 1e-9),
            "epoch": self.state.epoch,
        }
        if args.load_best_model_at_end and self.state.best_model_checkpoint is not None:
            self._load_best_model()
        self.log(metrics)
        self.control = self._fire("on_train_end")
        if args.push_to_hub:
            self.push_to_hub()
        return TrainOutput(self.state.global_step, training_loss, metrics)

    def _load_best_model(self) -> None:
        """Load the weights of ``state.best_model_checkpoint`` (written by rank 0) on every rank."""
        ddp.barrier(self.dist)
        folder = Path(self.state.best_model_checkpoint)
        if not folder.is_dir():
            raise FileNotFoundError(f"The best checkpoint {folder} is gone: was it deleted during training?")
        if self.args.fsdp and self.dist.is_distributed:
            fsdp.load_full_state_dict(self._train_model, checkpoint.read_weights(folder, self.device))
        else:
            checkpoint.load_weights(self.model, folder, self.device)

    def _train_step(self, window: list[dict[str, torch.Tensor]]) -> float:
        if not self.dist.is_distributed:
            return loop.train_step(
                self.model,
                window,
                device=self.device,
                causal=self.causal,
                autocast=self._autocast,
                scaler=self._scaler,
            )

        def sum_over_ranks(value: float) -> float:
            return ddp.sum_over_ranks(value, self.dist, self.device)

        loss = loop.train_step(
            self._train_model,
            window,
            device=self.device,
            causal=self.causal,
            sum_over_ranks=sum_over_ranks,
            world_size=self.dist.world_size,
            autocast=self._autocast,
            scaler=self._scaler,
        )
        return sum_over_ranks(loss) / self.dist.world_size

    def _windows(self, epoch: int, skip_steps: int) -> Iterator[list[dict[str, torch.Tensor]]]:
        """The epoch's accumulation windows (lists of collated micro-batches), after ``skip_steps``."""
        accumulate = self.args.gradient_accumulation_steps
        if is_iterable(self.train_dataset):
            loader = islice(self._iterable_batches(epoch), skip_steps * accumulate, None)
        else:
            loader = self._loader(self.train_dataset, self.epoch_batches(epoch)[skip_steps * accumulate :])
        window: list[dict[str, torch.Tensor]] = []
        for batch in loader:
            window.append(batch)
            if len(window) == accumulate:
                yield window
                window = []
        if window:
            yield window

    def _maybe_log_save_evaluate(self) -> None:
        if self.control.should_log and self._logged_steps:
            logs = {
                "loss": self._logged_loss / self._logged_steps,
                "learning_rate": self._learning_rate,
            }
            if self._grad_norm is not None:
                logs["grad_norm"] = self._grad_norm
            self._logged_loss, self._logged_steps = 0.0, 0
            self.log(logs)
        if self.control.should_evaluate and self.eval_dataset is not None:
            self.evaluate()
        if self.control.should_save and self._saved_step != self.state.global_step:
            self._save_checkpoint()
            self._saved_step = self.state.global_step
        self.control.should_log = self.control.should_evaluate = self.control.should_save = False

    def log(self, logs: dict[str, float]) -> None:
        """Record ``logs`` in ``state.log_history`` and fire ``on_log``."""
        entry = {**logs, "epoch": round(self.state.epoch, 4), "step": self.state.global_step}
        self.state.log_history.append(entry)
        self.control = self._fire("on_log", logs=logs)

    # --- evaluation -------------------------------------------------------------------------

    def evaluate(self, eval_dataset: Any = None, metric_key_prefix: str = "eval") -> dict[str, float]:
        """Loss over ``eval_dataset`` plus ``compute_metrics``; keys prefixed ``eval_``."""
        dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        if dataset is None:
            raise ValueError("Trainer.evaluate needs an eval_dataset")
        output = self._prediction_loop(dataset, metric_key_prefix)
        self.log(output.metrics)
        if self.state.global_step and metric_key_prefix == "eval":
            self._track_best(output.metrics)
        self.control = self._fire("on_evaluate", metrics=output.metrics)
        return output.metrics

    def predict(self, test_dataset: Any, metric_key_prefix: str = "test") -> PredictionOutput:
        """Logits (and labels, metrics when the dataset has labels) over ``test_dataset``."""
        output = self._prediction_loop(test_dataset, metric_key_prefix)
        self.control = self._fire("on_predict", metrics=output.metrics)
        return output

    def _prediction_loop(self, dataset: Any, prefix: str) -> PredictionOutput:
        """Evaluate this rank's share of ``dataset``; under torchrun the shares' logits, labels and loss
        sums are gathered (padding rows dropped), so every rank returns the metrics of the whole set."""
        if is_iterable(dataset):
            raise ValueError("evaluate/predict need a dataset with a length (a map-style dataset)")
        model = self._train_model if self._train_model is not None and self.args.fsdp else self.model
        was_training = model.training
        model.eval()
        start = time.perf_counter()
        loss_total, items, all_logits, all_labels = 0.0, 0, [], []
        batches, real = self._eval_shard(len(dataset))
        seen = 0
        for batch in self._loader(dataset, batches):
            keep = min(len(next(iter(batch.values()))), real - seen)
            seen += keep
            summed, n, logits, labels = self.prediction_step(model, batch, keep)
            if summed is not None:
                loss_total, items = loss_total + float(summed), items + n
                all_labels.append(labels.cpu())
            all_logits.append(logits.float().cpu() if logits.is_floating_point() else logits.cpu())
        model.train(was_training)
        if self.dist.is_distributed:
            shares = ddp.gather_objects((loss_total, items, all_logits, all_labels), self.dist)
            loss_total, items = sum(s[0] for s in shares), sum(s[1] for s in shares)
            all_logits = [t for s in shares for t in s[2] if len(t)]
            all_labels = [t for s in shares for t in s[3] if len(t)]
        predictions = _concat(all_logits).numpy()
        label_ids = _concat(all_labels).numpy() if all_labels else None
        metrics: dict[str, float] = {}
        if items:
            metrics["loss"] = loss_total / items
        if self.compute_metrics is not None and label_ids is not None:
            metrics.update(self.compute_metrics(EvalPrediction(predictions, label_ids)))
        metrics["runtime"] = time.perf_counter() - start
        metrics = {k if k.startswith(f"{prefix}_") else f"{prefix}_{k}": v for k, v in metrics.items()}
        return PredictionOutput(predictions, label_ids, metrics)

    def prediction_step(
        self, model: torch.nn.Module, batch: dict[str, torch.Tensor], keep: int
    ) -> tuple[torch.Tensor | None, int, torch.Tensor, torch.Tensor | None]:
        """(summed loss or None, labelled items, predictions, labels) of one evaluation batch's first
        ``keep`` rows; the predictions are the logits (``Seq2SeqTrainer`` may generate instead)."""
        return loop.eval_step(model, batch, device=self.device, causal=self.causal, autocast=self._autocast,
                              keep=keep)

    def _track_best(self, metrics: dict[str, float]) -> None:
        name = self.args.metric_for_best_model
        value = metrics.get(name if name.startswith("eval_") else f"eval_{name}")
        if value is None:
            return
        best = self.state.best_metric
        if best is None or (value > best if self.args.greater_is_better else value < best):
            self.state.best_metric = value
            self._best_step = self.state.global_step

    # --- the Hub ----------------------------------------------------------------------------

    def push_to_hub(
        self,
        commit_message: str = "End of training",
        *,
        token: str | None = None,
        finetuned_from: str | None = None,
        dataset: str | list[str] | None = None,
        language: str | list[str] | None = None,
        license: str | None = None,
        tags: list[str] | None = None,
        model_name: str | None = None,
    ):
        """Save the model (and tokenizer), ``training_args.json``, ``trainer_state.json``, a model card
        (README.md) and a loss-curve plot into ``output_dir``, and upload the folder (without the
        ``checkpoint-*`` folders) as one commit to ``args.hub_model_id`` (default: the output folder's
        name under the token's account), created if absent. Returns the ``CommitInfo`` (None on ranks
        other than 0).

        Args:
            token: overrides ``args.hub_token`` (itself defaulting to ``COVE_TOKEN`` / ``cove login``).
            finetuned_from: the Hub id of the starting checkpoint (the card's ``base_model``).
            dataset / language / license / tags / model_name: what the card says about the model.
        """
        from cove.training.card import CardInfo, pipeline_tag, push_run  # the Hub client only here

        self.save_model()  # every rank: FSDP gathers its shards
        if not self.dist.is_main_process:
            return None
        folder = Path(self.args.output_dir)
        self.state.save_to_json(folder / checkpoint.STATE_FILE)
        checkpoint.write_json(folder / checkpoint.ARGS_FILE, self.args.to_dict())
        adapter = self.model.active_peft_config if isinstance(self.model, PeftModel) else None
        if adapter is not None:  # an adapter's card names its base, as peft's does
            finetuned_from = finetuned_from or adapter.base_model_name_or_path
            tags = [*(tags or []), "lora", *([f"base_model:adapter:{finetuned_from}"] if finetuned_from else [])]
        info = CardInfo(
            model_name=model_name or "",
            base_model=finetuned_from,
            datasets=[dataset] if isinstance(dataset, str) else list(dataset or []),
            tags=list(tags or []),
            language=language,
            license=license,
            pipeline_tag=pipeline_tag(self.model),
            library_name="peft" if adapter is not None else "transformers",
        )
        return push_run(
            folder, self.args, self.state.log_history, info=info, commit_message=commit_message, token=token
        )

    # --- checkpoints ------------------------------------------------------------------------

    def save_model(self, output_dir: str | None = None) -> None:
        """``save_pretrained`` the model (and the ``processing_class``) into ``output_dir``
        (``args.output_dir`` by default); only the main process writes. Under FSDP every rank must call
        it (the shards are gathered)."""
        folder = Path(output_dir or self.args.output_dir)
        if self._is_fsdp:
            fsdp.save_pretrained(self._train_model, folder, self.dist)
        if not self.dist.is_main_process:
            return
        if self.processing_class is not None:
            self.processing_class.save_pretrained(folder)
        if not self._is_fsdp:
            checkpoint.save_weights(self.model, folder)

    @property
    def _is_fsdp(self) -> bool:
        return bool(self.args.fsdp) and self.dist.is_distributed and self._train_model is not None

    def _rng_file(self) -> str:
        return checkpoint.rng_file(self.dist.rank, distributed=self.dist.is_distributed)

    def _save_checkpoint(self) -> None:
        """Rank 0 writes the checkpoint; every rank writes its own RNG state into it."""
        folder = checkpoint.checkpoint_folder(self.args.output_dir, self.state.global_step)
        folder.mkdir(parents=True, exist_ok=True)
        ddp.barrier(self.dist)
        torch.save(rng_state(), folder / self._rng_file())
        if self._best_step == self.state.global_step:  # on every rank: each loads the best at the end
            self.state.best_model_checkpoint = str(folder)
        if self._is_fsdp:  # the model's shards are gathered by every rank; the optimizer stays sharded
            self.save_model(str(folder))
        if self.state.is_world_process_zero:
            if not self._is_fsdp:
                self.save_model(str(folder))
                checkpoint.save_optimizer(folder, self.optimizer, self.lr_scheduler)
            self.state.save_to_json(folder / checkpoint.STATE_FILE)
            checkpoint.write_json(folder / checkpoint.ARGS_FILE, self.args.to_dict())
            self.control = self._fire("on_save")
            checkpoint.rotate(self.args.output_dir, self.args.save_total_limit, self.state.best_model_checkpoint)
        ddp.barrier(self.dist)

    def _load_checkpoint(self, folder: Path) -> None:
        checkpoint.load_weights(self.model, folder, self.device)
        checkpoint.load_optimizer(folder, self.optimizer, self.lr_scheduler)
        checkpoint.restore_state(self.state, folder)
        set_rng_state(torch.load(folder / self._rng_file(), weights_only=True))


def default_collator(processing_class: Any) -> Callable[[list[dict]], dict[str, torch.Tensor]]:
    """transformers' default: dynamic padding with the tokenizer when there is one."""
    if processing_class is not None and hasattr(processing_class, "pad_token_id"):
        return DataCollatorWithPadding(processing_class)
    return default_data_collator


def is_iterable(dataset: Any) -> bool:
    """True for a stream without a length (a torch ``IterableDataset``, Cove's ``IterableDataset``)."""
    return isinstance(dataset, torch.utils.data.IterableDataset) or not hasattr(dataset, "__len__")


def _concat(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Concatenate on dim 0, padding later dims with -100 when batches differ in sequence length."""
    if all(t.shape[1:] == tensors[0].shape[1:] for t in tensors):
        return torch.cat(tensors)
    shape = [max(t.shape[d] for t in tensors) for d in range(1, tensors[0].dim())]
    out = torch.full((sum(len(t) for t in tensors), *shape), IGNORE_INDEX, dtype=tensors[0].dtype)
    row = 0
    for t in tensors:
        out[(slice(row, row + len(t)), *(slice(0, s) for s in t.shape[1:]))] = t
        row += len(t)
    return out
