"""Image processors: PIL images -> ``pixel_values`` (B, 3, H, W) float32, as a checkpoint's
``preprocessor_config.json`` says, with the same numbers as transformers' PIL-backend processors
(``ViTImageProcessor``, ``CLIPImageProcessor``, ``EfficientNetImageProcessor``).

The steps, each switched by the config: convert to RGB; resize with PIL (same filter, no reducing
gap) to a fixed (height, width), a shortest edge (the long edge ``int(size * long / short)``), or a
shortest edge capped by a longest; center-crop (zero-padding an image smaller than the crop); rescale
(bytes * ``rescale_factor`` in float64, then float32; EfficientNet's ``rescale_offset`` subtracts 1);
normalize ((x - mean) / std in float32; EfficientNet's ``include_top`` divides by std once more).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from cove.formats.config import ConfigError
from cove.processors.images import MAX_PIXELS, load_image, to_rgb

PREPROCESSOR_FILE = "preprocessor_config.json"
IMAGENET_STANDARD = [0.5, 0.5, 0.5]
OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

#: Each processor type's defaults (transformers' class attributes); the config file overrides them.
DEFAULTS: dict[str, dict[str, Any]] = {
    "ViTImageProcessor": dict(
        size={"height": 224, "width": 224}, resample=2, image_mean=IMAGENET_STANDARD, image_std=IMAGENET_STANDARD
    ),
    "CLIPImageProcessor": dict(
        size={"shortest_edge": 224},
        resample=3,
        do_center_crop=True,
        crop_size={"height": 224, "width": 224},
        do_convert_rgb=True,
        image_mean=OPENAI_CLIP_MEAN,
        image_std=OPENAI_CLIP_STD,
    ),
    "EfficientNetImageProcessor": dict(
        size={"height": 346, "width": 346},
        resample=3,
        crop_size={"height": 289, "width": 289},
        image_mean=IMAGENET_STANDARD,
        image_std=IMAGENET_STANDARD,
        include_top=True,
    ),
}
#: How an ``int`` size reads: a square (True) or the shortest edge (False), per type.
SQUARE_SIZES = {"ViTImageProcessor": True, "CLIPImageProcessor": False, "EfficientNetImageProcessor": True}


def local_folder(path_or_repo: str | os.PathLike[str], patterns: list[str], **hub: Any) -> Path:
    """A local folder as it is; a Hub repo id -> the snapshot of its files matching ``patterns``
    (``hub``: revision, token, endpoint)."""
    folder = Path(path_or_repo)
    if folder.is_dir():
        return folder
    from cove.hub import snapshot_download  # repo ids only

    return Path(snapshot_download(str(path_or_repo), allow_patterns=patterns, **hub))


class BatchFeature(dict):  # type: ignore[type-arg]
    """``{"pixel_values": tensor, ...}`` whose keys read as attributes too; ``.to(device)`` moves them."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as e:
            raise AttributeError(name) from e

    def to(self, *args: Any, **kwargs: Any) -> BatchFeature:
        return BatchFeature({k: v.to(*args, **kwargs) if hasattr(v, "to") else v for k, v in self.items()})


def size_dict(size: Any, *, square: bool) -> dict[str, int]:
    """transformers' ``get_size_dict``: an int is a square or a shortest edge, a pair is (height, width)."""
    if isinstance(size, dict):
        keys = set(size)
        if keys not in ({"height", "width"}, {"shortest_edge"}, {"shortest_edge", "longest_edge"}, {"longest_edge"}):
            raise ConfigError(f"size {size} must have height and width, or shortest_edge (and longest_edge)")
        return {k: int(v) for k, v in size.items()}
    if isinstance(size, int):
        return {"height": size, "width": size} if square else {"shortest_edge": size}
    if isinstance(size, (list, tuple)) and len(size) == 2:
        return {"height": int(size[0]), "width": int(size[1])}
    raise ConfigError(f"cannot read an image size from {size!r}")


def resized_shape(height: int, width: int, size: dict[str, int]) -> tuple[int, int]:
    """The (height, width) a resize to ``size`` gives an image of ``height`` x ``width``."""
    if "height" in size:
        return size["height"], size["width"]
    short, long = (width, height) if width <= height else (height, width)
    if "shortest_edge" not in size:  # longest edge only: scale the long side down to it
        scale = size["longest_edge"] / long
        return max(1, int(height * scale)), max(1, int(width * scale))
    new_short = size["shortest_edge"]
    if "longest_edge" in size:  # transformers' get_size_with_aspect_ratio
        limit = size["longest_edge"]
        raw = None
        if long / short * new_short > limit:
            raw = limit * short / long
            new_short = int(round(raw))
        if (height <= width and height == new_short) or (width <= height and width == new_short):
            return height, width
        scaled = int((raw if raw is not None else new_short) * long / short)
        return (scaled, new_short) if width < height else (new_short, scaled)
    new_long = int(new_short * long / short)
    return (new_long, new_short) if width <= height else (new_short, new_long)


@dataclass
class ImageProcessor:
    """One image processor config (``preprocessor_config.json``), callable on images.

    Args:
        image_processor_type: transformers' class name; it picks the defaults of unset fields.
        extras: keys of the file no field knows, written back as they were.
    """

    image_processor_type: str = "ViTImageProcessor"
    do_convert_rgb: bool | None = None
    do_resize: bool = True
    size: dict[str, int] = field(default_factory=lambda: {"height": 224, "width": 224})
    resample: int = 2
    do_center_crop: bool = False
    crop_size: dict[str, int] | None = None
    do_rescale: bool = True
    rescale_factor: float = 1 / 255
    rescale_offset: bool = False
    do_normalize: bool = True
    image_mean: list[float] = field(default_factory=lambda: list(IMAGENET_STANDARD))
    image_std: list[float] = field(default_factory=lambda: list(IMAGENET_STANDARD))
    include_top: bool = False
    max_pixels: int = MAX_PIXELS
    extras: dict[str, Any] = field(default_factory=dict, repr=False)

    model_input_names: ClassVar[list[str]] = ["pixel_values"]

    # --- config ----------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageProcessor:
        """A processor from a ``preprocessor_config.json`` object; older ``feature_extractor_type``
        names (``CLIPFeatureExtractor``) read as their image processor."""
        data = dict(data)
        kind = data.pop("image_processor_type", None) or data.pop("feature_extractor_type", None)
        kind = (kind or "ViTImageProcessor").replace("FeatureExtractor", "ImageProcessor").removesuffix("Fast")
        kind = kind.removesuffix("Pil")
        names = {f.name for f in fields(cls)} - {"extras", "image_processor_type"}
        values = {**DEFAULTS.get(kind, {}), **{k: v for k, v in data.items() if k in names}}
        square = SQUARE_SIZES.get(kind, True)
        values["size"] = size_dict(values.get("size", {"height": 224, "width": 224}), square=square)
        if values.get("crop_size") is not None:
            values["crop_size"] = size_dict(values["crop_size"], square=True)
        for key in ("image_mean", "image_std"):
            if isinstance(values.get(key), (int, float)):
                values[key] = [float(values[key])] * 3
        extras = {k: v for k, v in data.items() if k not in names}
        return cls(image_processor_type=kind, **values, extras=extras)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("extras", "max_pixels")}
        return {**out, **self.extras}

    @classmethod
    def from_pretrained(
        cls,
        path_or_repo: str | os.PathLike[str],
        *,
        revision: str | None = None,
        token: str | None = None,
        endpoint: str | None = None,
        **overrides: Any,
    ) -> ImageProcessor:
        """Read ``preprocessor_config.json`` from a folder or a Hub repo; ``overrides`` replace its keys."""
        folder = local_folder(path_or_repo, ["*.json"], revision=revision, token=token, endpoint=endpoint)
        path = folder / PREPROCESSOR_FILE
        if not path.is_file():
            raise ConfigError(f"{folder} has no {PREPROCESSOR_FILE}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: not valid JSON ({e})") from None
        return cls.from_dict({**data, **overrides})

    def save_pretrained(self, folder: str | os.PathLike[str]) -> Path:
        path = Path(folder) / PREPROCESSOR_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path

    # --- processing ------------------------------------------------------------------------

    def __call__(self, images: Any, return_tensors: str | None = "pt", **overrides: Any) -> BatchFeature:
        """``preprocess``; ``overrides`` replace config fields for this call (``do_resize=False``,
        ``size={"height": 32, "width": 32}`` ...), as transformers' processors take them."""
        if overrides:
            unknown = sorted(set(overrides) - {f.name for f in fields(self)} - {"extras"})
            if unknown:
                raise TypeError(f"{type(self).__name__} has no option {', '.join(map(repr, unknown))}")
            data = {**self.to_dict(), **overrides, "max_pixels": self.max_pixels}
            return type(self).from_dict(data).preprocess(images, return_tensors=return_tensors)
        return self.preprocess(images, return_tensors=return_tensors)

    def preprocess(self, images: Any, return_tensors: str | None = "pt") -> BatchFeature:
        """One image or a list -> ``{"pixel_values": (B, 3, H, W) float32 tensor}`` (``return_tensors``
        ``"np"``: a NumPy array; None: a list of (3, H, W) arrays).

        Raises:
            ImageError: an input that cannot be decoded, or is too large.
        """
        import numpy as np

        batch = images if isinstance(images, (list, tuple)) else [images]
        arrays = [self.process_one(image) for image in batch]
        if return_tensors is None:
            return BatchFeature(pixel_values=arrays)
        if len({a.shape for a in arrays}) > 1:
            raise ValueError("images of different sizes cannot be stacked; resize them or pass return_tensors=None")
        stacked = np.stack(arrays)
        if return_tensors == "np":
            return BatchFeature(pixel_values=stacked)
        if return_tensors != "pt":
            raise ValueError(f"return_tensors must be 'pt', 'np' or None, not {return_tensors!r}")
        import torch

        return BatchFeature(pixel_values=torch.from_numpy(stacked))

    def process_one(self, image: Any) -> Any:
        """One image -> a (3, H, W) float32 array (uint8 (3, H, W) when nothing rescales)."""
        import numpy as np
        from PIL import Image

        if not isinstance(image, Image.Image):
            image = load_image(image, max_pixels=self.max_pixels)
        elif image.size[0] * image.size[1] > self.max_pixels:
            image = load_image(image, max_pixels=self.max_pixels)  # raises the size error
        # transformers converts only with do_convert_rgb and fails on other modes; Cove converts always
        image = to_rgb(image)
        if self.do_resize:
            height, width = resized_shape(image.height, image.width, self.size)
            image = image.resize((width, height), resample=self.resample, reducing_gap=None)
        array = np.asarray(image).transpose(2, 0, 1)  # (3, H, W) uint8
        if self.do_center_crop and self.crop_size is not None:
            array = center_crop(array, self.crop_size["height"], self.crop_size["width"])
        if self.do_rescale:
            array = (array.astype(np.float64) * self.rescale_factor).astype(np.float32)
            if self.rescale_offset:
                array -= 1
        if self.do_normalize:
            array = normalize(array, self.image_mean, self.image_std)
        if self.include_top:
            array = normalize(array, [0.0] * 3, self.image_std)
        return np.ascontiguousarray(array)


def normalize(array: Any, mean: list[float], std: list[float]) -> Any:
    """(C, H, W) -> (x - mean) / std per channel, in float32 (float64 input stays float64)."""
    import numpy as np

    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float32)
    if len(mean) != array.shape[0] or len(std) != array.shape[0]:
        raise ValueError(f"image_mean and image_std need {array.shape[0]} values, not {len(mean)} and {len(std)}")
    m = np.array(mean, dtype=array.dtype)[:, None, None]
    s = np.array(std, dtype=array.dtype)[:, None, None]
    return (array - m) / s


def center_crop(array: Any, height: int, width: int) -> Any:
    """(C, H, W) -> (C, height, width) from the middle (top/left rounded down); an image smaller than
    the crop is first zero-padded around its middle, as transformers does."""
    import numpy as np

    h, w = array.shape[-2:]
    top, left = (h - height) // 2, (w - width) // 2
    if top >= 0 and left >= 0:
        return array[..., top : top + height, left : left + width]
    new_h, new_w = max(height, h), max(width, w)
    padded = np.zeros(array.shape[:-2] + (new_h, new_w), dtype=array.dtype)
    pad_top, pad_left = math.ceil((new_h - h) / 2), math.ceil((new_w - w) / 2)
    padded[..., pad_top : pad_top + h, pad_left : pad_left + w] = array
    top, left = top + pad_top, left + pad_left
    return padded[..., max(0, top) : min(new_h, top + height), max(0, left) : min(new_w, left + width)]


class AutoImageProcessor:
    """``AutoImageProcessor.from_pretrained(folder_or_repo)``: the processor its
    ``preprocessor_config.json`` describes."""

    @staticmethod
    def from_pretrained(path_or_repo: str | os.PathLike[str], **options: Any) -> ImageProcessor:
        return ImageProcessor.from_pretrained(path_or_repo, **options)
