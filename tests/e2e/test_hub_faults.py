"""Bad input and faults: a clear 4xx with the HF error code, never a 500, and nothing written.
Commits are atomic under a killed upload and a killed server; concurrent commits lose nothing."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import threading
import time
import uuid

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.errors import HfHubHTTPError

from tests.conftest import start_server, stop_server


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def ndjson(*lines: dict) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def file_line(path: str, data: bytes) -> dict:
    return {"key": "file", "value": {"content": base64.b64encode(data).decode(), "path": path, "encoding": "base64"}}


HEADER = {"key": "header", "value": {"summary": "test", "description": ""}}


@pytest.fixture
def repo(hub, alice):
    api = HfApi(endpoint=hub.url, token=alice)
    name = f"alice/{uniq('faults')}"
    api.create_repo(name)
    api.upload_file(path_or_fileobj=b"keep", path_in_repo="keep.txt", repo_id=name)
    return api, name


def _commit(hub, token, name, body: bytes, rev="main"):
    return httpx.post(f"{hub.url}/api/models/{name}/commit/{rev}", content=body, timeout=60,
                      headers={"authorization": f"Bearer {token}", "content-type": "application/x-ndjson"})


@pytest.mark.parametrize("path", ["../evil.txt", "a/../../evil.txt", "/abs.txt", "a\\b.txt", "nul\x00.txt",
                                  ".git/config", "a//b.txt", "./x.txt", "sub/.git/hooks/post-update", ""])
def test_path_traversal_is_refused(hub, alice, repo, path):
    api, name = repo
    before = api.model_info(name).sha
    # 422 as the Hub answers a path it will not store (huggingface_hub's test_create_file_with_relative_path)
    r = _commit(hub, alice, name, ndjson(HEADER, file_line(path, b"x")))
    assert r.status_code == 422, (path, r.status_code, r.text)
    assert r.headers["x-error-message"].startswith("Invalid path")
    assert api.model_info(name).sha == before
    r = httpx.post(f"{hub.url}/api/models/{name}/preupload/main", headers={"authorization": f"Bearer {alice}"},
                   json={"files": [{"path": path, "sample": "", "size": 1}]})
    assert r.status_code == 422 and r.headers["x-error-message"].startswith("Invalid path")


def test_client_upload_of_a_relative_windows_path_gets_422(hub, alice, repo):
    api, name = repo
    with pytest.raises(HfHubHTTPError) as err:
        api.upload_file(path_or_fileobj=b"content", path_in_repo="..\\ddd", repo_id=name)
    assert err.value.response.status_code == 422


@pytest.mark.parametrize("body", [
    b"not json\n",
    b'{"key": "header", "value": {"summary": "x"}}\n{broken\n',
    b'{"key": "file", "value": {"path": "a.txt", "content": "eA=="}}\n',  # no header
    b'{"key": "header", "value": {"summary": "x"}}\n{"key": "mystery", "value": {"path": "a"}}\n',
    b'{"key": "header", "value": {"summary": "x"}}\n{"key": "file", "value": {"path": "a.txt", "content": "!!!"}}\n',
    b'{"key": "header", "value": {"summary": "x"}}\n{"key": "lfsFile", "value": {"path": "a", "oid": "zz"}}\n',
    b'{"key": "header", "value": {"summary": "x", "parentCommit": 12}}\n',
    b'[1, 2, 3]\n',
])
def test_malformed_ndjson_is_400(hub, alice, repo, body):
    api, name = repo
    before = api.model_info(name).sha
    r = _commit(hub, alice, name, body)
    assert r.status_code == 400, (body, r.status_code, r.text)
    assert api.model_info(name).sha == before


def test_unknown_revisions_are_404_revision_not_found(hub, alice, repo):
    api, name = repo
    h = {"authorization": f"Bearer {alice}"}
    for url in [f"/api/models/{name}/revision/nope", f"/api/models/{name}/tree/nope",
                f"/api/models/{name}/commits/nope", f"/{name}/resolve/nope/keep.txt",
                f"/api/models/{name}/revision/{'0' * 40}"]:
        r = httpx.get(hub.url + url, headers=h)
        assert r.status_code == 404 and r.headers["x-error-code"] == "RevisionNotFound", url
    r = _commit(hub, alice, name, ndjson(HEADER, file_line("a.txt", b"a")), rev="no-such-branch")
    assert r.status_code == 404 and r.headers["x-error-code"] == "RevisionNotFound"
    for bad in ["a..b", "-x", "x~1", "x^", "x:y", "x y", "HEAD@{1}"]:
        r = httpx.get(hub.url + f"/api/models/{name}/revision/{bad}", headers=h)
        assert r.status_code in (400, 404), bad
        assert r.status_code != 500


def test_missing_file_is_entry_not_found_with_commit(hub, alice, repo):
    api, name = repo
    r = httpx.head(f"{hub.url}/{name}/resolve/main/nope.txt", headers={"authorization": f"Bearer {alice}"})
    assert r.status_code == 404 and r.headers["x-error-code"] == "EntryNotFound"
    assert r.headers["x-repo-commit"] == api.model_info(name).sha
    r = httpx.get(f"{hub.url}/api/models/{name}/tree/main/no-such-dir", headers={"authorization": f"Bearer {alice}"})
    assert r.status_code == 404 and r.headers["x-error-code"] == "EntryNotFound"


def test_oversized_json_is_413(hub, alice):
    r = httpx.post(f"{hub.url}/api/repos/create", content=b'{"name": "' + b"x" * (17 * 1024 * 1024) + b'"}',
                   headers={"authorization": f"Bearer {alice}", "content-type": "application/json"}, timeout=60)
    assert r.status_code == 413 and r.headers["x-error-code"] == "PayloadTooLarge"


def test_adding_a_file_where_a_folder_is(hub, alice, repo):
    api, name = repo
    api.upload_file(path_or_fileobj=b"x", path_in_repo="d/f.txt", repo_id=name)
    before = api.model_info(name).sha
    for path in ("d", "keep.txt/inner.txt"):
        r = _commit(hub, alice, name, ndjson(HEADER, file_line(path, b"y")))
        assert r.status_code == 400, path
    assert api.model_info(name).sha == before


def test_a_failed_commit_writes_nothing(hub, alice, repo):
    """One bad operation (deleting a missing file) fails the whole commit: the good ones are not applied."""
    api, name = repo
    before = api.model_info(name).sha
    body = ndjson(HEADER, file_line("new.txt", b"new"), {"key": "deletedFile", "value": {"path": "missing.txt"}})
    r = _commit(hub, alice, name, body)
    assert r.status_code == 404 and r.headers["x-error-code"] == "EntryNotFound"
    assert api.model_info(name).sha == before
    assert "new.txt" not in api.list_repo_files(name)


def test_killed_upload_leaves_the_previous_commit(hub, alice, repo):
    """A client that dies halfway through the commit body changes nothing."""
    api, name = repo
    before = api.model_info(name).sha
    body = ndjson(HEADER, file_line("a.txt", b"a"), file_line("big.bin", os.urandom(4 * 1024 * 1024)))
    host, port = hub.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as s:
        head = (f"POST /api/models/{name}/commit/main HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: Bearer {alice}\r\nContent-Type: application/x-ndjson\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        s.sendall(head + body[: len(body) // 2])
        time.sleep(0.3)
    time.sleep(0.5)
    assert api.model_info(name).sha == before
    assert sorted(api.list_repo_files(name)) == [".gitattributes", "keep.txt"]
    tmp = [p for p in (hub.data_dir / "lfs" / "tmp").iterdir() if not p.name.startswith("multipart")]
    assert tmp == [], "temporary upload files were left behind"


def test_concurrent_commits_lose_nothing(hub, alice, repo):
    api, name = repo
    errors = []

    def writer(i):
        try:
            HfApi(endpoint=hub.url, token=alice).create_commit(
                name, operations=[CommitOperationAdd(f"c/{i}.txt", str(i).encode())], commit_message=f"c{i}")
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    files = [f for f in api.list_repo_files(name) if f.startswith("c/")]
    assert sorted(files) == sorted(f"c/{i}.txt" for i in range(12))
    titles = [c.title for c in api.list_repo_commits(name)]
    assert sorted(t for t in titles if t.startswith("c")) == sorted(f"c{i}" for i in range(12))


def test_crashed_server_keeps_a_consistent_repo(tmp_path):
    """SIGKILL the server in the middle of a stream of commits: after a restart every branch points at a
    complete commit, the repo passes `git fsck`, and no ref is left locked or orphaned."""
    import subprocess

    data = tmp_path / "data"
    server = start_server(data)
    token = server.user("kim")
    name = "kim/crash"
    HfApi(endpoint=server.url, token=token).create_repo(name)
    stop = threading.Event()
    done = []

    def writer():
        api = HfApi(endpoint=server.url, token=token)
        i = 0
        while not stop.is_set():
            try:
                api.create_commit(name, operations=[CommitOperationAdd(f"f{i}.bin", os.urandom(200_000) + b"\0")],
                                  commit_message=f"c{i}")
                done.append(i)
            except Exception:  # noqa: BLE001 - the server is being killed under us
                return
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    time.sleep(1.5)
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait()
    stop.set()
    t.join(30)
    server = start_server(data)
    try:
        api = HfApi(endpoint=server.url, token=token)
        files = api.list_repo_files(name)
        for i in done:
            assert f"f{i}.bin" in files  # every acknowledged commit survived
        key = next(p for p in (data / "git").glob("*.git"))
        fsck = subprocess.run(["git", "fsck", "--no-dangling"], cwd=key, capture_output=True, text=True)
        assert fsck.returncode == 0, fsck.stdout + fsck.stderr
        assert not list(key.rglob("*.lock"))
        api.create_commit(name, operations=[CommitOperationAdd("after.txt", b"ok")], commit_message="after")
        assert "after.txt" in api.list_repo_files(name)
    finally:
        stop_server(server)


def test_never_500_on_odd_requests(hub, alice):
    h = {"authorization": f"Bearer {alice}"}
    odd = [("GET", "/api/models/only-one-part"), ("GET", "/api/models/a/b/tree/main/%00"),
           ("GET", "/a/b/resolve/main/..%2F..%2Fetc%2Fpasswd"), ("POST", "/api/repos/move"),
           ("PUT", "/api/models/x/y/settings"), ("GET", "/api/bogus"), ("GET", "/api/models?limit=abc"),
           ("POST", "/api/models/x/y/paths-info/main"), ("DELETE", "/api/repos/delete"),
           ("GET", "/api/models/a/b/revision/%ff%fe")]
    for method, path in odd:
        r = httpx.request(method, hub.url + path, headers=h)
        assert 400 <= r.status_code < 500, (method, path, r.status_code, r.text)
        assert "x-error-code" in r.headers, (method, path)


def test_client_conflict_error_on_stale_parent(hub, alice, repo):
    api, name = repo
    stale = api.model_info(name).sha
    api.upload_file(path_or_fileobj=b"new", path_in_repo="n.txt", repo_id=name)
    with pytest.raises(HfHubHTTPError) as e:
        api.create_commit(name, operations=[CommitOperationAdd("m.txt", b"m")], commit_message="m",
                          parent_commit=stale)
    assert e.value.response.status_code == 412
