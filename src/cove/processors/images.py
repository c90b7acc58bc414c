"""Images in: a path, bytes, a PIL image or an array -> a decoded RGB ``PIL.Image``, with clear errors.

:func:`load_image` follows transformers' ``load_image`` (what its pipelines call): EXIF orientation
applied, then PIL's ``convert("RGB")`` (grey, CMYK, palette, 16-bit; an alpha channel is dropped).
:func:`to_rgb` follows its processors' ``convert_to_rgb``: an image with transparency (RGBA, LA, a
palette with a transparent colour) is composited onto white, others converted by PIL.

Huge images are refused before they are decoded: more than :data:`MAX_PIXELS` pixels (PIL's own
decompression-bomb threshold, about 89 million, by default) raise :class:`ImageError`, as do files
PIL cannot decode (truncated, corrupt, not an image).
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any

from cove.errors import CoveError

MAX_PIXELS = 89_478_485  # PIL.Image.MAX_IMAGE_PIXELS: 1024 * 1024 * 1024 // 4 // 3


class ImageError(CoveError, ValueError):
    """An input that is not a usable image.

    Examples: ``ImageError: cannot decode the image (cannot identify image file <_io.BytesIO ...>)``;
    ``ImageError: the image has 400000000 pixels (20000x20000); at most 89478485 are accepted``.
    """

    status = 400
    code = "BadRequest"


def _check_size(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageError(
            f"the image has {width * height} pixels ({width}x{height}); at most {max_pixels} are accepted"
        )
    if width == 0 or height == 0:
        raise ImageError(f"the image is empty ({width}x{height})")


def load_image(image: Any, *, max_pixels: int = MAX_PIXELS) -> Any:
    """A decoded RGB ``PIL.Image.Image`` from a path, bytes, a file object, a PIL image or an (H, W[, C])
    uint8 array.

    Raises:
        ImageError: the input cannot be decoded, is empty, or has more than ``max_pixels`` pixels.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if isinstance(image, Image.Image):
        _check_size(*image.size, max_pixels)
        return ImageOps.exif_transpose(image).convert("RGB")
    if hasattr(image, "__array_interface__") or type(image).__module__.startswith("torch"):
        return _from_array(image, max_pixels)
    if isinstance(image, (bytes, bytearray, memoryview)):
        source: Any = io.BytesIO(bytes(image))
    elif isinstance(image, (str, os.PathLike)):
        text = str(image)
        if text.startswith(("http://", "https://")):
            raise ImageError(f"{text}: Cove does not fetch images from URLs; download it and pass the file")
        if not Path(text).is_file():
            raise ImageError(f"{text}: no such image file")
        source = text
    elif hasattr(image, "read"):
        source = image
    else:
        raise ImageError(f"cannot read an image from a {type(image).__name__}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(source)
            _check_size(*opened.size, max_pixels)  # read from the header: nothing decoded yet
            opened.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"the image is too large to decode: {e}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        if isinstance(e, ImageError):
            raise
        raise ImageError(f"cannot decode the image ({e})") from None
    return ImageOps.exif_transpose(opened).convert("RGB")


def _from_array(array: Any, max_pixels: int) -> Any:
    """(H, W), (H, W, C) or (C, H, W) uint8 (or 0..1 float) array -> RGB PIL image."""
    import numpy as np
    from PIL import Image

    data = np.asarray(array.numpy() if hasattr(array, "numpy") else array)
    if data.ndim == 3 and data.shape[0] in (1, 3, 4) and data.shape[-1] not in (1, 3, 4):
        data = np.moveaxis(data, 0, -1)  # channels first -> last
    if data.ndim == 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim not in (2, 3) or (data.ndim == 3 and data.shape[-1] not in (3, 4)):
        raise ImageError(f"an image array must be (H, W), (H, W, 3|4) or (3|4, H, W), not {data.shape}")
    _check_size(data.shape[1], data.shape[0], max_pixels)
    if data.dtype != np.uint8:
        if np.issubdtype(data.dtype, np.floating) and data.size and data.min() >= 0 and data.max() <= 1:
            data = data * 255  # transformers' rule: floats in [0, 1] are scaled to bytes
        data = data.astype(np.uint8)
    return Image.fromarray(data).convert("RGB")


def to_rgb(image: Any) -> Any:
    """RGB as transformers' ``convert_to_rgb``: transparency composited onto white, else ``convert``."""
    from PIL import Image

    if image.mode == "RGB":
        return image
    if "A" in image.getbands() or image.info.get("transparency") is not None:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
