"""Merging a pull request's ref into its base (storage/merge.py) on real bare repos: fast-forward, merge
commit with both parents, conflicts that move nothing, ``.gitattributes`` merged as a union of lines, a
base that moved during the merge, the PR's own commits and its diff."""

from __future__ import annotations

import pygit2
import pytest

from cove.errors import Conflict
from cove.protocol import AddFile
from cove.server.storage import merge
from cove.server.storage.git import GitRepo, GitStore, Identity

ME = Identity("alice", "")


@pytest.fixture
def git(tmp_path) -> GitRepo:
    git = GitStore(tmp_path / "git").init("repo", ME)
    git.commit("main", [AddFile("shared.txt", b"1\n2\n3\n")], ME, "base")
    return git


def open_pr(git: GitRepo, num: int = 1) -> str:
    base = git.resolve("main")
    git.update_ref(f"refs/pr/{num}", base, None)
    return base


def files(git: GitRepo, rev: str) -> dict[str, bytes]:
    sha = git.resolve(rev)
    return {e.path: git.read_blob(e.oid) for e in git.list_tree(sha, recursive=True) if e.type == "file"}


def test_fast_forward(git):
    since = open_pr(git)
    head = git.commit("refs/pr/1", [AddFile("new.txt", b"n")], ME, "Add new\n\nbody")
    assert [(c.title, c.id) for c in merge.pr_commits(git, head, since)] == [("Add new", head)]
    assert "+n" in merge.diff(git, git.resolve("main"), head)
    result = merge.merge(git, "refs/heads/main", head, ME, "Merge")
    assert result == merge.MergeResult(head, [], fast_forward=True) and git.resolve("main") == head
    assert merge.is_merged(git, git.resolve("main"), head)
    assert merge.merge(git, "refs/heads/main", head, ME, "Merge").sha == head  # nothing left: no new commit


def test_merge_commit_and_gitattributes_union(git):
    since = open_pr(git)
    pr = git.commit("refs/pr/1", [AddFile("p.txt", b"p"), AddFile(".gitattributes", b"*.bin lfs\np.dat lfs\n")],
                    ME, "pr")
    main = git.commit("main", [AddFile("m.txt", b"m"), AddFile(".gitattributes", b"*.bin lfs\nm.dat lfs\n")],
                      ME, "main")
    result = merge.merge(git, "refs/heads/main", pr, ME, "Merge pull request #1")
    assert result.conflicts == [] and not result.fast_forward
    commit = git.repo[result.sha].peel(pygit2.Commit)
    assert [str(p) for p in commit.parent_ids] == [main, pr]
    got = files(git, "main")
    assert got["p.txt"] == b"p" and got["m.txt"] == b"m" and got["shared.txt"] == b"1\n2\n3\n"
    lines = got[".gitattributes"].decode().splitlines()
    assert sorted(lines) == ["*.bin lfs", "m.dat lfs", "p.dat lfs"]
    assert [c.title for c in merge.pr_commits(git, pr, since)] == ["pr"]  # main's commits are not the PR's


def test_conflicts_move_nothing(git):
    open_pr(git)
    pr = git.commit("refs/pr/1", [AddFile("shared.txt", b"1\nPR\n3\n"), AddFile("ok.txt", b"ok")], ME, "pr")
    main = git.commit("main", [AddFile("shared.txt", b"1\nMAIN\n3\n")], ME, "main")
    result = merge.merge(git, "refs/heads/main", pr, ME, "Merge")
    assert result == merge.MergeResult(None, ["shared.txt"])
    assert git.resolve("main") == main
    # the same change on both sides is no conflict
    git.commit("refs/pr/1", [AddFile("shared.txt", b"1\nMAIN\n3\n")], ME, "take main's")
    assert merge.merge(git, "refs/heads/main", git.resolve("refs/pr/1"), ME, "Merge").sha is not None


def test_a_base_that_moves_during_the_merge_is_not_lost(git, monkeypatch):
    open_pr(git)
    pr = git.commit("refs/pr/1", [AddFile("p.txt", b"p")], ME, "pr")
    main = git.commit("main", [AddFile("m.txt", b"m")], ME, "main")
    late = git.commit("refs/heads/other", [AddFile("late.txt", b"l")], ME, "late", start_point=main)
    real = git.update_ref

    def racing(name, new, old):  # another writer moves main between the merge reading it and moving it
        real(name, late, old)
        real(name, new, old)

    monkeypatch.setattr(git, "update_ref", racing)
    with pytest.raises(Conflict):
        merge.merge(git, "refs/heads/main", pr, ME, "Merge")
    assert git.resolve("main") == late
