"""Models: typed configs + weights -> ``torch.nn.Module``.

The names below resolve lazily (``cove.models.AutoModel`` imports torch only when first used), so
``import cove.models`` stays cheap. Each architecture lives in its own module (``bert``, ``gpt2``,
``llama`` ...), found through the registry in :mod:`cove.models.auto`.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "AutoConfig": "auto",
    "AutoModel": "auto",
    "AutoModelForMaskedLM": "auto",
    "AutoModelForSequenceClassification": "auto",
    "AutoModelForTokenClassification": "auto",
    "AutoModelForQuestionAnswering": "auto",
    "AutoModelForCausalLM": "auto",
    "AutoModelForSeq2SeqLM": "auto",
    "AutoModelForImageClassification": "auto",
    "AutoModelForZeroShotImageClassification": "auto",
    "PretrainedConfig": "configuration",
    "PreTrainedModel": "modeling",
    "KVCache": "_shared.kv_cache",
    "BertConfig": "bert",
    "BertModel": "bert",
    "BertForMaskedLM": "bert",
    "BertForSequenceClassification": "bert",
    "BertForTokenClassification": "bert",
    "BertForQuestionAnswering": "bert",
    "RobertaConfig": "roberta",
    "RobertaModel": "roberta",
    "RobertaForMaskedLM": "roberta",
    "RobertaForSequenceClassification": "roberta",
    "RobertaForTokenClassification": "roberta",
    "RobertaForQuestionAnswering": "roberta",
    "DistilBertConfig": "distilbert",
    "DistilBertModel": "distilbert",
    "DistilBertForMaskedLM": "distilbert",
    "DistilBertForSequenceClassification": "distilbert",
    "DistilBertForTokenClassification": "distilbert",
    "DistilBertForQuestionAnswering": "distilbert",
    "GPT2Config": "gpt2",
    "GPT2Model": "gpt2",
    "GPT2LMHeadModel": "gpt2",
    "GPT2ForSequenceClassification": "gpt2",
    "LlamaConfig": "llama",
    "MistralConfig": "llama",
    "Qwen2Config": "llama",
    "LlamaModel": "llama",
    "LlamaForCausalLM": "llama",
    "LlamaForSequenceClassification": "llama",
    "BartConfig": "bart",
    "BartModel": "bart",
    "BartForConditionalGeneration": "bart",
    "BartForSequenceClassification": "bart",
    "MarianConfig": "marian",
    "MarianModel": "marian",
    "MarianMTModel": "marian",
    "T5Config": "t5",
    "T5Model": "t5",
    "T5ForConditionalGeneration": "t5",
    "T5EncoderModel": "t5",
    "ViTConfig": "vit",
    "ViTModel": "vit",
    "ViTForImageClassification": "vit",
    "CLIPConfig": "clip",
    "CLIPTextConfig": "clip",
    "CLIPVisionConfig": "clip",
    "CLIPModel": "clip",
    "CLIPTextModel": "clip",
    "CLIPVisionModel": "clip",
    "EfficientNetConfig": "efficientnet",
    "EfficientNetModel": "efficientnet",
    "EfficientNetForImageClassification": "efficientnet",
    "WhisperConfig": "whisper",
    "WhisperModel": "whisper",
    "WhisperForConditionalGeneration": "whisper",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'cove.models' has no attribute {name!r}")
    return getattr(importlib.import_module(f"cove.models.{_EXPORTS[name]}"), name)
