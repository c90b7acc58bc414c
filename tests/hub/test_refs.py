"""Branches, tags, refs and history."""

from __future__ import annotations

import pytest

from cove.errors import Conflict, RevisionNotFound


def test_branches_tags_refs_commits(api, repo):
    c1 = api.upload_file(path_or_fileobj=b"1", path_in_repo="f.txt", repo_id=repo, progress=False).oid
    api.create_branch(repo, branch="dev")
    api.create_branch(repo, branch="feature/x", revision=c1)
    with pytest.raises(Conflict):
        api.create_branch(repo, branch="dev")
    api.create_branch(repo, branch="dev", exist_ok=True)
    api.create_tag(repo, tag="v1", tag_message="first")
    with pytest.raises(Conflict):
        api.create_tag(repo, tag="v1")
    api.create_tag(repo, tag="v1", exist_ok=True)
    c2 = api.upload_file(path_or_fileobj=b"2", path_in_repo="f.txt", repo_id=repo, revision="feature/x",
                         progress=False).oid
    refs = api.list_repo_refs(repo)
    branches = {b.name: b.target_commit for b in refs.branches}
    assert branches == {"main": c1, "dev": c1, "feature/x": c2}
    assert [(t.name, t.ref, t.target_commit) for t in refs.tags] == [("v1", "refs/tags/v1", c1)]
    assert refs.converts == [] and refs.pull_requests is None
    assert api.list_repo_refs(repo, include_pull_requests=True).pull_requests == []
    history = api.list_repo_commits(repo, revision="feature/x")
    assert [c.commit_id for c in history][:2] == [c2, c1] and history[0].authors == ["alice"]
    assert history[0].created_at is not None and history[-1].title
    assert api.download(repo, "f.txt", revision="feature/x", progress=False).read_bytes() == b"2"
    api.delete_tag(repo, tag="v1")
    api.delete_branch(repo, branch="dev")
    refs = api.list_repo_refs(repo)
    assert {b.name for b in refs.branches} == {"main", "feature/x"} and refs.tags == []
    with pytest.raises(RevisionNotFound):
        api.delete_branch(repo, branch="dev")
    with pytest.raises(RevisionNotFound):
        api.list_repo_commits(repo, revision="nope")


def test_commits_paginate(api, repo):
    for i in range(5):
        api.upload_file(path_or_fileobj=str(i).encode(), path_in_repo="n.txt", repo_id=repo, progress=False)
    assert len(api.list_repo_commits(repo)) == 6
