"""``Pipeline``: preprocess -> model -> postprocess, over one input, a list or a generator, in batches.

A task subclass says how to turn one input into *features* (``preprocess``: one or more dicts of
token-id lists, plus whatever postprocessing needs), what the model returns for a padded batch of
them (``forward``), and how the per-feature outputs of one input become the result transformers
returns (``postprocess``). The base class does the rest the same way for every task: it validates
parameters up front (``sanitize``: an unknown name is an error), pads features into batches of
``batch_size`` (sorted by length, so little padding; outputs keep the input order), unpads each
row, and returns a value for one input, a list for a list, and a lazy iterator for a generator.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import torch

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
Feature = dict[str, Any]
Params = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]


def resolve_device(device: Any) -> torch.device | None:
    """``"cpu"``, ``"cuda:1"``, ``torch.device``, or an int as transformers takes it (-1 is the CPU,
    ``n >= 0`` the n-th GPU); None keeps the model where it is."""
    if device is None or isinstance(device, torch.device):
        return device
    if isinstance(device, bool) or not isinstance(device, int | str):
        raise TypeError(f"device must be a str, an int or a torch.device, not {type(device).__name__}")
    if isinstance(device, int):
        return torch.device("cpu") if device < 0 else torch.device("cuda", device)
    return torch.device(device)


class Pipeline:
    """A task's model and tokenizer, called on text.

    Args:
        model: a loaded :class:`cove.models.PreTrainedModel` whose head fits the task.
        tokenizer: a :class:`cove.tokenizers.PreTrainedTokenizer`.
        device: where to run (see :func:`resolve_device`); None keeps the model's device.
        batch_size: features per forward (default 1, as transformers).
        options: default call parameters of the task (``top_k=2`` ...), checked now.
    """

    task: ClassVar[str] = ""
    token_level: ClassVar[bool] = False  # outputs carry a token axis, trimmed to each feature's length

    def __init__(
        self, model: Any, tokenizer: Any, *, device: Any = None, batch_size: int | None = None, **options: Any
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        target = resolve_device(device)
        if target is not None:
            self.model.to(target)
        self.model.eval()
        self.batch_size = batch_size
        accepted = inspect.signature(model.forward).parameters
        self._model_inputs = [k for k in MODEL_INPUTS if k in accepted]
        self._options = dict(options)
        self.sanitize(**self._options)  # unknown or invalid defaults fail at construction

    def __repr__(self) -> str:
        return f"{type(self).__name__}(task={self.task!r}, model={type(self.model).__name__})"

    @property
    def device(self) -> torch.device:
        return self.model.device

    # --- the task's parts ------------------------------------------------------------------------

    def sanitize(self, **params: Any) -> Params:
        """Split call parameters into (preprocess, forward, postprocess) keyword dicts; raise on unknown ones."""
        return self._reject(params)

    def _reject(self, params: dict[str, Any]) -> Params:
        if params:
            raise TypeError(f"{type(self).__name__} got unknown parameter(s): {', '.join(sorted(params))}")
        return {}, {}, {}

    def preprocess(self, inputs: Any, **params: Any) -> list[Feature]:
        raise NotImplementedError

    def forward(self, batch: dict[str, torch.Tensor], **params: Any) -> torch.Tensor:
        """The model on a padded batch; (B, ...) tensor whose row i belongs to feature i (the head's logits)."""
        return self.model(**batch, return_dict=True).logits

    def postprocess(self, inputs: Any, outputs: list[dict[str, Any]], **params: Any) -> Any:
        """``outputs`` holds, per feature of ``inputs``, the feature's dict plus ``"output"`` (its row)."""
        raise NotImplementedError

    # --- calling -----------------------------------------------------------------------------------

    def __call__(self, inputs: Any, *, batch_size: int | None = None, **params: Any) -> Any:
        """Run on one input, a list of inputs (a list comes back) or a generator (an iterator comes back)."""
        pre, fwd, post = self.sanitize(**{**self._options, **params})
        size = next((b for b in (batch_size, self.batch_size) if b is not None), 1)
        if size < 1:
            raise ValueError(f"batch_size must be >= 1, not {size}")
        if isinstance(inputs, Iterator):  # a generator (or any iterator): results come lazily
            return self._iterate(inputs, size, pre, fwd, post)
        if self._is_batch(inputs):
            return list(self._iterate(iter(inputs), size, pre, fwd, post))
        return next(self._iterate(iter([inputs]), size, pre, fwd, post))

    def _is_batch(self, inputs: Any) -> bool:
        """Whether ``inputs`` is a list of inputs rather than one input (chats override this)."""
        return isinstance(inputs, list | tuple)

    def _iterate(
        self, inputs: Iterator[Any], size: int, pre: dict[str, Any], fwd: dict[str, Any], post: dict[str, Any]
    ) -> Iterator[Any]:
        """Take ``size`` inputs at a time, run their features in batches, yield results in order."""
        while True:
            chunk = [x for _, x in zip(range(size), inputs, strict=False)]
            if not chunk:
                return
            per_input = [self.preprocess(x, **pre) for x in chunk]
            flat = [f for features in per_input for f in features]
            outputs = self._run_features(flat, size, fwd)
            start = 0
            for x, features in zip(chunk, per_input, strict=True):
                n = len(features)
                yield self.postprocess(x, outputs[start : start + n], **post)
                start += n

    def _run_features(self, features: list[Feature], size: int, fwd: dict[str, Any]) -> list[dict[str, Any]]:
        order = sorted(range(len(features)), key=lambda i: len(features[i]["input_ids"]))
        results: list[dict[str, Any] | None] = [None] * len(features)
        pad = self._pad_id()
        groups: Iterable[list[int]]
        if pad is None:  # nothing to pad with: only equal lengths share a batch
            by_length: dict[int, list[int]] = {}
            for i in order:
                by_length.setdefault(len(features[i]["input_ids"]), []).append(i)
            groups = [g[j : j + size] for g in by_length.values() for j in range(0, len(g), size)]
        else:
            groups = [order[j : j + size] for j in range(0, len(order), size)]
        for group in groups:
            batch = self.collate([features[i] for i in group], pad or 0)
            with torch.inference_mode():
                out = self.forward(batch, **fwd)
            for row, i in enumerate(group):
                value = out[row]
                if self.token_level:
                    value = value[: len(features[i]["input_ids"])]
                results[i] = {**features[i], "output": value}
        return results  # type: ignore[return-value]

    def _pad_id(self) -> int | None:
        pad = getattr(self.model.config, "pad_token_id", None)
        return pad if pad is not None else self.tokenizer.pad_token_id

    def collate(self, features: list[Feature], pad: int) -> dict[str, torch.Tensor]:
        """Right-pad the model inputs of ``features`` into (B, T) tensors on the model's device."""
        length = max(len(f["input_ids"]) for f in features)
        batch = {}
        for key in self._model_inputs:
            if key == "attention_mask":
                rows = [list(f.get(key) or [1] * len(f["input_ids"])) for f in features]
            elif key in features[0]:
                rows = [list(f[key]) for f in features]
            else:
                continue
            fill = pad if key == "input_ids" else 0
            padded = [r + [fill] * (length - len(r)) for r in rows]
            batch[key] = torch.tensor(padded, dtype=torch.long, device=self.device)
        return batch

    # --- shared helpers ----------------------------------------------------------------------------

    def tokenize(self, text: Any, pair: Any = None, **kwargs: Any) -> Feature:
        """One text (or pair) -> a feature of plain lists, with the tokenizer's own keys."""
        enc = self.tokenizer(text, pair, **kwargs)
        return {k: v for k, v in enc.items()}
