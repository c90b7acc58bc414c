"""``AutoFeatureExtractor`` and ``AutoProcessor``: read ``preprocessor_config.json`` and build the class it
names (transformers' names), from a local folder or a Hub repo id. ``AutoProcessor`` gives an audio
model's feature extractor and tokenizer, or an image model's image processor (with its tokenizer: CLIP).

An audio family joins with one line in :data:`FEATURE_EXTRACTORS` (and :data:`PROCESSORS` when it pairs
the extractor with a tokenizer).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cove.processors.audio import AudioError
from cove.processors.image_processor import local_folder
from cove.processors.processor import image_processor_or_pair
from cove.processors.whisper import PREPROCESSOR_FILE, WhisperFeatureExtractor, WhisperProcessor

#: feature_extractor_type -> class
FEATURE_EXTRACTORS: dict[str, Any] = {"WhisperFeatureExtractor": WhisperFeatureExtractor}
#: feature_extractor_type -> processor class (feature extractor + tokenizer)
PROCESSORS: dict[str, Any] = {"WhisperFeatureExtractor": WhisperProcessor}

#: what a processor may need from a Hub repo: configs, tokenizer files, vocabularies, templates
PROCESSOR_FILES = ["*.json", "*.txt", "*.jinja", "*.model"]


def _preprocessor(folder: Path) -> dict[str, Any]:
    path = folder / PREPROCESSOR_FILE
    if not path.is_file():
        raise AudioError(f"{folder} has no {PREPROCESSOR_FILE}: it is not an audio model's folder")
    return json.loads(path.read_text())


class AutoFeatureExtractor:
    """``AutoFeatureExtractor.from_pretrained(folder_or_repo)`` -> e.g. a :class:`WhisperFeatureExtractor`."""

    @staticmethod
    def from_pretrained(
        path_or_repo: str | os.PathLike[str],
        *,
        revision: str | None = None,
        token: str | None = None,
        endpoint: str | None = None,
    ) -> Any:
        folder = local_folder(path_or_repo, [PREPROCESSOR_FILE], revision=revision, token=token, endpoint=endpoint)
        data = _preprocessor(folder)
        kind = data.get("feature_extractor_type")
        if kind not in FEATURE_EXTRACTORS:
            raise AudioError(f"feature_extractor_type {kind!r} is not supported (known: {', '.join(FEATURE_EXTRACTORS)})")
        return FEATURE_EXTRACTORS[kind].from_dict(data)


class AutoProcessor:
    """``AutoProcessor.from_pretrained(folder_or_repo)``: an audio model's feature extractor and tokenizer
    together (Whisper), or an image model's image processor, with its tokenizer when it has one (CLIP)."""

    @staticmethod
    def from_pretrained(
        path_or_repo: str | os.PathLike[str],
        *,
        revision: str | None = None,
        token: str | None = None,
        endpoint: str | None = None,
    ) -> Any:
        hub = dict(revision=revision, token=token, endpoint=endpoint)
        folder = local_folder(path_or_repo, PROCESSOR_FILES, **hub)
        if _preprocessor_type(folder) not in FEATURE_EXTRACTORS:
            return image_processor_or_pair(folder)
        from cove.tokenizers.auto import AutoTokenizer

        extractor = AutoFeatureExtractor.from_pretrained(folder)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        no_timestamps = tokenizer.convert_tokens_to_ids("<|notimestamps|>")
        generation = folder / "generation_config.json"
        if generation.is_file():
            no_timestamps = json.loads(generation.read_text()).get("no_timestamps_token_id", no_timestamps)
        if no_timestamps is None:
            raise AudioError(f"{folder}: cannot find <|notimestamps|> in the tokenizer or generation config")
        return PROCESSORS[extractor.feature_extractor_type](extractor, tokenizer, no_timestamps)


def _preprocessor_type(folder: Path) -> str | None:
    """The ``feature_extractor_type`` of the folder's preprocessor config (``None``: none, or an image one)."""
    path = folder / PREPROCESSOR_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8")).get("feature_extractor_type")
