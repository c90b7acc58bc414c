"""``AutoFeatureExtractor`` and ``AutoProcessor``: read ``preprocessor_config.json`` and build the class its
``feature_extractor_type`` names (transformers' names), from a local folder or a Hub repo id.

An audio family joins with one line in :data:`FEATURE_EXTRACTORS` (and :data:`PROCESSORS` when it pairs
the extractor with a tokenizer).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cove.processors.audio import AudioError
from cove.processors.whisper import PREPROCESSOR_FILE, WhisperFeatureExtractor, WhisperProcessor

#: feature_extractor_type -> class
FEATURE_EXTRACTORS: dict[str, Any] = {"WhisperFeatureExtractor": WhisperFeatureExtractor}
#: feature_extractor_type -> processor class (feature extractor + tokenizer)
PROCESSORS: dict[str, Any] = {"WhisperFeatureExtractor": WhisperProcessor}

TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"]


def _folder(path_or_repo: str | os.PathLike[str], patterns: list[str], **hub: Any) -> Path:
    if os.path.isdir(path_or_repo):
        return Path(path_or_repo)
    from cove.hub import snapshot_download  # only repo ids need the Hub client

    return Path(snapshot_download(str(path_or_repo), allow_patterns=patterns, **hub))


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
        folder = _folder(path_or_repo, [PREPROCESSOR_FILE], revision=revision, token=token, endpoint=endpoint)
        data = _preprocessor(folder)
        kind = data.get("feature_extractor_type")
        if kind not in FEATURE_EXTRACTORS:
            raise AudioError(f"feature_extractor_type {kind!r} is not supported (known: {', '.join(FEATURE_EXTRACTORS)})")
        return FEATURE_EXTRACTORS[kind].from_dict(data)


class AutoProcessor:
    """``AutoProcessor.from_pretrained(folder_or_repo)`` -> the feature extractor and tokenizer together."""

    @staticmethod
    def from_pretrained(
        path_or_repo: str | os.PathLike[str],
        *,
        revision: str | None = None,
        token: str | None = None,
        endpoint: str | None = None,
    ) -> Any:
        from cove.tokenizers.auto import AutoTokenizer

        hub = dict(revision=revision, token=token, endpoint=endpoint)
        folder = _folder(path_or_repo, [PREPROCESSOR_FILE, "generation_config.json", *TOKENIZER_FILES], **hub)
        extractor = AutoFeatureExtractor.from_pretrained(folder)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        no_timestamps = tokenizer.convert_tokens_to_ids("<|notimestamps|>")
        generation = folder / "generation_config.json"
        if generation.is_file():
            no_timestamps = json.loads(generation.read_text()).get("no_timestamps_token_id", no_timestamps)
        if no_timestamps is None:
            raise AudioError(f"{folder}: cannot find <|notimestamps|> in the tokenizer or generation config")
        return PROCESSORS[extractor.feature_extractor_type](extractor, tokenizer, no_timestamps)
