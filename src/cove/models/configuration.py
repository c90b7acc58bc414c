"""Typed model configs that round-trip config.json.

Every architecture declares a dataclass subclass of :class:`PretrainedConfig` whose field names are
the config.json keys transformers writes. Reading keeps keys no field knows in ``extras`` and writes
them back untouched, so ``Config.from_dict(d).to_dict() == d`` for any config.json transformers
wrote: a field the source left out is left out again unless it was changed, so alternative
spellings such as ``rope_theta`` vs ``rope_parameters`` never both appear. A config built in code
writes every field that is not None. Extras are never passed to modules.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

from cove.formats.config import ConfigError, config_path, read_json, write_json

logger = logging.getLogger(__name__)

_INTERNAL = ("extras", "present")


@dataclass
class PretrainedConfig:
    """Fields every model shares; subclasses add their own and set ``model_type``.

    Args:
        architectures: class names of the saved model (``["BertForMaskedLM"]``).
        dtype: the dtype of the saved weights (``"float32"``); ``torch_dtype`` is its older spelling.
        id2label: class index -> label name for classification heads; ``num_labels`` is its length.
        problem_type: the loss of a sequence classifier (regression, single_label_classification,
            multi_label_classification); None until the first ``labels`` decide it, as transformers.
        use_cache: decoders return a cache to continue from (None: yes, transformers' default).
        output_hidden_states, output_attentions, return_dict: defaults of the forward arguments of
            the same names (None: False, False, True), as transformers reads them from its config.
        extras: config.json keys no field knows, written back as they were.
    """

    model_type: ClassVar[str] = ""

    architectures: list[str] | None = None
    dtype: str | None = None
    torch_dtype: str | None = None
    tie_word_embeddings: bool = True
    pad_token_id: int | None = None
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None
    id2label: dict[int, str] | None = None
    label2id: dict[str, int] | None = None
    problem_type: str | None = None
    initializer_range: float = 0.02
    use_cache: bool | None = None
    output_hidden_states: bool | None = None
    output_attentions: bool | None = None
    return_dict: bool | None = None
    extras: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    present: frozenset[str] | None = field(default=None, repr=False, compare=False)

    def __getattr__(self, name: str) -> Any:
        """A config.json key no field knows reads as an attribute too (``config.task_specific_params``),
        as transformers sets every key on its config; a key the file lacks is an AttributeError."""
        extras = self.__dict__.get("extras")
        if extras is not None and name in extras:
            return extras[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    # --- dict <-> config --------------------------------------------------------------------

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if f.name not in _INTERNAL]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """A config from a config.json object; unknown keys go to ``extras``."""
        data = dict(data)
        model_type = data.pop("model_type", None)
        if model_type not in (None, cls.model_type):
            logger.warning("config has model_type %r, read as %s", model_type, cls.__name__)
        names = set(cls.field_names())
        known = {k: v for k, v in data.items() if k in names}
        if known.get("id2label") is not None:
            known["id2label"] = {int(k): v for k, v in known["id2label"].items()}
        extras = {k: v for k, v in data.items() if k not in names}
        return cls(**known, extras=extras, present=frozenset(data))

    def to_dict(self) -> dict[str, Any]:
        """The config.json object: every set field, ``model_type``, then the extras."""
        out: dict[str, Any] = {}
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        for name in self.field_names():
            value = getattr(self, name)
            if self.present is None:  # built in code: every field that is set
                if value is None:
                    continue
            elif name not in self.present and value == defaults[name]:
                continue  # read from a file that left it out: leave it out again
            if name == "id2label" and value is not None:
                value = {str(k): v for k, v in value.items()}
            out[name] = value
        out["model_type"] = self.model_type
        out.update(self.extras)
        return out

    # --- files ------------------------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike[str]) -> Self:
        """Read ``folder/config.json`` (a local folder; hub ids are resolved by the model loaders)."""
        return cls.from_dict(read_json(config_path(folder)))

    def save_pretrained(self, folder: str | os.PathLike[str]) -> Path:
        """Write ``folder/config.json`` and return its path."""
        Path(folder).mkdir(parents=True, exist_ok=True)
        path = config_path(folder)
        write_json(self.to_dict(), path)
        return path

    # --- derived values ---------------------------------------------------------------------

    @property
    def num_labels(self) -> int:
        """Number of classes of a classification head (2 when no labels are named, as transformers)."""
        return len(self.id2label) if self.id2label else 2

    def with_overrides(self, overrides: dict[str, Any]) -> Self:
        """A copy with fields replaced, e.g. ``{"num_labels": 3}`` or ``{"hidden_dropout_prob": 0.0}``.

        Raises:
            ConfigError: for a name that is not a field of this config.
        """
        overrides = dict(overrides)
        if "num_labels" in overrides:
            n = int(overrides.pop("num_labels"))
            if n != self.num_labels or self.id2label is None:
                overrides.setdefault("id2label", {i: f"LABEL_{i}" for i in range(n)})
        if "id2label" in overrides and "label2id" not in overrides:
            overrides["label2id"] = {v: int(k) for k, v in overrides["id2label"].items()}
        unknown = sorted(set(overrides) - set(self.field_names()))
        if unknown:
            raise ConfigError(f"{type(self).__name__} has no field {', '.join(map(repr, unknown))}")
        present = None if self.present is None else self.present | frozenset(overrides)
        return dataclasses.replace(self, **overrides, present=present)
