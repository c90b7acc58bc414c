"""Processors that pair an image processor with a tokenizer (CLIP's), as transformers' ``AutoProcessor``
gives them: ``processor(text=..., images=..., return_tensors="pt")`` -> input ids, attention mask and
pixel values in one dict."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cove.formats.config import ConfigError
from cove.processors.image_processor import PREPROCESSOR_FILE, BatchFeature, ImageProcessor


class ImageTextProcessor:
    """An image processor and a tokenizer called together (transformers' ``CLIPProcessor``)."""

    def __init__(self, image_processor: ImageProcessor, tokenizer: Any) -> None:
        self.image_processor = image_processor
        self.tokenizer = tokenizer

    def __call__(
        self, text: Any = None, images: Any = None, *, return_tensors: str | None = "pt", **text_options: Any
    ) -> BatchFeature:
        """Tokenize ``text`` (options go to the tokenizer: ``padding``, ``truncation`` ...) and process
        ``images``; either may be left out, not both."""
        if text is None and images is None:
            raise ValueError("pass text, images, or both")
        out = BatchFeature()
        if text is not None:
            out.update(self.tokenizer(text, return_tensors=return_tensors, **text_options))
        if images is not None:
            out.update(self.image_processor(images, return_tensors=return_tensors))
        return out

    def batch_decode(self, *args: Any, **kwargs: Any) -> Any:
        return self.tokenizer.batch_decode(*args, **kwargs)

    def decode(self, *args: Any, **kwargs: Any) -> Any:
        return self.tokenizer.decode(*args, **kwargs)

    def save_pretrained(self, folder: str | os.PathLike[str]) -> None:
        self.image_processor.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)


def image_processor_or_pair(folder: Path) -> ImageTextProcessor | ImageProcessor:
    """The folder's image processor with its tokenizer when it has one (CLIP), else the image processor
    alone (ViT, EfficientNet). :class:`cove.processors.auto.AutoProcessor` calls it for image models."""
    path = folder / PREPROCESSOR_FILE
    if not path.is_file():
        raise ConfigError(f"{folder} has no {PREPROCESSOR_FILE}: no processor to build")
    image_processor = ImageProcessor.from_dict(json.loads(path.read_text(encoding="utf-8")))
    if not ((folder / "tokenizer.json").is_file() or (folder / "tokenizer_config.json").is_file()):
        return image_processor
    from cove.tokenizers import AutoTokenizer

    return ImageTextProcessor(image_processor, AutoTokenizer.from_pretrained(folder))
