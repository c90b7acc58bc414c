"""Uploads: create_commit (add, delete, copy), upload_file, upload_folder, inline and through LFS."""

from __future__ import annotations

import io
import os

import pytest
from tests.hub.conftest import PART, unique

from cove.errors import BadRequest, EntryNotFound, PreconditionFailed
from cove.hub import CommitOperationAdd, CommitOperationCopy, CommitOperationDelete, HubApi


def _read(api, repo, path, revision=None):
    return api.download(repo, path, revision=revision, progress=False).read_bytes()


def test_create_commit_add_delete_copy(api, repo):
    info = api.create_commit(repo, [CommitOperationAdd("a.txt", b"alpha"), CommitOperationAdd("d/b.txt", b"beta"),
                                    CommitOperationAdd("d/c.txt", b"gamma")],
                             commit_message="first", commit_description="the body", progress=False)
    assert len(info.oid) == 40 and info.commit_url.endswith(f"/{repo}/commit/{info.oid}")
    first = api.list_repo_commits(repo)[0]
    assert first.commit_id == info.oid and first.title == "first" and "the body" in first.message
    api.create_commit(repo, [CommitOperationCopy("a.txt", "copy/a.txt"), CommitOperationDelete("d/b.txt")],
                      commit_message="copy and delete", progress=False)
    assert sorted(api.list_repo_files(repo)) == [".gitattributes", "a.txt", "copy/a.txt", "d/c.txt"]
    assert _read(api, repo, "copy/a.txt") == b"alpha"
    api.create_commit(repo, [CommitOperationDelete("d/")], commit_message="rm folder", progress=False)
    assert "d/c.txt" not in api.list_repo_files(repo)
    with pytest.raises(EntryNotFound) as e:
        api.create_commit(repo, [CommitOperationDelete("nope.txt")], commit_message="x", progress=False)
    assert "nope.txt" in str(e.value)


def test_copy_from_older_revision_and_lfs_copy(api, repo):
    big = os.urandom(11 * 1024 * 1024)
    old = api.create_commit(repo, [CommitOperationAdd("w.bin", big), CommitOperationAdd("t.txt", b"v1")],
                            commit_message="v1", progress=False).oid
    api.upload_file(path_or_fileobj=b"v2", path_in_repo="t.txt", repo_id=repo, progress=False)
    api.create_commit(repo, [CommitOperationCopy("t.txt", "old.txt", src_revision=old),
                             CommitOperationCopy("w.bin", "w2.bin")], commit_message="copies", progress=False)
    assert _read(api, repo, "old.txt") == b"v1"
    entries = {e.path: e for e in api.list_repo_tree(repo)}
    assert entries["w2.bin"].lfs is not None and entries["w2.bin"].lfs.sha256 == entries["w.bin"].lfs.sha256
    assert _read(api, repo, "w2.bin") == big


def test_upload_file_sources(api, repo, tmp_path):
    f = tmp_path / "f.txt"
    f.write_bytes(b"from a path")
    api.upload_file(path_or_fileobj=f, path_in_repo="p.txt", repo_id=repo, progress=False)
    api.upload_file(path_or_fileobj=str(f), path_in_repo="s.txt", repo_id=repo, progress=False)
    api.upload_file(path_or_fileobj=io.BytesIO(b"from a fileobj"), path_in_repo="o.txt", repo_id=repo, progress=False)
    api.upload_file(path_or_fileobj=b"", path_in_repo="empty.txt", repo_id=repo, progress=False)
    assert _read(api, repo, "p.txt") == _read(api, repo, "s.txt") == b"from a path"
    assert _read(api, repo, "o.txt") == b"from a fileobj"
    assert _read(api, repo, "empty.txt") == b""
    with pytest.raises(BadRequest):
        api.upload_file(path_or_fileobj=tmp_path / "missing", path_in_repo="m.txt", repo_id=repo, progress=False)


def test_unchanged_files_make_no_commit(api, repo):
    first = api.upload_file(path_or_fileobj=b"same", path_in_repo="s.txt", repo_id=repo, progress=False)
    again = api.upload_file(path_or_fileobj=b"same", path_in_repo="s.txt", repo_id=repo, progress=False)
    assert again.oid == first.oid and len(api.list_repo_commits(repo)) == 2  # the initial commit + one


def test_parent_commit_guards_against_races(api, repo):
    base = api.upload_file(path_or_fileobj=b"1", path_in_repo="x.txt", repo_id=repo, progress=False).oid
    api.upload_file(path_or_fileobj=b"2", path_in_repo="x.txt", repo_id=repo, progress=False)
    with pytest.raises(PreconditionFailed):
        api.upload_file(path_or_fileobj=b"3", path_in_repo="x.txt", repo_id=repo, parent_commit=base, progress=False)


def test_commit_to_branch_and_dataset(api):
    ds = f"alice/{unique('ds')}"
    api.create_repo(ds, repo_type="dataset")
    api.create_branch(ds, branch="dev", repo_type="dataset")
    api.upload_file(path_or_fileobj=b"a,b\n", path_in_repo="data.csv", repo_id=ds, repo_type="dataset",
                    revision="dev", progress=False)
    assert "data.csv" in api.list_repo_files(ds, repo_type="dataset", revision="dev")
    assert "data.csv" not in api.list_repo_files(ds, repo_type="dataset")
    assert api.download(ds, "data.csv", repo_type="dataset", revision="dev", progress=False).read_bytes() == b"a,b\n"


def test_upload_folder_patterns(api, repo, tmp_path):
    src = tmp_path / "model"
    (src / "sub").mkdir(parents=True)
    (src / ".git").mkdir()
    for name, data in {"config.json": b"{}", "model.bin": b"w" * 100, "notes.tmp": b"x", "sub/t.txt": b"t",
                       ".git/HEAD": b"ref"}.items():
        (src / name).write_bytes(data)
    api.upload_folder(repo_id=repo, folder_path=src, ignore_patterns=["*.tmp"], progress=False)
    assert sorted(api.list_repo_files(repo)) == [".gitattributes", "config.json", "model.bin", "sub/t.txt"]
    api.upload_folder(repo_id=repo, folder_path=src, path_in_repo="only", allow_patterns=["*.json", "sub/"],
                      progress=False)
    assert sorted(f for f in api.list_repo_files(repo) if f.startswith("only/")) == ["only/config.json",
                                                                                     "only/sub/t.txt"]
    (src / "model.bin").unlink()
    (src / "sub/t.txt").write_bytes(b"changed")
    api.upload_folder(repo_id=repo, folder_path=src, ignore_patterns=["*.tmp"], delete_patterns=["*.bin", "*.txt"],
                      progress=False)
    files = api.list_repo_files(repo)
    assert "model.bin" not in files and "sub/t.txt" in files and "only/config.json" in files
    assert _read(api, repo, "sub/t.txt") == b"changed"


def test_readme_metadata_is_validated(api, repo):
    api.upload_file(path_or_fileobj=b"---\nlicense: mit\n---\n# Hi\n", path_in_repo="README.md", repo_id=repo,
                    progress=False)
    assert api.repo_info(repo).card_data == {"license": "mit"}


@pytest.fixture
def lfs_api(lfs_hub, tmp_path):
    with HubApi(lfs_hub.url, lfs_hub.user("alice"), cache_dir=tmp_path / "lfs-cache") as client:
        yield client


def test_lfs_mode_basic_and_multipart(lfs_api, lfs_hub, tmp_path, hf_home):
    repo = f"alice/{unique('lfs')}"
    lfs_api.create_repo(repo)
    small_bin = os.urandom(2000)  # binary sample -> lfs, basic PUT
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * PART + 12345))  # -> multipart, 4 parts
    info = lfs_api.create_commit(repo, [CommitOperationAdd("small.bin", small_bin), CommitOperationAdd("big.bin", big),
                                        CommitOperationAdd("readme.txt", b"text goes inline")],
                                 commit_message="lfs", progress=False)
    entries = {e.path: e for e in lfs_api.list_repo_tree(repo, revision=info.oid)}
    assert entries["big.bin"].lfs is not None and entries["small.bin"].lfs is not None
    assert entries["readme.txt"].lfs is None
    assert lfs_api.download(repo, "big.bin", progress=False).read_bytes() == big.read_bytes()
    assert lfs_api.download(repo, "small.bin", progress=False).read_bytes() == small_bin
    from huggingface_hub import hf_hub_download

    p = hf_hub_download(repo, "big.bin", endpoint=lfs_hub.url, token=lfs_hub.user("alice"),
                        cache_dir=hf_home / "hub")
    assert open(p, "rb").read() == big.read_bytes()
    again = lfs_api.upload_file(path_or_fileobj=big, path_in_repo="big.bin", repo_id=repo, progress=False)
    assert again.oid == info.oid  # unchanged LFS file: nothing sent, no commit
    lfs_api.upload_file(path_or_fileobj=big, path_in_repo="copy-of-big.bin", repo_id=repo, progress=False)
    assert lfs_api.download(repo, "copy-of-big.bin", progress=False).read_bytes() == big.read_bytes()
