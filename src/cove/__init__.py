"""Cove: a self-hostable Hugging Face — the Hub server, its client, and the ML stack that uses it.

The public names resolve lazily, so ``import cove`` is instant and never imports torch, pyarrow or the
server: ``cove.AutoModelForCausalLM`` imports the models package on first use, and so on.

    from cove import AutoModelForCausalLM, AutoTokenizer, load_dataset
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_MODELS = ("AutoConfig", "AutoModel", "AutoModelForMaskedLM", "AutoModelForSequenceClassification",
           "AutoModelForTokenClassification", "AutoModelForQuestionAnswering", "AutoModelForCausalLM",
           "AutoModelForSeq2SeqLM", "AutoModelForImageClassification", "AutoModelForZeroShotImageClassification",
           "PretrainedConfig", "PreTrainedModel")
# transformers' names for training and generation (``from transformers import X`` -> ``from cove import X``)
_TRAINING = ("Trainer", "TrainingArguments", "TrainerCallback", "TrainerControl", "TrainerState",
             "EarlyStoppingCallback", "EvalPrediction", "set_seed", "default_data_collator", "DefaultDataCollator",
             "DataCollatorWithPadding", "DataCollatorForLanguageModeling", "DataCollatorForTokenClassification",
             "DataCollatorForSeq2Seq", "DataCollatorForImageClassification", "Seq2SeqTrainer", "Seq2SeqTrainingArguments")
_GENERATION = ("GenerationConfig", "TextStreamer", "TextIteratorStreamer")
_EXPORTS: dict[str, str] = {
    **{name: "cove.models" for name in _MODELS},
    "pipeline": "cove.pipelines",
    "AutoTokenizer": "cove.tokenizers",
    "AutoFeatureExtractor": "cove.processors",
    "AutoImageProcessor": "cove.processors",
    "AutoProcessor": "cove.processors",
    "Tokenizer": "cove.tokenizers",
    "Dataset": "cove.datasets",
    "DatasetDict": "cove.datasets",
    "IterableDataset": "cove.datasets",
    "load_dataset": "cove.datasets",
    "load_from_disk": "cove.datasets",
    **{name: "cove.training" for name in _TRAINING},
    **{name: "cove.generation" for name in _GENERATION},
    "HubApi": "cove.hub",
    "snapshot_download": "cove.hub",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        models = importlib.import_module("cove.models")  # light: it resolves its own names lazily
        if name in models.__all__:  # every architecture's config, base model and heads
            return getattr(models, name)
        raise AttributeError(f"module 'cove' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
