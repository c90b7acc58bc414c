"""The stock huggingface_hub client against `cove serve`: auth, repo lifecycle, listing, refs, access."""

from __future__ import annotations

import uuid

import httpx
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import (
    BadRequestError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# -- 1. whoami and 401s ---------------------------------------------------------------------------


def test_whoami(hub, alice):
    me = HfApi(endpoint=hub.url, token=alice).whoami()
    assert me["name"] == "alice"
    assert me["auth"]["accessToken"]["role"] == "write"
    assert isinstance(me["orgs"], list)


def test_bad_token_is_401(hub):
    with pytest.raises(HfHubHTTPError) as e:
        HfApi(endpoint=hub.url, token="cove_not-a-real-token").whoami()
    assert e.value.response.status_code == 401


def test_write_calls_need_a_valid_token(hub, alice):
    name = uniq("m")
    for token in (False, "cove_wrong"):
        with pytest.raises(HfHubHTTPError) as e:
            HfApi(endpoint=hub.url, token=token).create_repo(f"alice/{name}")
        assert e.value.response.status_code == 401
    repo = f"alice/{name}"
    HfApi(endpoint=hub.url, token=alice).create_repo(repo)
    for token in (False, "cove_wrong"):
        with pytest.raises(HfHubHTTPError) as e:
            HfApi(endpoint=hub.url, token=token).upload_file(path_or_fileobj=b"x", path_in_repo="x", repo_id=repo)
        assert e.value.response.status_code == 401
        with pytest.raises(HfHubHTTPError) as e:
            HfApi(endpoint=hub.url, token=token).delete_repo(repo)
        assert e.value.response.status_code == 401


# -- 2. create / delete / move / settings / exists -----------------------------------------------


@pytest.mark.parametrize("repo_type", ["model", "dataset", "space"])
def test_repo_lifecycle(hub, alice, repo_type):
    api = HfApi(endpoint=hub.url, token=alice)
    repo = f"alice/{uniq(repo_type)}"
    extra = {"space_sdk": "static"} if repo_type == "space" else {}
    url = api.create_repo(repo, repo_type=repo_type, private=True, **extra)
    assert url.repo_id == repo and url.repo_type == repo_type
    assert api.repo_exists(repo, repo_type=repo_type)
    assert api.repo_info(repo, repo_type=repo_type).private is True
    # exist_ok
    api.create_repo(repo, repo_type=repo_type, exist_ok=True, **extra)
    with pytest.raises(HfHubHTTPError) as e:
        api.create_repo(repo, repo_type=repo_type, **extra)
    assert e.value.response.status_code == 409
    assert api.file_exists(repo, ".gitattributes", repo_type=repo_type)
    assert not api.file_exists(repo, "nope.txt", repo_type=repo_type)
    # visibility
    api.update_repo_settings(repo, repo_type=repo_type, private=False)
    assert api.repo_info(repo, repo_type=repo_type).private is False
    # move
    moved = f"alice/{uniq('moved')}"
    api.move_repo(repo, moved, repo_type=repo_type)
    assert api.repo_exists(moved, repo_type=repo_type)
    assert api.repo_info(repo, repo_type=repo_type).id == moved  # the old id redirects to the new one
    # delete
    api.delete_repo(moved, repo_type=repo_type)
    assert not api.repo_exists(moved, repo_type=repo_type)
    assert not api.repo_exists(repo, repo_type=repo_type)  # the redirect went with the repo
    api.delete_repo(moved, repo_type=repo_type, missing_ok=True)
    with pytest.raises(RepositoryNotFoundError):
        api.delete_repo(moved, repo_type=repo_type)


def test_space_info_has_sdk(hub, alice):
    api = HfApi(endpoint=hub.url, token=alice)
    repo = f"alice/{uniq('space')}"
    api.create_repo(repo, repo_type="space", space_sdk="gradio")
    info = api.space_info(repo)
    assert info.sdk == "gradio" and info.visibility == "public"
    api.update_repo_settings(repo, repo_type="space", private=True)
    assert api.space_info(repo).visibility == "private"
    assert [s.visibility for s in api.list_spaces(author="alice", search=repo.split("/")[1])] == ["private"]


def test_invalid_repo_ids_are_400(hub, alice):
    h = {"authorization": f"Bearer {alice}"}
    for name in ["a..b", "-bad", "x" * 97, "a--b", "bad/../x", "ok.git", ""]:
        r = httpx.post(f"{hub.url}/api/repos/create", json={"name": name}, headers=h)
        assert r.status_code == 400, (name, r.status_code, r.text)
        assert r.headers["x-error-code"] == "BadRequest"


def test_cannot_create_in_someone_elses_namespace(hub, alice, bob):
    with pytest.raises(HfHubHTTPError) as e:
        HfApi(endpoint=hub.url, token=bob).create_repo(f"alice/{uniq('m')}")
    assert e.value.response.status_code == 403


# -- 5. info and listing --------------------------------------------------------------------------

CARD = """---
license: apache-2.0
tags:
- cove-test
- text
pipeline_tag: text-classification
library_name: transformers
datasets:
- imdb
---
# My model
"""


def test_model_info_reads_the_card(hub, alice):
    api = HfApi(endpoint=hub.url, token=alice)
    repo = f"alice/{uniq('card')}"
    api.create_repo(repo)
    api.upload_file(path_or_fileobj=CARD.encode(), path_in_repo="README.md", repo_id=repo)
    api.upload_file(path_or_fileobj=b"{}", path_in_repo="config.json", repo_id=repo)
    info = api.model_info(repo, files_metadata=True)
    assert info.card_data["license"] == "apache-2.0"
    assert info.pipeline_tag == "text-classification"
    assert info.library_name == "transformers"
    assert "cove-test" in info.tags and "license:apache-2.0" in info.tags and "dataset:imdb" in info.tags
    assert info.private is False and info.downloads == 0 and info.likes == 0
    assert len(info.sha) == 40 and info.last_modified is not None
    files = {s.rfilename: s for s in info.siblings}
    assert set(files) == {".gitattributes", "README.md", "config.json"}
    assert files["config.json"].size == 2


def test_list_models_search_filter_sort_paginate(hub, alice):
    api = HfApi(endpoint=hub.url, token=alice)
    tag = uniq("tag")
    names = [f"alice/{tag}-{i}" for i in range(5)]
    for n in names:
        api.create_repo(n)
        api.upload_file(path_or_fileobj=f"---\ntags:\n- {tag}\n---\n".encode(), path_in_repo="README.md", repo_id=n)
    found = [m.id for m in api.list_models(search=tag)]
    assert sorted(found) == sorted(names)
    assert sorted(m.id for m in api.list_models(filter=tag)) == sorted(names)
    assert [m.id for m in api.list_models(filter=tag, sort="lastModified")] == names[::-1]
    assert len(list(api.list_models(filter=tag, limit=2))) == 2
    assert all(m.author == "alice" for m in api.list_models(author="alice", search=tag))
    assert list(api.list_models(author="bob", search=tag)) == []
    # datasets and spaces are listed separately
    ds = f"alice/{uniq('ds')}"
    api.create_repo(ds, repo_type="dataset")
    assert [d.id for d in api.list_datasets(search=ds.split("/")[1])] == [ds]
    assert [m.id for m in api.list_models(search=ds.split("/")[1])] == []


def test_list_follows_pagination(tmp_path_factory, alice):
    from tests.conftest import start_server, stop_server

    server = start_server(tmp_path_factory.mktemp("paged") / "data", env={"COVE_PAGE_SIZE": "3"})
    try:
        token = server.user("pat")
        api = HfApi(endpoint=server.url, token=token)
        names = sorted(f"pat/r{i}" for i in range(8))
        for n in names:
            api.create_repo(n)
        assert sorted(m.id for m in api.list_models()) == names
        repo = names[0]
        api.upload_folder(folder_path=_make_folder(tmp_path_factory.mktemp("f"), 10), repo_id=repo)
        files = api.list_repo_files(repo)
        assert len(files) == 11  # 10 + .gitattributes, over 4 pages
        assert len(api.list_repo_commits(repo)) == 2
    finally:
        stop_server(server)


def _make_folder(root, n):
    for i in range(n):
        (root / f"f{i}.txt").write_text(f"file {i}\n")
    return root


# -- 6. refs --------------------------------------------------------------------------------------


def test_branches_tags_refs_commits(hub, alice):
    api = HfApi(endpoint=hub.url, token=alice)
    repo = f"alice/{uniq('refs')}"
    api.create_repo(repo)
    c1 = api.upload_file(path_or_fileobj=b"v1", path_in_repo="f.txt", repo_id=repo, commit_message="first",
                         commit_description="the first body")
    api.create_branch(repo, branch="dev")
    api.create_branch(repo, branch="feature/x", revision=c1.oid)
    with pytest.raises(HfHubHTTPError) as e:
        api.create_branch(repo, branch="dev")
    assert e.value.response.status_code == 409
    api.create_branch(repo, branch="dev", exist_ok=True)
    api.upload_file(path_or_fileobj=b"v2", path_in_repo="f.txt", repo_id=repo, revision="dev", commit_message="on dev")
    api.create_tag(repo, tag="v1.0", revision=c1.oid, tag_message="release")
    api.create_tag(repo, tag="v-dev", revision="dev")
    with pytest.raises(HfHubHTTPError):
        api.create_tag(repo, tag="v1.0")
    refs = api.list_repo_refs(repo)
    branches = {b.name: b.target_commit for b in refs.branches}
    assert set(branches) == {"main", "dev", "feature/x"}
    assert branches["feature/x"] == c1.oid == branches["main"]
    tags = {t.name: t.target_commit for t in refs.tags}
    assert tags["v1.0"] == c1.oid and tags["v-dev"] == branches["dev"]
    commits = api.list_repo_commits(repo, revision="dev")
    assert [c.title for c in commits] == ["on dev", "first", "initial commit"]
    assert commits[1].message.strip() == "the first body"
    assert commits[0].authors == ["alice"]
    assert api.list_repo_files(repo, revision="feature/x") == [".gitattributes", "f.txt"]
    api.delete_branch(repo, branch="feature/x")
    api.delete_tag(repo, tag="v1.0")
    refs = api.list_repo_refs(repo)
    assert {b.name for b in refs.branches} == {"main", "dev"}
    assert {t.name for t in refs.tags} == {"v-dev"}
    with pytest.raises(RevisionNotFoundError):
        api.list_repo_commits(repo, revision="feature/x")
    with pytest.raises(HfHubHTTPError):
        api.delete_branch(repo, branch="nope")


# -- 7. private repos, read tokens, org roles -------------------------------------------------------


def test_private_repos_are_invisible(hub, alice, bob):
    api = HfApi(endpoint=hub.url, token=alice)
    repo = f"alice/{uniq('hidden')}"
    api.create_repo(repo, private=True)
    api.upload_file(path_or_fileobj=b"top-secret-bytes", path_in_repo="s.txt", repo_id=repo)
    for token in (bob, False):
        other = HfApi(endpoint=hub.url, token=token)
        assert not other.repo_exists(repo)
        with pytest.raises(RepositoryNotFoundError):
            other.model_info(repo)
        with pytest.raises(RepositoryNotFoundError):
            other.list_repo_files(repo)
        assert repo not in [m.id for m in other.list_models(author="alice")]
        headers = {"authorization": f"Bearer {token}"} if token else {}
        for method, path in [("GET", f"/{repo}/resolve/main/s.txt"), ("HEAD", f"/{repo}/resolve/main/s.txt"),
                             ("GET", f"/api/models/{repo}/tree/main"), ("GET", f"/api/models/{repo}/refs"),
                             ("GET", f"/api/models/{repo}/commits/main")]:
            r = httpx.request(method, hub.url + path, headers=headers)
            assert r.status_code == 404, (method, path, r.status_code)
            assert r.headers["x-error-code"] == "RepoNotFound"
            assert b"top-secret" not in r.content
    assert repo in [m.id for m in api.list_models(author="alice")]


def test_read_tokens_cannot_write(hub, alice):
    read = hub.token("alice", read_only=True)
    api = HfApi(endpoint=hub.url, token=alice)
    repo = f"alice/{uniq('ro')}"
    api.create_repo(repo, private=True)
    ro = HfApi(endpoint=hub.url, token=read)
    assert ro.whoami()["auth"]["accessToken"]["role"] == "read"
    assert ro.model_info(repo).id == repo
    for call in (lambda: ro.upload_file(path_or_fileobj=b"x", path_in_repo="x", repo_id=repo),
                 lambda: ro.create_repo(f"alice/{uniq('ro')}"),
                 lambda: ro.delete_repo(repo),
                 lambda: ro.create_branch(repo, branch="b")):
        with pytest.raises(HfHubHTTPError) as e:
            call()
        assert e.value.response.status_code == 403


def test_org_roles(hub):
    owner = hub.user("olga")
    reader = hub.user("rita")
    writer = hub.user("walt")
    org = uniq("org")
    hub.cli("orgs", "add", org, "--owner", "olga")
    hub.cli("orgs", "add-member", org, "rita", "--role", "read")
    hub.cli("orgs", "add-member", org, "walt", "--role", "write")
    repo = f"{org}/{uniq('m')}"
    HfApi(endpoint=hub.url, token=owner).create_repo(repo, private=True)
    assert org in [o["name"] for o in HfApi(endpoint=hub.url, token=reader).whoami()["orgs"]]
    # readers see the private repo but cannot write
    r = HfApi(endpoint=hub.url, token=reader)
    assert r.model_info(repo).private
    with pytest.raises(HfHubHTTPError) as e:
        r.upload_file(path_or_fileobj=b"x", path_in_repo="x", repo_id=repo)
    assert e.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError):
        r.create_repo(f"{org}/{uniq('m')}")
    # writers write and create, but cannot delete or change settings
    w = HfApi(endpoint=hub.url, token=writer)
    w.upload_file(path_or_fileobj=b"x", path_in_repo="x", repo_id=repo)
    w.create_repo(f"{org}/{uniq('m')}")
    with pytest.raises(HfHubHTTPError) as e:
        w.delete_repo(repo)
    assert e.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as e:
        w.update_repo_settings(repo, private=False)
    assert e.value.response.status_code == 403
    HfApi(endpoint=hub.url, token=owner).delete_repo(repo)


def test_bad_requests_are_clean_400s(hub, alice):
    api = HfApi(endpoint=hub.url, token=alice)
    repo = f"alice/{uniq('bad')}"
    api.create_repo(repo)
    h = {"authorization": f"Bearer {alice}"}
    r = httpx.post(f"{hub.url}/api/repos/create", content=b"{not json", headers=h)
    assert r.status_code == 400 and r.headers["x-error-code"] == "BadRequest"
    r = httpx.put(f"{hub.url}/api/models/{repo}/settings", json={"visibility": "sideways"}, headers=h)
    assert r.status_code == 400
    with pytest.raises(BadRequestError):
        list(api.list_models(sort="bogus"))


def test_tree_expand_downloads_and_likes(hub, alice, bob, tmp_path):
    from huggingface_hub import hf_hub_download

    api = HfApi(endpoint=hub.url, token=alice)
    repo = f"alice/{uniq('stats')}"
    api.create_repo(repo)
    commit = api.upload_file(path_or_fileobj=b"{}", path_in_repo="config.json", repo_id=repo, commit_message="cfg")
    later = api.upload_file(path_or_fileobj=b"x", path_in_repo="sub/x.txt", repo_id=repo, commit_message="later")
    entries = {e.path: e for e in api.list_repo_tree(repo, expand=True)}
    assert entries["config.json"].last_commit.oid == commit.oid
    assert entries["config.json"].last_commit.title == "cfg"
    assert entries["sub"].last_commit.oid == later.oid
    assert entries[".gitattributes"].last_commit.title == "initial commit"
    info = api.get_paths_info(repo, ["config.json"], expand=True)[0]
    assert info.last_commit.oid == commit.oid
    for i in range(2):
        hf_hub_download(repo, "config.json", endpoint=hub.url, token=alice, cache_dir=tmp_path / str(i))
    assert api.model_info(repo).downloads == 2
    r = httpx.post(f"{hub.url}/api/models/{repo}/like", headers={"authorization": f"Bearer {bob}"})
    assert r.status_code == 200
    assert api.model_info(repo).likes == 1
    HfApi(endpoint=hub.url, token=bob).unlike(repo)
    assert api.model_info(repo).likes == 0
