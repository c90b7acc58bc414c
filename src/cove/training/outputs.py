"""What the Trainer hands back, with transformers' names and shapes.

``EvalPrediction`` is what ``compute_metrics`` receives; it unpacks as transformers' does
(``logits, labels = eval_pred``) and has ``.predictions`` / ``.label_ids``. ``PredictionOutput``
(``trainer.predict``) and ``TrainOutput`` (``trainer.train``) are named tuples, as there, so
``predictions, label_ids, metrics = trainer.predict(ds)`` works too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np


class EvalPrediction:
    """Stacked predictions (logits) and labels of an evaluation, as numpy arrays.

    Args:
        predictions: (N, ...) the model's logits.
        label_ids: (N, ...) the labels (None when the dataset has none).
        inputs / losses: optional extras; when given they follow in the unpacking order, as in transformers.

    Example::

        def compute_metrics(eval_pred):
            logits, labels = eval_pred
            return {"accuracy": float((logits.argmax(-1) == labels).mean())}
    """

    def __init__(
        self,
        predictions: np.ndarray | tuple[np.ndarray, ...],
        label_ids: np.ndarray | tuple[np.ndarray, ...] | None,
        inputs: np.ndarray | None = None,
        losses: np.ndarray | None = None,
    ) -> None:
        self.predictions = predictions
        self.label_ids = label_ids
        self.inputs = inputs
        self.losses = losses
        extras = tuple(x for x in (inputs, losses) if x is not None)
        self.elements: tuple[Any, ...] = (predictions, label_ids, *extras)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.elements)

    def __getitem__(self, index: int) -> Any:
        if not -len(self.elements) <= index < len(self.elements):
            raise IndexError(f"EvalPrediction has {len(self.elements)} elements, not index {index}")
        return self.elements[index]

    def __len__(self) -> int:
        return len(self.elements)

    def __repr__(self) -> str:
        def shape(x: Any) -> str:
            return str(getattr(x, "shape", None))

        return f"EvalPrediction(predictions={shape(self.predictions)}, label_ids={shape(self.label_ids)})"


class PredictionOutput(NamedTuple):
    """``trainer.predict``: the logits, the labels (None without), and the metrics (``test_`` prefixed)."""

    predictions: np.ndarray
    label_ids: np.ndarray | None
    metrics: dict[str, float]


class TrainOutput(NamedTuple):
    """``trainer.train``: the last step, the mean training loss, and the run's metrics."""

    global_step: int
    training_loss: float
    metrics: dict[str, float]
