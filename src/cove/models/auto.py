"""Auto classes: read ``model_type`` from config.json and load the matching architecture.

The registry maps a ``model_type`` to the module ``cove.models.<module>`` that implements it; the
module is imported only when a model of that type is loaded. A new architecture joins with one line
in :data:`ARCHITECTURES` and a file that defines ``CONFIGS`` (model_type -> config class) and
``MODELS`` (task -> model class).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

from cove.formats.config import ConfigError, config_path, read_json

if TYPE_CHECKING:
    from cove.models.configuration import PretrainedConfig
    from cove.models.modeling import PreTrainedModel

#: model_type -> module under cove.models. One line per architecture.
ARCHITECTURES: dict[str, str] = {
    "bert": "bert",
    "roberta": "roberta",
    "distilbert": "distilbert",
    "gpt2": "gpt2",
    "llama": "llama",
    "mistral": "llama",
    "qwen2": "llama",
    "bart": "bart",
    "marian": "marian",
    "t5": "t5",
    "vit": "vit",
    "clip": "clip",
    "clip_text_model": "clip",
    "clip_vision_model": "clip",
    "efficientnet": "efficientnet",
    "whisper": "whisper",
}

#: Tasks an architecture may offer in its ``MODELS`` table.
TASKS = (
    "base",
    "masked-lm",
    "sequence-classification",
    "token-classification",
    "question-answering",
    "causal-lm",
    "seq2seq-lm",
    "image-classification",
    "zero-shot-image-classification",
)


def architecture(model_type: str) -> ModuleType:
    """The module implementing ``model_type`` (imported now)."""
    try:
        name = ARCHITECTURES[model_type]
    except KeyError:
        known = ", ".join(sorted(ARCHITECTURES))
        raise ConfigError(f"model_type {model_type!r} is not supported (known: {known})") from None
    return importlib.import_module(f"cove.models.{name}")


def model_class(model_type: str, task: str) -> type[PreTrainedModel]:
    """The class of ``task`` for ``model_type``, e.g. ``("bert", "masked-lm") -> BertForMaskedLM``. A
    module serving several model types with different classes says so in ``MODELS_BY_TYPE`` (CLIP's
    towers)."""
    module = architecture(model_type)
    models = getattr(module, "MODELS_BY_TYPE", {}).get(model_type, module.MODELS)
    if task not in models:
        raise ConfigError(f"{model_type} has no {task} model (it has: {', '.join(models)})")
    return models[task]


class AutoConfig:
    """``AutoConfig.from_pretrained(folder_or_repo)`` -> the typed config of its ``model_type``."""

    @staticmethod
    def for_model(model_type: str) -> type[PretrainedConfig]:
        return architecture(model_type).CONFIGS[model_type]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PretrainedConfig:
        if "model_type" not in data:
            raise ConfigError("config has no 'model_type' key; cannot pick an architecture")
        return cls.for_model(data["model_type"]).from_dict(data)

    @classmethod
    def from_pretrained(
        cls,
        path_or_repo: str | os.PathLike[str],
        *,
        revision: str | None = None,
        token: str | None = None,
        endpoint: str | None = None,
        gguf_file: str | None = None,
    ) -> PretrainedConfig:
        from cove.models.modeling import resolve_folder

        patterns = [gguf_file] if gguf_file else ["config.json"]
        folder = resolve_folder(
            path_or_repo, revision=revision, token=token, endpoint=endpoint, allow_patterns=patterns
        )
        if gguf_file is not None:
            return _gguf_config(folder / gguf_file)
        data = read_json(config_path(folder))
        if "model_type" not in data:
            raise ConfigError(f"{config_path(folder)}: no 'model_type' key; cannot pick an architecture")
        return cls.from_dict(data)


def _gguf_config(path: Path) -> PretrainedConfig:
    from cove.formats.gguf import GGUFFile

    gguf = GGUFFile(path)
    return architecture(gguf.metadata["general.architecture"]).config_from_gguf(gguf)


class _AutoModel:
    task: ClassVar[str] = "base"

    @classmethod
    def from_config(cls, config: PretrainedConfig) -> PreTrainedModel:
        """A randomly initialised model for ``config`` (normal(0, initializer_range) matrices)."""
        return model_class(config.model_type, cls.task)(config).init_weights()

    @classmethod
    def from_pretrained(
        cls,
        path_or_repo: str | os.PathLike[str],
        *,
        revision: str | None = None,
        token: str | None = None,
        endpoint: str | None = None,
        gguf_file: str | None = None,
        **options: Any,
    ) -> PreTrainedModel:
        """Load with the class of this task; ``options`` are those of ``PreTrainedModel.from_pretrained``."""
        from cove.models.modeling import model_files, resolve_folder

        patterns = model_files(allow_pickle=options.get("allow_pickle", False), gguf_file=gguf_file)
        folder = resolve_folder(
            path_or_repo, revision=revision, token=token, endpoint=endpoint, allow_patterns=patterns
        )
        config = AutoConfig.from_pretrained(folder, gguf_file=gguf_file)
        model_cls = model_class(config.model_type, cls.task)
        return model_cls.from_pretrained(folder, config=config, gguf_file=gguf_file, **options)


class AutoModel(_AutoModel):
    task = "base"


class AutoModelForMaskedLM(_AutoModel):
    task = "masked-lm"


class AutoModelForSequenceClassification(_AutoModel):
    task = "sequence-classification"


class AutoModelForTokenClassification(_AutoModel):
    task = "token-classification"


class AutoModelForQuestionAnswering(_AutoModel):
    task = "question-answering"


class AutoModelForCausalLM(_AutoModel):
    task = "causal-lm"


class AutoModelForSeq2SeqLM(_AutoModel):
    task = "seq2seq-lm"


class AutoModelForImageClassification(_AutoModel):
    task = "image-classification"


class AutoModelForZeroShotImageClassification(_AutoModel):
    task = "zero-shot-image-classification"
