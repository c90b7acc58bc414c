"""PEFT: LoRA adapters that train, save, load, merge and share in peft's file format.

    from cove.peft import LoraConfig, get_peft_model, PeftModel, AutoPeftModelForCausalLM

``config`` (``adapter_config.json``), ``lora`` (the layers), ``inject`` (targets, the adapter state
under peft's keys), ``model`` (``PeftModel``), ``auto`` (the Auto classes), ``card`` (README.md).
Names resolve lazily, so ``import cove.peft`` does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "LoraConfig": "config",
    "TaskType": "config",
    "get_peft_model": "model",
    "PeftModel": "model",
    "PeftModelForCausalLM": "model",
    "PeftModelForSequenceClassification": "model",
    "PeftModelForTokenClassification": "model",
    "PeftModelForSeq2SeqLM": "model",
    "PeftModelForQuestionAnswering": "model",
    "PeftModelForFeatureExtraction": "model",
    "LoraLinear": "lora",
    "Int8Linear": "int8",
    "quantize_frozen": "int8",
    "AutoPeftModel": "auto",
    "AutoPeftModelForCausalLM": "auto",
    "AutoPeftModelForSequenceClassification": "auto",
    "AutoPeftModelForTokenClassification": "auto",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'cove.peft' has no attribute {name!r}")
    return getattr(importlib.import_module(f"cove.peft.{_EXPORTS[name]}"), name)
