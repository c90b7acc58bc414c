"""text2text-generation, summarization and translation: text in, text out, with an encoder-decoder
model (T5, BART, Marian) and :mod:`cove.generation`.

As transformers' ``Text2TextGenerationPipeline`` and its two subclasses (transformers 4.x; 5.x dropped
them): each input is prefixed (the model config's ``prefix``, or the ``prefix`` of the task's entry in
``task_specific_params``, e.g. T5's ``"summarize: "``), tokenized with the tokenizer's special tokens,
encoded once and decoded by ``model.generate``. A string gives ``[{"<name>_text": ...}]`` with
``<name>`` = ``generated``, ``summary`` or ``translation``; a list of strings gives one dict per string
(a list per string with ``num_return_sequences > 1``); ``return_tensors=True`` gives
``<name>_token_ids`` instead of text.

Generation options come, in order of precedence, from the call, the task's entry in the model config's
``task_specific_params`` (T5's ``summarization`` entry asks for beam search, ``min_length=30`` ...), and
the model's generation config. ``pipeline("translation_en_to_fr", model=...)`` names the languages; a
plain ``"translation"`` takes the first ``translation_*`` entry of ``task_specific_params``, as
transformers does.
"""

from __future__ import annotations

import logging
import re
import warnings
from typing import Any, ClassVar

import torch

from cove.generation import GenerationConfig
from cove.pipelines.base import Feature, Params, Pipeline

log = logging.getLogger("cove.pipelines")
TRANSLATION_TASK = re.compile(r"^translation_([A-Za-z0-9-]+)_to_([A-Za-z0-9-]+)$")


def task_params(model: Any, task: str) -> dict[str, Any]:
    """The entry for ``task`` in the model config's ``task_specific_params`` (a copy; {} when none)."""
    table = getattr(model.config, "task_specific_params", None) or {}
    entry = table.get(task)
    return dict(entry) if isinstance(entry, dict) else {}


def translation_task(model: Any, src_lang: str | None, tgt_lang: str | None) -> str:
    """``translation_<src>_to_<tgt>`` when both languages are known, else the first ``translation_*``
    entry of ``task_specific_params`` (with a warning, as transformers), else ``translation``."""
    if src_lang and tgt_lang:
        return f"translation_{src_lang}_to_{tgt_lang}"
    table = getattr(model.config, "task_specific_params", None) or {}
    for key in table:
        if TRANSLATION_TASK.match(key):
            warnings.warn(
                f'"translation" task was used, instead of "translation_XX_to_YY", defaulting to "{key}"',
                stacklevel=3,
            )
            return key
    return "translation"


class Text2TextGenerationPipeline(Pipeline):
    """Text to text with an encoder-decoder model: ``[{"generated_text": ...}]``."""

    task: ClassVar[str] = "text2text-generation"
    return_name: ClassVar[str] = "generated"

    def __init__(self, model: Any, tokenizer: Any, **kwargs: Any) -> None:
        if not getattr(model.config, "is_encoder_decoder", False):
            raise ValueError(
                f"{self.task} needs an encoder-decoder model (T5, BART, Marian ...); {type(model).__name__} is"
                f" not one: use the text-generation pipeline for a decoder-only model"
            )
        self.task_name = self._task_name(model, kwargs)
        params = task_params(model, self.task_name)
        self.prefix = params.pop("prefix", None) or getattr(model.config, "prefix", None) or ""
        known = set(GenerationConfig.known())
        self.task_generation = {k: v for k, v in params.items() if k in known}
        super().__init__(model, tokenizer, **kwargs)

    def _task_name(self, model: Any, options: dict[str, Any]) -> str:
        return self.task

    def sanitize(
        self,
        *,
        return_tensors: bool | None = None,
        return_text: bool | None = None,
        clean_up_tokenization_spaces: bool | None = None,
        truncation: bool | str | None = None,
        stop_sequence: str | None = None,
        **params: Any,
    ) -> Params:
        pre: dict[str, Any] = {}
        if truncation is not None:
            pre["truncation"] = truncation
        post: dict[str, Any] = {}
        if return_tensors and return_text:
            raise ValueError("return_text is mutually exclusive with return_tensors")
        post["return_type"] = "tensors" if return_tensors else "text"
        if clean_up_tokenization_spaces is not None:
            post["clean_up_tokenization_spaces"] = clean_up_tokenization_spaces
        generate = dict(params)
        if stop_sequence is not None:
            ids = self.tokenizer.encode(stop_sequence, add_special_tokens=False)
            if len(ids) > 1:
                warnings.warn("stop_sequence has more than one token: only its first is used as eos", stacklevel=3)
            generate["eos_token_id"] = ids[0]
        known = set(GenerationConfig.known()) | {"generation_config", "generator"}
        unknown = sorted(set(generate) - known)
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unknown parameter(s): {', '.join(unknown)} (generation options:"
                f" {', '.join(GenerationConfig.known())})"
            )
        return pre, {**self.task_generation, **generate}, post

    # --- inputs ------------------------------------------------------------------------------------

    def preprocess(self, inputs: Any, *, truncation: bool | str | None = None) -> list[Feature]:
        if not isinstance(inputs, str):
            raise ValueError(
                f"{self.task} takes a string or a list of strings; got {type(inputs).__name__}"
            )
        options = {} if truncation is None else {"truncation": truncation}
        enc = self.tokenizer(self.prefix + inputs, **options)
        feature = {k: list(enc[k]) for k in ("input_ids", "attention_mask") if k in enc}
        if not feature["input_ids"]:
            raise ValueError("the input is empty after tokenization: there is nothing to generate from")
        self.check_inputs(len(feature["input_ids"]))
        return [feature]

    def check_inputs(self, input_length: int) -> None:
        """A subclass warns about lengths that make little sense (transformers' ``check_inputs``)."""

    def max_min_length(self) -> tuple[int | None, int | None]:
        """``max_length`` and ``min_length`` the task or the model's generation config sets."""
        from cove.generation.generate import default_config

        config = default_config(self.model)
        return (self.task_generation.get("max_length", config.max_length),
                self.task_generation.get("min_length", config.min_length))

    # --- generation ----------------------------------------------------------------------------------

    def forward(self, batch: dict[str, torch.Tensor], **options: Any) -> torch.Tensor:
        out = self.model.generate(batch["input_ids"], batch.get("attention_mask"), **options)
        return out.reshape(batch["input_ids"].shape[0], -1, out.shape[-1]).cpu()  # (B, n, T)

    # --- outputs -------------------------------------------------------------------------------------

    def postprocess(
        self,
        inputs: Any,
        outputs: list[dict[str, Any]],
        *,
        return_type: str = "text",
        clean_up_tokenization_spaces: bool | None = None,
    ) -> list[dict[str, Any]]:
        records = []
        for sequence in outputs[0]["output"].tolist():
            if return_type == "tensors":
                records.append({f"{self.return_name}_token_ids": sequence})
                continue
            options = {} if clean_up_tokenization_spaces is None else {
                "clean_up_tokenization_spaces": clean_up_tokenization_spaces}
            text = self.tokenizer.decode(sequence, skip_special_tokens=True, **options)
            records.append({f"{self.return_name}_text": text})
        return records

    def __call__(self, inputs: Any, **params: Any) -> Any:
        result = super().__call__(inputs, **params)
        # transformers: a list of strings, one sequence each, gives a flat list of dicts
        if isinstance(inputs, list | tuple) and all(isinstance(r, list) and len(r) == 1 for r in result):
            return [r[0] for r in result]
        return result


class SummarizationPipeline(Text2TextGenerationPipeline):
    """Summaries: ``[{"summary_text": ...}]``; T5 models read ``task_specific_params["summarization"]``."""

    task: ClassVar[str] = "summarization"
    return_name: ClassVar[str] = "summary"

    def check_inputs(self, input_length: int) -> None:
        max_length, min_length = self.max_min_length()
        if max_length is not None and min_length is not None and max_length < min_length:
            log.warning("min_length=%d must not be larger than max_length=%d", min_length, max_length)
        if max_length is not None and input_length < max_length:
            log.warning("max_length is %d but the input is %d tokens long: a summary is usually shorter than"
                        " its input; consider max_length=%d", max_length, input_length, input_length // 2)


class TranslationPipeline(Text2TextGenerationPipeline):
    """Translations: ``[{"translation_text": ...}]``. ``src_lang``/``tgt_lang`` (or the task name
    ``translation_en_to_fr``) pick T5's ``task_specific_params`` entry and its prefix."""

    task: ClassVar[str] = "translation"
    return_name: ClassVar[str] = "translation"

    def _task_name(self, model: Any, options: dict[str, Any]) -> str:
        src, tgt = options.pop("src_lang", None), options.pop("tgt_lang", None)
        return translation_task(model, src, tgt)

    def sanitize(self, *, src_lang: str | None = None, tgt_lang: str | None = None, **params: Any) -> Params:
        if src_lang is not None or tgt_lang is not None:
            name = translation_task(self.model, src_lang, tgt_lang)
            if name != self.task_name:
                raise ValueError(
                    f"this pipeline translates as {self.task_name!r}; make another for {name!r}:"
                    f" pipeline({name!r}, model=...)"
                )
        return super().sanitize(**params)

    def check_inputs(self, input_length: int) -> None:
        max_length, _ = self.max_min_length()
        if max_length is not None and input_length > 0.9 * max_length:
            log.warning("the input is %d tokens long and max_length is %d: the translation may be cut;"
                        " raise max_length", input_length, max_length)
