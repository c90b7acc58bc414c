"""The Hub with its blobs on an S3-compatible store (tests/s3.py): presigned downloads with the stock
client, git-lfs's batch API and hf_xet, uploads that are written once or not at all, and the sweep.

The suites that run on the disk store run on S3 too: tests/e2e/test_s3_suites.py.
"""

from __future__ import annotations

import hashlib
import os
import socket
import uuid
from urllib.parse import urlparse

import httpx
import pytest

from tests import s3
from tests.conftest import STORAGES, start_server, stop_server
from tests.e2e.test_xet import client

pytestmark = pytest.mark.skipif(not s3.available(), reason=s3.missing_reason())
MiB = 1024 * 1024


def s3_hub(tmp_path, *, presign: bool, **settings: str):
    """A Hub whose blobs are in a new bucket (more ``COVE_*`` settings in ``settings``);
    ``(hub, S3 server, bucket)``."""
    server = s3.shared_server()
    bucket = server.create_bucket()
    data = tmp_path / "data"
    STORAGES[data.resolve()] = {**server.env(bucket, presign=presign), **settings}
    return start_server(data), server, bucket


@pytest.fixture(scope="module")
def presigning(tmp_path_factory):
    hub, server, bucket = s3_hub(tmp_path_factory.mktemp("s3"), presign=True)
    yield hub, server, bucket
    stop_server(hub)


def new_repo(hub, token: str, *, private: bool = False) -> str:
    name = f"s3-{uuid.uuid4().hex[:8]}"
    r = httpx.post(f"{hub.url}/api/repos/create", json={"name": name, "private": private},
                   headers={"authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return name


def batch(hub, token: str, repo: str, operation: str, oid: str, size: int) -> dict:
    r = httpx.post(f"{hub.url}/{repo}.git/info/lfs/objects/batch", headers={"authorization": f"Bearer {token}"},
                   json={"operation": operation, "objects": [{"oid": oid, "size": size}]})
    assert r.status_code == 200, r.text
    return r.json()["objects"][0]


def upload_lfs(hub, token: str, repo: str, data: bytes, path: str = "w.bin") -> str:
    """Upload ``data`` through the LFS batch API (one PUT) and commit it at ``path``; its oid."""
    oid = hashlib.sha256(data).hexdigest()
    obj = batch(hub, token, repo, "upload", oid, len(data))
    assert httpx.put(obj["actions"]["upload"]["href"], content=data, timeout=120).status_code == 200
    lines = ('{"key": "header", "value": {"summary": "add"}}\n'
             f'{{"key": "lfsFile", "value": {{"path": "{path}", "algo": "sha256", "oid": "{oid}", '
             f'"size": {len(data)}}}}}\n')
    r = httpx.post(f"{hub.url}/api/models/{repo}/commit/main", content=lines.encode(),
                   headers={"authorization": f"Bearer {token}", "content-type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    return oid


def lfs_keys(server, bucket: str) -> dict[str, int]:
    return server.sizes(bucket, "blobs/lfs/")


# -- downloads -----------------------------------------------------------------------------------------


def test_resolve_redirects_to_a_presigned_url_that_honours_range(presigning, tmp_path):
    hub, server, bucket = presigning
    alice, bob = hub.user("alice"), hub.user("bob")
    repo = f"alice/{new_repo(hub, alice, private=True)}"
    data = os.urandom(3 * MiB + 17)
    oid = upload_lfs(hub, alice, repo, data)
    url = f"{hub.url}/{repo}/resolve/main/w.bin"

    head = httpx.head(url, headers={"authorization": f"Bearer {alice}"})
    assert head.status_code == 302
    location = head.headers["location"]
    assert location.startswith(server.endpoint) and "X-Amz-Signature" in location
    assert head.headers["x-linked-etag"] == f'"{oid}"' and head.headers["x-linked-size"] == str(len(data))
    assert head.headers["x-repo-commit"]
    # the URL serves the content, a range of it, and nothing once the Hub's answer is gone
    got = httpx.get(location, headers={"range": "bytes=1000-1999"})
    assert got.status_code == 206 and got.content == data[1000:2000]
    assert got.headers["content-disposition"].startswith("attachment")
    full = httpx.get(url, headers={"authorization": f"Bearer {alice}", "range": f"bytes={len(data) - 5}-"},
                     follow_redirects=True)
    assert full.status_code == 206 and full.content == data[-5:]

    # private: an outsider and an anonymous caller get the same 404, and no URL
    for headers in ({"authorization": f"Bearer {bob}"}, {}):
        r = httpx.head(url, headers=headers)
        assert r.status_code == 404 and "location" not in r.headers

    # the stock client over plain HTTP: it follows the redirect without sending its token there
    out = client(hub, alice, f"""
        import hashlib
        from huggingface_hub import hf_hub_download
        print(hashlib.sha256(open(hf_hub_download({repo!r}, "w.bin"), "rb").read()).hexdigest())
    """, tmp_path / "plain", HF_HUB_DISABLE_XET="1")
    assert out.split()[-1] == oid


@pytest.mark.skipif(not s3.on_radosgw(), reason="moto checks no signature nor expiry: COVE_TEST_S3_SERVER=radosgw")
def test_a_presigned_url_lives_its_seconds_only(tmp_path):
    """What a presigned URL cannot do (die with the Hub token that asked for it) is bounded by its life."""
    hub, _, _ = s3_hub(tmp_path, presign=True, COVE_S3_PRESIGN_SECONDS="10")  # the least it takes
    try:
        alice = hub.user("alice")
        repo = f"alice/{new_repo(hub, alice)}"
        data = os.urandom(100_000)
        upload_lfs(hub, alice, repo, data)
        location = httpx.head(f"{hub.url}/{repo}/resolve/main/w.bin",
                              headers={"authorization": f"Bearer {alice}"}).headers["location"]
        assert httpx.get(location).content == data
        assert httpx.get(location.replace("X-Amz-Signature=", "X-Amz-Signature=0")).status_code == 403
        assert _wait(lambda: httpx.get(location).status_code == 403, 25)
    finally:
        stop_server(hub)


def test_git_lfs_batch_downloads_point_at_the_store(presigning):
    hub, server, _ = presigning
    alice = hub.user("alice")
    repo = f"alice/{new_repo(hub, alice)}"
    data = os.urandom(200_000)
    oid = upload_lfs(hub, alice, repo, data)
    action = batch(hub, alice, repo, "download", oid, len(data))["actions"]["download"]
    assert action["href"].startswith(server.endpoint) and action["expires_in"] <= 300
    assert httpx.get(action["href"]).content == data
    # a repo that does not hold the object gets no URL for it
    other = f"alice/{new_repo(hub, alice)}"
    assert batch(hub, alice, other, "download", oid, len(data))["error"]["code"] == 404


def test_xet_fetch_urls_are_presigned_and_hf_xet_follows_them(presigning, tmp_path):
    hub, server, bucket = presigning
    alice = hub.user("alice")
    repo = f"alice/{new_repo(hub, alice)}"
    data = os.urandom(5 * MiB)
    (tmp_path / "x.bin").write_bytes(data)
    client(hub, alice, f"""
        from huggingface_hub import HfApi
        HfApi().upload_file(path_or_fileobj={str(tmp_path / "x.bin")!r}, path_in_repo="x.bin", repo_id={repo!r})
    """, tmp_path / "up")
    assert server.sizes(bucket, "blobs/xet/xorbs/")  # the xorbs went to the bucket
    oid = hashlib.sha256(data).hexdigest()
    assert not [k for k in lfs_keys(server, bucket) if k.endswith(oid)]  # and no blob was made of them
    tok = httpx.get(f"{hub.url}/api/models/{repo}/xet-read-token/main",
                    headers={"authorization": f"Bearer {alice}"}).json()
    head = httpx.head(f"{hub.url}/{repo}/resolve/main/x.bin", headers={"authorization": f"Bearer {alice}"})
    file_id = head.headers["x-xet-hash"]
    plan = httpx.get(f"{tok['casUrl']}/v1/reconstructions/{file_id}",
                     headers={"authorization": f"Bearer {tok['accessToken']}"}).json()
    fetches = [f for infos in plan["fetch_info"].values() for f in infos]
    assert fetches and all(f["url"].startswith(server.endpoint) for f in fetches)
    # each URL is signed for its range only (a xorb may hold other files' chunks); moto does not check
    # signatures, radosgw does (COVE_TEST_S3_SERVER=radosgw): there a wider range is refused
    assert all("X-Amz-SignedHeaders=host%3Brange" in f["url"] for f in fetches)
    for f in fetches[:3]:
        first, last = f["url_range"]["start"], f["url_range"]["end"]
        got = httpx.get(f["url"], headers={"range": f"bytes={first}-{last}"})
        assert got.status_code == 206 and len(got.content) == last - first + 1
        if s3.on_radosgw():
            assert httpx.get(f["url"], headers={"range": f"bytes={first}-{last + 1}"}).status_code == 403
            assert httpx.get(f["url"]).status_code == 403
    out = client(hub, alice, f"""
        import hashlib
        from huggingface_hub import hf_hub_download
        print(hashlib.sha256(open(hf_hub_download({repo!r}, "x.bin"), "rb").read()).hexdigest())
    """, tmp_path / "down")
    assert out.split()[-1] == oid


# -- uploads written once ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1000, 20 * MiB])
def test_a_wrong_hash_upload_stores_nothing(tmp_path, size):
    hub, server, bucket = s3_hub(tmp_path, presign=False)
    try:
        alice = hub.user("alice")
        repo = f"alice/{new_repo(hub, alice)}"
        data = os.urandom(size)
        claimed = hashlib.sha256(b"something else").hexdigest()
        href = batch(hub, alice, repo, "upload", claimed, size)["actions"]["upload"]["href"]
        r = httpx.put(href, content=data, timeout=120)
        assert r.status_code == 422 and "does not match" in r.text
        assert lfs_keys(server, bucket) == {} and server.uploads(bucket) == []
        # the right content under the same grant is kept
        oid = hashlib.sha256(data).hexdigest()
        href = batch(hub, alice, repo, "upload", oid, size)["actions"]["upload"]["href"]
        assert httpx.put(href, content=data, timeout=120).status_code == 200
        assert lfs_keys(server, bucket) == {f"blobs/lfs/{oid[:2]}/{oid[2:4]}/{oid}": size}
        assert server.uploads(bucket) == []
    finally:
        stop_server(hub)


def _send_part_of(href: str, total: int, sent: int) -> socket.socket:
    """A PUT of ``total`` bytes to ``href`` that sends only ``sent`` of them; the open socket."""
    u = urlparse(href)
    sock = socket.create_connection((u.hostname, u.port))
    sock.sendall(f"PUT {u.path}?{u.query} HTTP/1.1\r\nHost: {u.netloc}\r\nContent-Length: {total}\r\n"
                 "Content-Type: application/octet-stream\r\n\r\n".encode())
    block = os.urandom(MiB)
    for _ in range(sent // MiB):
        sock.sendall(block)
    return sock


def _wait(predicate, seconds: float = 30) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def _cut_short(hub, server, bucket: str) -> socket.socket:
    """An LFS upload of 40 MiB of which 24 have been sent, and sent on to the store as parts."""
    alice = hub.user("alice")
    repo = f"alice/{new_repo(hub, alice)}"
    oid = hashlib.sha256(b"never whole").hexdigest()
    href = batch(hub, alice, repo, "upload", oid, 40 * MiB)["actions"]["upload"]["href"]
    sock = _send_part_of(href, 40 * MiB, 24 * MiB)
    assert _wait(lambda: server.uploads(bucket) != [])  # parts went to the store as they came
    return sock


def test_a_client_that_goes_away_leaves_nothing(tmp_path):
    hub, server, bucket = s3_hub(tmp_path, presign=False)
    try:
        sock = _cut_short(hub, server, bucket)
        sock.close()
        assert _wait(lambda: server.uploads(bucket) == [])  # aborted when the client went away
        assert lfs_keys(server, bucket) == {}
    finally:
        stop_server(hub)


def test_a_killed_hub_leaves_no_object_and_the_sweep_aborts_its_upload(tmp_path):
    from cove.server.settings import Settings
    from cove.server.storage.s3 import S3BlobStore

    hub, server, bucket = s3_hub(tmp_path, presign=False)
    try:
        sock = _cut_short(hub, server, bucket)
        hub.proc.kill()  # kill -9: nobody aborts the multipart upload
        hub.proc.wait(10)
        sock.close()
        assert server.uploads(bucket) != [] and lfs_keys(server, bucket) == {}  # started, never visible
    finally:
        stop_server(hub)
    env = {**STORAGES[(tmp_path / "data").resolve()], "COVE_DATA_DIR": str(tmp_path / "data")}
    store = S3BlobStore(Settings.from_env(env), tmp_path / "data" / "lfs" / "tmp")
    files, _ = store.sweep(0)
    assert files >= 1 and server.uploads(bucket) == [] and lfs_keys(server, bucket) == {}
