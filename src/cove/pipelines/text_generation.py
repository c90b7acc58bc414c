"""text-generation: continue a prompt, or answer a chat, with a causal LM and :mod:`cove.generation`.

As transformers' ``TextGenerationPipeline``: a string gives ``[{"generated_text": prompt + new}]``
(``return_full_text=False``: the new text only; ``return_tensors=True``: ``generated_token_ids``); a
chat (a list of ``{"role", "content"}`` dicts) is rendered with the tokenizer's chat template and
``add_generation_prompt``, and ``generated_text`` is the chat plus the new assistant message (or,
when the chat ends with an assistant message, that message continued). Unless the call or the
model's generation_config.json sets them, ``max_new_tokens=256``, ``do_sample=True`` and
``temperature=0.7`` apply, as in transformers. Every other option goes to ``model.generate``.

Batches are left-padded (each row generates what it would alone). ``stream=True`` (or
:meth:`TextGenerationPipeline.stream`) yields the new text in chunks as it is generated instead.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import torch

from cove.generation import GenerationConfig, TextIteratorStreamer
from cove.pipelines.base import Feature, Params, Pipeline

#: transformers' pipeline defaults, used for what neither the call nor the model's config sets.
DEFAULTS = {"max_new_tokens": 256, "do_sample": True, "temperature": 0.7}
SAMPLING = ("temperature", "top_k", "top_p", "min_p", "typical_p")
TOKENIZER_OPTIONS = ("add_special_tokens", "truncation", "padding")


def is_message(value: Any) -> bool:
    return isinstance(value, dict) and "role" in value and "content" in value


def is_chat(value: Any) -> bool:
    if not isinstance(value, list | tuple) or not value or not is_message(value[0]):
        return False
    if not all(is_message(m) for m in value):
        raise ValueError("when passing a chat, each message must be a dict with 'role' and 'content' keys")
    return True


class TextGenerationPipeline(Pipeline):
    task = "text-generation"

    def sanitize(
        self,
        *,
        return_full_text: bool | None = None,
        return_tensors: bool | None = None,
        return_text: bool | None = None,
        max_length: int | None = None,
        continue_final_message: bool | None = None,
        skip_special_tokens: bool | None = None,
        stop_sequence: str | list[str] | None = None,
        tokenizer_encode_kwargs: dict[str, Any] | None = None,
        stream: bool = False,
        **params: Any,
    ) -> Params:
        pre: dict[str, Any] = {k: params.pop(k) for k in TOKENIZER_OPTIONS if k in params}
        if tokenizer_encode_kwargs:
            pre["tokenizer_encode_kwargs"] = dict(tokenizer_encode_kwargs)
        if continue_final_message is not None:
            pre["continue_final_message"] = continue_final_message
        generate = dict(params)
        if max_length is not None:
            pre["max_length"] = generate["max_length"] = max_length
        if stop_sequence is not None:
            generate["stop_strings"] = (
                [stop_sequence] if isinstance(stop_sequence, str) else list(stop_sequence)
            )
        known = set(GenerationConfig.known()) | {"generation_config", "generator", "assistant_model"}
        unknown = sorted(set(generate) - known)
        if unknown:
            raise TypeError(
                f"TextGenerationPipeline got unknown parameter(s): {', '.join(unknown)} (generation options:"
                f" {', '.join(GenerationConfig.known())})"
            )
        post: dict[str, Any] = {"stream": stream}
        if return_full_text is not None:
            if return_text is not None or return_tensors is not None:
                raise ValueError("return_full_text is mutually exclusive with return_text and return_tensors")
            post["return_type"] = "full" if return_full_text else "new"
        elif return_tensors:
            if return_text:
                raise ValueError("return_text is mutually exclusive with return_tensors")
            post["return_type"] = "tensors"
        if continue_final_message is not None:
            post["continue_final_message"] = continue_final_message
        if skip_special_tokens is not None:
            post["skip_special_tokens"] = skip_special_tokens
        return pre, self._generate_options(generate), post

    def _generate_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """The call's options plus the pipeline defaults for what neither they nor the model set."""
        model_config = options.get("generation_config") or self.model_generation_config()
        already = {
            **{k: v for k, v in model_config.to_dict().items() if k in GenerationConfig.known()},
            **options,
        }
        added = {
            k: v
            for k, v in DEFAULTS.items()
            if k not in already and not (k == "max_new_tokens" and "max_length" in already)
        }
        if self.tokenizer.pad_token_id is not None:
            added.setdefault("pad_token_id", self.tokenizer.pad_token_id)
        if not {**already, **added}.get("do_sample"):
            added = {k: v for k, v in added.items() if k not in SAMPLING}
        if "stop_strings" in options:
            options = {**options, "tokenizer": self.tokenizer}
        return {**options, **added}

    def model_generation_config(self) -> GenerationConfig:
        from cove.generation.generate import default_config

        return default_config(self.model)

    # --- inputs ------------------------------------------------------------------------------------

    def _is_batch(self, inputs: Any) -> bool:
        return isinstance(inputs, list | tuple) and not is_chat(inputs)

    def preprocess(
        self,
        inputs: Any,
        *,
        continue_final_message: bool | None = None,
        tokenizer_encode_kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> list[Feature]:
        options.update(tokenizer_encode_kwargs or {})
        if is_chat(inputs):
            options.pop("add_special_tokens", None)  # chats are rendered with their own special tokens
            messages = list(inputs)
            if continue_final_message is None:
                continue_final_message = messages[-1]["role"] == "assistant"
            enc = self.tokenizer.apply_chat_template(
                messages,
                add_generation_prompt=not continue_final_message,
                continue_final_message=continue_final_message,
                return_dict=True,
                **options,
            )
        elif isinstance(inputs, str):
            options.setdefault("add_special_tokens", False)
            enc = self.tokenizer(inputs, **options)
        else:
            raise ValueError(
                f"text-generation takes a string, a chat (list of role/content dicts), or a list of those;"
                f" got {type(inputs).__name__}"
            )
        feature = {k: list(v) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
        if not feature["input_ids"]:
            raise ValueError("the prompt is empty: there is nothing to continue")
        return [{**feature, "prompt": inputs}]

    # --- generation ----------------------------------------------------------------------------------

    def left_pad(self, features: list[Feature]) -> tuple[torch.Tensor, torch.Tensor]:
        length = max(len(f["input_ids"]) for f in features)
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = self.model.config.pad_token_id or 0
        ids = [[pad] * (length - len(f["input_ids"])) + f["input_ids"] for f in features]
        mask = [
            [0] * (length - len(f["input_ids"])) + list(f.get("attention_mask") or [1] * len(f["input_ids"]))
            for f in features
        ]
        device = self.device
        return torch.tensor(ids, device=device), torch.tensor(mask, device=device)

    def _run_features(self, features: list[Feature], size: int, fwd: dict[str, Any]) -> list[dict[str, Any]]:
        order = sorted(range(len(features)), key=lambda i: len(features[i]["input_ids"]))
        results: list[dict[str, Any] | None] = [None] * len(features)
        for start in range(0, len(order), size):
            group = order[start : start + size]
            ids, mask = self.left_pad([features[i] for i in group])
            out = self.model.generate(ids, mask, **fwd)  # (B * n, T + new)
            out = out.reshape(len(group), -1, out.shape[-1]).cpu()
            for row, i in enumerate(group):
                results[i] = {**features[i], "output": out[row], "prompt_length": ids.shape[1]}
        return results  # type: ignore[return-value]

    def __call__(self, inputs: Any, **params: Any) -> Any:
        if params.get("stream", self._options.get("stream", False)):
            return self.stream(inputs, **{k: v for k, v in params.items() if k != "stream"})
        return super().__call__(inputs, **params)

    def stream(self, inputs: Any, **params: Any) -> Iterator[str]:
        """Yield the new text of one prompt or chat in chunks as it is generated (they join to the new text)."""
        if self._is_batch(inputs):
            raise ValueError("stream one prompt or chat at a time")
        options = {k: v for k, v in {**self._options, **params}.items() if k != "stream"}
        pre, fwd, post = self.sanitize(**options)
        feature = self.preprocess(inputs, **pre)[0]
        ids, mask = self.left_pad([feature])
        streamer = TextIteratorStreamer(
            self.tokenizer, skip_prompt=True, skip_special_tokens=post.get("skip_special_tokens", True)
        )
        failure: list[BaseException] = []

        def run() -> None:
            try:
                self.model.generate(ids, mask, streamer=streamer, **fwd)
            except BaseException as e:  # re-raised in the consumer
                failure.append(e)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        yield from streamer
        thread.join()
        if failure:
            raise failure[0]

    # --- outputs -------------------------------------------------------------------------------------

    def postprocess(
        self,
        inputs: Any,
        outputs: list[dict[str, Any]],
        *,
        return_type: str = "full",
        continue_final_message: bool | None = None,
        skip_special_tokens: bool = True,
        stream: bool = False,
    ) -> list[dict[str, Any]]:
        out = outputs[0]
        records = []
        for sequence in out["output"].tolist():
            if return_type == "tensors":
                records.append({"generated_token_ids": sequence})
                continue
            text = self.tokenizer.decode(
                sequence[out["prompt_length"] :], skip_special_tokens=skip_special_tokens
            )
            if return_type == "full":
                text = self._full(inputs, text, continue_final_message)
            records.append({"generated_text": text})
        return records

    @staticmethod
    def _full(prompt: Any, new: str, continue_final_message: bool | None) -> Any:
        if isinstance(prompt, str):
            return prompt + new
        messages = list(prompt)
        if continue_final_message is None:
            continue_final_message = messages[-1]["role"] == "assistant"
        if continue_final_message:
            last = messages[-1]
            return [*messages[:-1], {"role": last["role"], "content": last["content"] + new}]
        return [*messages, {"role": "assistant", "content": new}]
