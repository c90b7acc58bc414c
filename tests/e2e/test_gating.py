"""Gated repos through the stock huggingface_hub client: anyone who sees a gated repo reads its metadata,
only its owner, its organization's members, its writers and users granted access read its files (resolve,
Xet tokens, git, the auth check); the repo's admins handle access requests."""

from __future__ import annotations

import uuid

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def api(hub, alice) -> HfApi:
    return HfApi(endpoint=hub.url, token=alice)


def gated_repo(api: HfApi, repo_id: str, **kwargs) -> str:
    repo_id = api.create_repo(repo_id, **kwargs).repo_id
    api.create_commit(repo_id, [CommitOperationAdd("config.json", b"{}"),
                                CommitOperationAdd("weights.bin", b"\x00" * 2048)], commit_message="files")
    api.update_repo_settings(repo_id, gated="auto")
    return repo_id


def test_a_gated_repo_hides_its_files_only(api, hub, bob, tmp_path):
    repo = gated_repo(api, uniq("alice/gated"))
    other = HfApi(endpoint=hub.url, token=bob)
    assert other.model_info(repo).gated == "auto"  # metadata stays readable
    assert set(other.list_repo_files(repo)) >= {"config.json", "weights.bin"}
    assert other.repo_exists(repo)
    with pytest.raises(GatedRepoError, match="Access to model .* is restricted and you are not in the authorized list"):
        hf_hub_download(repo, "config.json", endpoint=hub.url, token=bob, cache_dir=tmp_path)
    with pytest.raises(GatedRepoError) as e:
        hf_hub_download(repo, "weights.bin", endpoint=hub.url, token=False, cache_dir=tmp_path)
    assert e.value.response.status_code == 401
    with pytest.raises(GatedRepoError):
        other.auth_check(repo)
    bearer = {"authorization": f"Bearer {bob}"}
    for url in (f"/api/models/{repo}/xet-read-token/main", f"/{repo}/resolve/main/weights.bin",
                f"/{repo}/info/refs?service=git-upload-pack"):
        r = httpx.get(hub.url + url, headers=bearer)
        assert (r.status_code, r.headers.get("x-error-code")) == (403, "GatedRepo"), (url, r.text[:300])
    assert httpx.get(f"{hub.url}/{repo}/blob/main/config.json", headers=bearer).status_code == 403  # a web page
    r = httpx.post(f"{hub.url}/{repo}.git/info/lfs/objects/batch", headers={**bearer, "accept": "application/vnd.git-lfs+json"},
                   json={"operation": "download", "objects": [{"oid": "0" * 64, "size": 1}]})
    assert (r.status_code, r.headers.get("x-error-code")) == (403, "GatedRepo"), r.text[:300]
    # the owner reads it; its files are not gated to the owner's read-only token either
    api.auth_check(repo)
    assert hf_hub_download(repo, "config.json", endpoint=hub.url, token=hub.token("alice", read_only=True),
                           cache_dir=tmp_path)


def test_access_requests(api, hub, bob, tmp_path):
    repo = gated_repo(api, uniq("alice/asked"))
    other = HfApi(endpoint=hub.url, token=bob)
    assert [list(api.list_pending_access_requests(repo)), list(api.list_accepted_access_requests(repo)),
            list(api.list_rejected_access_requests(repo))] == [[], [], []]
    api.grant_access(repo, "bob")
    [request] = api.list_accepted_access_requests(repo)
    assert (request.username, request.status, request.email) == ("bob", "accepted", None)
    other.auth_check(repo)
    assert hf_hub_download(repo, "config.json", endpoint=hub.url, token=bob, cache_dir=tmp_path / "a")
    with pytest.raises(HfHubHTTPError) as e:
        api.grant_access(repo, "bob")
    assert e.value.response.status_code == 409
    with pytest.raises(HfHubHTTPError):
        api.accept_access_request(repo, "bob")  # accepted already

    api.cancel_access_request(repo, "bob")
    assert [r.username for r in api.list_pending_access_requests(repo)] == ["bob"]
    with pytest.raises(GatedRepoError):
        other.auth_check(repo)
    api.reject_access_request(repo, "bob", rejection_reason="no")
    [request] = api.list_rejected_access_requests(repo)
    with pytest.raises(GatedRepoError):
        hf_hub_download(repo, "config.json", endpoint=hub.url, token=bob, cache_dir=tmp_path / "b")
    api.accept_access_request(repo, request_id=request.request_id)
    other.auth_check(repo)

    # only the repo's admins handle requests; the requester cannot grant themselves access
    for call in (lambda: other.grant_access(repo, "bob"), lambda: list(other.list_pending_access_requests(repo)),
                 lambda: other.cancel_access_request(repo, "bob")):
        with pytest.raises(HfHubHTTPError) as e:
            call()
        assert e.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as e:
        api.grant_access(repo, "no-such-user-q7")
    assert e.value.response.status_code == 404
    plain = api.create_repo(uniq("alice/plain")).repo_id
    with pytest.raises(HfHubHTTPError) as e:
        api.grant_access(plain, "bob")
    assert e.value.response.status_code == 400


def test_private_gated_repos_stay_missing_and_org_members_pass(api, hub, bob, tmp_path):
    repo = gated_repo(api, uniq("alice/hidden"), private=True)
    other = HfApi(endpoint=hub.url, token=bob)
    with pytest.raises(RepositoryNotFoundError) as e:
        other.auth_check(repo)
    assert not isinstance(e.value, GatedRepoError)  # private = missing, whatever the gate
    with pytest.raises(HfHubHTTPError) as e:
        api.grant_access(repo, "bob")  # a grant does not open a private repo
        other.auth_check(repo)
    assert e.value.response.status_code == 404

    org = uniq("gate-org")
    hub.cli("orgs", "add", org, "--owner", "alice")
    reader = uniq("rita")
    token = hub.user(reader)
    hub.cli("orgs", "add-member", org, reader, "--role", "read")
    in_org = gated_repo(api, f"{org}/{uniq('model')}")
    HfApi(endpoint=hub.url, token=token).auth_check(in_org)
    assert hf_hub_download(in_org, "weights.bin", endpoint=hub.url, token=token, cache_dir=tmp_path)
    with pytest.raises(GatedRepoError):
        other.auth_check(in_org)
