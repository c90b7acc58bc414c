"""The long tail of the Hub's API, driven by the stock huggingface_hub client (issue 16): request ids,
the Hub's error texts, ids without a namespace or in another case, auth-check, card validation,
super-squash, .gitignore at preupload, likes and storage listings, moved repos, folder deletes, LFS
file listing and deletion, the default card of a new Space, and two clients uploading one object."""

from __future__ import annotations

import hashlib
import re
import threading
import uuid
import warnings
from pathlib import Path

import httpx
import pytest
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    HfApi,
    RepoCard,
    constants,
    hf_hub_download,
)
from huggingface_hub.errors import (
    BadRequestError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from tests.conftest import start_server, stop_server


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def api(hub, alice) -> HfApi:
    return HfApi(endpoint=hub.url, token=alice)


def new_repo(api: HfApi, prefix: str = "t", **kwargs) -> str:
    return api.create_repo(f"alice/{uniq(prefix)}", **kwargs).repo_id


# -- request ids and the Hub's error texts ---------------------------------------------------------


def test_every_response_has_a_request_id(hub):
    ids = set()
    for path in ("/api/whoami-v2", "/api/models", "/nowhere/at/all", "/static/nope.css"):
        r = httpx.get(hub.url + path)
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"]), (path, r.headers)
        ids.add(r.headers["x-request-id"])
    assert len(ids) == 4
    assert httpx.get(hub.url + "/api/models", headers={"x-request-id": "trace-1:a.b"}).headers[
        "x-request-id"] == "trace-1:a.b"
    for bad in (b"x" * 65, b"a b", b"<script>", "é".encode(), b"a\tb"):
        r = httpx.get(hub.url + "/api/models", headers={"x-request-id": bad})
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"]), bad


def test_the_clients_trace_id_is_the_request_id(hub):
    from huggingface_hub.utils import get_session

    r = get_session().get(f"{hub.url}/api/whoami-v2")
    assert r.request.headers["x-amzn-trace-id"] in r.headers["x-request-id"]  # a uuid4 per request
    r = httpx.get(f"{hub.url}/api/models", headers={"x-amzn-trace-id": "a b"})
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])
    r = httpx.get(f"{hub.url}/api/models", headers={"x-amzn-trace-id": "t-1", "x-request-id": "r-1"})
    assert r.headers["x-request-id"] == "r-1"


def test_missing_repo_error_reads_as_on_the_hub(api, hub):
    with pytest.raises(RepositoryNotFoundError) as e:
        api.create_commit(repo_id="alice/not-there", operations=[CommitOperationAdd("a.txt", b"a")],
                          commit_message="x")
    rid = e.value.response.headers["x-request-id"]
    assert str(e.value).startswith(
        f"404 Client Error. (Request ID: {rid})\n\nRepository Not Found for url: "
        f"{hub.url}/api/models/alice/not-there/preupload/main.\nPlease make sure you specified the correct "
        "`repo_id` and `repo_type`.\n")  # the server's "Repository not found" is not repeated
    with pytest.raises(HfHubHTTPError, match=re.compile(r"404 Client Error(.+)\(Request ID: .+\)(.*)Repository Not Found",
                                                          re.DOTALL)):
        api.delete_repo("never-existed")


def test_hub_error_texts(api):
    a, b = new_repo(api), new_repo(api)
    with pytest.raises(HfHubHTTPError, match=r"A model repository called .* already exists"):
        api.move_repo(a, b)
    parent = api.model_info(a).sha
    api.upload_file(path_or_fileobj=b"1", path_in_repo="one.txt", repo_id=a)
    with pytest.raises(HfHubHTTPError) as e:
        api.create_commit(a, [CommitOperationAdd("two.txt", b"2")], commit_message="x", parent_commit=parent)
    assert e.value.response.status_code == 412
    assert "The branch was updated since you opened this page. Please refresh and try again." in str(e.value)
    api.create_branch(a, branch="dev")
    for branch in ("dev", "main"):
        with pytest.raises(HfHubHTTPError, match=f"Reference refs/heads/{branch} already exists"):
            api.create_branch(a, branch=branch)
    with pytest.raises(HfHubHTTPError, match="Cannot delete refs/heads/main"):
        api.delete_branch(a, branch="main")
    with pytest.raises(RevisionNotFoundError):  # the revision is checked before the tag's name
        api.create_tag(a, tag="invalid tag", revision="foobar")


# -- ids: no namespace, any case ---------------------------------------------------------------------


def test_ids_without_a_namespace_are_missing_repos(api, hub):
    assert not api.repo_exists("no-namespace-here")
    assert not api.repo_exists("no-namespace-here", repo_type="dataset")
    assert not api.revision_exists("no-namespace-here", "main")
    assert not api.file_exists("no-namespace-here", "config.json")
    with pytest.raises(RepositoryNotFoundError):
        api.unlike("no-namespace-here")
    with pytest.raises(RepositoryNotFoundError):
        api.list_repo_refs("no-namespace-here", repo_type="space")
    r = httpx.head(f"{hub.url}/no-namespace-here/resolve/main/config.json")
    assert r.status_code == 404 and r.headers["x-error-code"] == "RepoNotFound"


def test_repo_ids_are_case_insensitive(api, hub, bob):
    repo = new_repo(api, "CaSe")
    api.create_commit(repo.lower(), [CommitOperationAdd("file.txt", b"content"),
                                     CommitOperationAdd("lfs.bin", b"LFS content")], commit_message="lower")
    assert {"file.txt", "lfs.bin"} <= set(api.list_repo_files(repo.upper().replace("ALICE", "Alice")))
    assert api.model_info(repo.lower()).id == repo  # the name keeps its spelling
    with pytest.raises(HfHubHTTPError) as e:
        api.create_repo(repo.swapcase().replace("ALICE", "alice"))
    assert e.value.response.status_code == 409
    private = new_repo(api, "Hidden", private=True)
    other = HfApi(endpoint=hub.url, token=bob)
    for spelling in (private, private.lower()):
        with pytest.raises(RepositoryNotFoundError):
            other.model_info(spelling)
        missing = httpx.get(f"{hub.url}/api/models/alice/{uniq('nothing')}", headers={"authorization": f"Bearer {bob}"})
        hidden = httpx.get(f"{hub.url}/api/models/{spelling}", headers={"authorization": f"Bearer {bob}"})
        assert (hidden.status_code, hidden.json()) == (missing.status_code, missing.json())


# -- auth-check, card validation -----------------------------------------------------------------------


def test_auth_check(api, hub, bob):
    public, private = new_repo(api, repo_type="dataset"), new_repo(api, private=True)
    api.auth_check(public, repo_type="dataset")
    api.auth_check(private, write=True)
    other = HfApi(endpoint=hub.url, token=bob)
    other.auth_check(public, repo_type="dataset")
    with pytest.raises(HfHubHTTPError) as e:
        other.auth_check(public, repo_type="dataset", write=True)
    assert e.value.response.status_code == 403
    for repo in (private, "alice/missing-repo-id", "no-namespace"):
        with pytest.raises(RepositoryNotFoundError):
            other.auth_check(repo)


def test_card_metadata_is_validated(api, hub, monkeypatch):
    monkeypatch.setattr(constants, "ENDPOINT", hub.url)  # RepoCard.validate asks the configured endpoint
    repo = new_repo(api)
    for bad in ("\n---\nmodel-index: foo\n---\n\nA card.\n", "---\nlicense: not-a-license\n---\n",
                "---\ntags: [1, [2]]\n---\n", "---\n- a\n- b\n---\n"):
        with pytest.raises(ValueError, match="Invalid metadata in README.md"):
            api.upload_file(path_or_fileobj=bad.encode(), path_in_repo="README.md", repo_id=repo)
    with pytest.warns(UserWarning, match="Warnings while validating metadata in README.md"):
        api.upload_file(path_or_fileobj=b"No metadata at all", path_in_repo="README.md", repo_id=repo)
    card = RepoCard("---\nlicense: mit\ntags: [x]\nmodel-index:\n- name: m\n  results: []\n---\n# Card\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        card.validate()
    card.data.license = "asdf"
    with pytest.raises(ValueError, match='- Error: "license" must be one of'):
        card.validate()
    space = RepoCard("---\nsdk: gradio\ncolorFrom: blue\ncolorTo: mauve\n---\n")
    with pytest.raises(ValueError, match='"colorTo" must be one of'):
        space.validate(repo_type="space")


# -- history: super-squash, LFS files --------------------------------------------------------------------


def test_super_squash(api):
    repo = new_repo(api)
    api.upload_file(path_or_fileobj=b"content", path_in_repo="file.txt", repo_id=repo)
    api.upload_file(path_or_fileobj=b"content", path_in_repo="lfs.bin", repo_id=repo)
    api.upload_file(path_or_fileobj=b"another", path_in_repo="file.txt", repo_id=repo)
    api.create_branch(repo, branch="v0.1")
    api.upload_file(path_or_fileobj=b"foo", path_in_repo="file.txt", repo_id=repo, revision="v0.1")
    api.create_tag(repo, tag="t1")
    api.super_squash_history(repo)
    main = api.list_repo_commits(repo)
    assert [c.title for c in main] == ["Super-squash branch 'main' using huggingface_hub"]
    assert api.model_info(repo).sha == main[0].commit_id
    assert set(api.list_repo_files(repo)) == {".gitattributes", "file.txt", "lfs.bin"}
    assert Path(api.hf_hub_download(repo, "file.txt")).read_bytes() == b"another"
    branch = api.list_repo_commits(repo, revision="v0.1")
    assert len(branch) == 5 and branch[-1].title == "initial commit"
    api.super_squash_history(repo, branch="v0.1", commit_message="squashed")
    assert [c.title for c in api.list_repo_commits(repo, revision="v0.1")] == ["squashed"]
    assert len(api.list_repo_commits(repo, revision="t1")) == 4  # a tag keeps its history
    with pytest.raises(BadRequestError):
        api.super_squash_history(repo, branch="t1")
    with pytest.raises(RevisionNotFoundError):
        api.super_squash_history(repo, branch="nope")


def test_list_and_delete_lfs_files(api, hub, bob):
    repo = new_repo(api)
    api.upload_file(path_or_fileobj=b"LFS content", path_in_repo="lfs_file.bin", repo_id=repo)
    api.upload_file(path_or_fileobj=b"TXT content", path_in_repo="txt_file.txt", repo_id=repo)
    api.upload_file(path_or_fileobj=b"LFS content 2", path_in_repo="lfs_file_2.bin", repo_id=repo)
    api.create_branch(repo, branch="my-branch")
    api.upload_file(path_or_fileobj=b"LFS branch", path_in_repo="lfs_file_branch.bin", repo_id=repo,
                    revision="my-branch")
    api.create_tag(repo, tag="v1", revision="my-branch", tag_message="annotated")
    # another repo holds the same bytes: deleting them here must not break it
    twin = new_repo(api)
    api.upload_file(path_or_fileobj=b"LFS content", path_in_repo="same.bin", repo_id=twin)
    files = list(api.list_lfs_files(repo))
    assert {f.filename for f in files} == {"lfs_file.bin", "lfs_file_2.bin", "lfs_file_branch.bin"}
    by_name = {f.filename: f for f in files}
    assert by_name["lfs_file.bin"].file_oid == hashlib.sha256(b"LFS content").hexdigest()
    assert by_name["lfs_file.bin"].ref == "refs/heads/main" and by_name["lfs_file.bin"].size == 11
    assert by_name["lfs_file_branch.bin"].ref == "refs/heads/my-branch"
    on_main = [f for f in files if f.ref in ("main", "refs/heads/main")]
    # only the repo's admins delete; without rewriting history, objects still in it are refused
    with pytest.raises(HfHubHTTPError) as e:
        HfApi(endpoint=hub.url, token=bob).permanently_delete_lfs_files(repo, on_main)
    assert e.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as e:
        api.permanently_delete_lfs_files(repo, on_main, rewrite_history=False)
    assert e.value.response.status_code == 409
    api.permanently_delete_lfs_files(repo, on_main)
    assert [f.filename for f in api.list_lfs_files(repo)] == ["lfs_file_branch.bin"]
    assert set(api.list_repo_files(repo)) == {".gitattributes", "txt_file.txt"}
    assert set(api.list_repo_files(repo, revision="my-branch")) == {".gitattributes", "txt_file.txt",
                                                                  "lfs_file_branch.bin"}
    assert set(api.list_repo_files(repo, revision="v1")) == set(api.list_repo_files(repo, revision="my-branch"))
    for commit in api.list_repo_commits(repo, revision="v1"):  # no commit of any ref points to them
        assert "lfs_file.bin" not in api.list_repo_files(repo, revision=commit.commit_id)
    with pytest.raises(HfHubHTTPError):
        api.hf_hub_download(repo, "lfs_file.bin")
    assert Path(api.hf_hub_download(twin, "same.bin")).read_bytes() == b"LFS content"
    # an oid the repo does not hold is ignored: nothing of another repo can be deleted from here
    other = new_repo(api)
    api.upload_file(path_or_fileobj=b"mine only", path_in_repo="mine.bin", repo_id=other)
    api.permanently_delete_lfs_files(repo, list(api.list_lfs_files(other)))
    assert Path(api.hf_hub_download(other, "mine.bin")).read_bytes() == b"mine only"


# -- uploads: .gitignore, folder deletes ---------------------------------------------------------------


def test_gitignore_is_honoured_at_preupload(api, tmp_path):
    folder = tmp_path / "up"
    (folder / "nested").mkdir(parents=True)
    (folder / "nested" / "file.bin").write_bytes(b"\x00" * 10)
    (folder / "keep.log").write_text("kept")
    (folder / "drop.log").write_text("dropped")
    (folder / "a.txt").write_text("a")
    repo = new_repo(api)
    api.upload_file(path_or_fileobj=b"nested/*\n", path_in_repo=".gitignore", repo_id=repo)
    api.upload_folder(folder_path=folder, repo_id=repo)  # the repo's .gitignore
    assert not api.file_exists(repo, "nested/file.bin") and api.file_exists(repo, "drop.log")
    (folder / ".gitignore").write_text("*.log\n!keep.log\n")
    repo = new_repo(api)
    api.upload_folder(folder_path=folder, repo_id=repo)  # the commit's own .gitignore
    assert set(api.list_repo_files(repo)) == {".gitattributes", ".gitignore", "a.txt", "keep.log",
                                              "nested/file.bin"}


def test_deleting_a_folder_without_the_trailing_slash(api):
    repo = new_repo(api)
    api.create_commit(repo, [CommitOperationAdd("1/a.md", b"a"), CommitOperationAdd("1/2/b.md", b"b"),
                             CommitOperationAdd("2/c.md", b"c")], commit_message="files")
    api.create_commit(repo, [CommitOperationDelete(path_in_repo="1")], commit_message="delete folder 1")
    assert set(api.list_repo_files(repo)) == {".gitattributes", "2/c.md"}
    with pytest.raises(HfHubHTTPError):
        api.create_commit(repo, [CommitOperationDelete(path_in_repo="1")], commit_message="again")


# -- accounts: likes, storage ------------------------------------------------------------------------


def test_liked_repos(api, hub, bob):
    public, private = new_repo(api), new_repo(api, private=True)
    space = new_repo(api, repo_type="space", space_sdk="static")
    for repo_id, repo_type in ((public, "model"), (private, "model"), (space, "space")):
        httpx.post(f"{hub.url}/api/{repo_type}s/{repo_id}/like",
                   headers={"authorization": f"Bearer {api.token}"}).raise_for_status()
    mine = api.list_liked_repos()
    assert mine.user == "alice" and {public, private} <= set(mine.models) and space in mine.spaces
    seen = HfApi(endpoint=hub.url, token=bob).list_liked_repos("alice")
    assert public in seen.models and private not in seen.models
    assert HfApi(endpoint=hub.url, token=bob).list_liked_repos(user="bob").user == "bob"
    with pytest.raises(HfHubHTTPError) as e:
        api.list_liked_repos("nobody-by-that-name")
    assert e.value.response.status_code == 404


def test_list_user_repos_with_storage(api, hub, bob):
    repo = new_repo(api)
    api.upload_file(path_or_fileobj=b"\x00" * 5000, path_in_repo="w.bin", repo_id=repo)
    listed = {r.id: r for r in api.list_user_repos()}
    assert listed[repo].type == "model" and listed[repo].visibility == "public"
    assert listed[repo].storage >= 5000 and 0 < listed[repo].storage_percent <= 100
    org = uniq("org")
    hub.cli("orgs", "add", org, "--owner", "alice")
    hub.cli("orgs", "add-member", org, "bob", "--role", "write")
    in_org = api.create_repo(f"{org}/{uniq('r')}", private=True).repo_id
    assert [r.id for r in api.list_user_repos(namespace=org)] == [in_org]
    with pytest.raises(HfHubHTTPError) as e:
        list(HfApi(endpoint=hub.url, token=bob).list_user_repos(namespace=org))  # not an admin of it
    assert e.value.response.status_code == 403
    assert repo not in {r.id for r in HfApi(endpoint=hub.url, token=bob).list_user_repos()}


# -- moved repos, new Spaces -------------------------------------------------------------------------


def test_a_moved_repo_answers_at_its_old_id(api, hub, bob, tmp_path):
    old = new_repo(api, private=True)
    api.upload_file(path_or_fileobj=b"content", path_in_repo="file.txt", repo_id=old)
    new = f"alice/{uniq('renamed')}"
    api.move_repo(old, new)
    assert api.model_info(old).id == new
    assert Path(hf_hub_download(old, "file.txt", endpoint=hub.url, token=api.token,
                                cache_dir=tmp_path)).read_bytes() == b"content"
    api.upload_file(path_or_fileobj=b"more", path_in_repo="more.txt", repo_id=old)  # a write follows too
    assert "more.txt" in api.list_repo_files(new)
    r = httpx.get(f"{hub.url}/api/models/{old}/tree/main?recursive=true", headers={"authorization": f"Bearer {api.token}"})
    assert r.status_code == 307 and r.headers["location"] == f"{hub.url}/api/models/{new}/tree/main?recursive=true"
    # to whoever may not read the repo, its old id is a missing repo, byte for byte
    headers = {"authorization": f"Bearer {bob}"}
    for path in ("/api/models/{}", "/{}/resolve/main/file.txt", "/api/models/{}/tree/main"):
        hidden = httpx.get(hub.url + path.format(old), headers=headers)
        missing = httpx.get(hub.url + path.format("alice/" + old.split("/")[1][::-1]), headers=headers)
        assert hidden.status_code == missing.status_code == 404
        assert hidden.text == missing.text and hidden.headers.get("x-error-code") == "RepoNotFound"
    # a repo created at the old id takes it over
    api.create_repo(old)
    assert api.model_info(old).id == old and api.list_repo_files(old) == [".gitattributes"]


def test_a_new_space_has_a_card(api):
    repo = new_repo(api, repo_type="space", space_sdk="gradio")
    card = Path(api.hf_hub_download(repo, "README.md", repo_type="space")).read_text()
    data = RepoCard(card).data.to_dict()
    assert data["sdk"] == "gradio" and data["title"] == repo.split("/")[1] and data["pinned"] is False
    assert api.space_info(repo).card_data["sdk"] == "gradio"


# -- two clients, one object -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lfs_hub(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("lfs-tail") / "data",
                          env={"COVE_LFS_UPLOADS": "lfs", "COVE_MULTIPART_PART_SIZE": str(5 * 2**20)})
    yield server
    stop_server(server)


@pytest.mark.parametrize("size", [100_000, 11 * 2**20], ids=["basic", "multipart"])
def test_two_clients_upload_the_same_object_at_once(lfs_hub, monkeypatch, size):
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    token = lfs_hub.user("lena")
    api = HfApi(endpoint=lfs_hub.url, token=token)
    data = uuid.uuid4().bytes * (size // 16)
    repos = [api.create_repo(f"lena/{uniq('race')}").repo_id for _ in range(2)]
    targets = [(repos[0], "a.bin"), (repos[0], "b.bin"), (repos[1], "a.bin"), (repos[1], "c.bin")]
    errors: list[BaseException] = []
    start = threading.Barrier(len(targets))

    def upload(repo_id: str, path: str) -> None:
        try:
            start.wait()
            HfApi(endpoint=lfs_hub.url, token=token).upload_file(path_or_fileobj=data, path_in_repo=path,
                                                                 repo_id=repo_id)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=upload, args=t) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    for repo_id, path in targets:
        info = api.get_paths_info(repo_id, [path])[0]
        assert info.lfs.sha256 == hashlib.sha256(data).hexdigest()
    assert "unhandled error" not in lfs_hub.log.read_text()


def test_an_org_can_make_new_repos_private_by_default(api, hub, bob):
    org = uniq("enterprise")
    hub.cli("orgs", "add", org, "--owner", "alice")
    public_by_default = api.create_repo(f"{org}/{uniq('before')}").repo_id
    hub.cli("orgs", "set", org, "--private-by-default", "yes")
    assert not api.model_info(public_by_default).private  # existing repos keep their visibility
    repo = api.create_repo(f"{org}/{uniq('model')}").repo_id
    assert api.model_info(repo, expand="private").private
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=hub.url, token=bob).model_info(repo)
    assert not api.model_info(api.create_repo(f"{org}/{uniq('open')}", private=False).repo_id).private
    bucket = f"{org}/{uniq('bucket')}"
    api.create_bucket(bucket)
    assert api.bucket_info(bucket).private
    assert not api.model_info(api.create_repo(f"alice/{uniq('mine')}").repo_id).private  # users: unchanged
    hub.cli("orgs", "set", org, "--private-by-default", "no")
    assert not api.model_info(api.create_repo(f"{org}/{uniq('again')}").repo_id).private
