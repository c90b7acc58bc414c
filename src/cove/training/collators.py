"""Collators: a list of examples (dicts) -> one batch (dict of tensors), with transformers' names,
signatures and results.

- ``default_data_collator`` / ``DefaultDataCollator``: stack equal-length features; ``label`` and
  ``label_ids`` become ``labels``.
- ``DataCollatorWithPadding(tokenizer)``: pad ``input_ids`` and friends as ``tokenizer.pad`` does.
- ``DataCollatorForTokenClassification(tokenizer)``: pad inputs, and per-token labels with -100.
- ``DataCollatorForSeq2Seq(tokenizer, model=None)``: pad inputs and labels (-100); the model's
  ``decoder_input_ids``.
- ``DataCollatorForLanguageModeling(tokenizer, mlm=...)``: causal (labels = input_ids, pad ids ->
  -100) or masked (``mlm_probability`` of the non-special tokens; 80% [MASK], 10% random, 10% kept),
  drawn exactly as transformers draws them, so the same seed masks the same positions.
- ``DataCollatorForImageClassification(image_processor)``: images -> ``pixel_values``, labels.

Every collator takes the tokenizer first (a Cove or a transformers tokenizer: only ``pad_token_id``,
``padding_side`` and, for masking, ``mask_token_id``, ``all_special_ids`` and ``len()`` are read). Cove's
own spelling without a tokenizer stays: ``pad_token_id=`` / ``padding_side=`` (and ``mask_token_id=`` /
``vocab_size=`` / ``special_token_ids=`` for masking), keyword-only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import numpy as np
import torch

IGNORE_INDEX = -100
PADDINGS = (True, False, "longest", "max_length", "do_not_pad")
TENSOR_TYPES = ("pt", "np")
SIDES = ("right", "left")
NO_LIMIT = int(1e30)  # transformers' "no model_max_length"
Batch = dict[str, Any]


# --- what to pad with ------------------------------------------------------------------------


@dataclass(frozen=True)
class PadSpec:
    """How a collator pads, read from its tokenizer or from Cove's explicit arguments.

    Args:
        pad_id: written into padded ``input_ids`` (None: the tokenizer has no pad token).
        type_id: written into padded ``token_type_ids``.
        side: ``right`` or ``left``.
        attention_mask: add an ``attention_mask`` when the examples have none.
        model_max_length: the length ``padding="max_length"`` pads to without ``max_length``.
    """

    pad_id: int | None
    type_id: int = 0
    side: str = "right"
    attention_mask: bool = True
    model_max_length: int | None = None


def pad_spec(tokenizer: Any, pad_token_id: int | None, padding_side: str, *, owner: str) -> PadSpec:
    """The ``PadSpec`` of ``tokenizer``, or of ``pad_token_id`` / ``padding_side`` without one."""
    if tokenizer is None:
        _check_side(padding_side, owner)
        return PadSpec(pad_token_id, side=padding_side)
    if isinstance(tokenizer, int | float | str | bytes):
        hint = f"; to give only a pad id, pass pad_token_id={tokenizer!r}" if isinstance(tokenizer, int) else ""
        raise TypeError(f"{owner}: tokenizer must be a tokenizer, got {tokenizer!r}{hint}")
    if not hasattr(tokenizer, "pad_token_id"):
        raise TypeError(
            f"{owner}: tokenizer must be a tokenizer (with pad_token_id and padding_side), "
            f"got a {type(tokenizer).__name__}"
        )
    side = getattr(tokenizer, "padding_side", None) or "right"
    _check_side(side, owner)
    names = getattr(tokenizer, "model_input_names", None) or ["input_ids", "attention_mask"]
    limit = getattr(tokenizer, "model_max_length", None)
    return PadSpec(
        tokenizer.pad_token_id,
        type_id=int(getattr(tokenizer, "pad_token_type_id", 0) or 0),
        side=side,
        attention_mask="attention_mask" in names,
        model_max_length=limit if isinstance(limit, int) and limit < NO_LIMIT else None,
    )


def _check_side(side: str, owner: str) -> None:
    if side not in SIDES:
        raise ValueError(f"{owner}: padding_side must be 'right' or 'left', got {side!r}")


def check_options(
    owner: str, *, padding: Any, max_length: Any, pad_to_multiple_of: Any, return_tensors: Any
) -> None:
    """Refuse bad collator arguments when the collator is built, naming the argument."""
    if padding not in PADDINGS or not isinstance(padding, bool | str):
        raise ValueError(f"{owner}: padding must be one of {PADDINGS}, got {padding!r}")
    for name, value in (("max_length", max_length), ("pad_to_multiple_of", pad_to_multiple_of)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{owner}: {name} must be a positive int or None, got {value!r}")
    if return_tensors not in TENSOR_TYPES:
        raise ValueError(f"{owner}: return_tensors must be 'pt' or 'np', got {return_tensors!r}")


def padded_length(
    lengths: list[int], spec: PadSpec, *, padding: bool | str, max_length: int | None, multiple: int | None
) -> int | None:
    """The length to pad to (None: no padding), as transformers' ``tokenizer.pad`` decides it."""
    if padding in (False, "do_not_pad"):
        return None
    if padding == "max_length":
        length = max_length if max_length is not None else spec.model_max_length
        if length is None:
            raise ValueError("padding='max_length' needs max_length (the tokenizer sets no model_max_length)")
    else:
        length = max(lengths)  # "longest": max_length only matters with padding="max_length"
    if multiple:
        length = -(-length // multiple) * multiple
    if max(lengths) > length:
        raise ValueError(
            f"an example has {max(lengths)} tokens, more than max_length={length}: "
            "truncate when tokenizing (truncation=True, max_length=...)"
        )
    return length


# --- tensors ---------------------------------------------------------------------------------


def _is_sequence(value: Any) -> bool:
    return isinstance(value, list | tuple) or (isinstance(value, torch.Tensor | np.ndarray) and value.ndim > 0)


def _as_tensor(values: list[Any], key: str) -> torch.Tensor:
    if isinstance(values[0], torch.Tensor):
        return torch.stack(values)
    if isinstance(values[0], np.ndarray):
        return torch.from_numpy(np.stack(values))
    try:
        return torch.tensor(values)
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"cannot make a tensor of {key!r} ({e}): its values differ in length or are not numbers; "
            "pad them or drop the column"
        ) from None


def pad_sequences(values: list[Any], *, length: int, value: int, side: str = "right") -> torch.Tensor:
    """(B, length) long tensor of the 1-D sequences ``values`` (none longer than ``length``), filled
    with ``value`` on ``side``."""
    out = torch.full((len(values), length), value, dtype=torch.long)
    for i, v in enumerate(values):
        seq = torch.as_tensor(v, dtype=torch.long)
        if len(seq) > length:
            raise ValueError(f"a sequence of {len(seq)} is longer than the padded length {length}")
        if side == "left":
            out[i, length - len(seq) :] = seq
        else:
            out[i, : len(seq)] = seq
    return out


def _stack_equal(values: list[Any], key: str) -> torch.Tensor:
    lengths = {len(v) for v in values}
    if len(lengths) > 1:
        raise ValueError(
            f"padding=False, but the examples' {key!r} differ in length ({sorted(lengths)}): "
            "pad them (padding=True) or make them equal when tokenizing"
        )
    return torch.stack([torch.as_tensor(v) for v in values])


def _to_numpy(batch: Batch) -> Batch:
    return {k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def _rows(features: Sequence[Any], owner: str) -> list[dict[str, Any]]:
    if not features:
        raise ValueError(f"{owner}: no examples to collate")
    first = features[0]
    if isinstance(first, Mapping):
        return [dict(f) for f in features]
    if hasattr(first, "__dict__") and not _is_sequence(first):
        return [vars(f) for f in features]
    raise TypeError(f"{owner}: each example must be a dict of features, got a {type(first).__name__}")


# Sequence keys tokenizer.pad pads, and with what; Cove also pads per-token labels with -100.
_PAD_VALUES = {"attention_mask": 0, "special_tokens_mask": 1, "labels": IGNORE_INDEX, "label": IGNORE_INDEX}


def pad_batch(
    rows: list[dict[str, Any]],
    spec: PadSpec,
    *,
    padding: bool | str = True,
    max_length: int | None = None,
    pad_to_multiple_of: int | None = None,
    owner: str = "DataCollatorWithPadding",
) -> dict[str, torch.Tensor]:
    """What transformers' ``tokenizer.pad(rows, return_tensors="pt")`` returns, as a dict.

    ``input_ids`` are padded with the pad id, ``attention_mask`` with 0 (made when absent and the
    tokenizer's inputs include one), ``token_type_ids`` with the pad type id, ``special_tokens_mask``
    with 1; per-token ``labels`` with -100 (Cove's addition). Other keys are stacked as they are.
    """
    if "input_ids" not in rows[0]:
        raise ValueError(f"{owner}: the examples have no 'input_ids' (keys: {sorted(rows[0])})")
    lengths = [len(r["input_ids"]) for r in rows]
    length = padded_length(lengths, spec, padding=padding, max_length=max_length, multiple=pad_to_multiple_of)
    if length is not None and spec.pad_id is None:
        raise ValueError(
            f"{owner}: the tokenizer has no pad token: set one (e.g. tokenizer.pad_token = tokenizer.eos_token)"
        )
    if spec.attention_mask and "attention_mask" not in rows[0]:
        rows = [{**r, "attention_mask": [1] * len(r["input_ids"])} for r in rows]
    fill = {**_PAD_VALUES, "input_ids": spec.pad_id, "token_type_ids": spec.type_id}
    batch: dict[str, torch.Tensor] = {}
    for key in rows[0]:
        values = [r[key] for r in rows]
        if values[0] is None or isinstance(values[0], str):
            continue
        if key in fill and _is_sequence(values[0]):
            if length is None:
                batch[key] = _stack_equal(values, key)
            else:
                batch[key] = pad_sequences(values, length=length, value=fill[key], side=spec.side)
        else:
            batch[key] = _as_tensor(values, key)
    return batch


def _padding_collator_spec(collator: Any) -> PadSpec:
    """Check a padding collator's arguments and read its ``PadSpec``."""
    owner = type(collator).__name__
    check_options(
        owner,
        padding=collator.padding,
        max_length=collator.max_length,
        pad_to_multiple_of=collator.pad_to_multiple_of,
        return_tensors=collator.return_tensors,
    )
    return pad_spec(collator.tokenizer, collator.pad_token_id, collator.padding_side, owner=owner)


def _rename_labels(batch: Batch) -> Batch:
    for old in ("label", "label_ids"):
        if old in batch:
            batch["labels"] = batch.pop(old)
    return batch


# --- the collators ---------------------------------------------------------------------------


def default_data_collator(features: Sequence[Any], return_tensors: str = "pt") -> Batch:
    """Stack each key across examples (they must already have equal lengths), as transformers does:
    ``label`` (long for ints, float otherwise) and ``label_ids`` become ``labels``; None and string
    values are left out."""
    if return_tensors not in TENSOR_TYPES:
        raise ValueError(f"default_data_collator: return_tensors must be 'pt' or 'np', got {return_tensors!r}")
    rows = _rows(features, "default_data_collator")
    first, batch = rows[0], {}
    if first.get("label") is not None:
        label = first["label"].item() if isinstance(first["label"], torch.Tensor) else first["label"]
        dtype = torch.long if isinstance(label, int | np.integer) else torch.float
        batch["labels"] = torch.tensor([r["label"] for r in rows], dtype=dtype)
    elif first.get("label_ids") is not None:
        ids = first["label_ids"]
        if isinstance(ids, torch.Tensor):
            batch["labels"] = torch.stack([r["label_ids"] for r in rows])
        else:
            dtype = torch.long if isinstance(ids[0], int | np.integer) else torch.float
            batch["labels"] = torch.tensor([r["label_ids"] for r in rows], dtype=dtype)
    for key, value in first.items():
        if key not in ("label", "label_ids") and value is not None and not isinstance(value, str):
            batch[key] = _as_tensor([r[key] for r in rows], key)
    return batch if return_tensors == "pt" else _to_numpy(batch)


@dataclass
class DefaultDataCollator:
    """``default_data_collator`` as an object (transformers' ``DefaultDataCollator``)."""

    return_tensors: str = "pt"

    def __call__(self, features: Sequence[Any], return_tensors: str | None = None) -> Batch:
        return default_data_collator(features, return_tensors or self.return_tensors)


@dataclass
class DataCollatorWithPadding:
    """Pad a batch as ``tokenizer.pad`` does; ``label`` / ``label_ids`` become ``labels``.

    Args:
        tokenizer: gives the pad id, the padding side and whether to add an ``attention_mask``.
        padding: ``True`` / ``"longest"`` (to the longest example), ``"max_length"`` (to ``max_length``,
            else the tokenizer's ``model_max_length``), ``False`` / ``"do_not_pad"``.
        max_length: the length of ``padding="max_length"``.
        pad_to_multiple_of: round the padded length up to a multiple (tensor-core friendly).
        return_tensors: ``"pt"`` (torch) or ``"np"``.
        pad_token_id / padding_side: Cove's spelling without a tokenizer (keyword-only).

    Example::

        collator = DataCollatorWithPadding(tokenizer)          # or DataCollatorWithPadding(pad_token_id=0)
    """

    tokenizer: Any = None
    padding: bool | str = True
    max_length: int | None = None
    pad_to_multiple_of: int | None = None
    return_tensors: str = "pt"
    _: KW_ONLY
    pad_token_id: int | None = 0
    padding_side: str = "right"

    def __post_init__(self) -> None:
        self.spec = _padding_collator_spec(self)

    def __call__(self, features: Sequence[Any]) -> Batch:
        batch = pad_batch(
            _rows(features, type(self).__name__),
            self.spec,
            padding=self.padding,
            max_length=self.max_length,
            pad_to_multiple_of=self.pad_to_multiple_of,
        )
        batch = _rename_labels(batch)
        return batch if self.return_tensors == "pt" else _to_numpy(batch)


def _split_labels(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str, list[Any] | None]:
    """(rows without their labels, the labels' key ``label`` or ``labels``, the labels or None)."""
    name = "label" if "label" in rows[0] else "labels"
    labels = [r[name] for r in rows] if name in rows[0] else None
    return [{k: v for k, v in r.items() if k != name} for r in rows], name, labels


def _pad_labels(labels: list[Any], *, length: int, value: int, side: str) -> torch.Tensor:
    return pad_sequences([torch.as_tensor(x, dtype=torch.long) for x in labels], length=length, value=value, side=side)


@dataclass
class DataCollatorForTokenClassification:
    """Pad the inputs as ``DataCollatorWithPadding`` and the per-token labels to the same length with
    ``label_pad_token_id`` (-100: ignored by the loss), on the tokenizer's padding side. The labels keep
    their key (``label`` or ``labels``).

    Args:
        tokenizer / padding / max_length / pad_to_multiple_of / return_tensors: as ``DataCollatorWithPadding``.
        label_pad_token_id: the value written into padded label positions.
        pad_token_id / padding_side: Cove's spelling without a tokenizer (keyword-only).
    """

    tokenizer: Any = None
    padding: bool | str = True
    max_length: int | None = None
    pad_to_multiple_of: int | None = None
    label_pad_token_id: int = IGNORE_INDEX
    return_tensors: str = "pt"
    _: KW_ONLY
    pad_token_id: int | None = 0
    padding_side: str = "right"

    def __post_init__(self) -> None:
        self.spec = _padding_collator_spec(self)

    def __call__(self, features: Sequence[Any]) -> Batch:
        rows, name, labels = _split_labels(_rows(features, type(self).__name__))
        batch = pad_batch(
            rows,
            self.spec,
            padding=self.padding,
            max_length=self.max_length,
            pad_to_multiple_of=self.pad_to_multiple_of,
            owner=type(self).__name__,
        )
        if labels is not None:
            length = batch["input_ids"].shape[1]
            batch[name] = _pad_labels(labels, length=length, value=self.label_pad_token_id, side=self.spec.side)
        return batch if self.return_tensors == "pt" else _to_numpy(batch)


@dataclass
class DataCollatorForSeq2Seq:
    """Pad encoder inputs as ``DataCollatorWithPadding``; pad ``labels`` to the longest label sequence
    (to ``max_length`` with ``padding="max_length"``; rounded up to ``pad_to_multiple_of``) with
    ``label_pad_token_id``; and, when the ``model`` has ``prepare_decoder_input_ids_from_labels``, add
    the ``decoder_input_ids`` it makes. Without labels the batch has no ``labels`` key (transformers
    puts ``labels: None``).

    Args:
        tokenizer / padding / max_length / pad_to_multiple_of / return_tensors: as ``DataCollatorWithPadding``.
        model: the seq2seq model (optional).
        label_pad_token_id: the value written into padded label positions.
        pad_token_id / padding_side: Cove's spelling without a tokenizer (keyword-only).
    """

    tokenizer: Any = None
    model: Any = None
    padding: bool | str = True
    max_length: int | None = None
    pad_to_multiple_of: int | None = None
    label_pad_token_id: int = IGNORE_INDEX
    return_tensors: str = "pt"
    _: KW_ONLY
    pad_token_id: int | None = 0
    padding_side: str = "right"

    def __post_init__(self) -> None:
        self.spec = _padding_collator_spec(self)

    def __call__(self, features: Sequence[Any]) -> Batch:
        owner = type(self).__name__
        rows, _, labels = _split_labels(_rows(features, owner))
        batch = pad_batch(
            rows,
            self.spec,
            padding=self.padding,
            max_length=self.max_length,
            pad_to_multiple_of=self.pad_to_multiple_of,
            owner=owner,
        )
        if labels is not None and all(x is None for x in labels):
            labels = None
        if labels is not None:
            if self.padding in (False, "do_not_pad"):
                batch["labels"] = _stack_equal(labels, "labels").long()
            else:
                fixed = self.padding == "max_length" and self.max_length is not None
                length = self.max_length if fixed else max(len(x) for x in labels)
                if self.pad_to_multiple_of:
                    length = -(-length // self.pad_to_multiple_of) * self.pad_to_multiple_of
                batch["labels"] = _pad_labels(
                    labels, length=length, value=self.label_pad_token_id, side=self.spec.side
                )
            prepare = getattr(self.model, "prepare_decoder_input_ids_from_labels", None)
            if prepare is not None:
                batch["decoder_input_ids"] = prepare(labels=batch["labels"])
        return batch if self.return_tensors == "pt" else _to_numpy(batch)


@dataclass
class DataCollatorForLanguageModeling:
    """Batches for language modelling: pad, then make ``labels``.

    ``mlm=False`` (causal): ``labels`` are the ``input_ids`` with every pad id set to -100, as
    transformers does (so with ``pad_token = eos_token`` the eos tokens are ignored too); the model's
    loss shifts them. ``mlm=True``: each non-special token is chosen with ``mlm_probability``; labels
    are -100 elsewhere; a chosen token becomes the mask token (``mask_replace_prob``), a random id
    (``random_replace_prob``) or stays. The draws are transformers' (``torch.bernoulli`` then
    ``torch.randint``, in its order, on the global RNG or, with ``seed``, a ``torch.Generator`` made at
    the first batch), so the same seed masks the same positions with the same replacements.

    Args:
        tokenizer: gives the pad id, the mask token, the special ids (never chosen) and ``len()`` (the
            range of random ids).
        mlm / mlm_probability / mask_replace_prob / random_replace_prob: as above.
        whole_word_mask: not supported yet (raises).
        pad_to_multiple_of / return_tensors: as ``DataCollatorWithPadding`` (``"np"`` converts the torch
            batch; transformers draws numpy masks then, at other positions).
        seed: the collator's own generator (in a DataLoader worker: ``seed + worker id``); None draws
            from torch's global RNG, which ``set_seed`` seeds and Trainer checkpoints save.
        pad_token_id / mask_token_id / vocab_size / special_token_ids: Cove's spelling without a
            tokenizer (keyword-only).
    """

    tokenizer: Any = None
    mlm: bool = True
    whole_word_mask: bool = False
    mlm_probability: float | None = 0.15
    mask_replace_prob: float = 0.8
    random_replace_prob: float = 0.1
    pad_to_multiple_of: int | None = None
    return_tensors: str = "pt"
    seed: int | None = None
    _: KW_ONLY
    pad_token_id: int | None = 0
    mask_token_id: int | None = None
    vocab_size: int | None = None
    special_token_ids: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        owner = type(self).__name__
        check_options(
            owner, padding=True, max_length=None, pad_to_multiple_of=self.pad_to_multiple_of,
            return_tensors=self.return_tensors,
        )  # fmt: skip
        self.spec = pad_spec(self.tokenizer, self.pad_token_id, "right", owner=owner)
        if self.whole_word_mask:
            raise ValueError(f"{owner}: whole_word_mask=True is not supported by Cove yet")
        for name in ("mask_replace_prob", "random_replace_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{owner}: {name} must be between 0 and 1, got {getattr(self, name)!r}")
        if self.mask_replace_prob + self.random_replace_prob > 1:
            raise ValueError(f"{owner}: mask_replace_prob + random_replace_prob must not exceed 1")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise ValueError(f"{owner}: seed must be an int or None, got {self.seed!r}")
        self._generator: torch.Generator | None = None
        if not self.mlm:
            return
        if self.mlm_probability is None or not 0 <= self.mlm_probability <= 1:
            raise ValueError(f"{owner}: mlm_probability must be between 0 and 1, got {self.mlm_probability!r}")
        tok = self.tokenizer
        if tok is not None:
            self.mask_token_id = tok.mask_token_id
            self.vocab_size = len(tok)
            self.special_token_ids = list(tok.all_special_ids)
            if self.mask_token_id is None:
                raise ValueError(
                    f"{owner}: the tokenizer has no mask token, which masked language modelling needs; "
                    "pass mlm=False to train a causal LM"
                )
        elif self.mask_token_id is None or self.vocab_size is None:
            raise ValueError(f"{owner}: mlm=True needs a tokenizer (or mask_token_id and vocab_size)")
        elif self.pad_token_id is not None:
            self.special_token_ids = [*self.special_token_ids, self.pad_token_id]  # padding is never chosen

    def generator(self) -> torch.Generator | None:
        """None (torch's global RNG) without a seed; else this process's generator, seeded once."""
        if self.seed is None:
            return None
        if self._generator is None:
            worker = torch.utils.data.get_worker_info()
            self._generator = torch.Generator().manual_seed(self.seed + (worker.id if worker else 0))
        return self._generator

    def __call__(self, examples: Sequence[Any]) -> Batch:
        owner = type(self).__name__
        if examples and not isinstance(examples[0], Mapping):  # lists of ids: input_ids only
            batch = {"input_ids": self._collate_ids(examples)}
        else:
            rows = [{k: v for k, v in r.items() if k != "labels"} for r in _rows(examples, owner)]  # replaced
            batch = pad_batch(rows, self.spec, pad_to_multiple_of=self.pad_to_multiple_of, owner=owner)
        special = batch.pop("special_tokens_mask", None)
        batch.pop("offset_mapping", None)
        if self.mlm:
            batch["input_ids"], batch["labels"] = self.mask_tokens(batch["input_ids"], special)
        else:
            labels = batch["input_ids"].clone()
            if self.spec.pad_id is not None:
                labels[labels == self.spec.pad_id] = IGNORE_INDEX
            batch["labels"] = labels
        return batch if self.return_tensors == "pt" else _to_numpy(batch)

    def _collate_ids(self, examples: Sequence[Any]) -> torch.Tensor:
        seqs = [torch.as_tensor(e, dtype=torch.long) for e in examples]
        length = max(len(s) for s in seqs)
        if self.pad_to_multiple_of:
            length = -(-length // self.pad_to_multiple_of) * self.pad_to_multiple_of
        if all(len(s) == length for s in seqs):
            return torch.stack(seqs)
        if self.spec.pad_id is None:
            raise ValueError(f"{type(self).__name__}: the examples differ in length and the tokenizer has no pad token")
        return pad_sequences(seqs, length=length, value=self.spec.pad_id, side=self.spec.side)

    def mask_tokens(
        self, inputs: torch.Tensor, special_tokens_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) ids -> (masked ids, labels), drawn as transformers' ``torch_mask_tokens``."""
        g = self.generator()
        inputs, labels = inputs.clone(), inputs.clone()
        if special_tokens_mask is None:
            special = torch.isin(inputs, torch.tensor(self.special_token_ids, dtype=inputs.dtype))
        else:
            special = special_tokens_mask.bool()
        probability = torch.full(labels.shape, self.mlm_probability)
        probability.masked_fill_(special, 0.0)
        chosen = torch.bernoulli(probability, generator=g).bool()
        labels[~chosen] = IGNORE_INDEX  # the loss counts chosen tokens only
        replaced = torch.bernoulli(torch.full(labels.shape, self.mask_replace_prob), generator=g).bool() & chosen
        inputs[replaced] = self.mask_token_id
        if self.mask_replace_prob == 1 or self.random_replace_prob == 0:
            return inputs, labels
        scaled = self.random_replace_prob / (1 - self.mask_replace_prob)  # of the tokens not [MASK]ed
        randomized = torch.bernoulli(torch.full(labels.shape, scaled), generator=g).bool() & chosen & ~replaced
        words = torch.randint(self.vocab_size, labels.shape, dtype=torch.long, generator=g)
        inputs[randomized] = words[randomized]
        return inputs, labels


@dataclass
class DataCollatorForImageClassification:
    """Examples holding an image and a label -> ``{"pixel_values": (B, 3, H, W), "labels": (B,)}``.

    The image (a PIL image, an (H, W[, C]) array or nested list, a path or encoded bytes) goes through
    ``image_processor`` (:class:`cove.processors.ImageProcessor`, or transformers') when the batch is
    made, so a dataset keeps its images as they are. Train with ``remove_unused_columns=False``: the
    image column is not an argument of the model, as with transformers.
    """

    image_processor: Any
    _: KW_ONLY
    image_column: str = "image"
    label_column: str = "label"

    def __call__(self, features: Sequence[Any]) -> Batch:
        from cove.processors import load_image

        rows = _rows(features, "DataCollatorForImageClassification")
        missing = [k for k in (self.image_column,) if k not in rows[0]]
        if missing:
            raise KeyError(f"DataCollatorForImageClassification: the examples have no {missing[0]!r} column")
        images = [load_image(np.asarray(r[self.image_column], dtype=np.uint8)
                             if isinstance(r[self.image_column], list) else r[self.image_column]) for r in rows]
        batch: Batch = {"pixel_values": self.image_processor(images, return_tensors="pt")["pixel_values"]}
        if rows[0].get(self.label_column) is not None:
            labels = [r[self.label_column] for r in rows]
            dtype = torch.long if isinstance(labels[0], int | np.integer) else torch.float
            batch["labels"] = torch.tensor(labels, dtype=dtype)
        return batch
