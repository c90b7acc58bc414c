"""Image processors: pixel values equal to transformers' (PIL backend) for ViT, CLIP and EfficientNet
configs on real photos; colour modes, huge and corrupt images; config round trip; AutoProcessor."""

from __future__ import annotations

import io
import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from cove.processors import AutoImageProcessor, AutoProcessor, ImageError, ImageProcessor, load_image
from cove.seed.assets import skimage_photo

T = pytest.importorskip("transformers")

CONFIGS = [
    ("ViTImageProcessor", {}),
    ("CLIPImageProcessor", {}),
    ("EfficientNetImageProcessor", {}),
    ("EfficientNetImageProcessor", {"size": {"shortest_edge": 256}, "do_center_crop": True,
                                    "crop_size": {"height": 224, "width": 224}, "include_top": False,
                                    "rescale_offset": True}),
    ("CLIPImageProcessor", {"size": {"shortest_edge": 224, "longest_edge": 300}}),
    ("CLIPImageProcessor", {"size": 40, "crop_size": 400}),  # a crop larger than the image pads it
    ("ViTImageProcessor", {"size": 30, "resample": 0}),
]


@pytest.fixture(scope="module")
def photos():
    try:
        cat = Image.open(skimage_photo("chelsea.png"))
        rocket = Image.open(skimage_photo("rocket.jpg"))
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"no packaged photos: {e}")
    return [cat, rocket, cat.resize((100, 60))]


def reference(kind: str, options: dict):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(T, kind)(**options)


@pytest.mark.parametrize("kind,options", CONFIGS)
def test_pixel_values_equal_transformers(tmp_path, photos, kind, options):
    ref = reference(kind, options)
    ref.save_pretrained(tmp_path)  # the preprocessor_config.json transformers writes
    mine = AutoImageProcessor.from_pretrained(tmp_path)
    assert mine.image_processor_type == kind
    for photo in photos:
        expected = ref(photo, return_tensors="pt")["pixel_values"]
        got = mine(photo)["pixel_values"]
        assert got.dtype == torch.float32 and got.shape == expected.shape
        torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)


def test_a_batch_stacks_and_cove_configs_load_in_transformers(tmp_path, photos):
    mine = ImageProcessor.from_dict({"image_processor_type": "CLIPImageProcessor"})
    batch = mine(photos)["pixel_values"]
    assert batch.shape == (3, 3, 224, 224)
    mine.save_pretrained(tmp_path)
    ref = T.AutoImageProcessor.from_pretrained(tmp_path)
    torch.testing.assert_close(batch, ref(photos, return_tensors="pt")["pixel_values"], atol=1e-6, rtol=0)
    again = ImageProcessor.from_pretrained(tmp_path)
    assert again.to_dict() == mine.to_dict()


@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK", "P", "LA", "I;16", "1"])
def test_colour_modes_become_rgb_as_clip_converts_them(photos, mode):
    """CLIP converts (transparency onto white); Cove does so for every processor (transformers' ViT
    processor fails on them instead)."""
    image = photos[2].convert(mode)
    ref = reference("CLIPImageProcessor", {})
    expected = ref(image, return_tensors="pt")["pixel_values"]
    for kind in ("CLIPImageProcessor", "ViTImageProcessor"):
        got = ImageProcessor.from_dict({"image_processor_type": kind})(image)["pixel_values"]
        assert got.shape[1] == 3
    clip = ImageProcessor.from_dict({"image_processor_type": "CLIPImageProcessor"})
    torch.testing.assert_close(clip(image)["pixel_values"], expected, atol=1e-6, rtol=0)


def test_load_image_reads_paths_bytes_and_arrays(photos):
    path = skimage_photo("chelsea.png")
    by_path = load_image(str(path))
    by_bytes = load_image(path.read_bytes())
    assert by_path.mode == "RGB" and by_path.size == (451, 300)
    assert np.array_equal(np.asarray(by_path), np.asarray(by_bytes))
    array = np.asarray(by_path)
    assert np.array_equal(np.asarray(load_image(array)), array)
    assert np.array_equal(np.asarray(load_image(array.transpose(2, 0, 1))), array)  # channels first
    assert np.array_equal(np.asarray(load_image(torch.from_numpy(array.copy()))), array)


def test_corrupt_empty_and_huge_images_are_clear_errors(tmp_path, photos):
    buf = io.BytesIO()
    photos[0].save(buf, format="PNG")
    data = buf.getvalue()
    with pytest.raises(ImageError, match="cannot decode"):
        load_image(data[: len(data) // 2])  # truncated
    with pytest.raises(ImageError, match="cannot decode"):
        load_image(b"this is not an image")
    with pytest.raises(ImageError, match="no such image file"):
        load_image(str(tmp_path / "missing.png"))
    with pytest.raises(ImageError, match="URL"):
        load_image("https://example.com/cat.png")
    # a 10000 x 9000 PNG (1 bit per pixel, 11 MB): refused from its header, before pixels are decoded
    huge = io.BytesIO()
    Image.new("1", (10000, 9000)).save(huge, format="PNG")
    with pytest.raises(ImageError, match="too large to decode|at most 89478485"):
        load_image(huge.getvalue())
    with pytest.raises(ImageError, match="at most 100"):
        ImageProcessor(max_pixels=100)(photos[0])
    with pytest.raises(ImageError, match="must be"):
        load_image(np.zeros((2, 2, 2, 2), dtype=np.uint8))


def test_bad_configs_are_config_errors(tmp_path):
    from cove.formats.config import ConfigError

    with pytest.raises(ConfigError, match="no preprocessor_config.json"):
        AutoImageProcessor.from_pretrained(tmp_path)
    (tmp_path / "preprocessor_config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        AutoImageProcessor.from_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="size"):
        ImageProcessor.from_dict({"size": {"depth": 3}})


def test_auto_processor_pairs_the_image_processor_with_the_tokenizer(tmp_path, photos):
    """A CLIP-style folder: preprocessor_config.json and a tokenizer -> one call for both."""
    from tests.pipelines.vision_models import clip_folder

    folder = clip_folder(tmp_path)
    processor = AutoProcessor.from_pretrained(folder)
    out = processor(text=["a cat", "a rocket on a pad"], images=photos[:2], padding=True)
    assert out["pixel_values"].shape == (2, 3, 30, 30)
    assert out["input_ids"].shape[0] == 2 and out["attention_mask"].shape == out["input_ids"].shape
    assert json.loads((folder / "preprocessor_config.json").read_text())["image_processor_type"] == "CLIPImageProcessor"
    with pytest.raises(ValueError, match="pass text, images"):
        processor()


def test_call_time_options_override_the_config(photos):
    ref = reference("CLIPImageProcessor", {})
    mine = ImageProcessor.from_dict({"image_processor_type": "CLIPImageProcessor"})
    options = {"size": {"shortest_edge": 64}, "crop_size": {"height": 48, "width": 48}}
    expected = ref(photos[0], return_tensors="pt", **options)["pixel_values"]
    got = mine(photos[0], **options)["pixel_values"]
    assert got.shape == (1, 3, 48, 48)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
    assert mine.size == {"shortest_edge": 224}  # the processor itself is unchanged
    with pytest.raises(TypeError, match="no option 'sharpen'"):
        mine(photos[0], sharpen=True)
