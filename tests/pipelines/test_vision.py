"""Image pipelines against transformers' on the same tiny random checkpoints (same labels, scores
within 1e-5, same order), their argument checks, bad images, and the real EfficientNet-Lite0."""

from __future__ import annotations

import warnings

import pytest
import torch

from cove.pipelines import PipelineError, pipeline
from cove.processors import ImageError
from cove.seed.assets import skimage_photo
from tests.pipelines.vision_models import clip_folder, efficientnet_folder, vit_folder

T = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("vision")
    return {"vit": vit_folder(root), "efficientnet": efficientnet_folder(root), "clip": clip_folder(root)}


@pytest.fixture(scope="module")
def photos():
    try:
        return [str(skimage_photo(name)) for name in ("chelsea.png", "rocket.jpg", "coffee.png")]
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"no packaged photos: {e}")


def reference(task: str, folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return T.pipeline(task, model=str(folder))


def assert_same_ranking(got, expected, atol=1e-5):
    assert [r["label"] for r in got] == [r["label"] for r in expected]
    for a, b in zip(got, expected, strict=True):
        assert list(a) == list(b)  # the same keys in the same order
        assert abs(a["score"] - b["score"]) < atol


@pytest.mark.parametrize("model_type", ["vit", "efficientnet"])
def test_image_classification_equals_transformers(folders, photos, model_type):
    mine, ref = pipeline("image-classification", model=folders[model_type]), reference(
        "image-classification", folders[model_type]
    )
    for kwargs in ({}, {"top_k": 2}, {"function_to_apply": "sigmoid"}):
        assert_same_ranking(mine(photos[0], **kwargs), ref(photos[0], **kwargs))
    batched = mine(photos, batch_size=2)
    assert len(batched) == 3 and all(len(r) == 3 for r in batched)  # top_k 5 capped at 3 labels
    for got, expected in zip(batched, ref(photos), strict=True):
        assert_same_ranking(got, expected)


def test_zero_shot_image_classification_equals_transformers(folders, photos):
    labels = ["cat", "rocket", "cup of coffee"]
    mine = pipeline("zero-shot-image-classification", model=folders["clip"])
    ref = reference("zero-shot-image-classification", folders["clip"])
    for photo in photos:
        assert_same_ranking(mine(photo, candidate_labels=labels), ref(photo, candidate_labels=labels))
    template = {"hypothesis_template": "a {}"}
    assert_same_ranking(
        mine(photos[0], candidate_labels=labels, **template), ref(photos[0], candidate_labels=labels, **template)
    )
    with pytest.raises(ValueError, match="candidate_labels"):
        mine(photos[0])


@pytest.mark.parametrize("model_type", ["vit", "efficientnet"])
def test_image_feature_extraction_equals_transformers(folders, photos, model_type):
    mine = pipeline("image-feature-extraction", model=folders[model_type])
    ref = reference("image-feature-extraction", folders[model_type])
    got, expected = torch.tensor(mine(photos[0])), torch.tensor(ref(photos[0]))
    assert got.shape == expected.shape and got.shape[0] == 1
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    tensor = mine(photos[0], return_tensors=True)
    assert isinstance(tensor, torch.Tensor) and tensor.shape == got.shape


def test_pooled_image_features_equal_transformers(folders, photos):
    # transformers' ViTForImageClassification has no pooler; a ViTModel folder has one
    mine_model = pipeline("image-feature-extraction", model=folders["efficientnet"])
    ref = reference("image-feature-extraction", folders["efficientnet"])
    torch.testing.assert_close(
        torch.tensor(mine_model(photos[0], pool=True)), torch.tensor(ref(photos[0], pool=True)), atol=1e-5, rtol=0
    )


def test_task_comes_from_the_checkpoint_and_bad_input_is_a_clear_error(folders, photos, tmp_path):
    classify = pipeline(model=folders["vit"])
    assert classify.task == "image-classification"
    assert pipeline(model=folders["clip"]).task == "zero-shot-image-classification"
    with pytest.raises(ImageError, match="cannot decode"):
        classify(b"not an image")
    with pytest.raises(ValueError, match="top_k"):
        classify(photos[0], top_k=0)
    with pytest.raises(TypeError, match="unknown parameter"):
        classify(photos[0], candidate_labels=["x"])
    with pytest.raises(PipelineError, match="no default model"):
        pipeline("zero-shot-image-classification")


def test_lite0_classifies_the_packaged_photos(tmp_path_factory):
    """The seed's Lite0 folder through Cove's pipeline: what its card reports."""
    from cove.seed import vision

    folder = tmp_path_factory.mktemp("lite0")
    try:
        vision.convert_lite0(folder)
    except Exception as e:  # noqa: BLE001
        if "cannot fetch" in str(e):
            pytest.skip(str(e))
        raise
    check = vision.photo_check(folder)
    assert check["rows"][0]["photo"] == "chelsea.png" and check["rows"][0]["top5_right"]
    assert check["top5"] >= 3, check
    ref = reference("image-classification", folder)  # transformers reads the same folder alike
    photo = str(skimage_photo("chelsea.png"))
    assert_same_ranking(pipeline("image-classification", model=folder)(photo), ref(photo), atol=1e-4)
