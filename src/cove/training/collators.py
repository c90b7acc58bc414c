"""Collators: a list of examples (dicts) -> one batch (dict of tensors), as transformers' collators.

- ``default_data_collator``: stack equal-length features; ``label``/``label_ids`` become ``labels``.
- ``DataCollatorWithPadding``: pad ``input_ids`` and friends to the longest example (or a multiple).
- ``DataCollatorForTokenClassification``: pad inputs, and per-token labels with -100.
- ``DataCollatorForSeq2Seq``: pad inputs and labels (-100); ``decoder_input_ids`` from the model.
- ``DataCollatorForLanguageModeling``: causal (labels = input_ids, padding -> -100) or masked
  (``mlm_probability`` of tokens chosen; 80% [MASK], 10% random, 10% kept), with a seeded generator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

IGNORE_INDEX = -100
_PAD_KEYS = {"attention_mask": 0, "token_type_ids": 0, "special_tokens_mask": 1, "labels": IGNORE_INDEX}


def _rename_labels(example: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(example)
    for old in ("label", "label_ids"):
        if old in out and "labels" not in out:
            out["labels"] = out.pop(old)
    return out


def _as_tensor(values: list[Any]) -> torch.Tensor:
    if isinstance(values[0], torch.Tensor):
        return torch.stack(values)
    return torch.tensor(values)


def default_data_collator(features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
    """Stack each key across examples; examples must already have equal lengths."""
    rows = [_rename_labels(f) for f in features]
    return {k: _as_tensor([r[k] for r in rows]) for k in rows[0] if rows[0][k] is not None}


def pad_sequences(values: list[Any], *, length: int, value: int, side: str = "right") -> torch.Tensor:
    """(B, length) long tensor of the 1-D sequences ``values``, filled with ``value``."""
    out = torch.full((len(values), length), value, dtype=torch.long)
    for i, v in enumerate(values):
        seq = torch.as_tensor(v, dtype=torch.long)[:length]
        if side == "left":
            out[i, length - len(seq) :] = seq
        else:
            out[i, : len(seq)] = seq
    return out


def _padded_length(lengths: list[int], max_length: int | None, multiple: int | None) -> int:
    length = max(lengths) if max_length is None else max_length
    if multiple:
        length = -(-length // multiple) * multiple
    return length


@dataclass
class DataCollatorWithPadding:
    """Pad the sequence keys to the longest example (``padding="longest"``) or to ``max_length``.

    Args:
        pad_token_id: the id written into padded ``input_ids`` (a tokenizer's ``pad_token_id``).
        padding_side: ``right`` or ``left``.
        max_length: pad to this length instead of the longest.
        pad_to_multiple_of: round the padded length up to a multiple (tensor-core friendly).
    """

    pad_token_id: int = 0
    padding_side: str = "right"
    max_length: int | None = None
    pad_to_multiple_of: int | None = None

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        rows = [_rename_labels(f) for f in features]
        if "attention_mask" not in rows[0]:
            rows = [{**r, "attention_mask": [1] * len(r["input_ids"])} for r in rows]
        lengths = [len(r["input_ids"]) for r in rows]
        length = _padded_length(lengths, self.max_length, self.pad_to_multiple_of)
        batch: dict[str, torch.Tensor] = {}
        for key in rows[0]:
            values = [r[key] for r in rows]
            if key == "input_ids" or (key in _PAD_KEYS and _is_sequence(values[0])):
                pad = self.pad_token_id if key == "input_ids" else _PAD_KEYS[key]
                batch[key] = pad_sequences(values, length=length, value=pad, side=self.padding_side)
            else:
                batch[key] = _as_tensor(values)
        return batch


def _is_sequence(value: Any) -> bool:
    return isinstance(value, list | tuple) or (isinstance(value, torch.Tensor) and value.dim() > 0)


@dataclass
class DataCollatorForLanguageModeling:
    """Batches for language modelling: pad ``input_ids``, then make ``labels``.

    With ``mlm=False`` (causal), ``labels`` are the ``input_ids`` with padding set to -100; the model's
    loss shifts them. With ``mlm=True``, ``mlm_probability`` of the real tokens are chosen; labels are
    -100 elsewhere; chosen tokens become ``mask_token_id`` (80%), a random id (10%) or stay (10%).

    Args:
        pad_token_id / mask_token_id / vocab_size: from the tokenizer (``mask_token_id`` and
            ``vocab_size`` only for ``mlm=True``).
        special_token_ids: ids never chosen for masking (e.g. [CLS], [SEP]).
        seed: seeds the collator's own ``torch.Generator``, so masking is reproducible.
    """

    pad_token_id: int = 0
    mlm: bool = True
    mlm_probability: float = 0.15
    mask_token_id: int | None = None
    vocab_size: int | None = None
    special_token_ids: list[int] = field(default_factory=list)
    pad_to_multiple_of: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.mlm and (self.mask_token_id is None or self.vocab_size is None):
            raise ValueError("mlm=True needs mask_token_id and vocab_size")
        self.generator = torch.Generator().manual_seed(self.seed)

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        padder = DataCollatorWithPadding(self.pad_token_id, pad_to_multiple_of=self.pad_to_multiple_of)
        batch = padder([{k: v for k, v in f.items() if k != "labels"} for f in features])
        ids = batch["input_ids"]
        real = batch["attention_mask"].bool()
        if not self.mlm:
            batch["labels"] = ids.masked_fill(~real, IGNORE_INDEX)
            return batch
        batch["input_ids"], batch["labels"] = self.mask_tokens(ids, real)
        return batch

    def mask_tokens(self, ids: torch.Tensor, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) ids, (B, T) bool of maskable positions -> (masked ids, labels)."""
        g = self.generator
        maskable = real & ~torch.isin(ids, torch.tensor(self.special_token_ids, dtype=ids.dtype))
        chosen = (torch.rand(ids.shape, generator=g) < self.mlm_probability) & maskable
        labels = ids.masked_fill(~chosen, IGNORE_INDEX)
        replace = chosen & (torch.rand(ids.shape, generator=g) < 0.8)
        randomize = chosen & ~replace & (torch.rand(ids.shape, generator=g) < 0.5)
        masked = ids.masked_fill(replace, self.mask_token_id)
        random_ids = torch.randint(self.vocab_size, ids.shape, generator=g, dtype=ids.dtype)
        masked = torch.where(randomize, random_ids, masked)
        return masked, labels


def _padding_from(tokenizer: Any, pad_token_id: int, padding_side: str) -> tuple[int, str]:
    """(pad id, side) from a tokenizer when one is given (transformers' collators take the tokenizer)."""
    if tokenizer is None:
        return pad_token_id, padding_side
    pad = tokenizer.pad_token_id
    if pad is None:
        raise ValueError("The tokenizer has no pad token: set tokenizer.pad_token (e.g. to the eos token)")
    return pad, getattr(tokenizer, "padding_side", padding_side) or padding_side


def _pad_labels(labels: list[Any], *, length: int, value: int, side: str) -> torch.Tensor:
    return pad_sequences(
        [list(torch.as_tensor(x).tolist()) for x in labels], length=length, value=value, side=side
    )


def _pad_inputs_apart_from_labels(
    collator: Any, features: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, torch.Tensor], str, list[Any] | None, str]:
    """Pad every key but the labels as ``DataCollatorWithPadding`` does; return the batch, the labels'
    key (``label`` or ``labels``), the labels as given (None when absent) and the padding side."""
    pad, side = _padding_from(collator.tokenizer, collator.pad_token_id, collator.padding_side)
    name = "label" if "label" in features[0] else "labels"
    labels = [f[name] for f in features] if name in features[0] else None
    padder = DataCollatorWithPadding(pad, side, collator.max_length, collator.pad_to_multiple_of)
    return padder([{k: v for k, v in f.items() if k != name} for f in features]), name, labels, side


@dataclass
class DataCollatorForTokenClassification:
    """Pad the inputs as ``DataCollatorWithPadding`` and the per-token ``labels`` to the same length with
    ``label_pad_token_id`` (-100: ignored by the loss), on the tokenizer's padding side.

    Args:
        tokenizer: optional; gives ``pad_token_id`` and ``padding_side`` (transformers' signature).
        pad_token_id / padding_side / max_length / pad_to_multiple_of: as ``DataCollatorWithPadding``.
        label_pad_token_id: the value written into padded label positions.
    """

    tokenizer: Any = None
    pad_token_id: int = 0
    padding_side: str = "right"
    max_length: int | None = None
    pad_to_multiple_of: int | None = None
    label_pad_token_id: int = IGNORE_INDEX

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        batch, name, labels, side = _pad_inputs_apart_from_labels(self, features)
        if labels is not None:
            length = batch["input_ids"].shape[1]
            batch[name] = _pad_labels(labels, length=length, value=self.label_pad_token_id, side=side)
        return batch


@dataclass
class DataCollatorForSeq2Seq:
    """Pad encoder inputs as ``DataCollatorWithPadding``; pad ``labels`` to the longest label sequence
    (or ``max_length``, rounded up to ``pad_to_multiple_of``) with ``label_pad_token_id``; and, when the
    ``model`` has ``prepare_decoder_input_ids_from_labels``, add the ``decoder_input_ids`` it makes.

    Args:
        tokenizer: optional; gives ``pad_token_id`` and ``padding_side`` (transformers' signature).
        model: the seq2seq model (optional).
        pad_token_id / padding_side / max_length / pad_to_multiple_of: as ``DataCollatorWithPadding``.
        label_pad_token_id: the value written into padded label positions.
    """

    tokenizer: Any = None
    model: Any = None
    pad_token_id: int = 0
    padding_side: str = "right"
    max_length: int | None = None
    pad_to_multiple_of: int | None = None
    label_pad_token_id: int = IGNORE_INDEX

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        batch, _, labels, side = _pad_inputs_apart_from_labels(self, features)
        if labels is not None and all(x is None for x in labels):
            labels = None
        if labels is None:
            return batch
        length = _padded_length([len(x) for x in labels], self.max_length, self.pad_to_multiple_of)
        batch["labels"] = _pad_labels(labels, length=length, value=self.label_pad_token_id, side=side)
        prepare = getattr(self.model, "prepare_decoder_input_ids_from_labels", None)
        if prepare is not None:
            batch["decoder_input_ids"] = prepare(labels=batch["labels"])
        return batch
