"""text-classification (alias sentiment-analysis): a sequence-classification head over one text or a
pair ``{"text": ..., "text_pair": ...}``. Outputs, defaults and quirks are transformers'
``TextClassificationPipeline``'s: softmax for several labels, sigmoid for one label or
``multi_label_classification``, none for regression; one ``{"label", "score"}`` per text unless
``top_k`` is given (then the sorted top-k, ``top_k=None`` for every label); a single string with no
``top_k`` comes back wrapped in a list.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cove.pipelines.base import Feature, Params, Pipeline

FUNCTIONS = ("sigmoid", "softmax", "none")
TOKENIZER_OPTIONS = ("truncation", "max_length", "add_special_tokens", "padding")
_UNSET: Any = object()


def softmax(x: np.ndarray) -> np.ndarray:
    shifted = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def default_function(config: Any) -> str:
    """The score function transformers picks from ``problem_type`` and ``num_labels``."""
    if config.problem_type == "regression":
        return "none"
    if config.problem_type == "multi_label_classification" or config.num_labels == 1:
        return "sigmoid"
    return "softmax"


def function_name(function_to_apply: Any) -> str:
    """``"SOFTMAX"`` or an enum whose value is ``"softmax"`` -> ``"softmax"``; anything else is refused."""
    name = str(getattr(function_to_apply, "value", function_to_apply)).lower()
    if name not in FUNCTIONS:
        raise ValueError(f"function_to_apply must be one of {', '.join(FUNCTIONS)}, not {function_to_apply!r}")
    return name


def check_top_k(top_k: Any) -> None:
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be a positive int or None, not {top_k!r}")


def apply_function(logits: np.ndarray, function: str) -> np.ndarray:
    if function == "sigmoid":
        return sigmoid(logits)
    if function == "softmax":
        return softmax(logits)
    return logits


class TextClassificationPipeline(Pipeline):
    task = "text-classification"

    def sanitize(self, *, top_k: Any = _UNSET, function_to_apply: str | None = None, **params: Any) -> Params:
        pre = {k: params.pop(k) for k in TOKENIZER_OPTIONS if k in params}
        self._reject(params)
        post: dict[str, Any] = {}
        if top_k is not _UNSET:
            check_top_k(top_k)
            post.update(top_k=top_k, legacy=False)
        if function_to_apply is not None:
            post["function_to_apply"] = function_name(function_to_apply)
        return pre, {}, post

    def __call__(self, inputs: Any, **params: Any) -> Any:
        result = super().__call__(inputs, **params)
        if isinstance(inputs, str) and "top_k" not in params:
            return [result]  # as transformers: a bare string gives a list
        return result

    def preprocess(self, inputs: Any, **options: Any) -> list[Feature]:
        if isinstance(inputs, dict):
            if "text" not in inputs:
                raise ValueError('a text pair is a dict {"text": ..., "text_pair": ...}')
            return [self.tokenize(inputs["text"], inputs.get("text_pair"), **options)]
        if (
            isinstance(inputs, list)
            and len(inputs) == 1
            and isinstance(inputs[0], list)
            and len(inputs[0]) == 2
        ):
            return [self.tokenize(inputs[0][0], inputs[0][1], **options)]
        if not isinstance(inputs, str):
            raise ValueError(
                'text-classification takes a string, a list of strings, or {"text": ..., "text_pair": ...}'
                f" for a pair; got {type(inputs).__name__}"
            )
        return [self.tokenize(inputs, **options)]

    def postprocess(
        self,
        inputs: Any,
        outputs: list[dict[str, Any]],
        *,
        top_k: int | None = 1,
        legacy: bool = True,
        function_to_apply: str | None = None,
    ) -> Any:
        config = self.model.config
        logits = outputs[0]["output"].float().cpu().numpy()
        scores = apply_function(logits, function_to_apply or default_function(config))
        labels = config.id2label or {i: f"LABEL_{i}" for i in range(len(scores))}
        if top_k == 1 and legacy:
            return {"label": labels[int(scores.argmax())], "score": scores.max().item()}
        out = [{"label": labels[i], "score": s.item()} for i, s in enumerate(scores)]
        if not legacy:
            out.sort(key=lambda x: x["score"], reverse=True)
            if top_k is not None:
                out = out[:top_k]
        return out
