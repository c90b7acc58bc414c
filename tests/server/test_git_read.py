"""Reading repos that hold what a push may no longer bring (written before the push checks, or by hand):
listings and lookups skip bad names, symbolic links, submodules and unreadable trees without failing,
an LFS pointer outside the repo's scope is an ordinary file, and the inference snapshot never writes
outside its folder."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from cove.errors import EntryNotFound, Unprocessable
from cove.server.services.inference import Snapshots, destination
from cove.server.storage.blobs import BlobStore
from cove.server.storage.git import GitStore, Identity
from tests.server import crafted
from tests.server.crafted import EXECUTABLE, FILE, FOLDER, GITLINK, SYMLINK

GOOD = {".gitattributes", "README.md", "run.sh", "dir/ok.txt", "dir/deeper/ok.txt", ".github/ci.yml"}


@pytest.fixture
def store(tmp_path) -> GitStore:
    return GitStore(tmp_path / "data" / "git")


@pytest.fixture
def corrupt(store) -> tuple[str, str]:
    """A repo whose ``main`` was moved by hand to a commit full of entries no push may bring."""
    git = store.init("corrupt", Identity("mallory", ""))
    path = store.path("corrupt")

    def blob(data: bytes) -> str:
        return crafted.write("blob", data, path)

    def tree(*entries) -> str:
        return crafted.tree(path, entries)

    pwned = tree((FILE, b"pwned.txt", blob(b"outside!")))
    escape = tree((FOLDER, b"..", tree((FOLDER, b"..", tree((FOLDER, b"..", pwned))))))
    root = tree(
        (FILE, b".gitattributes", str(git.repo.revparse_single("main:.gitattributes").id)),
        (FILE, b"README.md", blob(b"---\npipeline_tag: text-classification\n---\n")),
        (EXECUTABLE, b"run.sh", blob(b"#!/bin/sh\n")),
        (FOLDER, b"dir", tree((FILE, b"ok.txt", blob(b"ok")), (FOLDER, b"..", pwned),
                              (FOLDER, b"deeper", tree((FILE, b"ok.txt", blob(b"ok 2")), (FILE, b".git", blob(b"x")))))),
        (FOLDER, b".github", tree((FILE, b"ci.yml", blob(b"on: push\n")))),
        (FOLDER, b"..", escape),
        (FOLDER, b".", pwned),
        (FOLDER, b".git", tree((FILE, b"config", blob(b"[core]\n")))),
        (FILE, b".GIT", blob(b"x")),
        (FILE, b"git~1", blob(b"x")),
        (FILE, b".git.", blob(b"x")),
        (FILE, ".g\u200cit".encode(), blob(b"x")),
        (FILE, b"a/b", blob(b"x")),
        (FILE, b"a\\b", blob(b"x")),
        (FILE, b"ctl\x01", blob(b"x")),
        (FILE, b"x" * 300, blob(b"x")),
        (FILE, b"\xff\xfe", blob(b"x")),
        (SYMLINK, b"link", blob(b"/etc/passwd")),
        (GITLINK, b"submodule", "1" * 40),
        (FOLDER, b"broken", crafted.write("tree", b"100644 \0" + bytes(20), path)),  # an empty name: unreadable
        (FOLDER, b"blob-as-folder", blob(b"not a tree")),
    )
    sha = crafted.commit(path, root, [git.resolve("main")])
    subprocess.run(["git", "update-ref", "refs/heads/main", sha], cwd=path, check=True)
    return "corrupt", sha


def test_listings_skip_what_breaks_the_rules(store, corrupt):
    key, sha = corrupt
    git = store.open(key)
    files = {e.path for e in git.list_tree(sha, recursive=True) if e.type == "file"}
    assert files == GOOD
    folders = {e.path for e in git.list_tree(sha, recursive=True) if e.type == "directory"}
    assert folders == {"dir", "dir/deeper", ".github", "broken", "blob-as-folder"}  # listed, content unreadable
    assert {e.path for e in git.list_tree(sha)} == {".gitattributes", "README.md", "run.sh", "dir", ".github",
                                                    "broken", "blob-as-folder"}
    assert {e.path for e in git.list_tree(sha, "dir")} == {"dir/ok.txt", "dir/deeper"}
    assert git.list_tree(sha, "broken") == [] and git.list_tree(sha, "blob-as-folder") == []
    for path in ("..", "../..", ".git", "dir/..", "link", "submodule", "nope"):
        with pytest.raises(EntryNotFound):
            git.list_tree(sha, path)


@pytest.mark.parametrize("path", ["..", "../../pwned.txt", ".git/config", ".GIT", "git~1", ".git.", "link",
                                  "submodule", "dir/../pwned.txt", "dir/deeper/.git", "broken", "a\\b", ""])
def test_lookups_find_nothing_bad(store, corrupt, path):
    key, sha = corrupt
    entry = store.open(key).get_entry(sha, path)
    assert entry is None or (path == "broken" and entry.type == "directory")


def test_last_commits_of_a_listing(store, corrupt):
    key, sha = corrupt
    git = store.open(key)
    paths = [e.path for e in git.list_tree(sha)]
    last = git.last_commits(sha, paths)
    assert set(last) == set(paths) and last["README.md"].id == sha


def test_the_snapshot_writes_only_good_files_inside_its_folder(store, corrupt, tmp_path):
    key, sha = corrupt
    before = set(tmp_path.rglob("*"))
    snapshots = Snapshots(tmp_path / "data" / "inference", BlobStore(f"file://{tmp_path}/data/lfs"))
    folder = snapshots.folder(store.open(key), sha)
    assert folder == tmp_path / "data" / "inference" / sha
    written = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert written == GOOD - {".gitattributes"}
    assert not any(p.is_symlink() for p in folder.rglob("*"))
    new = {p for p in set(tmp_path.rglob("*")) - before if folder not in p.parents and p != folder}
    assert {p.relative_to(tmp_path) for p in new if p.is_file() or p.name == "pwned.txt"} == set()
    assert not list(tmp_path.rglob("pwned.txt"))


@pytest.mark.parametrize("path", ["../x", "a/../../x", "/etc/x", "a/..", "..", "link/x", "link/../x"])
def test_snapshot_destinations_stay_inside(tmp_path, path):
    root = tmp_path / "snap"
    root.mkdir()
    os.symlink(tmp_path, root / "link")
    with pytest.raises(Unprocessable):
        destination(root, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snap"]


def test_snapshot_destinations(tmp_path):
    assert destination(tmp_path, "a/b/c.txt") == tmp_path / "a" / "b" / "c.txt"
    assert (tmp_path / "a" / "b").is_dir()


def test_an_lfs_pointer_is_lfs_only_inside_the_scope(store, tmp_path):
    git = store.init("lfs", Identity("alice", ""))
    path = store.path("lfs")
    mine, theirs = hashlib.sha256(b"mine!").hexdigest(), hashlib.sha256(b"theirs").hexdigest()
    pointers = {"mine.bin": crafted.pointer(mine, 5), "theirs.bin": crafted.pointer(theirs, 6),
                "longer.bin": crafted.pointer(mine, 6), "shorter.bin": crafted.pointer(mine, 4)}
    root = crafted.tree(path, [(FILE, name.encode(), crafted.write("blob", data, path))
                               for name, data in pointers.items()])
    sha = crafted.commit(path, root, [git.resolve("main")])
    asked = []

    def scope(oids: set[str]) -> dict[str, int]:
        asked.append(set(oids))
        return {mine: 5} if mine in oids else {}

    entries = {e.path: e for e in store.open("lfs", scope).list_tree(sha)}
    assert asked == [{mine, theirs}]  # one question for the whole listing
    assert (entries["mine.bin"].lfs_oid, entries["mine.bin"].size) == (mine, 5)
    assert entries["mine.bin"].lfs_pointer_size == len(pointers["mine.bin"])
    for name in ("theirs.bin", "longer.bin", "shorter.bin"):
        assert entries[name].lfs_oid is None, name
        assert entries[name].size == len(pointers[name]), name  # the pointer text, as an ordinary file
    assert store.open("lfs", scope).get_entry(sha, "longer.bin").lfs_oid is None
    assert store.open("lfs", scope).get_entry(sha, "mine.bin").lfs_oid == mine
    assert store.open("lfs").get_entry(sha, "mine.bin").lfs_oid is None  # no scope: no LFS at all


def test_refs_that_lead_nowhere_are_left_out(store):
    git = store.init("refs", Identity("alice", ""))
    path = store.path("refs")
    tree = str(git.repo.revparse_single("main^{tree}").id)
    subprocess.run(["git", "update-ref", "refs/tags/tree-tag", tree], cwd=path, check=True)
    (Path(path) / "refs" / "heads" / "to-blob").write_text(crafted.write("blob", b"x", path) + "\n")  # git refuses
    assert set(git.refs("refs/tags/")) == set()
    assert set(git.refs("refs/heads/")) == {"main"}
