"""The cache is the Hugging Face hub cache: Cove reads what huggingface_hub wrote, and the reverse."""

from __future__ import annotations

import os

import pytest
from huggingface_hub import hf_hub_download, scan_cache_dir
from huggingface_hub import snapshot_download as hf_snapshot_download

from cove.hub import CommitOperationAdd, HubApi, scan_cache


@pytest.fixture
def content(api, repo):
    files = {"config.json": b'{"model_type": "bert"}', "nested/vocab.txt": b"a\nb\n",
             "model.safetensors": os.urandom(11 * 1024 * 1024)}
    sha = api.create_commit(repo, [CommitOperationAdd(k, v) for k, v in files.items()], commit_message="init",
                            progress=False).oid
    api.create_tag(repo, tag="v1")
    return repo, files, sha


def test_cove_reads_hf_cache(content, hub, alice, hf_home, monkeypatch):
    repo, files, sha = content
    cache = hf_home / "hub"
    folder = hf_snapshot_download(repo, endpoint=hub.url, token=alice, cache_dir=cache)
    hf_hub_download(repo, "config.json", revision="v1", endpoint=hub.url, token=alice, cache_dir=cache)
    monkeypatch.setenv("COVE_OFFLINE", "1")
    cove = HubApi("http://127.0.0.1:9", cache_dir=cache)
    for name, data in files.items():
        p = cove.download(repo, name)
        assert p.read_bytes() == data and str(p).startswith(str(folder))
    assert cove.download(repo, "config.json", revision="v1").read_bytes() == files["config.json"]
    assert str(cove.snapshot_download(repo)) == folder
    assert cove.download(repo, "config.json", revision=sha).read_bytes() == files["config.json"]
    [cached] = scan_cache(cache)
    assert cached.repo_id == repo and cached.revisions[0].commit == sha and "main" in cached.revisions[0].refs


def test_hf_reads_cove_cache(content, api, hub, alice, cache):
    repo, files, sha = content
    folder = api.snapshot_download(repo, progress=False)
    api.download(repo, "config.json", revision="v1", progress=False)
    for name, data in files.items():
        p = hf_hub_download(repo, name, cache_dir=cache, local_files_only=True)
        assert open(p, "rb").read() == data
    assert hf_hub_download(repo, "config.json", revision="v1", cache_dir=cache, local_files_only=True)
    assert hf_snapshot_download(repo, cache_dir=cache, local_files_only=True) == str(folder)
    info = scan_cache_dir(cache)
    [r] = info.repos
    assert r.repo_id == repo and r.size_on_disk >= sum(len(v) for v in files.values())
    [rev] = r.revisions
    assert rev.commit_hash == sha and {"main", "v1"} <= set(rev.refs) and rev.nb_files == 4
    # online, huggingface_hub finds every blob in place and downloads nothing
    blobs = {p.name: p.stat().st_mtime_ns for p in (cache / f"models--{repo.replace('/', '--')}" / "blobs").iterdir()}
    hf_snapshot_download(repo, endpoint=hub.url, token=alice, cache_dir=cache)
    after = {p.name: p.stat().st_mtime_ns for p in (cache / f"models--{repo.replace('/', '--')}" / "blobs").iterdir()}
    assert after == blobs


def test_missing_file_markers_are_shared(content, api, hub, alice, cache):
    repo, _, sha = content
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.file_download import _CACHED_NO_EXIST

    with pytest.raises(Exception):  # noqa: B017 - cove.errors.EntryNotFound
        api.download(repo, "tokenizer.json", progress=False)
    assert try_to_load_from_cache(repo, "tokenizer.json", cache_dir=cache, revision=sha) is _CACHED_NO_EXIST
