"""Building a commit's tree (GitRepo.commit): what each operation does to the folders it touches, what it
leaves alone, and a head that moves while the tree is built outside the lock."""

from __future__ import annotations

import subprocess
import threading
import time

import pytest

from cove.errors import BadRequest, EntryNotFound, PreconditionFailed
from cove.protocol import AddFile, DeleteFile, DeleteFolder
from cove.server.storage.git import GitRepo, GitStore, Identity

ME = Identity("alice", "")


@pytest.fixture
def git(tmp_path) -> GitRepo:
    git = GitStore(tmp_path / "git").init("repo", ME)
    git.commit("main", [AddFile(p, p.encode()) for p in ("a.txt", "d/x.txt", "d/e/y.txt", "d/e/z.txt", "f/g.txt")],
               ME, "files")
    return git


def files(git: GitRepo, rev: str = "main") -> dict[str, bytes]:
    sha = git.resolve(rev)
    return {e.path: git.read_blob(e.oid) for e in git.list_tree(sha, recursive=True) if e.type == "file"}


def test_adds_replace_and_create_folders(git):
    git.commit("main", [AddFile("a.txt", b"new"), AddFile("n/m/o.txt", b"deep"), AddFile("d/e/w.txt", b"w")], ME, "m")
    got = files(git)
    assert got["a.txt"] == b"new" and got["n/m/o.txt"] == b"deep" and got["d/e/w.txt"] == b"w"
    assert got["d/e/y.txt"] == b"d/e/y.txt"


def test_deletes(git):
    git.commit("main", [DeleteFile("d/e/y.txt"), DeleteFolder("f")], ME, "m")
    assert set(files(git)) == {".gitattributes", "a.txt", "d/x.txt", "d/e/z.txt"}
    git.commit("main", [DeleteFile("d/e/z.txt")], ME, "m")  # the last file of d/e: the folder goes too
    sha = git.resolve("main")
    assert [e.path for e in git.list_tree(sha, "d")] == ["d/x.txt"]
    git.commit("main", [DeleteFolder("d"), DeleteFile("a.txt"), DeleteFile(".gitattributes")], ME, "all")
    assert files(git) == {}
    assert str(git.repo[git.resolve("main")].tree_id) == "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # empty


def test_a_file_delete_naming_a_folder_deletes_it(git):
    """The Hub deletes a folder named without its trailing "/" (``CommitOperationDelete("d")``)."""
    git.commit("main", [DeleteFile("d")], ME, "m")
    assert set(files(git)) == {".gitattributes", "a.txt", "f/g.txt"}


def test_a_folder_emptied_in_the_same_commit_may_become_a_file(git):
    git.commit("main", [DeleteFile("f/g.txt"), AddFile("f", b"now a file")], ME, "m")
    assert files(git)["f"] == b"now a file"


@pytest.mark.parametrize(("ops", "error"), [
    ([AddFile("a.txt/b", b"x")], BadRequest),            # under a file
    ([AddFile("d", b"x")], BadRequest),                  # where a folder is
    ([AddFile("d/e", b"x")], BadRequest),
    ([DeleteFile("nope.txt")], EntryNotFound),
    ([DeleteFile("f/g.txt"), DeleteFile("f")], EntryNotFound),  # emptied: no folder left to delete
    ([DeleteFile("a.txt/x")], EntryNotFound),
    ([DeleteFolder("a.txt")], EntryNotFound),            # a file, not a folder
    ([DeleteFolder("nope")], EntryNotFound),
    ([DeleteFolder("f"), DeleteFolder("f")], EntryNotFound),
    ([DeleteFile("f/g.txt"), DeleteFolder("f")], EntryNotFound),  # emptied: gone
])
def test_refused_operations_change_nothing(git, ops, error):
    before = git.resolve("main")
    with pytest.raises(error):
        git.commit("main", ops, ME, "m")
    assert git.resolve("main") == before


def test_only_touched_folders_are_written_again(git):
    before = git.repo[git.resolve("main")].tree
    git.commit("main", [AddFile("d/e/new.txt", b"n")], ME, "m")
    after = git.repo[git.resolve("main")].tree
    assert after["f"].id == before["f"].id and after["d"].id != before["d"].id
    assert after["d/x.txt"].id == before["d/x.txt"].id


def test_parent_commit_is_checked(git):
    head = git.resolve("main")
    with pytest.raises(PreconditionFailed):
        git.commit("main", [AddFile("b.txt", b"b")], ME, "m", parent_commit="0" * 40)
    assert git.commit("main", [AddFile("b.txt", b"b")], ME, "m", parent_commit=head[:7]) != head


def test_a_head_that_moves_during_the_build_is_built_on(git):
    """The tree is built before the lock; if the branch moved meanwhile, it is built again on the new
    head under the lock, so the other writer's change is kept."""
    with git.store.lock(git.key):
        done: list[str] = []
        worker = threading.Thread(target=lambda: done.append(git.commit("main", [AddFile("mine.txt", b"m")], ME, "m")))
        worker.start()
        time.sleep(0.5)  # the worker builds on the current head, then waits for the lock
        other = GitStore(git.store.root).open(git.key)
        tree = other.repo.TreeBuilder(other.repo[git.resolve("main")].tree)
        tree.insert("theirs.txt", other.repo.create_blob(b"t"), 0o100644)
        moved = subprocess.run(["git", "commit-tree", str(tree.write()), "-p", git.resolve("main"), "-m", "theirs"],
                               cwd=git.repo.path, capture_output=True, text=True, check=True,
                               env={"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "b",
                                    "GIT_COMMITTER_EMAIL": "b@x", "PATH": "/usr/bin:/bin"}).stdout.strip()
        subprocess.run(["git", "update-ref", "refs/heads/main", moved], cwd=git.repo.path, check=True)
    worker.join()
    assert git.repo[done[0]].parents[0].id == git.repo[moved].id
    assert {"mine.txt", "theirs.txt"} <= set(files(git))
