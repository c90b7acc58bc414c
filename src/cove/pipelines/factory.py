"""``cove.pipeline(task, model)``: find the model (folder, Hub repo id or object), its task and tokenizer,
check that its head serves the task, and build the task's :class:`~cove.pipelines.base.Pipeline`.

The task comes from the argument, else the repo card's ``pipeline_tag``, else the head named by
config.json's ``architectures``. A checkpoint whose head cannot serve the task is refused with the
tasks it can serve, instead of being given a random new head.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from cove.formats.cards import split_card
from cove.formats.config import read_json
from cove.pipelines import registry
from cove.pipelines.registry import (
    DEFAULT_MODELS,
    MODEL_HINTS,
    SUPPORTED_TASKS,
    TASK_OF_HEAD,
    canonical_task,
    tasks_for_head,
    translation_languages,
)

#: What a pipeline needs from a Hub repo: config, weights, tokenizer, card, sentence-transformers files.
REPO_FILES = ["*.json", "*.safetensors", "*.txt", "*.jinja", "*.model", "*.spm", "README.md"]
#: Options of ``pipeline()`` that go to model loading rather than to the task.
LOAD_OPTIONS = ("torch_dtype", "dtype", "endpoint", "model_kwargs")


class PipelineError(ValueError):
    """The model cannot serve the task as asked. Example: ``PipelineError: BertModel in /m has no
    sequence-classification head, so it cannot serve 'text-classification'; it can serve:
    feature-extraction, sentence-similarity``"""


def pipeline(
    task: str | None = None,
    model: str | os.PathLike[str] | Any | None = None,
    *,
    tokenizer: Any = None,
    feature_extractor: Any = None,
    revision: str | None = None,
    device: Any = None,
    batch_size: int | None = None,
    token: str | None = None,
    trust_remote_code: bool = False,
    **options: Any,
) -> Any:
    """A ready pipeline for ``task``, as ``transformers.pipeline``.

    Args:
        task: ``"text-classification"`` (``"sentiment-analysis"``), ``"token-classification"`` (``"ner"``),
            ``"question-answering"``, ``"fill-mask"``, ``"feature-extraction"``, ``"sentence-similarity"``,
            ``"zero-shot-classification"``, ``"text-generation"``, ``"text2text-generation"``,
            ``"summarization"``, ``"translation"`` (``"translation_en_to_fr"``), ``"automatic-speech-recognition"``;
            None reads it from the model.
        model: a local folder, a repo id on the Hub (``COVE_ENDPOINT``), or a loaded model; None takes
            the task's default model on the team Hub (:data:`~cove.pipelines.registry.DEFAULT_MODELS`).
        tokenizer: a tokenizer, or a folder / repo id to load one from (default: the model's).
        feature_extractor: audio tasks: the model's feature extractor (default: its
            ``preprocessor_config.json``).
        revision, token: of the Hub repo.
        device: ``"cpu"``, ``"cuda"``, ``torch.device`` or a GPU index (-1 is the CPU).
        batch_size: inputs per forward when called on a list or a generator.
        trust_remote_code: accepted for compatibility; Cove never runs code from a download.
        options: the task's call parameters as defaults (``top_k=2`` ...), plus ``torch_dtype`` and
            ``endpoint`` for loading; text generation takes ``assistant_model`` (a loaded model, a folder or
            a repo id: a draft for assisted greedy decoding, see :mod:`cove.generation.assisted`).
    """
    load = {k: options.pop(k) for k in LOAD_OPTIONS if k in options}
    load.update(load.pop("model_kwargs", None) or {})
    if "dtype" in load:
        load["torch_dtype"] = load.pop("dtype")
    endpoint = load.pop("endpoint", None)
    if task is not None:
        languages = translation_languages(task)
        if languages is not None:
            options.setdefault("src_lang", languages[0])
            options.setdefault("tgt_lang", languages[1])
        task = canonical_task(task)
    if model is None:
        if task is None:
            raise PipelineError("pass a task or a model: pipeline(task=..., model=...)")
        model = DEFAULT_MODELS.get(task)
        if model is None:
            needed = f" it needs {MODEL_HINTS[task]}, which no package here ships;" if task in MODEL_HINTS else ""
            raise PipelineError(
                f"there is no default model for {task!r} on this Hub;{needed} pass one with model= (a local"
                f" folder, a repo id such as 'org/name', or a loaded model): pipeline({task!r}, model=...)"
            )
    if isinstance(model, str | os.PathLike):
        from cove.models.modeling import resolve_folder

        folder = resolve_folder(
            model, revision=revision, token=token, endpoint=endpoint, allow_patterns=REPO_FILES
        )
        task = task or _task_from_folder(folder)
        spec = SUPPORTED_TASKS[task]
        loaded = _load_model(folder, task, spec.head, load)
    else:
        loaded = model
        folder = getattr(model, "name_or_path", None)
        task = task or registry.TASK_OF_MODEL_TYPE.get(model.config.model_type) or TASK_OF_HEAD[
            _head_of(type(model).__name__, model.config.model_type) or "base"
        ]
        spec = SUPPORTED_TASKS[task]
        _check_head(type(model).__name__, model.config.model_type, task, spec.head, "the given model")
    draft = options.get("assistant_model")
    if isinstance(draft, str | os.PathLike):  # a draft for assisted generation, loaded once as the model is
        from cove.models import AutoModelForCausalLM
        from cove.models.modeling import resolve_folder

        options["assistant_model"] = AutoModelForCausalLM.from_pretrained(
            resolve_folder(draft, revision=None, token=token, endpoint=endpoint, allow_patterns=REPO_FILES), **load)
    cls = getattr(importlib.import_module(f"cove.pipelines.{spec.module}"), spec.cls)
    if hasattr(cls, "load_preprocessor"):  # image tasks: the image processor (and tokenizer) of the folder
        tok = cls.load_preprocessor(folder, tokenizer)
    else:
        tok = _load_tokenizer(tokenizer, folder, revision=revision, token=token, endpoint=endpoint)
    extra = {"folder": folder} if spec.head == "base" else {}
    if getattr(cls, "uses_feature_extractor", False):
        extra = {"folder": folder, "feature_extractor": feature_extractor}
    elif feature_extractor is not None:
        raise PipelineError(f"{task!r} takes no feature_extractor")
    return cls(loaded, tok, device=device, batch_size=batch_size, **extra, **options)


# --- task and head ---------------------------------------------------------------------------------


def _task_from_folder(folder: Path) -> str:
    """The card's ``pipeline_tag`` when it names a supported task, else the head of ``architectures``."""
    card = folder / "README.md"
    if card.is_file():
        try:
            tag = split_card(card.read_text(encoding="utf-8"))[0].get("pipeline_tag")
        except ValueError:
            tag = None
        if isinstance(tag, str) and registry.ALIASES.get(tag, tag) in SUPPORTED_TASKS:
            return registry.ALIASES.get(tag, tag)
    config = read_json(folder / "config.json")
    if config.get("model_type") in registry.TASK_OF_MODEL_TYPE:
        return registry.TASK_OF_MODEL_TYPE[config["model_type"]]
    names = config.get("architectures") or []
    head = _head_of(names[0], config.get("model_type")) if names else None
    if head is None:
        raise PipelineError(
            f"cannot tell the task of {folder}: its card has no pipeline_tag and config.json no known"
            f" architectures; pass task= (one of {', '.join(sorted(SUPPORTED_TASKS))})"
        )
    return TASK_OF_HEAD[head]


def _head_of(class_name: str, model_type: str | None) -> str | None:
    """The head (``"masked-lm"`` ...) of a model class name, from its architecture's ``MODELS`` table."""
    if model_type:
        from cove.models.auto import ARCHITECTURES, architecture

        if model_type in ARCHITECTURES:
            for head, cls in architecture(model_type).MODELS.items():
                if cls.__name__ == class_name:
                    return head
    suffixes = {
        "ForSequenceClassification": "sequence-classification",
        "ForTokenClassification": "token-classification",
        "ForQuestionAnswering": "question-answering",
        "ForImageClassification": "image-classification",
        "ForMaskedLM": "masked-lm",
        "ForCausalLM": "causal-lm",
        "ForConditionalGeneration": "seq2seq-lm",
        "MTModel": "seq2seq-lm",
        "LMHeadModel": "causal-lm",
        "Model": "base",
    }
    return next((h for s, h in suffixes.items() if class_name.endswith(s)), None)


def _check_head(class_name: str, model_type: str | None, task: str, head: str, where: str) -> None:
    have = _head_of(class_name, model_type)
    if head == "base" or have is None or have == head:
        return
    raise PipelineError(
        f"{class_name} in {where} has no {head} head, so it cannot serve {task!r}; it can serve:"
        f" {', '.join(tasks_for_head(have))}"
    )


def _load_model(folder: Path, task: str, head: str, load: dict[str, Any]) -> Any:
    from cove.models.auto import ARCHITECTURES, AutoConfig, model_class

    config = AutoConfig.from_pretrained(folder)
    names = config.architectures or []
    if names:
        _check_head(names[0], config.model_type, task, head, str(folder))
    models = importlib.import_module(f"cove.models.{ARCHITECTURES[config.model_type]}").MODELS
    if head not in models:
        served = [t for t, spec in SUPPORTED_TASKS.items() if spec.head in models]
        raise PipelineError(
            f"{config.model_type} models have no {head} head, so they cannot serve {task!r}; {folder} can"
            f" serve: {', '.join(served)}"
        )
    return model_class(config.model_type, head).from_pretrained(folder, config=config, **load)


def _load_tokenizer(
    tokenizer: Any, folder: Path | None, *, revision: str | None, token: str | None, endpoint: str | None
) -> Any:
    from cove.tokenizers import AutoTokenizer

    if tokenizer is None:
        if folder is None:
            raise PipelineError("the model was not loaded from a folder: pass tokenizer= as well")
        return AutoTokenizer.from_pretrained(folder)
    if isinstance(tokenizer, str | os.PathLike):
        return AutoTokenizer.from_pretrained(tokenizer, revision=revision, token=token, endpoint=endpoint)
    return tokenizer
