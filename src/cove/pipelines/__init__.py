"""Pipelines: task = preprocess -> model -> postprocess, called on text as transformers' pipelines are.

    from cove import pipeline
    classify = pipeline("sentiment-analysis")              # the team Hub's default model
    classify(["I love it", "I hate it"], batch_size=8)    # [{"label": "POSITIVE", "score": 0.99}, ...]

:func:`pipeline` finds the model, its task and tokenizer; :mod:`cove.pipelines.registry` maps each task
to its class, model head and default model. Names resolve lazily: ``import cove.pipelines`` never
imports torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "pipeline": "factory",
    "PipelineError": "factory",
    "Pipeline": "base",
    "SUPPORTED_TASKS": "registry",
    "ALIASES": "registry",
    "DEFAULT_MODELS": "registry",
    "UnknownTask": "registry",
    "TextClassificationPipeline": "text_classification",
    "TokenClassificationPipeline": "token_classification",
    "QuestionAnsweringPipeline": "question_answering",
    "FillMaskPipeline": "fill_mask",
    "FeatureExtractionPipeline": "feature_extraction",
    "SentenceSimilarityPipeline": "feature_extraction",
    "ZeroShotClassificationPipeline": "zero_shot",
    "TextGenerationPipeline": "text_generation",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'cove.pipelines' has no attribute {name!r}")
    return getattr(importlib.import_module(f"cove.pipelines.{_EXPORTS[name]}"), name)
