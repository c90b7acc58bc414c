"""HubApi repo management, listing and info against a real ``cove serve``; errors and their messages."""

from __future__ import annotations

import pytest
from tests.hub.conftest import unique

from cove.errors import (
    BadRequest,
    Conflict,
    EntryNotFound,
    Forbidden,
    RepoNotFound,
    RevisionNotFound,
    Unauthorized,
)
from cove.hub import HubApi, RepoFile, RepoFolder


def test_whoami(api):
    me = api.whoami()
    assert me["name"] == "alice"
    assert isinstance(me["orgs"], list)


def test_create_repo_returns_url_and_exist_ok(api, hub):
    repo_id = f"alice/{unique()}"
    url = api.create_repo(repo_id)
    assert url == f"{hub.url}/{repo_id}" and url.repo_id == repo_id and url.repo_type == "model"
    with pytest.raises(Conflict):
        api.create_repo(repo_id)
    assert api.create_repo(repo_id, exist_ok=True) == url
    ds = api.create_repo(f"alice/{unique('ds')}", repo_type="dataset")
    assert ds == f"{hub.url}/datasets/{ds.repo_id}"
    sp = api.create_repo(f"alice/{unique('sp')}", repo_type="space", space_sdk="static")
    assert api.space_info(sp.repo_id).id == sp.repo_id


def test_repo_info_and_siblings(api, repo):
    api.upload_file(path_or_fileobj=b"{}", path_in_repo="config.json", repo_id=repo, progress=False)
    info = api.model_info(repo)
    assert info.id == repo and len(info.sha) == 40 and info.repo_type == "model"
    assert "config.json" in [s.rfilename for s in info.siblings]
    meta = api.repo_info(repo, files_metadata=True)
    sib = next(s for s in meta.siblings if s.rfilename == "config.json")
    assert sib.size == 2 and sib.blob_id
    assert api.repo_info(repo, revision=info.sha).sha == info.sha
    assert api.repo_exists(repo) and not api.repo_exists(f"alice/{unique('nope')}")
    assert api.revision_exists(repo, "main") and not api.revision_exists(repo, "no-such-branch")
    assert api.file_exists(repo, "config.json") and not api.file_exists(repo, "missing.json")


def test_delete_and_move(api, hub):
    repo_id = f"alice/{unique()}"
    api.create_repo(repo_id)
    new_id = f"alice/{unique('moved')}"
    url = api.move_repo(repo_id, new_id)
    assert url == f"{hub.url}/{new_id}"
    assert api.repo_exists(new_id) and api.repo_info(repo_id).id == new_id  # the old id redirects
    api.delete_repo(new_id)
    assert not api.repo_exists(new_id) and not api.repo_exists(repo_id)
    with pytest.raises(RepoNotFound):
        api.delete_repo(new_id)
    api.delete_repo(new_id, missing_ok=True)


def test_private_repo_and_settings(api, hub, bob):
    repo_id = f"alice/{unique('priv')}"
    api.create_repo(repo_id, private=True)
    assert api.repo_info(repo_id).private
    with HubApi(hub.url, bob) as other, pytest.raises(RepoNotFound) as exc:
        other.repo_info(repo_id)
    assert "check the id" in str(exc.value)
    api.update_repo_settings(repo_id, private=False)
    assert not api.repo_info(repo_id).private
    with HubApi(hub.url, bob) as other:
        assert other.repo_info(repo_id).id == repo_id


def test_list_repos(api):
    tag = unique("lst")
    ids = [f"alice/{tag}-{i}" for i in range(3)]
    for i in ids:
        api.create_repo(i)
    api.create_repo(f"alice/{tag}-data", repo_type="dataset")
    found = [m.id for m in api.list_models(search=tag)]
    assert sorted(found) == sorted(ids)
    assert [d.id for d in api.list_datasets(search=tag)] == [f"alice/{tag}-data"]
    assert len(list(api.list_models(search=tag, limit=2))) == 2
    assert all(m.id.startswith("alice/") for m in api.list_models(author="alice", limit=5))
    assert list(api.list_spaces(search=tag)) == []


def test_tree_and_paths_info(api, repo):
    from cove.hub import CommitOperationAdd

    api.create_commit(repo, [CommitOperationAdd("a.txt", b"a"), CommitOperationAdd("sub/b.txt", b"bb"),
                             CommitOperationAdd("sub/deep/c.txt", b"ccc")], commit_message="files", progress=False)
    assert sorted(api.list_repo_files(repo)) == [".gitattributes", "a.txt", "sub/b.txt", "sub/deep/c.txt"]
    top = list(api.list_repo_tree(repo))
    assert {e.path for e in top if isinstance(e, RepoFolder)} == {"sub"}
    sub = list(api.list_repo_tree(repo, "sub"))
    assert {e.path for e in sub} == {"sub/b.txt", "sub/deep"}
    infos = api.get_paths_info(repo, ["a.txt", "sub", "missing"])
    assert {e.path for e in infos} == {"a.txt", "sub"}
    a = next(e for e in infos if e.path == "a.txt")
    assert isinstance(a, RepoFile) and a.size == 1 and a.lfs is None
    with pytest.raises(EntryNotFound):
        list(api.list_repo_tree(repo, "nope"))


def test_errors_say_what_to_check(api, repo, hub):
    missing = f"alice/{unique('missing')}"
    with pytest.raises(RepoNotFound) as e:
        api.repo_info(missing)
    assert missing in str(e.value) and "token" in str(e.value)
    with pytest.raises(RevisionNotFound) as e:
        api.repo_info(repo, revision="v9")
    assert "'v9'" in str(e.value) and "list_repo_refs" in str(e.value)
    with pytest.raises(EntryNotFound) as e:
        api.download(repo, "nope.bin", progress=False)
    assert "nope.bin" in str(e.value) and "list_repo_files" in str(e.value)
    with pytest.raises(BadRequest):
        api.repo_info("not a repo id")
    with HubApi(hub.url, "hf_not_a_real_token") as bad, pytest.raises(Unauthorized) as e:
        bad.whoami()
    assert "cove login" in str(e.value)


def test_read_only_token_cannot_write(hub, repo):
    with HubApi(hub.url, hub.token("alice", read_only=True)) as ro:
        assert ro.repo_info(repo).id == repo
        with pytest.raises((Forbidden, Unauthorized)):
            ro.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo, progress=False)


def test_create_org_then_publish_under_it(api, hub, bob):
    org = unique("org")
    api.create_org(org, fullname="Team")
    assert org in {o["name"] for o in api.whoami()["orgs"]}
    api.create_org(org, exist_ok=True)  # alice is a member: a success
    repo_id = f"{org}/{unique()}"
    api.create_repo(repo_id)
    assert api.repo_exists(repo_id)
    with HubApi(hub.url, bob) as other:
        with pytest.raises(Conflict):  # the name is taken, and bob is not a member
            other.create_org(org, exist_ok=True)
        with pytest.raises(Forbidden):  # not a member of the org
            other.create_repo(f"{org}/{unique()}")
    with HubApi(hub.url, hub.token("alice", read_only=True)) as ro, pytest.raises(Forbidden):
        ro.create_org(unique("org"))
    with HubApi(hub.url, None) as anon, pytest.raises(Unauthorized):
        anon.create_org(unique("org"))
    with pytest.raises(BadRequest):
        api.create_org("bad name/with slash")
