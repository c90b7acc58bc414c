"""The losses heads compute from ``labels``, exactly as transformers 5 computes them, with the labels
checked first: a wrong shape is a ``ValueError`` and a wrong dtype a ``TypeError``, each naming the
argument and saying what to pass (torch would raise a ``RuntimeError`` deep in the loss, or for
regression silently broadcast).

Positions labelled -100 (``IGNORE_INDEX``) are left out of every cross-entropy. Class ids must be
int64 (uint8 too, which torch also takes); multi-label targets are floats.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100
PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")
_CLASS_ID_DTYPES = (torch.long, torch.uint8)


def _shape(t: torch.Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def _check_tensor(name: str, value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, not {type(value).__name__}")
    return value


def _check_class_ids(name: str, labels: torch.Tensor, count: int, what: str) -> None:
    """``labels`` hold ``count`` class ids (any shape with that many elements, as transformers
    flattens them)."""
    if labels.dtype not in _CLASS_ID_DTYPES:
        raise TypeError(
            f"{name} must hold int64 class ids for {what} (got {labels.dtype}); pass {name}.long()"
        )
    if labels.numel() != count:
        raise ValueError(f"{name} has shape {_shape(labels)} but {what} needs {count} class ids here")


def causal_lm(logits: torch.Tensor, labels: Any) -> torch.Tensor:
    """Mean cross-entropy of position t's logits against ``labels[t + 1]`` (the shift is done here, so
    ``labels`` may be ``input_ids``); computed in float32. logits (B, T, V), labels (B, T)."""
    labels = _check_tensor("labels", labels)
    if _shape(labels) != _shape(logits)[:-1]:
        raise ValueError(
            f"labels has shape {_shape(labels)} but the logits are {_shape(logits)}: a causal LM needs labels"
            f" shaped like input_ids {_shape(logits)[:-1]} (they are shifted inside the model)"
        )
    _check_class_ids("labels", labels, labels.numel(), "language modelling")
    shifted = F.pad(labels, (0, 1), value=IGNORE_INDEX)[..., 1:]
    return F.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]), shifted.reshape(-1), ignore_index=IGNORE_INDEX
    )


def masked_lm(logits: torch.Tensor, labels: Any) -> torch.Tensor:
    """Mean cross-entropy over positions whose label is not -100. logits (B, T, V), labels (B, T)."""
    labels = _check_tensor("labels", labels)
    _check_class_ids("labels", labels, logits.numel() // logits.shape[-1], "masked language modelling")
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE_INDEX
    )


def token_classification(logits: torch.Tensor, labels: Any) -> torch.Tensor:
    """Mean cross-entropy over tokens whose label is not -100. logits (B, T, num_labels), labels (B, T)."""
    labels = _check_tensor("labels", labels)
    _check_class_ids("labels", labels, logits.numel() // logits.shape[-1], "token classification")
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE_INDEX
    )


def problem_type(config: Any, labels: torch.Tensor) -> str:
    """``config.problem_type``, or what transformers infers when it is None: regression for one label,
    single-label classification for int64/int32 labels, multi-label classification otherwise."""
    if config.problem_type is not None:
        if config.problem_type not in PROBLEM_TYPES:
            raise ValueError(
                f"config.problem_type {config.problem_type!r} is not one of {', '.join(PROBLEM_TYPES)}"
                " (or None, to infer it from num_labels and the labels' dtype)"
            )
        return config.problem_type
    if config.num_labels == 1:
        return "regression"
    if labels.dtype in (torch.long, torch.int):
        return "single_label_classification"
    return "multi_label_classification"


def sequence_classification(logits: torch.Tensor, labels: Any, config: Any) -> torch.Tensor:
    """The loss of ``config.problem_type`` (inferred, then stored on the config, as transformers does,
    so a saved model keeps it and the text-classification pipeline applies the matching function).

    regression: MSE (one label: logits and labels squeezed); single-label: cross-entropy over class
    ids (B,); multi-label: binary cross-entropy with logits against float (B, num_labels) targets.
    logits (B, num_labels).
    """
    labels = _check_tensor("labels", labels)
    kind = problem_type(config, labels)
    n, b = config.num_labels, logits.shape[0]
    if kind == "regression":
        if labels.dtype == torch.bool or labels.is_complex():
            raise TypeError(
                f"labels must be real numbers for regression (got {labels.dtype}); pass labels.float()"
            )
        if n == 1:
            if labels.numel() != b:
                raise ValueError(
                    f"labels has shape {_shape(labels)} but regression needs one value per row: ({b},)"
                )
            loss = F.mse_loss(logits.squeeze(), labels.squeeze())
        else:
            if _shape(labels) != _shape(logits):
                raise ValueError(f"labels has shape {_shape(labels)} but regression needs {_shape(logits)}")
            loss = F.mse_loss(logits, labels)
    elif kind == "single_label_classification":
        _check_class_ids("labels", labels, b, "single-label classification (one class id per row)")
        loss = F.cross_entropy(logits.view(-1, n), labels.view(-1), ignore_index=IGNORE_INDEX)
    else:
        if not labels.is_floating_point():
            raise TypeError(
                f"labels must be floats (0/1 per label) for multi_label_classification (got {labels.dtype});"
                " pass labels.float(), or int64 class ids for single-label classification"
            )
        if _shape(labels) != _shape(logits):
            raise ValueError(
                f"labels has shape {_shape(labels)} but multi_label_classification needs {_shape(logits)}"
                " (one 0/1 column per label); for single-label classification pass int64 class ids"
            )
        loss = F.binary_cross_entropy_with_logits(logits, labels)
    config.problem_type = kind
    return loss


def question_answering(
    start_logits: torch.Tensor, end_logits: torch.Tensor, start_positions: Any, end_positions: Any
) -> torch.Tensor:
    """The mean of the start and end cross-entropies. Positions past the sequence are clamped to its
    length and ignored, as transformers does (an answer cut off by truncation adds no loss).
    logits (B, T), positions (B,) or (B, 1)."""
    b, t = start_logits.shape
    positions = []
    for name, value in (("start_positions", start_positions), ("end_positions", end_positions)):
        value = _check_tensor(name, value)
        if value.ndim > 1:
            value = value.squeeze(-1)
        if value.dtype not in _CLASS_ID_DTYPES:
            raise TypeError(f"{name} must hold int64 token indices (got {value.dtype}); pass {name}.long()")
        if _shape(value) != (b,):
            raise ValueError(f"{name} has shape {_shape(value)} but needs one token index per row: ({b},)")
        positions.append(value.clamp(0, t))
    start = F.cross_entropy(start_logits, positions[0], ignore_index=t)
    end = F.cross_entropy(end_logits, positions[1], ignore_index=t)
    return (start + end) / 2


def shift_labels_right(labels: torch.Tensor, pad_token_id: int | None, start_id: int | None) -> torch.Tensor:
    """(B, T) seq2seq labels -> the decoder's inputs: ``start_id`` then ``labels[:, :-1]``, -100 replaced by
    the pad id (transformers' ``shift_tokens_right`` / T5's ``_shift_right``)."""
    if start_id is None:
        raise ValueError("config.decoder_start_token_id must be set to shift labels into decoder inputs")
    if pad_token_id is None:
        raise ValueError("config.pad_token_id must be set to shift labels into decoder inputs")
    shifted = labels.new_full(labels.shape, start_id)
    shifted[..., 1:] = labels[..., :-1]
    return shifted.masked_fill(shifted == IGNORE_INDEX, pad_token_id)
