"""Downloads into the HF-layout cache: revisions, snapshots, local_dir, offline, resume, corruption."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from cove.errors import EntryNotFound, LocalEntryNotFound, RevisionNotFound, Unprocessable
from cove.hub import CommitOperationAdd, HubApi, download, snapshot_download, verify_cache
from cove.hub.cache import RepoCache
from cove.protocol import git_blob_sha1


@pytest.fixture
def filled(api, repo):
    """A repo with a regular file, a nested one and a 12 MiB binary (stored as LFS by the server)."""
    big = os.urandom(12 * 1024 * 1024)
    files = {"config.json": b'{"a": 1}', "sub/tok.txt": b"hello\n", "weights.bin": big}
    api.create_commit(repo, [CommitOperationAdd(k, v) for k, v in files.items()], commit_message="init",
                      progress=False)
    return repo, files


def test_download_file_layout(api, filled, cache):
    repo, files = filled
    path = api.download(repo, "config.json", progress=False)
    assert path.read_bytes() == files["config.json"]
    rc = RepoCache(cache, repo, "model")
    commit = (rc.folder / "refs" / "main").read_text()
    assert path == rc.snapshot(commit, "config.json") and path.is_symlink()
    assert os.readlink(path) == f"../../blobs/{git_blob_sha1(files['config.json'])}"
    big = api.download(repo, "weights.bin", progress=False)
    info = next(e for e in api.list_repo_tree(repo) if e.path == "weights.bin")
    assert info.lfs is not None and big.resolve().name == info.lfs.sha256
    assert big.read_bytes() == files["weights.bin"]
    nested = api.download(repo, "sub/tok.txt", progress=False)
    assert os.readlink(nested) == f"../../../blobs/{git_blob_sha1(b'hello' + bytes([10]))}"


def test_download_revisions(api, filled):
    repo, files = filled
    first = api.repo_info(repo).sha
    api.create_tag(repo, tag="v1")
    api.upload_file(path_or_fileobj=b'{"a": 2}', path_in_repo="config.json", repo_id=repo, progress=False)
    assert api.download(repo, "config.json", progress=False).read_bytes() == b'{"a": 2}'
    assert api.download(repo, "config.json", revision="v1", progress=False).read_bytes() == files["config.json"]
    assert api.download(repo, "config.json", revision=first, progress=False).read_bytes() == files["config.json"]
    with pytest.raises(RevisionNotFound):
        api.download(repo, "config.json", revision="v2", progress=False)


def test_missing_file_is_remembered(api, filled, cache):
    repo, _ = filled
    with pytest.raises(EntryNotFound):
        api.download(repo, "tokenizer.json", progress=False)
    rc = RepoCache(cache, repo, "model")
    commit = (rc.folder / "refs" / "main").read_text()
    assert rc.no_exist(commit, "tokenizer.json").exists()
    with pytest.raises(EntryNotFound):  # answered from .no_exist without the network
        HubApi("http://127.0.0.1:9", cache_dir=cache).download(repo, "tokenizer.json", revision=commit)


def test_module_functions_and_local_dir(hub, alice, filled, tmp_path):
    repo, files = filled
    p = download(repo, "config.json", endpoint=hub.url, token=alice, cache_dir=tmp_path / "c", progress=False)
    assert p.read_bytes() == files["config.json"]
    local = tmp_path / "local"
    q = download(repo, "sub/tok.txt", endpoint=hub.url, token=alice, local_dir=local, progress=False)
    assert q == local / "sub" / "tok.txt" and not q.is_symlink() and q.read_bytes() == files["sub/tok.txt"]
    meta = (local / ".cache/huggingface/download/sub/tok.txt.metadata").read_text().splitlines()
    assert meta[1] == git_blob_sha1(files["sub/tok.txt"])
    folder = snapshot_download(repo, endpoint=hub.url, token=alice, local_dir=local, progress=False)
    assert folder == local and (local / "weights.bin").read_bytes() == files["weights.bin"]


def test_snapshot_patterns_and_one_commit(api, filled, cache):
    repo, files = filled
    folder = api.snapshot_download(repo, allow_patterns=["*.json", "sub/"], progress=False)
    got = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert got == ["config.json", "sub/tok.txt"]
    folder = api.snapshot_download(repo, ignore_patterns="*.bin", progress=False)
    assert not (folder / "weights.bin").exists() and (folder / ".gitattributes").exists()
    full = api.snapshot_download(repo, progress=False)
    assert full.name == api.repo_info(repo).sha
    assert {p.name for p in full.rglob("*") if p.is_file()} == {".gitattributes", "config.json", "tok.txt",
                                                                 "weights.bin"}
    assert (full / "weights.bin").read_bytes() == files["weights.bin"]


def test_snapshot_resolves_branch_once(api, filled, monkeypatch):
    """A commit landing on main while a snapshot runs does not leak into it."""
    repo, files = filled
    import cove.hub.client as client_mod

    real = client_mod.HubApi.list_repo_tree
    sha = api.repo_info(repo).sha

    def racing(self, *a, **kw):
        api.upload_file(path_or_fileobj=b"new", path_in_repo="config.json", repo_id=repo, progress=False)
        monkeypatch.setattr(client_mod.HubApi, "list_repo_tree", real)
        return real(self, *a, **kw)

    monkeypatch.setattr(client_mod.HubApi, "list_repo_tree", racing)
    folder = api.snapshot_download(repo, progress=False)
    assert folder.name == sha and (folder / "config.json").read_bytes() == files["config.json"]
    assert api.repo_info(repo).sha != sha


def test_offline_mode(api, filled, cache, monkeypatch, hub, alice):
    repo, files = filled
    api.download(repo, "config.json", progress=False)
    api.snapshot_download(repo, allow_patterns="*.txt", progress=False)
    monkeypatch.setenv("COVE_OFFLINE", "1")
    offline = HubApi("http://127.0.0.1:9", cache_dir=cache)  # a dead endpoint: nothing may be sent
    assert offline.download(repo, "config.json").read_bytes() == files["config.json"]
    assert (offline.snapshot_download(repo) / "sub/tok.txt").read_bytes() == files["sub/tok.txt"]
    with pytest.raises(LocalEntryNotFound) as e:
        offline.download(repo, "weights.bin")
    assert "COVE_OFFLINE" in str(e.value)
    with pytest.raises(LocalEntryNotFound):
        offline.snapshot_download(repo, revision="other-branch")


def test_unreachable_hub_falls_back_to_cache(api, filled, cache):
    repo, files = filled
    api.download(repo, "config.json", progress=False)
    dead = HubApi("http://127.0.0.1:9", cache_dir=cache)
    dead.session.retries = 1
    assert dead.download(repo, "config.json").read_bytes() == files["config.json"]
    with pytest.raises(LocalEntryNotFound) as e:
        dead.download(repo, "sub/tok.txt")
    assert "unreachable" in str(e.value)


def test_resume_from_partial_file(api, filled, cache, caplog):
    repo, files = filled
    info = next(e for e in api.list_repo_tree(repo) if e.path == "weights.bin")
    rc = RepoCache(cache, repo, "model")
    rc.incomplete(info.etag).parent.mkdir(parents=True)
    rc.incomplete(info.etag).write_bytes(files["weights.bin"][:5_000_000])
    with caplog.at_level(logging.INFO, logger="cove.hub"):
        path = api.download(repo, "weights.bin", progress=False)
    assert path.read_bytes() == files["weights.bin"]
    assert "Resuming" in caplog.text and "at byte 5000000" in caplog.text
    assert not rc.incomplete(info.etag).exists()


def test_corrupted_partial_file_is_detected_and_refetched(api, filled, cache, caplog):
    repo, files = filled
    info = next(e for e in api.list_repo_tree(repo) if e.path == "weights.bin")
    rc = RepoCache(cache, repo, "model")
    rc.incomplete(info.etag).parent.mkdir(parents=True)
    rc.incomplete(info.etag).write_bytes(b"\0" * 4_000_000)  # wrong bytes: resuming gives a bad hash
    with caplog.at_level(logging.WARNING, logger="cove.hub"):
        path = api.download(repo, "weights.bin", progress=False)
    assert path.read_bytes() == files["weights.bin"]
    assert "downloading it again" in caplog.text


def test_corrupted_server_copy_raises(plain_api, repo, hub):
    """The server's LFS object is damaged on disk: the client refuses the bytes instead of caching them.
    (A plain LFS blob: uploaded through the batch API. The Xet case is in test_xet.py.)"""
    api = plain_api
    data = os.urandom(11 * 1024 * 1024)
    api.upload_file(path_or_fileobj=data, path_in_repo="w.bin", repo_id=repo, progress=False)
    info = next(e for e in api.list_repo_tree(repo) if e.path == "w.bin")
    stored = [p for p in (hub.data_dir / "lfs").rglob(info.lfs.sha256 + "*") if p.is_file()]
    assert stored, "LFS object not found in the server's store"
    with open(stored[0], "r+b") as f:
        f.seek(1000)
        f.write(b"CORRUPT")
    with pytest.raises(Unprocessable) as e:
        api.download(repo, "w.bin", progress=False)
    assert info.lfs.sha256 in str(e.value)
    rc = RepoCache(api.config.cache_dir, repo, "model")
    assert not rc.blob(info.lfs.sha256).exists() and not rc.incomplete(info.lfs.sha256).exists()


def test_corrupted_cache_blob_detected(api, filled, cache):
    repo, files = filled
    path = api.download(repo, "weights.bin", progress=False)
    blob = path.resolve()
    assert verify_cache(cache) == []
    with open(blob, "r+b") as f:
        f.write(b"garbage")
    assert verify_cache(cache) == [blob]
    assert verify_cache(cache, remove=True) == [blob] and not blob.exists()
    assert api.download(repo, "weights.bin", progress=False).read_bytes() == files["weights.bin"]
    with open(blob, "ab") as f:  # a blob of the wrong size is fetched again on the next online call
        f.write(b"extra")
    assert api.download(repo, "weights.bin", progress=False).read_bytes() == files["weights.bin"]


CHILD = """
import sys
from cove.hub import download
p = download(sys.argv[1], "weights.bin", endpoint=sys.argv[2], token=sys.argv[3], cache_dir=sys.argv[4],
             progress=False)
print(p)
"""


def test_concurrent_processes_download_one_file(hub, alice, filled, cache):
    repo, files = filled
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, repo, hub.url, alice, str(cache)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    paths = {o.strip() for o, _ in outs}
    assert len(paths) == 1
    from pathlib import Path

    assert Path(paths.pop()).read_bytes() == files["weights.bin"]
    rc = RepoCache(cache, repo, "model")
    assert [p.name for p in (rc.folder / "blobs").iterdir() if p.name.endswith(".incomplete")] == []
