"""Processors: images (and, with a tokenizer, image-text pairs) -> the tensors a model takes.

Names resolve lazily: ``import cove.processors`` imports neither PIL nor torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "AutoImageProcessor": "image_processor",
    "ImageProcessor": "image_processor",
    "BatchFeature": "image_processor",
    "AutoProcessor": "processor",
    "ImageTextProcessor": "processor",
    "load_image": "images",
    "ImageError": "images",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'cove.processors' has no attribute {name!r}")
    return getattr(importlib.import_module(f"cove.processors.{_EXPORTS[name]}"), name)
