"""``POST /api/inference`` for speech recognition against a real ``cove serve``: the converted Whisper
tiny.en uploaded with huggingface_hub, a LibriVox WAV sent as the body (or base64 in JSON) transcribed
as the local pipeline does; private repos 404; corrupt audio a clear 400."""

from __future__ import annotations

import base64
import shutil

import httpx
import pytest
from huggingface_hub import HfApi

from tests.formats.assets import librivox, whisper_folder  # noqa: F401  (pytest fixtures)

CARD = "---\npipeline_tag: automatic-speech-recognition\nlibrary_name: transformers\n---\n# whisper\n"


@pytest.fixture(scope="module")
def speech_repos(hub, whisper_folder, tmp_path_factory):  # noqa: F811
    """``aria/whisper`` (public) and ``aria/whisper-private``: this module's own account."""
    folder = tmp_path_factory.mktemp("asr-repo") / "whisper"
    shutil.copytree(whisper_folder, folder)
    (folder / "README.md").write_text(CARD)
    owner = hub.user("aria")
    api = HfApi(endpoint=hub.url, token=owner)
    for name, private in (("aria/whisper", False), ("aria/whisper-private", True)):
        api.create_repo(name, private=private)
        api.upload_folder(folder_path=folder, repo_id=name, commit_message="Add Whisper tiny.en")
    return owner


def post(hub, repo_id, token=None, **kw) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers.update(kw.pop("headers", {}))
    return httpx.post(f"{hub.url}/api/inference/{repo_id}", headers=headers, timeout=300, **kw)


def test_audio_body_and_base64_are_transcribed(hub, speech_repos, librivox):  # noqa: F811
    wav = next(p for p, _ in librivox if p.stem.endswith("0930")).read_bytes()
    r = post(hub, "aria/whisper", content=wav, headers={"Content-Type": "audio/wav"})
    assert r.status_code == 200, r.text
    assert r.json() == {"text": " He might even have been made amiable himself."}
    assert r.headers["x-inference-task"] == "automatic-speech-recognition"
    body = {"inputs": base64.b64encode(wav).decode(), "parameters": {"return_timestamps": True}}
    r = post(hub, "aria/whisper", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["chunks"][0]["timestamp"][0] == 0.0


def test_private_and_bad_audio(hub, speech_repos, librivox):  # noqa: F811
    wav = next(p for p, _ in librivox if p.stem.endswith("0930")).read_bytes()
    r = post(hub, "aria/whisper-private", content=wav, headers={"Content-Type": "audio/wav"})
    assert r.status_code == 404 and r.headers["x-error-code"] == "RepoNotFound"
    r = post(hub, "aria/whisper-private", speech_repos, content=wav, headers={"Content-Type": "audio/wav"})
    assert r.status_code == 200
    r = post(hub, "aria/whisper", content=b"RIFF....WAVE broken", headers={"Content-Type": "audio/wav"})
    assert r.status_code == 400 and "cannot decode the audio" in r.json()["error"]
    r = post(hub, "aria/whisper", json={"inputs": "not base64!"})
    assert r.status_code == 400 and "base64" in r.json()["error"]
    r = post(hub, "aria/whisper", json={"inputs": "aGk=", "parameters": {"top_k": 3}})
    assert r.status_code == 400 and "Unknown parameter" in r.json()["error"]


def test_the_model_page_widget_transcribes_an_upload(hub, speech_repos, librivox):  # noqa: F811
    page = httpx.get(f"{hub.url}/aria/whisper", timeout=60).text
    assert 'type="file" name="audio"' in page and 'enctype="multipart/form-data"' in page
    wav = next(p for p, _ in librivox if p.stem.endswith("0930")).read_bytes()
    files = {"audio": ("clip.wav", wav, "audio/wav")}
    r = httpx.post(f"{hub.url}/aria/whisper/inference", files=files, timeout=300)
    assert r.status_code == 200
    assert '<pre class="widget-text">He might even have been made amiable himself.</pre>' in r.text
    files = {"audio": ("clip.wav", b"not audio <b>", "audio/wav")}
    r = httpx.post(f"{hub.url}/aria/whisper/inference", files=files, timeout=300)
    assert "cannot decode the audio" in r.text and "<b>" not in r.text.split("widget-error")[1][:200]
