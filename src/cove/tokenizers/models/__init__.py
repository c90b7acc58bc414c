"""The models of the pipeline: pre-token -> tokens. `model_from_dict` reads tokenizer.json's "model"."""

from __future__ import annotations

from typing import Any

from cove.tokenizers.models.bpe import BPE
from cove.tokenizers.models.unigram import Unigram
from cove.tokenizers.models.wordlevel import WordLevel
from cove.tokenizers.models.wordpiece import WordPiece

__all__ = ["BPE", "Unigram", "WordLevel", "WordPiece", "model_from_dict"]


def model_from_dict(d: dict[str, Any]) -> BPE | Unigram | WordLevel | WordPiece:
    kind = d.get("type")
    if kind is None:  # very old files: guess from the keys, as tokenizers does
        kind = "BPE" if "merges" in d else "Unigram" if isinstance(d.get("vocab"), list) else "WordPiece" if (
            "continuing_subword_prefix" in d) else "WordLevel"
    if kind == "BPE":
        return BPE.from_dict(d)
    if kind == "WordPiece":
        return WordPiece.from_dict(d)
    if kind == "Unigram":
        return Unigram.from_dict(d)
    if kind == "WordLevel":
        return WordLevel.from_dict(d)
    raise ValueError(f"unsupported model type {kind!r}")
