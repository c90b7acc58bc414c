"""Image classification on the Hub: ``/api/inference`` with the image as the body or base64 JSON, the
model page's upload widget, the same labels and scores as ``cove.pipeline`` on the same folder, and
clear errors for what is not an image."""

from __future__ import annotations

import base64
import io
import re

import httpx
import pytest
from huggingface_hub import HfApi

from tests.inference.models import card
from tests.inference.test_widget import scores_of
from tests.pipelines.vision_models import vit_folder


@pytest.fixture(scope="module")
def vision(hub, tmp_path_factory):
    """vera's public and private tiny ViT classifiers, and the local pipeline on the same folder."""
    from PIL import Image

    from cove.pipelines import pipeline

    folder = vit_folder(tmp_path_factory.mktemp("vision-inference"))
    (folder / "README.md").write_text(card("image-classification", "tiny vit"))
    owner = hub.user("vera-vision")
    api = HfApi(endpoint=hub.url, token=owner)
    for name, private in (("vera-vision/tiny-vit", False), ("vera-vision/secret-vit", True)):
        api.create_repo(name, private=private)
        api.upload_folder(folder_path=folder, repo_id=name)
    buf = io.BytesIO()
    Image.radial_gradient("L").convert("RGB").resize((48, 40)).save(buf, format="PNG")
    return {"owner": owner, "png": buf.getvalue(), "local": pipeline("image-classification", model=folder)}


def post(hub, repo_id: str, **kw) -> httpx.Response:
    return httpx.post(f"{hub.url}/api/inference/{repo_id}", timeout=120, **kw)


def test_an_image_body_and_base64_json_give_the_local_pipelines_answer(hub, vision):
    want = vision["local"](vision["png"])
    r = post(hub, "vera-vision/tiny-vit", content=vision["png"], headers={"Content-Type": "image/png"})
    assert r.status_code == 200, r.text
    assert r.json() == want and r.headers["x-inference-task"] == "image-classification"
    encoded = base64.b64encode(vision["png"]).decode()
    r = post(hub, "vera-vision/tiny-vit", json={"inputs": encoded, "parameters": {"top_k": 1}})
    assert r.status_code == 200 and r.json() == vision["local"](vision["png"], top_k=1)
    r = post(hub, "vera-vision/tiny-vit", json={"inputs": f"data:image/png;base64,{encoded}"})
    assert r.status_code == 200 and r.json() == want


def test_what_is_not_an_image_is_a_400_and_private_models_a_404(hub, vision):
    for kw in (
        {"content": b"GIF89a not really", "headers": {"Content-Type": "image/gif"}},
        {"json": {"inputs": "%%% not base64 %%%"}},
        {"json": {"inputs": base64.b64encode(b"plain text").decode()}},
        {"json": {"inputs": ["a", "list"]}},
        {"json": {"inputs": base64.b64encode(vision["png"]).decode(), "parameters": {"pool": True}}},
    ):
        r = post(hub, "vera-vision/tiny-vit", **kw)
        assert r.status_code == 400, (kw, r.text)
    r = post(hub, "vera-vision/secret-vit", content=vision["png"], headers={"Content-Type": "image/png"})
    assert r.status_code == 404
    r = post(hub, "vera-vision/secret-vit", content=vision["png"],
             headers={"Content-Type": "image/png", "Authorization": f"Bearer {vision['owner']}"})
    assert r.status_code == 200


def test_the_widget_takes_an_upload_and_shows_labels_with_scores(hub, vision):
    page = httpx.get(f"{hub.url}/vera-vision/tiny-vit")
    assert 'type="file" name="image"' in page.text and 'enctype="multipart/form-data"' in page.text
    r = httpx.post(
        f"{hub.url}/vera-vision/tiny-vit/inference",
        files={"image": ("photo.png", vision["png"], "image/png")},
        timeout=120,
    )
    assert r.status_code == 200, r.text
    want = [(x["label"], f"{x['score']:.3f}") for x in vision["local"](vision["png"], top_k=5)]
    assert scores_of(r.text) == want
    r = httpx.post(f"{hub.url}/vera-vision/tiny-vit/inference", files={"image": ("x.png", b"nope", "image/png")})
    assert r.status_code == 200 and re.search(r'class="alert widget-error">[^<]*cannot decode', r.text)
    r = httpx.post(f"{hub.url}/vera-vision/tiny-vit/inference", data={"inputs": "text"})
    assert "Choose an image first" in r.text
