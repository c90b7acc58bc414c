"""Pull requests through the stock huggingface_hub client and stock git: ``refs/pr/N`` from creation,
commits with ``create_pr=True`` (``create_commit``, ``upload_file``, ``upload_folder``) and to
``revision="refs/pr/N"``, every read route at that revision, a PR from a user who may only read, the diff,
merges (fast-forward, merge commit, conflicts, stale PRs), and a git push to ``refs/pr/N``."""

from __future__ import annotations

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError, RevisionNotFoundError

from tests.e2e.test_collections import status_of, uniq
from tests.e2e.test_git import git, git_env, remote  # noqa: F401  (git_env is a fixture)


def add(path: str, data: bytes) -> CommitOperationAdd:
    return CommitOperationAdd(path_in_repo=path, path_or_fileobj=data)


def test_create_pull_request_then_commit_and_merge(api, hub, hf_home):
    repo_id = api.create_repo(uniq("alice/pr")).repo_id
    main = api.repo_info(repo_id).sha
    pr = api.create_pull_request(repo_id, title="Add a file", description="Adds *file.test*")
    assert (pr.num, pr.status, pr.target_branch, pr.git_reference) == (1, "draft", "refs/heads/main", "refs/pr/1")
    assert pr.conflicting_files == [] and pr.merge_commit_oid is None
    assert api.repo_info(repo_id, revision="refs/pr/1").sha == main  # the ref exists from the start
    refs = api.list_repo_refs(repo_id, include_pull_requests=True)
    assert [(r.ref, r.target_commit) for r in refs.pull_requests] == [("refs/pr/1", main)]

    info = api.create_commit(repo_id, [add("file.test", b"Content")], commit_message="Commit some file",
                             revision=pr.git_reference)
    assert api.repo_info(repo_id, revision="refs/pr/1").sha == info.oid
    assert not api.file_exists(repo_id, "file.test")  # not on main
    # a draft is not merged until published
    assert status_of(lambda: api.merge_pull_request(repo_id, pr.num)) == 400
    api.change_discussion_status(repo_id, pr.num, "open")
    details = api.get_discussion_details(repo_id, pr.num)
    assert [e.type for e in details.events] == ["comment", "commit", "status-change"]
    assert (details.events[1].summary, details.events[1].oid) == ("Commit some file", info.oid)
    assert "diff --git a/file.test b/file.test" in details.diff and "+Content" in details.diff

    api.merge_pull_request(repo_id, pr.num, comment="Thanks!")
    merged = api.get_discussion_details(repo_id, pr.num)
    assert merged.status == "merged" and merged.merge_commit_oid == info.oid  # a fast-forward
    assert api.repo_info(repo_id).sha == info.oid
    assert [e.type for e in merged.events][-2:] == ["comment", "status-change"]
    assert merged.events[-1].new_status == "merged"
    assert hf_hub_download(repo_id, "file.test", endpoint=hub.url, token=api.token, cache_dir=hf_home / "c")
    # stale: merging again, or commenting a status change on a merged PR
    assert status_of(lambda: api.merge_pull_request(repo_id, pr.num)) == 400
    assert status_of(lambda: api.change_discussion_status(repo_id, pr.num, "closed")) == 400
    assert [d.num for d in api.get_repo_discussions(repo_id, discussion_status="closed")] == [1]


def test_create_commit_with_create_pr(api, hub, hf_home):
    repo_id = api.create_repo(uniq("alice/cpr")).repo_id
    api.upload_file(repo_id=repo_id, path_in_repo="README.md", path_or_fileobj=b"# main\n")
    info = api.create_commit(repo_id, [add("buffer", b"Buffer data"), add("w.bin", b"\x00" * 2000)],
                             commit_message="Test create_commit", commit_description="Why", create_pr=True)
    assert info.pr_url == f"{hub.url}/{repo_id}/discussions/1"
    assert (info.pr_revision, info.pr_num) == ("refs/pr/1", 1)
    pr = api.get_discussion_details(repo_id, 1)
    assert (pr.title, pr.status, pr.is_pull_request) == ("Test create_commit", "open", True)
    assert pr.events[0].content == "Why" and pr.events[1].oid == info.oid
    # every read route at refs/pr/1
    path = hf_hub_download(repo_id, "buffer", revision="refs/pr/1", endpoint=hub.url, token=api.token,
                           cache_dir=hf_home / "c")
    assert open(path, "rb").read() == b"Buffer data"
    assert open(hf_hub_download(repo_id, "w.bin", revision="refs/pr/1", endpoint=hub.url, token=api.token,
                                cache_dir=hf_home / "c"), "rb").read() == b"\x00" * 2000
    assert {f.path for f in api.list_repo_tree(repo_id, revision="refs/pr/1")} == {
        ".gitattributes", "README.md", "buffer", "w.bin"}
    assert [p.path for p in api.get_paths_info(repo_id, ["buffer"], revision="refs/pr/1")] == ["buffer"]
    assert api.file_exists(repo_id, "buffer", revision="refs/pr/1") and not api.file_exists(repo_id, "buffer")
    assert api.list_repo_commits(repo_id, revision="refs/pr/1")[0].commit_id == info.oid
    assert [c.formatted_title for c in api.list_repo_commits(repo_id)] == [None, None]  # only when asked
    assert api.list_repo_commits(repo_id, formatted=True)[0].formatted_title == "Upload README.md with huggingface_hub"
    r = httpx.get(f"{hub.url}/{repo_id}/resolve/refs%2Fpr%2F1/buffer")
    assert r.status_code == 200 and r.content == b"Buffer data"

    # against another branch; not against a commit id or a missing branch
    api.create_branch(repo_id, branch="dev")
    head = api.list_repo_refs(repo_id).branches[0].target_commit
    api.create_commit(repo_id, [add("f.txt", b"x")], commit_message="On dev", revision="dev", create_pr=True)
    assert api.get_discussion_details(repo_id, 2).target_branch == "refs/heads/dev"
    for rev in (head, "missing_branch"):
        with pytest.raises(RevisionNotFoundError):
            api.create_commit(repo_id, [add("f.txt", b"x")], commit_message="no", revision=rev, create_pr=True)
    assert [d.num for d in api.get_repo_discussions(repo_id)] == [2, 1]  # no PR left behind


def test_upload_with_create_pr(api, hub, tmp_path):
    repo_id = api.create_repo(uniq("alice/up")).repo_id
    one = api.upload_file(repo_id=repo_id, path_in_repo="temp/new_file.md", path_or_fileobj=b"hello",
                          create_pr=True)
    assert one.pr_revision == "refs/pr/1"
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_bytes(b"a")
    (folder / "sub" / "b.bin").write_bytes(b"\x00\x01" * 3000)
    two = api.upload_folder(folder_path=folder, path_in_repo="temp/dir", repo_id=repo_id, create_pr=True)
    assert two.pr_revision == "refs/pr/2"
    assert {f for f in api.list_repo_files(repo_id, revision="refs/pr/2")} >= {"temp/dir/a.txt", "temp/dir/sub/b.bin"}
    assert api.list_repo_files(repo_id) == [".gitattributes"]
    # later commits to the PR by revision
    api.upload_file(repo_id=repo_id, path_in_repo="more.txt", path_or_fileobj=b"more", revision="refs/pr/2")
    details = api.get_discussion_details(repo_id, 2)
    assert [e.type for e in details.events].count("commit") == 2


def test_pull_request_from_a_reader(api, other, hub):
    repo_id = api.create_repo(uniq("alice/foreign")).repo_id
    info = other.create_commit(repo_id, [add("regular.txt", b"File content"), add("lfs.pkl", b"File content")],
                               commit_message="PR on foreign repo", create_pr=True)
    num = info.pr_num
    other.upload_file(repo_id=repo_id, path_in_repo="second.txt", path_or_fileobj=b"2", revision=info.pr_revision)
    carol = HfApi(endpoint=hub.url, token=hub.user("cleo"))
    with pytest.raises(HfHubHTTPError) as e:  # not the author, not a writer
        carol.upload_file(repo_id=repo_id, path_in_repo="x.txt", path_or_fileobj=b"x", revision=info.pr_revision)
    assert e.value.response.status_code == 403
    assert status_of(lambda: other.merge_pull_request(repo_id, num)) == 403
    assert status_of(lambda: other.upload_file(repo_id=repo_id, path_in_repo="x", path_or_fileobj=b"x")) == 403
    api.merge_pull_request(repo_id, num)
    assert set(api.list_repo_files(repo_id)) == {".gitattributes", "regular.txt", "lfs.pkl", "second.txt"}
    # closed PRs take no more commits from their author
    pr2 = other.create_pull_request(repo_id, title="Another")
    other.change_discussion_status(repo_id, pr2.num, "closed")
    assert status_of(lambda: other.upload_file(repo_id=repo_id, path_in_repo="y", path_or_fileobj=b"y",
                                               revision=pr2.git_reference)) == 400


def test_merge_commit_and_conflicts(api, hub):
    repo_id = api.create_repo(uniq("alice/merge")).repo_id
    api.upload_file(repo_id=repo_id, path_in_repo="shared.txt", path_or_fileobj=b"line 1\nline 2\n")
    pr = api.create_commit(repo_id, [add("pr.txt", b"from the PR"), add("pr.dat", b"\x00" * 100)],
                           commit_message="PR side", create_pr=True)
    main = api.create_commit(repo_id, [add("main.txt", b"from main"), add("main.dat", b"\x01\x00" * 100)],
                             commit_message="Main side")
    api.merge_pull_request(repo_id, pr.pr_num)  # main moved: a merge commit, .gitattributes merged
    merged = api.get_discussion_details(repo_id, pr.pr_num)
    commit = api.list_repo_commits(repo_id)[0]
    assert merged.merge_commit_oid == commit.commit_id != pr.oid
    assert set(api.list_repo_files(repo_id)) >= {"pr.txt", "pr.dat", "main.txt", "main.dat", "shared.txt"}
    attributes = api.hf_hub_download(repo_id, ".gitattributes", cache_dir=str(hub.data_dir.parent / "ga"))
    text = open(attributes).read()
    assert "pr.dat filter=lfs" in text and "main.dat filter=lfs" in text
    assert open(api.hf_hub_download(repo_id, "pr.dat", cache_dir=str(hub.data_dir.parent / "gb")), "rb").read() == b"\x00" * 100
    del main

    # both sides change shared.txt: refused, listed, nothing moves
    conflict = api.create_commit(repo_id, [add("shared.txt", b"line 1\nPR line 2\n")], commit_message="PR edit",
                                 create_pr=True)
    api.upload_file(repo_id=repo_id, path_in_repo="shared.txt", path_or_fileobj=b"line 1\nmain line 2\n")
    head = api.repo_info(repo_id).sha
    assert status_of(lambda: api.merge_pull_request(repo_id, conflict.pr_num)) == 409
    details = api.get_discussion_details(repo_id, conflict.pr_num)
    assert details.conflicting_files == ["shared.txt"] and details.status == "open"
    assert api.repo_info(repo_id).sha == head
    # the PR's author merges main into the PR (resolving by taking the PR's text), then it merges
    api.create_commit(repo_id, [add("shared.txt", b"line 1\nmain line 2\n")], commit_message="Resolve",
                      revision=conflict.pr_revision)
    api.merge_pull_request(repo_id, conflict.pr_num)
    assert api.get_discussion_details(repo_id, conflict.pr_num).status == "merged"


def test_discussion_is_not_mergeable(api):
    repo_id = api.create_repo(uniq("alice/nm")).repo_id
    d = api.create_discussion(repo_id, title="Just talk")
    assert status_of(lambda: api.merge_pull_request(repo_id, d.num)) == 400
    assert d.diff is None and d.target_branch is None


def test_git_push_to_pr_ref(api, hub, git_env, tmp_path):  # noqa: F811
    repo_id = api.create_repo(uniq("alice/gitpr")).repo_id
    pr = api.create_pull_request(repo_id, title="By git")
    url = remote(hub, "model", repo_id, api.token)
    work = tmp_path / "work"
    git(git_env, "clone", url, str(work))
    git(git_env, "fetch", "origin", "refs/pr/1:pr1", cwd=work)
    git(git_env, "checkout", "pr1", cwd=work)
    (work / "pushed.txt").write_text("from git\n")
    git(git_env, "add", "pushed.txt", cwd=work)
    git(git_env, "commit", "-m", "Pushed by git", cwd=work)
    git(git_env, "push", "origin", "HEAD:refs/pr/1", cwd=work)
    details = api.get_discussion_details(repo_id, pr.num)
    assert [e.summary for e in details.events if e.type == "commit"] == ["Pushed by git"]
    assert api.file_exists(repo_id, "pushed.txt", revision="refs/pr/1")
    # a PR ref is made with its PR, never by a push, and never deleted by one
    bad = git(git_env, "push", "origin", "HEAD:refs/pr/99", cwd=work, check=False)
    assert bad.returncode != 0 and "created with the pull request" in bad.stderr
    bad = git(git_env, "push", "origin", ":refs/pr/1", cwd=work, check=False)
    assert bad.returncode != 0
    assert api.repo_info(repo_id, revision="refs/pr/1").sha == details.events[-1].oid


def test_stale_pull_requests(api):
    repo_id = api.create_repo(uniq("alice/stale")).repo_id
    api.create_branch(repo_id, branch="dev")
    gone = api.create_commit(repo_id, [add("a.txt", b"a")], commit_message="On dev", revision="dev", create_pr=True)
    api.delete_branch(repo_id, branch="dev")
    assert status_of(lambda: api.merge_pull_request(repo_id, gone.pr_num)) == 409  # its base branch is gone
    assert api.get_discussion_details(repo_id, gone.pr_num).status == "open"
    closed = api.create_commit(repo_id, [add("b.txt", b"b")], commit_message="Closed", create_pr=True)
    api.change_discussion_status(repo_id, closed.pr_num, "closed")
    assert status_of(lambda: api.merge_pull_request(repo_id, closed.pr_num)) == 400
    assert api.list_repo_files(repo_id, revision=closed.pr_revision) == [".gitattributes", "b.txt"]  # kept
    api.change_discussion_status(repo_id, closed.pr_num, "open")  # reopened, it merges
    api.merge_pull_request(repo_id, closed.pr_num)
    assert "b.txt" in api.list_repo_files(repo_id)


def test_lfs_batch_for_pull_requests(api, other, hub):
    repo_id = api.create_repo(uniq("alice/lfsbatch")).repo_id
    pr = api.create_pull_request(repo_id, title="Mine")
    url = f"{hub.url}/{repo_id}.git/info/lfs/objects/batch"
    obj = {"oid": "a" * 64, "size": 3}

    def batch(token: str, ref) -> int:
        body = {"operation": "upload", "transfers": ["basic"], "objects": [obj]}
        if ref is not None:
            body["ref"] = {"name": ref}
        return httpx.post(url, json=body, headers={"authorization": f"Bearer {token}",
                                                   "content-type": "application/vnd.git-lfs+json"}).status_code

    assert batch(other.token, None) == 200  # no ref: for a PR that create_pr opens
    assert batch(other.token, "refs/heads/main") == 403  # a branch: writers only
    assert batch(other.token, pr.git_reference) == 403  # someone else's PR
    assert batch(api.token, pr.git_reference) == 200
    assert batch(other.token, 5) == 400


def test_git_push_to_own_pr_by_a_reader(api, other, hub, git_env, tmp_path):  # noqa: F811
    """The author of a PR who may not write the repo pushes to its refs/pr/N with git, and to nothing else;
    another reader may push to none of it."""
    repo_id = api.create_repo(uniq("alice/readerpush")).repo_id
    pr = other.create_pull_request(repo_id, title="Mine, by git")
    work = tmp_path / "work"
    git(git_env, "clone", remote(hub, "model", repo_id, other.token), str(work))
    git(git_env, "fetch", "origin", f"refs/pr/{pr.num}:mine", cwd=work)
    git(git_env, "checkout", "mine", cwd=work)
    (work / "reader.txt").write_text("from a reader\n")
    git(git_env, "add", "reader.txt", cwd=work)
    git(git_env, "commit", "-m", "Reader push", cwd=work)
    git(git_env, "push", "origin", f"HEAD:refs/pr/{pr.num}", cwd=work)
    assert api.file_exists(repo_id, "reader.txt", revision=pr.git_reference)
    bad = git(git_env, "push", "origin", "HEAD:refs/heads/main", cwd=work, check=False)
    assert bad.returncode != 0 and "your own open pull requests" in bad.stderr
    assert not api.file_exists(repo_id, "reader.txt")
    cleo = hub.user("cleo")
    bad = git(git_env, "push", remote(hub, "model", repo_id, cleo), f"HEAD:refs/pr/{pr.num}", cwd=work, check=False)
    assert bad.returncode != 0 and "403" in bad.stderr
    other.change_discussion_status(repo_id, pr.num, "closed")  # a closed PR takes no more pushes
    bad = git(git_env, "push", "origin", f"HEAD:refs/pr/{pr.num}", cwd=work, check=False)
    assert bad.returncode != 0
