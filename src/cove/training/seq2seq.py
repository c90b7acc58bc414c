"""``Seq2SeqTrainer`` and ``Seq2SeqTrainingArguments``: the Trainer for encoder-decoder models, with
transformers' names. Training is the plain Trainer's (the batch's ``labels`` give the decoder its
inputs, shifted right, and the token loss); with ``predict_with_generate=True`` evaluation and
prediction also run ``model.generate`` on each batch, and ``compute_metrics`` receives the generated
ids instead of the logits: each batch's generated ids and labels padded with the pad id to the
model's generation config ``max_length`` (else ``max_new_tokens + 1``), batches of different lengths
with -100, as transformers 5 does.
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
        with torch.no_grad(), self._autocast():
            generated = inner.generate(**inputs, **self.generation_options())[:keep]
        target = self._padded_length(inner)
        pad = self._pad_id(inner)
        generated = _pad_to(generated, target(generated.shape[-1]), pad)
        if labels is not None:
            labels = _pad_to(labels, target(labels.shape[-1]), pad)
        return summed, n, generated, labels

    @staticmethod
    def _padded_length(model: Any):
        """transformers 5 pads each batch's generated ids and labels (with the pad id) to the model's
        generation config ``max_length``, else to ``max_new_tokens + 1``, whatever this call asked for."""
        from cove.generation.generate import default_config

        config = default_config(model)
        max_length = getattr(config, "max_length", None) or 20
        max_new = getattr(config, "max_new_tokens", None)

        def target(length: int) -> int:
            if length < max_length:
                return max_length
            if max_new is not None and length < max_new + 1:
                return max_new + 1
            return length

        return target

    def _pad_id(self, model: Any) -> int:
        tok = self.processing_class
        if tok is not None and hasattr(tok, "pad_token_id"):
            return tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        if getattr(model.config, "pad_token_id", None) is None:
            raise ValueError("Pad_token_id must be set in the configuration of the model, in order to pad tensors")
        return model.config.pad_token_id


def _pad_to(tensor: torch.Tensor, length: int, value: int) -> torch.Tensor:
    if tensor.shape[-1] >= length:
        return tensor
    out = tensor.new_full((tensor.shape[0], length), value)
    out[:, : tensor.shape[-1]] = tensor
    return out
