"""The stock huggingface_hub client against `cove serve`: uploads, commits, LFS, downloads, the cache."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import httpx
import pytest
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationCopy,
    CommitOperationDelete,
    HfApi,
    constants,
    hf_hub_download,
    snapshot_download,
)
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, RevisionNotFoundError

from tests.conftest import start_server, stop_server, stored_blobs

MiB = 1024 * 1024


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


def rand(n: int, seed: int = 0) -> bytes:
    import random

    return random.Random(seed).randbytes(n)


@pytest.fixture
def repo(hub, alice):
    api = HfApi(endpoint=hub.url, token=alice)
    name = f"alice/{uniq('files')}"
    api.create_repo(name)
    return api, name


# -- 3. uploads and commits ------------------------------------------------------------------------


def test_upload_regular_binary_and_large_files(repo, hub, alice, hf_home):
    api, name = repo
    text = b"hello world\n" * 10
    small_bin = b"\x00\x01binary" * 100
    big = rand(10 * MiB + 123, seed=1)
    api.upload_file(path_or_fileobj=text, path_in_repo="docs/readme.txt", repo_id=name)
    api.upload_file(path_or_fileobj=small_bin, path_in_repo="data/small.bin", repo_id=name)
    api.upload_file(path_or_fileobj=big, path_in_repo="big.dat", repo_id=name)
    entries = {e.path: e for e in api.list_repo_tree(name, recursive=True)}
    assert entries["docs/readme.txt"].lfs is None
    assert entries["docs/readme.txt"].blob_id == git_sha1(text)
    assert entries["docs/readme.txt"].size == len(text)
    for path, data in (("data/small.bin", small_bin), ("big.dat", big)):
        e = entries[path]
        assert e.lfs is not None and e.lfs.sha256 == sha256(data) and e.size == len(data), path
    # the client's cache fills as from the public Hub: blobs named by etag, refs, snapshot symlinks
    cache = hf_home / "hub"
    for path, data in (("docs/readme.txt", text), ("big.dat", big)):
        local = Path(hf_hub_download(name, path, endpoint=hub.url, token=alice, cache_dir=cache))
        assert local.read_bytes() == data
        assert local.is_symlink()
        blob = Path(os.readlink(local))  # blobs/<etag> (a Xet download links on to a blob shared by file ID)
        assert blob.name == (git_sha1(data) if path.endswith(".txt") else sha256(data))
    folder = cache / f"models--alice--{name.split('/')[1]}"
    head = api.model_info(name).sha
    assert (folder / "refs" / "main").read_text() == head
    assert (folder / "snapshots" / head / "big.dat").exists()
    # re-uploading the same content is a no-op the client detects (preupload oid)
    before = api.model_info(name).sha
    api.upload_file(path_or_fileobj=big, path_in_repo="big.dat", repo_id=name)
    api.upload_file(path_or_fileobj=text, path_in_repo="docs/readme.txt", repo_id=name)
    assert api.model_info(name).sha == before


def test_create_commit_add_delete_copy(repo):
    api, name = repo
    lfs_data = rand(3000, seed=2) + b"\x00"
    api.create_commit(name, operations=[
        CommitOperationAdd("a.txt", b"A"),
        CommitOperationAdd("dir/b.txt", b"B"),
        CommitOperationAdd("dir/sub/c.txt", b"C"),
        CommitOperationAdd("w.safetensors", lfs_data),
    ], commit_message="add things", commit_description="a longer\n\ndescription")
    commit = api.list_repo_commits(name)[0]
    assert commit.title == "add things" and commit.message.strip() == "a longer\n\ndescription"
    api.create_commit(name, operations=[
        CommitOperationCopy("a.txt", "copy/a.txt"),
        CommitOperationCopy("w.safetensors", "copy/w.safetensors"),
        CommitOperationDelete("dir/sub/"),
        CommitOperationDelete("a.txt"),
    ], commit_message="copy and delete")
    files = api.list_repo_files(name)
    assert sorted(files) == sorted([".gitattributes", "copy/a.txt", "copy/w.safetensors", "dir/b.txt", "w.safetensors"])
    info = {e.path: e for e in api.get_paths_info(name, ["copy/w.safetensors", "copy/a.txt", "dir", "missing"])}
    assert set(info) == {"copy/w.safetensors", "copy/a.txt", "dir"}
    assert info["copy/w.safetensors"].lfs.sha256 == sha256(lfs_data)
    assert type(info["dir"]).__name__ == "RepoFolder"
    with pytest.raises(EntryNotFoundError):
        api.delete_file("not-there.txt", repo_id=name)
    api.delete_folder("dir", repo_id=name)
    assert "dir/b.txt" not in api.list_repo_files(name)


def test_parent_commit_mismatch_is_a_conflict(repo):
    api, name = repo
    first = api.upload_file(path_or_fileobj=b"1", path_in_repo="x.txt", repo_id=name).oid
    api.upload_file(path_or_fileobj=b"2", path_in_repo="x.txt", repo_id=name, parent_commit=first[:10])
    before = api.model_info(name).sha
    with pytest.raises(HfHubHTTPError) as e:
        api.upload_file(path_or_fileobj=b"3", path_in_repo="x.txt", repo_id=name, parent_commit=first)
    assert e.value.response.status_code == 412
    assert api.model_info(name).sha == before


def test_upload_folder_patterns(repo, tmp_path, hub, alice):
    api, name = repo
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "keep.txt").write_text("keep")
    (src / "sub" / "nested.json").write_text("{}")
    (src / "skip.log").write_text("log")
    (src / "model.safetensors").write_bytes(rand(2000, seed=3))
    api.upload_folder(folder_path=src, repo_id=name, ignore_patterns=["*.log"])
    assert sorted(api.list_repo_files(name)) == [".gitattributes", "keep.txt", "model.safetensors", "sub/nested.json"]
    api.upload_folder(folder_path=src, repo_id=name, path_in_repo="only", allow_patterns=["*.json"])
    api.upload_folder(folder_path=src, repo_id=name, allow_patterns=["*.json"], delete_patterns=["keep.txt"])
    assert sorted(api.list_repo_files(name)) == [".gitattributes", "model.safetensors", "only/sub/nested.json",
                                                 "sub/nested.json"]
    # a 500-file folder in one call
    many = tmp_path / "many"
    many.mkdir()
    for i in range(500):
        (many / f"f{i:03d}.txt").write_text(f"{i}\n")
    api.upload_folder(folder_path=many, repo_id=name, path_in_repo="many")
    assert len([f for f in api.list_repo_files(name) if f.startswith("many/")]) == 500
    out = snapshot_download(name, endpoint=hub.url, token=alice, cache_dir=tmp_path / "c", allow_patterns=["many/*"])
    assert len(list((Path(out) / "many").iterdir())) == 500


# -- 4. downloads ------------------------------------------------------------------------------------


def test_download_at_branch_tag_and_sha(repo, hub, alice, tmp_path):
    api, name = repo
    c1 = api.upload_file(path_or_fileobj=b"v1", path_in_repo="f.txt", repo_id=name).oid
    api.create_tag(name, tag="v1")
    api.create_branch(name, branch="dev")
    api.upload_file(path_or_fileobj=b"v2", path_in_repo="f.txt", repo_id=name)
    api.upload_file(path_or_fileobj=b"dev", path_in_repo="f.txt", repo_id=name, revision="dev")
    cache = tmp_path / "cache"

    def get(rev):
        return Path(hf_hub_download(name, "f.txt", revision=rev, endpoint=hub.url, token=alice,
                                    cache_dir=cache)).read_bytes()

    assert get("main") == b"v2"
    assert get("v1") == b"v1"
    assert get(c1) == b"v1"
    assert get("dev") == b"dev"
    with pytest.raises(RevisionNotFoundError):
        get("nope")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(name, "missing.txt", endpoint=hub.url, token=alice, cache_dir=cache)
    # the miss is cached as the client does with the public Hub
    assert any((cache / f"models--alice--{name.split('/')[1]}" / ".no_exist").rglob("missing.txt"))


def test_snapshot_download_patterns(repo, hub, alice, tmp_path):
    api, name = repo
    api.create_commit(name, operations=[CommitOperationAdd(p, p.encode()) for p in
                                        ["a.json", "b.json", "c.txt", "d/e.json", "w.bin"]],
                      commit_message="files")
    api.create_tag(name, tag="t")
    out = Path(snapshot_download(name, endpoint=hub.url, token=alice, cache_dir=tmp_path / "c",
                                 allow_patterns=["*.json"], ignore_patterns=["d/*"]))
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == ["a.json", "b.json"]
    out = Path(snapshot_download(name, revision="t", endpoint=hub.url, token=alice, local_dir=tmp_path / "l"))
    assert (out / "w.bin").read_bytes() == b"w.bin" and (out / "d" / "e.json").read_bytes() == b"d/e.json"
    assert out.name == "l"


def test_head_metadata_and_ranges(repo, hub, alice):
    api, name = repo
    big = rand(10 * MiB + 5, seed=4)
    api.upload_file(path_or_fileobj=big, path_in_repo="big.bin", repo_id=name)
    api.upload_file(path_or_fileobj=b"0123456789", path_in_repo="s.txt", repo_id=name)
    sha = api.model_info(name).sha
    h = {"authorization": f"Bearer {alice}", "accept-encoding": "identity"}
    r = httpx.head(f"{hub.url}/{name}/resolve/main/big.bin", headers=h)
    assert r.status_code == 200
    assert r.headers["x-repo-commit"] == sha
    assert r.headers["x-linked-etag"].strip('"') == sha256(big)
    assert int(r.headers["x-linked-size"]) == len(big)
    assert len(r.headers["x-xet-hash"]) == 64  # uploaded through Xet: downloadable through Xet
    r = httpx.head(f"{hub.url}/{name}/resolve/main/s.txt", headers=h)
    assert r.headers["etag"].strip('"') == git_sha1(b"0123456789")
    assert int(r.headers["content-length"]) == 10
    for rng, expect, status in [("bytes=2-5", b"2345", 206), ("bytes=7-", b"789", 206), ("bytes=-3", b"789", 206),
                                ("bytes=0-100000", b"0123456789", 206)]:
        r = httpx.get(f"{hub.url}/{name}/resolve/main/s.txt", headers={**h, "range": rng})
        assert (r.status_code, r.content) == (status, expect), rng
    r = httpx.get(f"{hub.url}/{name}/resolve/main/s.txt", headers={**h, "range": "bytes=10-"})
    assert r.status_code == 416
    r = httpx.get(f"{hub.url}/{name}/resolve/main/big.bin", headers={**h, "range": f"bytes={5 * MiB}-{5 * MiB + 9}"})
    assert r.status_code == 206 and r.content == big[5 * MiB:5 * MiB + 10]
    assert r.headers["content-range"] == f"bytes {5 * MiB}-{5 * MiB + 9}/{len(big)}"


def test_resume_a_partial_download(repo, hub, alice, tmp_path):
    """The client's own resume path (``http_get`` with ``resume_size``) continues with a Range request."""
    from huggingface_hub.file_download import http_get

    api, name = repo
    data = rand(25 * MiB, seed=5)
    api.upload_file(path_or_fileobj=data, path_in_repo="big.bin", repo_id=name)
    target = tmp_path / "big.bin.incomplete"
    with open(target, "wb") as f:
        f.write(data[: 10 * MiB])
        http_get(f"{hub.url}/{name}/resolve/main/big.bin", f, resume_size=10 * MiB, expected_size=len(data),
                 headers={"authorization": f"Bearer {alice}"})
    assert target.read_bytes() == data


# -- LFS through the batch API (clients that don't use Xet), multipart, sha256 checks -----------------


@pytest.fixture(scope="module")
def lfs_hub(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("lfs") / "data",
                          env={"COVE_LFS_UPLOADS": "lfs", "COVE_MULTIPART_PART_SIZE": str(5 * MiB)})
    yield server
    stop_server(server)


def test_lfs_batch_basic_and_multipart(lfs_hub, monkeypatch, tmp_path):
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    token = lfs_hub.user("lena")
    api = HfApi(endpoint=lfs_hub.url, token=token)
    name = f"lena/{uniq('lfs')}"
    api.create_repo(name)
    small = rand(100_000, seed=6) + b"\x00"
    big = rand(12 * MiB + 7, seed=7)  # three parts of 5 MiB
    api.upload_file(path_or_fileobj=small, path_in_repo="small.bin", repo_id=name)
    api.upload_file(path_or_fileobj=big, path_in_repo="big.safetensors", repo_id=name)
    tree = {e.path: e for e in api.list_repo_tree(name)}
    assert tree["big.safetensors"].lfs.sha256 == sha256(big)
    assert tree["small.bin"].lfs.sha256 == sha256(small)
    local = hf_hub_download(name, "big.safetensors", endpoint=lfs_hub.url, token=token, cache_dir=tmp_path)
    assert Path(local).read_bytes() == big
    # the same content again: the batch API says "already stored", nothing is re-sent
    api.upload_file(path_or_fileobj=big, path_in_repo="copy.safetensors", repo_id=name)
    assert {e.path: e for e in api.list_repo_tree(name)}["copy.safetensors"].lfs.sha256 == sha256(big)


def test_lfs_object_must_match_its_sha256(lfs_hub):
    token = lfs_hub.user("lena")
    api = HfApi(endpoint=lfs_hub.url, token=token)
    name = f"lena/{uniq('bad-lfs')}"
    api.create_repo(name)
    data = b"real content"
    oid = sha256(b"other content")
    h = {"authorization": f"Bearer {token}", "content-type": "application/vnd.git-lfs+json"}
    r = httpx.post(f"{lfs_hub.url}/{name}.git/info/lfs/objects/batch", headers=h,
                   json={"operation": "upload", "transfers": ["basic"], "objects": [{"oid": oid, "size": len(data)}]})
    href = r.json()["objects"][0]["actions"]["upload"]["href"]
    r = httpx.put(href, content=data)
    assert r.status_code == 422
    # nothing was stored: a commit that references it is refused and the branch does not move
    before = api.model_info(name).sha
    body = (b'{"key":"header","value":{"summary":"x"}}\n'
            + f'{{"key":"lfsFile","value":{{"path":"x.bin","algo":"sha256","oid":"{oid}","size":{len(data)}}}}}\n'.encode())
    r = httpx.post(f"{lfs_hub.url}/api/models/{name}/commit/main", content=body,
                   headers={"authorization": f"Bearer {token}", "content-type": "application/x-ndjson"})
    assert r.status_code == 422
    assert api.model_info(name).sha == before
    # a tampered URL is refused
    r = httpx.put(href.replace("sig=", "sig=0"), content=b"x")
    assert r.status_code == 403
    assert oid not in stored_blobs(lfs_hub, "lfs")


def test_transformers_style_load(repo, hub, alice, tmp_path):
    """What `from_pretrained` asks: repo info, config HEAD+GET, optional files as EntryNotFound."""
    api, name = repo
    api.upload_file(path_or_fileobj=b'{"model_type": "bert"}', path_in_repo="config.json", repo_id=name)
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": alice, "HF_HOME": str(tmp_path)}
    import subprocess
    import sys

    code = (
        "from huggingface_hub import hf_hub_download, list_repo_tree\n"
        "from huggingface_hub.utils import EntryNotFoundError\n"
        f"p = hf_hub_download('{name}', 'config.json')\n"
        "print(open(p).read())\n"
        "try:\n"
        f"    list(list_repo_tree('{name}', path_in_repo='additional_chat_templates'))\n"
        "except EntryNotFoundError:\n"
        "    print('no templates')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert '"model_type": "bert"' in out.stdout and "no templates" in out.stdout


def test_multipart_faults(lfs_hub):
    token = lfs_hub.user("lena")
    api = HfApi(endpoint=lfs_hub.url, token=token)
    name = f"lena/{uniq('mp')}"
    api.create_repo(name)
    data = rand(11 * MiB, seed=8)
    oid = sha256(data)
    h = {"authorization": f"Bearer {token}", "content-type": "application/vnd.git-lfs+json"}
    r = httpx.post(f"{lfs_hub.url}/{name}.git/info/lfs/objects/batch", headers=h, json={
        "operation": "upload", "transfers": ["basic", "multipart"], "objects": [{"oid": oid, "size": len(data)}]})
    assert r.json()["transfer"] == "multipart"
    upload = r.json()["objects"][0]["actions"]["upload"]
    part_urls = [upload["header"][str(i)] for i in (1, 2, 3)]
    size = int(upload["header"]["chunk_size"])
    # a short part is refused, completing with a part missing is refused
    assert httpx.put(part_urls[0], content=data[: size - 1]).status_code == 422
    for i, url in enumerate(part_urls[:2]):
        r = httpx.put(url, content=data[i * size:(i + 1) * size])
        assert r.status_code == 200 and r.headers["etag"]
    parts = [{"partNumber": i, "etag": "x"} for i in (1, 2, 3)]
    assert httpx.post(upload["href"], json={"oid": oid, "parts": parts}).status_code == 400
    # a tampered part: the whole object fails its sha256 at completion and nothing is stored
    bad = bytearray(data[2 * size:])
    bad[0] ^= 1
    assert httpx.put(part_urls[2], content=bytes(bad)).status_code == 200
    assert httpx.post(upload["href"], json={"oid": oid, "parts": parts}).status_code == 422
    assert oid not in stored_blobs(lfs_hub, "lfs")
    assert [p for p in Path(lfs_hub.data_dir, "lfs", "tmp").iterdir() if oid in p.name] == []
