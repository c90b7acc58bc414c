"""The dataset viewer shows Image cells as ``<img>`` and Audio cells as ``<audio controls>``, each loading
one cell's stored bytes from ``/api/datasets/{repo}/cell``: known image and audio types inline under a
sandbox policy, anything else (SVG, HTML) as an octet-stream attachment; a private repo's cells are a
404 to outsiders."""

from __future__ import annotations

import html as htmllib
import io
import re
import uuid

import httpx
import numpy as np
import pytest

import cove.datasets as cd
from tests.datasets.test_hub import lfs_hub, run_hf  # noqa: F401 (a fixture)

SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"<!doctype html><html><body><script>alert(1)</script></body></html>"


def _image(fmt: str) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (5, 3), (200, 30, 30)).save(buf, format=fmt)
    return buf.getvalue()


def _sound(fmt: str) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, 0.3 * np.sin(np.arange(800) / 8000 * 2 * np.pi * 440), 8000, format=fmt)
    return buf.getvalue()


@pytest.fixture(scope="module")
def media(hub):
    """A public and a private dataset with an Image and an Audio column; -> (token, repos, cells)."""
    token = hub.user("viewer-media")
    cells = {"img": [_image("PNG"), _image("JPEG"), SVG, HTML], "audio": [_sound("WAV"), _sound("FLAC"), HTML, None]}
    features = cd.Features({"img": cd.Image(), "audio": cd.Audio(), "n": cd.Value("int32")})
    ds = cd.Dataset.from_dict({**cells, "n": [0, 1, 2, 3]}, features=features)
    public, private = (f"viewer-media/m-{uuid.uuid4().hex[:8]}" for _ in range(2))
    ds.push_to_hub(public, token=token, endpoint=hub.url)
    ds.push_to_hub(private, token=token, endpoint=hub.url, private=True)
    return token, (public, private), cells


def _media_urls(page: str) -> dict[str, list[str]]:
    return {tag: [htmllib.unescape(u) for u in re.findall(rf'<{tag}[^>]* src="(/api/datasets/[^"]+)"', page)]
            for tag in ("img", "audio")}


def test_page_and_rows_point_at_cells_served_with_their_type(hub, media):
    token, (public, _), cells = media
    page = httpx.get(f"{hub.url}/datasets/{public}")
    assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    urls = _media_urls(page.text)
    assert len(urls["img"]) == 4 and len(urls["audio"]) == 3  # the null audio cell has no player
    assert all(u.startswith(f"/api/datasets/{public}/cell?") for u in urls["img"] + urls["audio"])
    expected = {"img": ["image/png", "image/jpeg", None, None], "audio": ["audio/wav", "audio/flac", None]}
    for tag, column in (("img", "img"), ("audio", "audio")):
        for url, original, kind in zip(urls[tag], cells[column], expected[tag], strict=False):
            got = httpx.get(hub.url + url)
            assert got.status_code == 200 and got.content == original
            assert got.headers["x-content-type-options"] == "nosniff"
            assert "sandbox" in got.headers["content-security-policy"]
            if kind:
                assert got.headers["content-type"] == kind and got.headers["content-disposition"] == "inline"
            else:  # SVG and HTML never inline: a download that runs nothing
                assert got.headers["content-type"] == "application/octet-stream"
                assert got.headers["content-disposition"].startswith("attachment")

    rows = httpx.get(f"{hub.url}/api/datasets/{public}/rows").json()["rows"]
    assert rows[0]["row"]["audio"][0]["type"] == "audio/wav" and rows[3]["row"]["audio"] is None
    image = httpx.get(rows[1]["row"]["img"]["src"])  # the API gives absolute URLs
    assert image.content == cells["img"][1] and image.headers["content-type"] == "image/jpeg"
    assert httpx.get(rows[0]["row"]["audio"][0]["src"]).content == cells["audio"][0]


def test_cell_refuses_outsiders_and_bad_requests(hub, media):
    token, (public, private), cells = media
    owner = {"authorization": f"Bearer {token}"}
    outsider = {"authorization": f"Bearer {hub.user('viewer-media-outsider')}"}
    cell = f"{hub.url}/api/datasets/{private}/cell"
    assert httpx.get(cell, params={"row": 0, "column": "img"}, headers=owner).content == cells["img"][0]
    assert httpx.get(cell, params={"row": 0, "column": "img"}, headers=outsider).status_code == 404
    assert httpx.get(cell, params={"row": 0, "column": "img"}).status_code in (401, 404)
    page = httpx.get(f"{hub.url}/datasets/{private}", headers=owner).text
    assert _media_urls(page)["img"] and httpx.get(hub.url + _media_urls(page)["img"][0],
                                                  headers=outsider).status_code == 404
    cell = f"{hub.url}/api/datasets/{public}/cell"
    assert httpx.get(cell, params={"row": 4, "column": "img"}).status_code == 404  # past the end
    assert httpx.get(cell, params={"row": 3, "column": "audio"}).status_code == 404  # a null cell
    assert httpx.get(cell, params={"row": -1, "column": "img"}).status_code == 400
    assert httpx.get(cell, params={"row": "x", "column": "img"}).status_code in (400, 422)
    assert httpx.get(cell, params={"row": 0, "column": "n"}).status_code == 400  # not a media column
    assert httpx.get(cell, params={"row": 0, "column": "nope"}).status_code == 400
    assert httpx.get(cell, params={"row": 0, "column": "img", "split": "nope"}).status_code == 404


def test_browser_shows_the_image(hub, media):
    pytest.importorskip("playwright")
    from tests.browser import chromium_page

    _, (public, _), _ = media
    with chromium_page() as page:
        page.goto(f"{hub.url}/datasets/{public}")
        first = page.locator(".dataset-viewer img").first
        first.evaluate("img => img.decode()")
        assert first.evaluate("img => img.naturalWidth") == 5
        assert page.locator(".dataset-viewer audio[controls]").count() == 3


def test_a_dataset_pushed_by_hugging_face_datasets(lfs_hub, tmp_path):  # noqa: F811
    """Hugging Face ``datasets`` writes Image and Audio columns as ``{bytes, path}`` structs with the
    feature types in the Parquet schema's ``huggingface`` metadata: the viewer serves them back."""
    token = lfs_hub.user("viewer-media-hf")
    repo = f"viewer-media-hf/m-{uuid.uuid4().hex[:8]}"
    png, wav = _image("PNG"), _sound("WAV")
    (tmp_path / "x.png").write_bytes(png)
    (tmp_path / "x.wav").write_bytes(wav)
    run_hf(lfs_hub.url, token, f"""
        import datasets
        ds = datasets.Dataset.from_dict({{"img": [{str(tmp_path / "x.png")!r}], "audio": [{str(tmp_path / "x.wav")!r}]}})
        ds = ds.cast_column("img", datasets.Image()).cast_column("audio", datasets.Audio(decode=False))
        ds.push_to_hub({repo!r})
    """, tmp_path)
    urls = _media_urls(httpx.get(f"{lfs_hub.url}/datasets/{repo}").text)
    image, sound = (httpx.get(lfs_hub.url + urls[tag][0]) for tag in ("img", "audio"))
    assert image.content == png and image.headers["content-type"] == "image/png"
    assert sound.content == wav and sound.headers["content-type"] == "audio/wav"
