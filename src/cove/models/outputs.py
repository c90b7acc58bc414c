"""Model outputs as transformers returns them (``transformers.modeling_outputs``, 5.x).

Each output is a dataclass that reads three ways, as transformers' ``ModelOutput`` does:

- attributes: ``out.logits``, ``out.loss`` (None when not computed);
- a tuple of the fields that are set, in field order (a field set later goes last, as in
  transformers): ``out[0]``, ``out[:2]``, ``out.to_tuple()``; None fields are skipped, so ``out[0]``
  is the loss when labels were given and the logits otherwise;
- a dict of the same fields: ``out["logits"]``, ``"loss" in out``, ``out.keys()``, ``out.items()``.

``return_dict=False`` makes a model return ``out.to_tuple()`` instead. The KV cache field is
``cache`` (transformers 5's name); ``past_key_values``, its older name, reads the same field.

Only the public ``forward`` of a model builds one of these; layers and the tensor paths generation
uses (a base model's ``hidden``) return tensors. :class:`Record` is what a public forward asks the
base model's layer loop to collect on the way (``output_hidden_states``, ``output_attentions``).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.utils._pytree as pytree

from cove.models._shared import losses

_OLD_NAMES = {"past_key_values": "cache"}


class ModelOutput(OrderedDict):
    """Base of every output: a dataclass whose set (non-None) fields are also its dict items."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # FSDP2 and DDP find the tensors of a module's output with torch's pytree (to hook their
        # gradients); an unregistered dict subclass would be one opaque leaf to them
        if cls not in pytree.SUPPORTED_NODES:
            pytree.register_pytree_node(
                cls,
                lambda out: (list(out.values()), list(out.keys())),
                lambda values, keys, cls=cls: cls(**dict(zip(keys, values, strict=True))),
                serialized_type_name=f"{cls.__module__}.{cls.__qualname__}",
            )

    def __setattr__(self, name: str, value: Any) -> None:
        name = _OLD_NAMES.get(name, name)
        if name in self.__dataclass_fields__:
            if value is not None:
                super().__setitem__(name, value)
            elif name in self:
                super().__delitem__(name)
        super().__setattr__(name, value)

    def __setitem__(self, key: str, value: Any) -> None:
        key = _OLD_NAMES.get(key, key)
        if key not in self.__dataclass_fields__:
            raise KeyError(f"{type(self).__name__} has no field {key!r}")
        setattr(self, key, value)

    def __getitem__(self, key: str | int | slice) -> Any:
        if isinstance(key, str):
            return super().__getitem__(_OLD_NAMES.get(key, key))
        return self.to_tuple()[key]

    def __contains__(self, key: object) -> bool:
        return super().__contains__(_OLD_NAMES.get(key, key) if isinstance(key, str) else key)

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(_OLD_NAMES.get(key, key), default)

    def __delitem__(self, key: str) -> None:
        raise TypeError(f"{type(self).__name__} does not delete items; set the field to None")

    def pop(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"{type(self).__name__} does not pop items")

    def setdefault(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"{type(self).__name__} does not set defaults")

    def update(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(f"{type(self).__name__} does not update from a mapping; set its fields")

    def to_tuple(self) -> tuple[Any, ...]:
        """The set fields, in field order (what ``return_dict=False`` returns)."""
        return tuple(self.values())

    def __reduce__(self) -> Any:  # pickle and deepcopy by fields, not as an ordered dict
        return type(self), tuple(getattr(self, f.name) for f in fields(self))

    @property
    def past_key_values(self) -> Any:
        """transformers' older name of ``cache``."""
        return getattr(self, "cache", None)


# --- base models -------------------------------------------------------------------------------


@dataclass
class BaseModelOutput(ModelOutput):
    """An encoder's output. ``hidden_states``: the embeddings then every layer's output, (B, T, H) each
    (``num_hidden_layers + 1``); ``attentions``: every layer's (B, heads, T, T) probabilities."""

    last_hidden_state: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclass
class BaseModelOutputWithPooling(ModelOutput):
    """A BERT-style encoder's output; ``pooler_output`` (B, H) is the pooled first token."""

    last_hidden_state: torch.Tensor | None = None
    pooler_output: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclass
class BaseModelOutputWithPast(ModelOutput):
    """A decoder's output; ``cache`` holds the keys and values to continue from (``use_cache``).
    ``hidden_states[-1]`` is ``last_hidden_state`` (after the final norm), as in transformers."""

    last_hidden_state: torch.Tensor | None = None
    cache: Any = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


# --- heads -------------------------------------------------------------------------------------


@dataclass
class CausalLMOutputWithPast(ModelOutput):
    """Next-token ``logits`` (B, T, vocab); ``loss`` is the mean cross-entropy of the shifted labels."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    cache: Any = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclass
class MaskedLMOutput(ModelOutput):
    """Token ``logits`` (B, T, vocab); ``loss`` over the labelled (not -100) positions."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclass
class SequenceClassifierOutput(ModelOutput):
    """Class ``logits`` (B, num_labels); ``loss`` as ``config.problem_type`` says."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclass
class SequenceClassifierOutputWithPast(ModelOutput):
    """A decoder's class ``logits`` (B, num_labels), taken at each row's last non-padding token."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    cache: Any = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclass
class ImageClassifierOutput(ModelOutput):
    """An image classifier's output: ``logits`` (B, num_labels); convolutional models have no
    ``attentions`` and give ``hidden_states`` as (B, C, H, W) feature maps."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclass
class TokenClassifierOutput(ModelOutput):
    """Per-token class ``logits`` (B, T, num_labels); ``loss`` over labels that are not -100."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclass
class QuestionAnsweringModelOutput(ModelOutput):
    """Span ``start_logits`` and ``end_logits`` (B, T); ``loss`` is the mean of their two losses."""

    loss: torch.Tensor | None = None
    start_logits: torch.Tensor | None = None
    end_logits: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None

    @classmethod
    def from_span_logits(
        cls,
        logits: torch.Tensor,
        start_positions: torch.Tensor | None,
        end_positions: torch.Tensor | None,
        record: Record | None,
    ) -> QuestionAnsweringModelOutput:
        """From (B, T, 2) span logits, with the loss when both positions are given (see
        :func:`cove.models._shared.losses.question_answering`)."""
        start, end = (t.squeeze(-1).contiguous() for t in logits.split(1, dim=-1))
        if (start_positions is None) != (end_positions is None):
            raise ValueError("pass both start_positions and end_positions for a loss, or neither")
        loss = None
        if start_positions is not None:
            loss = losses.question_answering(start, end, start_positions, end_positions)
        return cls(loss=loss, start_logits=start, end_logits=end, **recorded(record))


# --- encoder-decoders ----------------------------------------------------------------------------


@dataclass
class Seq2SeqModelOutput(ModelOutput):
    """An encoder-decoder base model's output: the decoder's last hidden state (B, T_dec, H), its
    ``cache`` (self-attention keys and values that grow, cross-attention ones computed once from the
    encoder), what the decoder recorded (``decoder_hidden_states``, ``decoder_attentions``,
    ``cross_attentions`` (B, heads, T_dec, T_enc)) and the encoder's output, as transformers names them."""

    last_hidden_state: torch.Tensor | None = None
    cache: Any = None
    decoder_hidden_states: tuple[torch.Tensor, ...] | None = None
    decoder_attentions: tuple[torch.Tensor, ...] | None = None
    cross_attentions: tuple[torch.Tensor, ...] | None = None
    encoder_last_hidden_state: torch.Tensor | None = None
    encoder_hidden_states: tuple[torch.Tensor, ...] | None = None
    encoder_attentions: tuple[torch.Tensor, ...] | None = None


@dataclass
class Seq2SeqLMOutput(ModelOutput):
    """An encoder-decoder LM's output: ``Seq2SeqModelOutput`` with ``logits`` (B, T_dec, V) in place of
    the last hidden state, and ``loss`` (token cross-entropy over ``labels``, -100 ignored, no shift:
    the decoder's inputs are the labels shifted right)."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    cache: Any = None
    decoder_hidden_states: tuple[torch.Tensor, ...] | None = None
    decoder_attentions: tuple[torch.Tensor, ...] | None = None
    cross_attentions: tuple[torch.Tensor, ...] | None = None
    encoder_last_hidden_state: torch.Tensor | None = None
    encoder_hidden_states: tuple[torch.Tensor, ...] | None = None
    encoder_attentions: tuple[torch.Tensor, ...] | None = None


# --- what a forward collects -------------------------------------------------------------------


@dataclass
class Record:
    """What a public forward asked the layer loop to collect (None: not asked).

    The loop appends each layer's input and, at the end, the final hidden state to ``hidden_states``
    (so there are ``layers + 1``, the last being ``last_hidden_state``), and each layer's attention
    probabilities to ``attentions``.
    """

    hidden_states: list[torch.Tensor] | None = None
    attentions: list[torch.Tensor] | None = None

    @classmethod
    def asked(
        cls, config: Any, output_hidden_states: bool | None, output_attentions: bool | None
    ) -> Record | None:
        """A record of what the arguments (else the config's ``output_*`` fields) ask for, or None."""
        states = _flag(output_hidden_states, config.output_hidden_states)
        attentions = _flag(output_attentions, config.output_attentions)
        if not (states or attentions):
            return None
        return cls([] if states else None, [] if attentions else None)

    def hidden(self, x: torch.Tensor) -> None:
        if self.hidden_states is not None:
            self.hidden_states.append(x)


def _flag(value: bool | None, default: bool | None) -> bool:
    return bool(default) if value is None else bool(value)


def recorded(record: Record | None) -> dict[str, tuple[torch.Tensor, ...] | None]:
    """The ``hidden_states`` and ``attentions`` fields of an output from a record (or None)."""
    if record is None:
        return {"hidden_states": None, "attentions": None}
    return {
        "hidden_states": None if record.hidden_states is None else tuple(record.hidden_states),
        "attentions": None if record.attentions is None else tuple(record.attentions),
    }


def returned(output: ModelOutput, return_dict: bool | None, config: Any) -> ModelOutput | tuple[Any, ...]:
    """``output``, or its tuple when ``return_dict`` (else ``config.return_dict``) is False."""
    if _flag(return_dict, True if config.return_dict is None else config.return_dict):
        return output
    return output.to_tuple()


def as_encoder_output(encoder_outputs: Any) -> BaseModelOutput:
    """``encoder_outputs`` as transformers' encoder-decoders accept it: an output object, its tuple,
    a tensor (the last hidden state), or any object with ``last_hidden_state``."""
    if isinstance(encoder_outputs, BaseModelOutput):
        return encoder_outputs
    if isinstance(encoder_outputs, torch.Tensor):
        return BaseModelOutput(last_hidden_state=encoder_outputs)
    if isinstance(encoder_outputs, list | tuple) and encoder_outputs:
        return BaseModelOutput(*encoder_outputs[:3])
    if hasattr(encoder_outputs, "last_hidden_state"):
        return BaseModelOutput(last_hidden_state=encoder_outputs.last_hidden_state)
    raise TypeError(f"encoder_outputs must be the encoder's output or its tuple, not {type(encoder_outputs).__name__}")


def seq2seq_fields(
    hidden: torch.Tensor,
    cache: Any,
    decoder: Record | None,
    cross: list[torch.Tensor] | None,
    encoder: BaseModelOutput,
) -> dict[str, Any]:
    """The fields of a :class:`Seq2SeqModelOutput` (the decoder's ``hidden`` as ``last_hidden_state``)
    from what the decoder recorded and the encoder's output."""
    states = recorded(decoder)
    return dict(
        last_hidden_state=hidden,
        cache=cache,
        decoder_hidden_states=states["hidden_states"],
        decoder_attentions=states["attentions"],
        cross_attentions=None if cross is None else tuple(cross),
        encoder_last_hidden_state=encoder.last_hidden_state,
        encoder_hidden_states=encoder.hidden_states,
        encoder_attentions=encoder.attentions,
    )
