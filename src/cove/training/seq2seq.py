"""``Seq2SeqTrainer`` and ``Seq2SeqTrainingArguments``: the Trainer for encoder-decoder models, with
transformers' names. Training is the plain Trainer's (the batch's ``labels`` give the decoder its
inputs, shifted right, and the token loss); with ``predict_with_generate=True`` evaluation and
prediction also run ``model.generate`` on each batch, and ``compute_metrics`` receives the generated
ids (rows padded with the pad id to ``max_length``/``max_new_tokens + 1``, batches of different
lengths with -100, as transformers does) instead of the logits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from cove.training import loop
from cove.training.args import TrainingArguments
from cove.training.trainer import Trainer


@dataclass
class Seq2SeqTrainingArguments(TrainingArguments):
    """``TrainingArguments`` plus what evaluation by generation needs.

    Args:
        predict_with_generate: evaluate and predict with ``model.generate`` (metrics such as BLEU or
            ROUGE need text, not logits).
        generation_max_length / generation_num_beams: ``max_length`` / ``num_beams`` of that generation
            (default: the model's generation config).
        generation_config: a :class:`cove.GenerationConfig` (or a folder holding one) used instead.
        sortish_sampler: accepted for compatibility; batches keep the Trainer's order.
    """

    predict_with_generate: bool = False
    generation_max_length: int | None = None
    generation_num_beams: int | None = None
    generation_config: Any = None
    sortish_sampler: bool = False


class Seq2SeqTrainer(Trainer):
    """The Trainer for ``AutoModelForSeq2SeqLM`` models; ``evaluate``/``predict`` take generation options
    (``max_length=``, ``num_beams=``, ...) used when ``predict_with_generate`` is set."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._gen_kwargs: dict[str, Any] = {}

    def evaluate(self, eval_dataset: Any = None, metric_key_prefix: str = "eval", **gen_kwargs: Any) -> dict:
        self._gen_kwargs = gen_kwargs
        try:
            return super().evaluate(eval_dataset, metric_key_prefix)
        finally:
            self._gen_kwargs = {}

    def predict(self, test_dataset: Any, metric_key_prefix: str = "test", **gen_kwargs: Any):
        self._gen_kwargs = gen_kwargs
        try:
            return super().predict(test_dataset, metric_key_prefix)
        finally:
            self._gen_kwargs = {}

    def generation_options(self) -> dict[str, Any]:
        """The call's options over the arguments' ``generation_*`` settings."""
        args = self.args
        options: dict[str, Any] = {}
        config = getattr(args, "generation_config", None)
        if config is not None:
            if not hasattr(config, "to_dict"):
                from cove.generation import GenerationConfig

                config = GenerationConfig.from_pretrained(config)
            options["generation_config"] = config
        if getattr(args, "generation_max_length", None) is not None:
            options["max_length"] = args.generation_max_length
        if getattr(args, "generation_num_beams", None) is not None:
            options["num_beams"] = args.generation_num_beams
        return {**options, **self._gen_kwargs}

    def prediction_step(self, model: torch.nn.Module, batch: dict[str, torch.Tensor], keep: int):
        summed, n, logits, labels = super().prediction_step(model, batch, keep)
        if not getattr(self.args, "predict_with_generate", False):
            return summed, n, logits, labels
        inner = getattr(model, "module", model)
        inputs, _ = loop.split_batch(batch, self.device)
        inputs = {k: v for k, v in inputs.items() if k in ("input_ids", "attention_mask")}
        options = self.generation_options()
        with torch.no_grad(), self._autocast():
            generated = inner.generate(**inputs, **options)[:keep]
        return summed, n, self._pad_to_length(inner, generated, options), labels

    @staticmethod
    def _pad_to_length(model: Any, generated: torch.Tensor, options: dict[str, Any]) -> torch.Tensor:
        """Pad rows with the pad id to the generation's length bound, as transformers' Seq2SeqTrainer."""
        config = options.get("generation_config") or getattr(model, "generation_config", None)
        max_length = options.get("max_length")
        max_new = options.get("max_new_tokens", getattr(config, "max_new_tokens", None) if config else None)
        if max_length is None and max_new is None and config is not None:
            max_length = getattr(config, "max_length", None)
        target = max_length if max_length is not None else (max_new + 1 if max_new is not None else None)
        if target is None or generated.shape[-1] >= target:
            return generated
        pad = model.config.pad_token_id
        if pad is None:
            pad = model.config.eos_token_id if isinstance(model.config.eos_token_id, int) else 0
        out = generated.new_full((generated.shape[0], target), pad)
        out[:, : generated.shape[-1]] = generated
        return out
