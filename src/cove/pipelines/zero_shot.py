"""zero-shot-classification: an NLI sequence classifier scores "does the text entail 'This example is
{label}.'" for each candidate label.

As transformers' ``ZeroShotClassificationPipeline``: one (text, hypothesis) pair per label,
truncating only the text; the entailment id is the first label in ``label2id`` starting with
"entail". By default the entailment logits are softmaxed across labels; with ``multi_label=True``
(or one label) each label gets the softmax of entailment vs contradiction on its own. Result:
``{"sequence", "labels", "scores"}`` sorted by score.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from cove.pipelines.base import Feature, Params, Pipeline

logger = logging.getLogger(__name__)


def parse_labels(labels: str | list[str]) -> list[str]:
    if isinstance(labels, str):
        return [label.strip() for label in labels.split(",") if label.strip()]
    return list(labels)


class ZeroShotClassificationPipeline(Pipeline):
    task = "zero-shot-classification"

    def __init__(self, model: Any, tokenizer: Any, **kwargs: Any) -> None:
        super().__init__(model, tokenizer, **kwargs)
        if self.entailment_id == -1:
            logger.warning(
                "no label of %s starts with 'entail' in label2id; using -1 (the last label) as entailment",
                type(model).__name__,
            )

    @property
    def entailment_id(self) -> int:
        for label, index in (self.model.config.label2id or {}).items():
            if label.lower().startswith("entail"):
                return int(index)
        return -1

    def sanitize(
        self,
        *,
        candidate_labels: str | list[str] | None = None,
        hypothesis_template: str | None = None,
        multi_label: bool | None = None,
        **params: Any,
    ) -> Params:
        self._reject(params)
        pre: dict[str, Any] = {}
        if candidate_labels is not None:
            pre["candidate_labels"] = parse_labels(candidate_labels)
        if hypothesis_template is not None:
            pre["hypothesis_template"] = hypothesis_template
        post = {} if multi_label is None else {"multi_label": multi_label}
        return pre, {}, post

    def __call__(self, sequences: Any, *args: Any, **params: Any) -> Any:
        if len(args) == 1 and "candidate_labels" not in params:
            params["candidate_labels"] = args[0]
        elif args:
            raise ValueError(f"unable to understand extra arguments {args}")
        return super().__call__(sequences, **params)

    def preprocess(
        self,
        inputs: Any,
        *,
        candidate_labels: list[str] | None = None,
        hypothesis_template: str = "This example is {}.",
    ) -> list[Feature]:
        if not candidate_labels or not inputs:
            raise ValueError("zero-shot-classification needs at least one candidate label and one sequence")
        if not isinstance(inputs, str):
            raise ValueError(
                f"zero-shot-classification takes a string or a list of strings, not {type(inputs).__name__}"
            )
        if hypothesis_template.format(candidate_labels[0]) == hypothesis_template:
            raise ValueError(
                f"the hypothesis_template {hypothesis_template!r} has no {{}} where the label should go"
            )
        features = []
        for label in candidate_labels:
            hypothesis = hypothesis_template.format(label)
            feature = self.tokenize(inputs, hypothesis, truncation="only_first")
            features.append({**feature, "label": label, "sequence": inputs})
        return features

    def postprocess(
        self, inputs: Any, outputs: list[dict[str, Any]], *, multi_label: bool = False
    ) -> dict[str, Any]:
        labels = [o["label"] for o in outputs]
        logits = np.stack([o["output"].float().cpu().numpy() for o in outputs])  # (labels, classes)
        entail = self.entailment_id
        if multi_label or len(labels) == 1:
            contradiction = -1 if entail == 0 else 0
            pair = np.exp(logits[:, [contradiction, entail]])
            scores = (pair / pair.sum(-1, keepdims=True))[:, 1]
        else:
            e = np.exp(logits[:, entail])
            scores = e / e.sum(-1, keepdims=True)
        top = list(reversed(scores.argsort()))
        return {
            "sequence": outputs[0]["sequence"],
            "labels": [labels[i] for i in top],
            "scores": scores[top].tolist(),
        }
