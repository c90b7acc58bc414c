"""The task table of :func:`cove.pipeline`: task name -> pipeline class, the model head it needs, and the
default model on the team Hub. Plain data, no torch: reading it is free.

A task joins with one line in :data:`SUPPORTED_TASKS` and a module ``cove.pipelines.<module>`` that
defines the class. ``head`` names the entry of an architecture's ``MODELS`` table
(:data:`cove.models.auto.TASKS`) whose model serves the task.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class TaskSpec:
    """Where a task's pipeline lives and which model head it runs."""

    module: str  # cove.pipelines.<module>
    cls: str
    head: str  # cove.models.auto.TASKS entry: "sequence-classification", "base", ...


SUPPORTED_TASKS: dict[str, TaskSpec] = {
    "text-classification": TaskSpec(
        "text_classification", "TextClassificationPipeline", "sequence-classification"
    ),
    "token-classification": TaskSpec(
        "token_classification", "TokenClassificationPipeline", "token-classification"
    ),
    "question-answering": TaskSpec("question_answering", "QuestionAnsweringPipeline", "question-answering"),
    "fill-mask": TaskSpec("fill_mask", "FillMaskPipeline", "masked-lm"),
    "feature-extraction": TaskSpec("feature_extraction", "FeatureExtractionPipeline", "base"),
    "sentence-similarity": TaskSpec("feature_extraction", "SentenceSimilarityPipeline", "base"),
    "zero-shot-classification": TaskSpec(
        "zero_shot", "ZeroShotClassificationPipeline", "sequence-classification"
    ),
    "text-generation": TaskSpec("text_generation", "TextGenerationPipeline", "causal-lm"),
    "text2text-generation": TaskSpec("text2text", "Text2TextGenerationPipeline", "seq2seq-lm"),
    "summarization": TaskSpec("text2text", "SummarizationPipeline", "seq2seq-lm"),
    "translation": TaskSpec("text2text", "TranslationPipeline", "seq2seq-lm"),
    "image-classification": TaskSpec("vision", "ImageClassificationPipeline", "image-classification"),
    "zero-shot-image-classification": TaskSpec(
        "vision", "ZeroShotImageClassificationPipeline", "zero-shot-image-classification"
    ),
    "image-feature-extraction": TaskSpec("vision", "ImageFeatureExtractionPipeline", "base"),
    "automatic-speech-recognition": TaskSpec(
        "automatic_speech_recognition", "AutomaticSpeechRecognitionPipeline", "seq2seq-lm"
    ),
}

#: Other names transformers accepts for a task.
ALIASES: dict[str, str] = {"sentiment-analysis": "text-classification", "ner": "token-classification"}

#: task -> the repo id on the team Hub used when ``model`` is None (None: no default on this Hub).
DEFAULT_MODELS: dict[str, str | None] = {
    "text-classification": "cove/minilm-sentiment",
    "token-classification": None,
    "question-answering": None,
    "fill-mask": None,
    "feature-extraction": "cove/all-MiniLM-L6-v2",
    "sentence-similarity": "cove/all-MiniLM-L6-v2",
    "zero-shot-classification": None,
    "text-generation": "cove/SmolLM2-135M-Instruct",
    "text2text-generation": None,
    "summarization": None,
    "translation": None,
    "image-classification": "cove/efficientnet-lite0",
    "zero-shot-image-classification": None,
    "image-feature-extraction": None,
    "automatic-speech-recognition": "cove/whisper-tiny.en",
}

#: What to pass when a task has no default model here (no checkpoint for it ships in a package).
MODEL_HINTS: dict[str, str] = {
    "summarization": "an encoder-decoder summarization model such as 't5-small' or 'facebook/bart-large-cnn'",
    "translation": "an encoder-decoder translation model such as 't5-small' or 'Helsinki-NLP/opus-mt-en-fr'",
    "text2text-generation": "an encoder-decoder model such as 'google/flan-t5-small'",
    "zero-shot-image-classification": "a CLIP model such as 'openai/clip-vit-base-patch32'",
    "image-feature-extraction": "an image model such as 'google/vit-base-patch16-224-in21k'",
}

#: The task a checkpoint serves first, by its head, when ``task`` is not given.
TASK_OF_HEAD: dict[str, str] = {
    "sequence-classification": "text-classification",
    "token-classification": "token-classification",
    "question-answering": "question-answering",
    "masked-lm": "fill-mask",
    "causal-lm": "text-generation",
    "seq2seq-lm": "text2text-generation",
    "base": "feature-extraction",
    "image-classification": "image-classification",
    "zero-shot-image-classification": "zero-shot-image-classification",
}

#: The task a checkpoint serves first by its config.json ``model_type``, where its head alone is ambiguous.
TASK_OF_MODEL_TYPE: dict[str, str] = {"whisper": "automatic-speech-recognition"}

TRANSLATION_LANGUAGES = re.compile(r"^translation_([A-Za-z0-9-]+)_to_([A-Za-z0-9-]+)$")


class UnknownTask(KeyError, ValueError):
    """A task name no pipeline serves. Example: ``UnknownTask: unknown task 'summarize'; supported tasks:
    feature-extraction, fill-mask, ... (aliases: ner, sentiment-analysis)``"""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def translation_languages(task: str) -> tuple[str, str] | None:
    """``"translation_en_to_fr"`` -> ``("en", "fr")``; None for any other name."""
    m = TRANSLATION_LANGUAGES.match(task)
    return (m.group(1), m.group(2)) if m else None


def canonical_task(task: str) -> str:
    """``"sentiment-analysis"`` -> ``"text-classification"``, ``"translation_en_to_fr"`` ->
    ``"translation"``; an unknown name raises :class:`UnknownTask`."""
    task = "translation" if translation_languages(task) else ALIASES.get(task, task)
    if task not in SUPPORTED_TASKS:
        raise UnknownTask(
            f"unknown task {task!r}; supported tasks: {', '.join(sorted(SUPPORTED_TASKS))}"
            f" (aliases: {', '.join(sorted(ALIASES))})"
        )
    return task


def tasks_for_head(head: str) -> list[str]:
    """The tasks a model with ``head`` can serve: those of its head, and the base-model ones (any
    checkpoint holds an encoder whose hidden states are features)."""
    own = [t for t, spec in SUPPORTED_TASKS.items() if spec.head == head]
    return own + [t for t, spec in SUPPORTED_TASKS.items() if spec.head == "base" and t not in own]
