"""The model page's zero-shot-image-classification widget: an uploaded image and comma-separated candidate
labels give the same labels and scores as ``cove.pipeline`` on the same tiny CLIP folder."""

from __future__ import annotations

import io

import httpx
import pytest
from huggingface_hub import HfApi

from tests.inference.models import card
from tests.inference.test_widget import scores_of
from tests.pipelines.vision_models import clip_folder


@pytest.fixture(scope="module")
def clip(hub, tmp_path_factory):
    from PIL import Image

    from cove.pipelines import pipeline

    folder = clip_folder(tmp_path_factory.mktemp("zero-shot-image"))
    (folder / "README.md").write_text(card("zero-shot-image-classification", "tiny clip"))
    api = HfApi(endpoint=hub.url, token=hub.user("zsic-widget"))
    api.create_repo("zsic-widget/tiny-clip")
    api.upload_folder(folder_path=folder, repo_id="zsic-widget/tiny-clip")
    buf = io.BytesIO()
    Image.radial_gradient("L").convert("RGB").resize((40, 36)).save(buf, format="PNG")
    return {"png": buf.getvalue(), "local": pipeline("zero-shot-image-classification", model=folder)}


def test_the_widget_scores_the_typed_labels(hub, clip):
    page = httpx.get(f"{hub.url}/zsic-widget/tiny-clip").text
    assert 'type="file" name="image"' in page and 'name="inputs"' in page and "separated by commas" in page
    r = httpx.post(f"{hub.url}/zsic-widget/tiny-clip/inference", data={"inputs": "a cat, a dog,, a car "},
                   files={"image": ("photo.png", clip["png"], "image/png")}, timeout=120)
    assert r.status_code == 200, r.text
    want = clip["local"](clip["png"], candidate_labels=["a cat", "a dog", "a car"])
    assert scores_of(r.text) == [(x["label"], f"{x['score']:.3f}") for x in want]
    assert sorted(label for label, _ in scores_of(r.text)) == ["a car", "a cat", "a dog"]
    r = httpx.post(f"{hub.url}/zsic-widget/tiny-clip/inference", data={"inputs": " , "},
                   files={"image": ("photo.png", clip["png"], "image/png")}, timeout=120)
    assert "Type the candidate labels" in r.text
    r = httpx.post(f"{hub.url}/zsic-widget/tiny-clip/inference", data={"inputs": "a cat"})
    assert "Choose an image first" in r.text
