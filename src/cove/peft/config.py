"""``LoraConfig``: the adapter's settings, read from and written to ``adapter_config.json`` as peft does.

peft writes every field of its ``LoraConfig`` dataclass (``json.dumps(asdict, indent=2,
sort_keys=True)``, sets as lists); Cove writes the same keys with the same defaults, so either library
reads the other's file. Keys Cove does not know (a newer peft's) are kept aside and written back.
Fields for LoRA variants Cove does not implement (DoRA, LoftQ, EVA, ...) are read and written, and
:meth:`LoraConfig.check_supported` refuses a config that turns one on, naming it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

CONFIG_NAME = "adapter_config.json"
WEIGHTS_NAME = "adapter_model.safetensors"
PEFT_VERSION = "0.22.0"  # the peft release whose file this matches (its readers check major.minor only)
ALL_LINEAR = "all-linear"
TASK_TYPES = ("SEQ_CLS", "SEQ_2_SEQ_LM", "CAUSAL_LM", "TOKEN_CLS", "QUESTION_ANS", "FEATURE_EXTRACTION")
BIASES = ("none", "all", "lora_only")

#: fields of variants Cove does not implement -> the value that means "off" (peft's default)
_UNSUPPORTED_DEFAULTS: dict[str, Any] = {
    "fan_in_fan_out": False,
    "exclude_modules": None,
    "layers_to_transform": None,
    "layers_pattern": None,
    "rank_pattern": {},
    "alpha_pattern": {},
    "megatron_config": None,
    "trainable_token_indices": None,
    "loftq_config": {},
    "eva_config": None,
    "corda_config": None,
    "lora_ga_config": None,
    "use_dora": False,
    "velora_config": None,
    "alora_invocation_tokens": None,
    "use_qalora": False,
    "monteclora_config": None,
    "layer_replication": None,
    "lora_bias": False,
    "target_parameters": None,
    "use_bdlora": None,
    "arrow_config": None,
    "kasa_config": None,
    "astra_config": None,
}


@dataclass
class LoraConfig:
    """LoRA settings (peft's ``LoraConfig``; the same field names and defaults).

    Args:
        r: the rank of the update ``B @ A``.
        lora_alpha: the update is scaled by ``lora_alpha / r`` (``/ sqrt(r)`` with ``use_rslora``).
        lora_dropout: dropout on the input of the LoRA branch while training.
        target_modules: module names (a list: a module matches when its path equals a name or ends
            with ``"." + name``), a regex (a string: it must match the whole path), or ``"all-linear"``
            (every ``nn.Linear`` but the output head). None: the architecture's default (q and v).
        bias: which biases train and are saved: ``"none"``, ``"all"``, or ``"lora_only"`` (those of
            the adapted layers).
        modules_to_save: modules (matched as ``target_modules`` lists are) trained in full and saved
            with the adapter, such as a new classifier; ``SEQ_CLS`` adds ``classifier`` and ``score``.
        use_rslora: rank-stabilised scaling ``lora_alpha / sqrt(r)`` (Kalajdzievski, 2023).
        init_lora_weights: True: A kaiming-uniform (``a=sqrt(5)``), B zeros (the update starts at 0);
            ``"gaussian"``: A normal(0, 1/r), B zeros; False: both as ``nn.Linear`` initialises them
            (a non-zero update, for tests).
        task_type: ``"CAUSAL_LM"``, ``"SEQ_CLS"``, ... (which ``PeftModel`` class wraps the model).
        base_model_name_or_path / revision: the base model the adapter belongs to (filled in from the
            model by ``get_peft_model`` when None).
        inference_mode: frozen adapters (written True by ``save_pretrained``, as peft does).
    """

    task_type: str | None = None
    peft_type: str = "LORA"
    auto_mapping: dict[str, Any] | None = None
    peft_version: str = PEFT_VERSION
    base_model_name_or_path: str | None = None
    revision: str | None = None
    inference_mode: bool = False
    r: int = 8
    target_modules: list[str] | str | None = None
    exclude_modules: list[str] | str | None = None
    lora_alpha: int | float = 8
    lora_dropout: float = 0.0
    fan_in_fan_out: bool = False
    bias: str = "none"
    use_rslora: bool = False
    modules_to_save: list[str] | None = None
    init_lora_weights: bool | str = True
    layers_to_transform: list[int] | int | None = None
    layers_pattern: list[str] | str | None = None
    rank_pattern: dict[str, int] = field(default_factory=dict)
    alpha_pattern: dict[str, float] = field(default_factory=dict)
    megatron_config: dict[str, Any] | None = None
    megatron_core: str | None = "megatron.core"
    trainable_token_indices: Any = None
    loftq_config: dict[str, Any] = field(default_factory=dict)
    eva_config: Any = None
    corda_config: Any = None
    lora_ga_config: Any = None
    use_dora: bool = False
    velora_config: Any = None
    alora_invocation_tokens: list[int] | None = None
    use_qalora: bool = False
    qalora_group_size: int = 16
    monteclora_config: Any = None
    layer_replication: list[list[int]] | None = None
    lora_bias: bool = False
    target_parameters: list[str] | None = None
    use_bdlora: Any = None
    arrow_config: Any = None
    kasa_config: Any = None
    astra_config: Any = None
    ensure_weight_tying: bool = False
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.peft_type != "LORA":
            raise ValueError(f"Cove reads LoRA adapters only; this config is peft_type {self.peft_type!r}")
        if isinstance(self.r, bool) or not isinstance(self.r, int) or self.r <= 0:
            raise ValueError(f"LoraConfig: r must be a positive integer, got {self.r!r}")
        if self.bias not in BIASES:
            raise ValueError(f"LoraConfig: bias must be one of {BIASES}, got {self.bias!r}")
        if self.task_type is not None and self.task_type not in TASK_TYPES:
            raise ValueError(f"LoraConfig: task_type must be one of {TASK_TYPES} or None, got {self.task_type!r}")
        if not 0.0 <= float(self.lora_dropout) < 1.0:
            raise ValueError(f"LoraConfig: lora_dropout must be in [0, 1), got {self.lora_dropout!r}")
        if self.init_lora_weights not in (True, False, "gaussian"):
            raise ValueError(
                f"LoraConfig: init_lora_weights {self.init_lora_weights!r} is not available in Cove"
                " (True, False or 'gaussian')"
            )
        if isinstance(self.target_modules, (set, tuple)):
            self.target_modules = sorted(self.target_modules)
        if isinstance(self.modules_to_save, (set, tuple)):
            self.modules_to_save = list(self.modules_to_save)

    @property
    def scaling(self) -> float:
        """The factor on ``B @ A x``: ``lora_alpha / r`` (``/ sqrt(r)`` with ``use_rslora``)."""
        return self.lora_alpha / (self.r**0.5 if self.use_rslora else self.r)

    def check_supported(self) -> None:
        """Raise ``NotImplementedError`` naming the first field that asks for a variant Cove lacks."""
        for name, off in _UNSUPPORTED_DEFAULTS.items():
            if getattr(self, name) != off:
                raise NotImplementedError(
                    f"LoraConfig.{name}={getattr(self, name)!r} asks for a LoRA variant Cove does not"
                    " implement; leave it at its default"
                )

    # --- JSON -------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The dict peft's ``to_dict`` gives (plus keys this one was read with and Cove does not know)."""
        out = {f.name: _plain(getattr(self, f.name)) for f in fields(self) if f.name != "extra"}
        return {**self.extra, **out}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoraConfig:
        known = {f.name for f in fields(cls)} - {"extra"}
        config = cls(**{k: v for k, v in data.items() if k in known})
        config.extra = {k: v for k, v in data.items() if k not in known}
        return config

    def save_pretrained(self, folder: str | os.PathLike[str]) -> Path:
        """Write ``adapter_config.json`` as peft does (sorted keys, indent 2, no final newline)."""
        path = Path(folder) / CONFIG_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True))
        return path

    @classmethod
    def from_pretrained(
        cls,
        path_or_repo: str | os.PathLike[str],
        *,
        revision: str | None = None,
        token: str | None = None,
        endpoint: str | None = None,
    ) -> LoraConfig:
        """Read ``adapter_config.json`` from a folder or a Hub repo."""
        from cove.models.modeling import resolve_folder

        folder = resolve_folder(
            path_or_repo, revision=revision, token=token, endpoint=endpoint, allow_patterns=[CONFIG_NAME]
        )
        path = folder / CONFIG_NAME
        if not path.is_file():
            raise FileNotFoundError(f"{path_or_repo}: no {CONFIG_NAME} (is it a PEFT adapter?)")
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object")
        return cls.from_dict(data)


def _plain(value: Any) -> Any:
    """Sets become sorted lists (peft writes a set as a list)."""
    return sorted(value) if isinstance(value, (set, frozenset)) else value


class TaskType:
    """peft's task names (``TaskType.CAUSAL_LM == "CAUSAL_LM"``)."""

    SEQ_CLS = "SEQ_CLS"
    SEQ_2_SEQ_LM = "SEQ_2_SEQ_LM"
    CAUSAL_LM = "CAUSAL_LM"
    TOKEN_CLS = "TOKEN_CLS"
    QUESTION_ANS = "QUESTION_ANS"
    FEATURE_EXTRACTION = "FEATURE_EXTRACTION"
