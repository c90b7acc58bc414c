"""Processors: images, audio and (with a tokenizer) image-text or audio-text pairs -> the tensors a model takes.

Images: ``image_processor`` (resize, crop, rescale, normalize), ``images`` (decoding). Audio: ``audio``
(decoding, mono, resampling), ``whisper`` (log-mel features and Whisper's processor). The Auto classes
(``auto``) read ``preprocessor_config.json`` and build what it names.

Names resolve lazily: ``import cove.processors`` imports neither PIL nor torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "AutoImageProcessor": "image_processor",
    "ImageProcessor": "image_processor",
    "BatchFeature": "image_processor",
    "AutoFeatureExtractor": "auto",
    "AutoProcessor": "auto",
    "ImageTextProcessor": "processor",
    "load_image": "images",
    "ImageError": "images",
    "load_audio": "audio",
    "AudioError": "audio",
    "WhisperFeatureExtractor": "whisper",
    "WhisperProcessor": "whisper",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'cove.processors' has no attribute {name!r}")
    return getattr(importlib.import_module(f"cove.processors.{_EXPORTS[name]}"), name)
