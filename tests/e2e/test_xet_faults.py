"""Xet under bad input and faults: every refusal is a clear 4xx that stores and registers nothing.

Requests are crafted with the CAS core's own serializers (``cove.server.cas``) and sent raw: wrong,
truncated, empty and oversized xorbs; shards naming unknown xorbs, wrong verification or file hashes,
another file's sha256; tokens used across repos, read tokens on write routes, expired or revoked
tokens and fetch URLs; a stock client killed mid-upload (no commit, no partial file, and the retry
completes); and a Hub with ``COVE_XET=0`` (today's behaviour, Xet-stored files still readable).
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from huggingface_hub import HfApi

from cove.server.app import create_app
from cove.server.cas.chunker import iter_chunks
from cove.server.cas.hashes import file_hash, from_hex, to_hex, verification_hash
from cove.server.cas.shard import FileRecord, Term, upload_shard
from cove.server.cas.xorb import MAX_XORB_BODY, serialize_xorb
from cove.server.settings import Settings
from tests.conftest import presigns, start_server, stop_server, stored_blobs
from tests.e2e.test_security_auth import PASSWORD, _revoke_all
from tests.e2e.test_xet import SERVER_RSS_MB, limit_memory, peak_rss_mb

MiB = 1024 * 1024
OCTETS = {"content-type": "application/octet-stream"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("xet-faults") / "data", args=("--log-level", "info"),
                       env={"COVE_XET_MAX_SHARD_BYTES": str(MiB)})
    limit_memory(srv)
    yield srv
    peak = peak_rss_mb(srv)
    stop_server(srv)
    print(f"server peak RSS: {peak:.0f} MB")
    assert peak < SERVER_RSS_MB  # floods, oversized bodies and killed uploads hold nothing whole


@pytest.fixture(scope="module")
def alice(server) -> str:
    return server.user("alice", password=PASSWORD)


@pytest.fixture(scope="module")
def bob(server) -> str:
    return server.user("bob", password=PASSWORD)


def repo_of(server, token: str, name: str, private: bool = False) -> str:
    api = HfApi(endpoint=server.url, token=token)
    repo = f"{api.whoami()['name']}/{name}"
    api.create_repo(repo, private=private, exist_ok=True)
    return repo


def xet_token(server, token: str | None, repo: str, scope: str = "write") -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{server.url}/api/models/{repo}/xet-{scope}-token/main", headers=headers)


def cas_client(server, token: str, repo: str, scope: str = "write") -> httpx.Client:
    r = xet_token(server, token, repo, scope)
    assert r.status_code == 200, r.text
    return httpx.Client(base_url=r.json()["casUrl"], timeout=120,
                        headers={"authorization": f"Bearer {r.json()['accessToken']}"})


def craft(data: bytes, *, sha256: str | None = None) -> tuple[bytes, object, FileRecord, bytes]:
    """A xorb of ``data``'s chunks, its index, the file's record and the upload shard (as hf_xet writes them)."""
    chunks = list(iter_chunks(io.BytesIO(data)))
    body, index = serialize_xorb(chunks)
    record = FileRecord(file_hash(index.nodes()), (Term(index.hash, 0, len(chunks), len(data)),),
                        (verification_hash(c.hash for c in index.chunks),),
                        from_hex(sha256 or hashlib.sha256(data).hexdigest()))
    return body, index, record, upload_shard([record], [index])


def stored_xorbs(server) -> set[str]:
    return set(stored_blobs(server, "xorbs"))


def leftovers(server) -> list[str]:
    return [p.name for p in (server.data_dir / "lfs" / "tmp").iterdir() if p.name.startswith("xet-")]


def commit_lfs(server, token: str, repo: str, oid: str, size: int, path: str = "w.bin") -> httpx.Response:
    lines = (f'{{"key": "header", "value": {{"summary": "xet"}}}}\n'
             f'{{"key": "lfsFile", "value": {{"path": "{path}", "algo": "sha256", "oid": "{oid}", "size": {size}}}}}\n')
    return httpx.post(f"{server.url}/api/models/{repo}/commit/main", content=lines.encode(),
                      headers={"authorization": f"Bearer {token}", "content-type": "application/x-ndjson"})


# -- tokens ----------------------------------------------------------------------------------------


def test_token_routes(server, alice, bob):
    public, private = repo_of(server, alice, "tok-public"), repo_of(server, alice, "tok-private", private=True)
    r = xet_token(server, None, public, "read")  # anonymous reads of a public repo
    assert r.status_code == 200
    body = r.json()
    assert body["casUrl"] == f"{server.url}/cas" and body["exp"] > time.time() + 600
    assert r.headers["x-xet-access-token"] == body["accessToken"] and r.headers["x-xet-cas-url"] == body["casUrl"]
    assert r.headers["x-xet-token-expiration"] == str(body["exp"])
    assert xet_token(server, None, public, "write").status_code == 401
    assert xet_token(server, bob, public, "write").status_code == 403
    assert xet_token(server, server.token("alice", read_only=True), public, "write").status_code == 403
    hidden, missing = xet_token(server, bob, private, "read"), xet_token(server, bob, "alice/tok-nothing", "read")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == {"error": missing.json()["error"].replace("tok-nothing", "tok-private")}
    # uploads for a pull request need only read access, with a write token
    r = httpx.get(f"{server.url}/api/models/{public}/xet-write-token/main?create_pr=1",
                  headers={"authorization": f"Bearer {bob}"})
    assert r.status_code == 200
    assert httpx.get(f"{server.url}/api/models/{public}/xet-write-token/main?create_pr=1").status_code == 401
    assert httpx.get(f"{server.url}/api/models/{private}/xet-write-token/main?create_pr=1",
                     headers={"authorization": f"Bearer {bob}"}).status_code == 404
    with httpx.Client(base_url=f"{server.url}/cas") as cas:
        for auth in ({}, {"authorization": f"Bearer {alice}"}, {"authorization": "Bearer xet1.forged.sig"}):
            assert cas.get(f"/v1/reconstructions/{'0' * 64}", headers=auth).status_code == 401
    with cas_client(server, alice, public, "read") as cas:  # a read token never writes
        body, index, _, shard = craft(os.urandom(20_000))
        assert cas.post(f"/v1/xorbs/default/{to_hex(index.hash)}", content=body).status_code == 403
        assert cas.post("/v1/shards", content=shard).status_code == 403
    assert to_hex(index.hash) not in stored_xorbs(server)


def test_tokens_and_fetch_urls_die_with_the_hub_token(server):
    server.user("carol", password=PASSWORD)
    hub_token = server.token("carol")
    repo = repo_of(server, hub_token, "revoked")
    data = os.urandom(50_000)
    body, index, record, shard = craft(data)
    with cas_client(server, hub_token, repo) as cas:
        assert cas.post(f"/v1/xorbs/default/{to_hex(index.hash)}", content=body).status_code == 200
        assert cas.post("/v1/shards", content=shard).json() == {"result": 1}
        recon = cas.get(f"/v1/reconstructions/{to_hex(record.hash)}", headers={"range": "bytes=0-99"}).json()
        [fetch] = recon["fetch_info"][to_hex(index.hash)]
        granted = {"range": f"bytes={fetch['url_range']['start']}-{fetch['url_range']['end']}"}
        assert httpx.get(fetch["url"], headers=granted).status_code == 206
        _revoke_all(server, "carol", hub_token)
        r = cas.get(f"/v1/reconstructions/{to_hex(record.hash)}")
        assert r.status_code == 401 and "no longer" in r.headers["x-error-message"]
        # the Hub's own fetch URLs die with the token; a store's presigned URL cannot, it lives its
        # COVE_S3_PRESIGN_SECONDS (docs/deploy.md; tests/e2e/test_s3.py checks that it expires)
        assert httpx.get(fetch["url"], headers=granted).status_code == (206 if presigns(server) else 403)


def test_expired_tokens_and_fetch_urls(tmp_path):
    """In-process, with a Hub whose Xet grants last five seconds (long enough for a loaded CI machine)."""
    app = create_app(Settings(data_dir=tmp_path / "data", xet_token_seconds=5))
    hub = app.state.hub
    hub.accounts.create_user("erin")
    token = hub.accounts.create_token("erin")
    with TestClient(app, base_url="http://hub") as c:
        auth = {"authorization": f"Bearer {token}"}
        assert c.post("/api/repos/create", json={"name": "x"}, headers=auth).status_code == 200
        data = os.urandom(30_000)
        body, index, record, shard = craft(data)
        xt = c.get("/api/models/erin/x/xet-write-token/main", headers=auth).json()
        cas = {"authorization": f"Bearer {xt['accessToken']}"}
        assert c.post(f"/cas/v1/xorbs/default/{to_hex(index.hash)}", content=body, headers=cas).status_code == 200
        assert c.post("/cas/v1/shards", content=shard, headers=cas).status_code == 200
        recon = c.get(f"/cas/v1/reconstructions/{to_hex(record.hash)}", headers=cas).json()
        url = recon["fetch_info"][to_hex(index.hash)][0]["url"].removeprefix("http://hub")
        assert c.get(url, headers={"range": "bytes=0-15"}).content == body[:16]
        time.sleep(max(0.0, xt["exp"] + 1.1 - time.time()))
        r = c.get(f"/cas/v1/reconstructions/{to_hex(record.hash)}", headers=cas)
        assert r.status_code == 401 and "expired" in r.headers["x-error-message"]
        assert c.post(f"/cas/v1/xorbs/default/{to_hex(index.hash)}", content=body, headers=cas).status_code == 401
        assert c.get(url, headers={"range": "bytes=0-15"}).status_code == 403


# -- xorbs -----------------------------------------------------------------------------------------


def raw_status(server, path: str, auth: str, length: int) -> int:
    """The status of a POST that announces ``length`` bytes and sends none (what no client library sends)."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\n"
                     f"Content-Length: {length}\r\n\r\n".encode())
        return int(sock.recv(100).split(b" ")[1])


def test_bad_xorbs_are_refused_and_nothing_is_kept(server, alice):
    repo = repo_of(server, alice, "bad-xorbs")
    body, index, _, _ = craft(os.urandom(300_000))
    other = craft(os.urandom(1000))[1]
    good = to_hex(index.hash)
    with cas_client(server, alice, repo) as cas:
        cases = {
            "wrong hash": (to_hex(other.hash), body),
            "truncated": (good, body[:-1]),
            "truncated header": (good, body[:index.chunks[1].offset + 3]),
            "empty": (good, b""),
            "garbage": (good, b"\x07" * 1000),
            "footer only": (good, b"XETBLOB" + bytes(100)),
        }
        for what, (name, content) in cases.items():
            r = cas.post(f"/v1/xorbs/default/{name}", content=content)
            assert r.status_code == 400, (what, r.status_code, r.text)
            assert r.headers["x-error-code"] == "BadRequest" and r.json()["error"], what
        assert cas.post("/v1/xorbs/default/not-a-hash", content=body).status_code == 400
        # too large: refused from its Content-Length, or while it streams in (no Content-Length)
        assert raw_status(server, f"/cas/v1/xorbs/default/{good}", cas.headers["authorization"],
                          MAX_XORB_BODY + 1) == 400

        def flood():
            block = b"\x00" * MiB
            for _ in range(MAX_XORB_BODY // MiB + 2):
                yield block

        r = cas.post(f"/v1/xorbs/default/{good}", content=flood())
        assert r.status_code == 400 and "limit" in r.json()["error"]
        assert good not in stored_xorbs(server) and to_hex(other.hash) not in stored_xorbs(server)
        assert leftovers(server) == []
        r = cas.post(f"/v1/xorbs/default/{good}", content=body)
        assert r.status_code == 200 and r.json() == {"was_inserted": True}
        assert cas.post(f"/v1/xorbs/default/{good.upper()}", content=body).json() == {"was_inserted": False}
        assert {good, good + ".index"} <= stored_xorbs(server) and leftovers(server) == []


# -- shards ----------------------------------------------------------------------------------------


def test_bad_shards_register_nothing(server, alice):
    repo = repo_of(server, alice, "bad-shards")
    data = os.urandom(200_000)
    body, index, record, shard = craft(data)
    oid = hashlib.sha256(data).hexdigest()
    with cas_client(server, alice, repo) as cas:
        r = cas.post("/v1/shards", content=shard)  # its xorb is not uploaded yet
        assert r.status_code == 400 and "not stored" in r.json()["error"]
        assert cas.post(f"/v1/xorbs/default/{to_hex(index.hash)}", content=body).status_code == 200
        bad = {
            "wrong verification hash": upload_shard([FileRecord(record.hash, record.terms, (bytes(32),),
                                                                record.sha256)], [index]),
            "wrong file hash": upload_shard([FileRecord(bytes(31) + b"\x01", record.terms, record.verification,
                                                        record.sha256)], [index]),
            "term past the xorb": upload_shard([FileRecord(record.hash, (Term(index.hash, 0, 999, len(data)),),
                                                           record.verification, record.sha256)], [index]),
            "a sha256 that is not the content's": craft(data, sha256=hashlib.sha256(b"secret").hexdigest())[3],
            "truncated": shard[:-10],
            "not a shard": b"\x00" * 96,
        }
        for what, content in bad.items():
            r = cas.post("/v1/shards", content=content)
            assert r.status_code == 400, (what, r.status_code, r.text)
            assert commit_lfs(server, alice, repo, oid, len(data)).status_code == 422, what
        # what the CAS does not offer is a 404, whatever the method (the client falls back on nothing else)
        assert cas.post(f"/v1/reconstructions/{to_hex(record.hash)}").status_code == 404
        assert cas.head(f"/v1/xorbs/default/{to_hex(index.hash)}").status_code == 404
        assert cas.post(f"/v1/xorb-grants/default/{to_hex(index.hash)}", json={"length": 1}).status_code == 404
        assert cas.post("/v2/shards", content=shard).status_code == 404
        assert cas.get(f"/v1/reconstructions/{to_hex(record.hash)}").status_code == 404
        r = cas.post("/v1/shards", content=b"\x00" * (MiB + 1))
        assert r.status_code == 413
        assert cas.post("/v1/shards", content=shard).json() == {"result": 1}
        assert cas.post("/v1/shards", content=shard).json() == {"result": 0}
    r = commit_lfs(server, alice, repo, oid, len(data))
    assert r.status_code == 200, r.text
    got = httpx.get(f"{server.url}/{repo}/resolve/main/w.bin", headers={"authorization": f"Bearer {alice}"})
    assert got.content == data
    with cas_client(server, alice, repo, "read") as cas:  # ranges: 400 or 416, never a 500
        for rng, status in (("bytes=" + "9" * 5000 + "-", 400), ("bytes=0-" + "9" * 5000, 400),
                            ("bytes=5-2", 400), ("bytes=0-1,5-9", 400), ("items=0-9", 400),
                            (f"bytes={len(data)}-", 416), ("bytes=-0", 416)):
            assert cas.get(f"/v1/reconstructions/{to_hex(record.hash)}", headers={"range": rng}).status_code == \
                status, rng
    big = httpx.get(f"{server.url}/{repo}/resolve/main/w.bin", headers={"authorization": f"Bearer {alice}",
                                                                        "range": "bytes=0-" + "9" * 5000})
    assert big.status_code == 200 and big.content == data  # an unusable Range: the whole file, as HTTP allows


def test_a_repo_reaches_only_its_own_uploads(server, alice, bob):
    secret_repo = repo_of(server, bob, "secret", private=True)
    data = os.urandom(150_000)
    body, index, record, shard = craft(data)
    oid = hashlib.sha256(data).hexdigest()
    with cas_client(server, bob, secret_repo) as cas:
        assert cas.post(f"/v1/xorbs/default/{to_hex(index.hash)}", content=body).status_code == 200
        assert cas.post("/v1/shards", content=shard).status_code == 200
    assert commit_lfs(server, bob, secret_repo, oid, len(data)).status_code == 200
    mine = repo_of(server, alice, "mine")
    # alice knows the sha256 and the file ID, not the content: her repo can neither link nor read it
    r = commit_lfs(server, alice, mine, oid, len(data))
    assert r.status_code == 422
    with cas_client(server, alice, mine, "read") as cas:
        theirs = cas.get(f"/v1/reconstructions/{to_hex(record.hash)}")
        nothing = cas.get(f"/v1/reconstructions/{'ab' * 32}")
        assert theirs.status_code == nothing.status_code == 404
        assert theirs.json()["error"].replace(to_hex(record.hash), "X") == nothing.json()["error"].replace("ab" * 32, "X")
    # knowing the chunks (having the content) is what a shard proves: then her repo may have it too
    with cas_client(server, alice, mine) as cas:
        assert cas.post("/v1/shards", content=shard).json() == {"result": 1}
    assert commit_lfs(server, alice, mine, oid, len(data)).status_code == 200
    # a fetch URL grants its bytes only
    with cas_client(server, alice, mine, "read") as cas:
        recon = cas.get(f"/v1/reconstructions/{to_hex(record.hash)}", headers={"range": "bytes=100-70000"}).json()
    [fetch] = recon["fetch_info"][to_hex(index.hash)]
    a, b = fetch["url_range"]["start"], fetch["url_range"]["end"]
    r = httpx.get(fetch["url"], headers={"range": f"bytes={a}-{b}"})
    assert r.status_code == 206 and r.content == body[a:b + 1] and r.headers["content-range"] == \
        f"bytes {a}-{b}/{len(body)}"
    assert httpx.get(fetch["url"], headers={"range": f"bytes={a}-{b + 1}"}).status_code == 403
    assert httpx.get(fetch["url"].replace(f"r={a}-{b}", f"r={a}-{b + 100}")).status_code == 403
    narrower = httpx.get(fetch["url"], headers={"authorization": f"Bearer {alice}", "range": f"bytes={a}-{a}"})
    if presigns(server):  # the store's URL signs the exact Range (and takes no other credentials)
        assert narrower.status_code in (400, 403)
    else:  # the Hub's serves any part of the granted bytes, whatever else the request carries
        assert narrower.content == body[a:a + 1]


# -- a client killed mid-upload ----------------------------------------------------------------------


def test_killed_upload_leaves_no_commit_and_the_retry_completes(server, alice, tmp_path):
    repo = repo_of(server, alice, "killed")
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        for _ in range(200):
            f.write(os.urandom(MiB))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_ENDPOINT=server.url, HF_TOKEN=alice, HF_HOME=str(tmp_path / "home"),
               HF_HUB_DISABLE_PROGRESS_BARS="1", HF_HUB_DISABLE_TELEMETRY="1")
    code = textwrap.dedent(f"""
        from huggingface_hub import HfApi
        HfApi().upload_file(path_or_fileobj={str(big)!r}, path_in_repo="big.bin", repo_id={repo!r})
    """)
    start = server.log.stat().st_size
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while b"POST /cas/v1/xorbs/" not in server.log.read_bytes()[start:]:
        assert proc.poll() is None and time.monotonic() < deadline, "the upload never sent a xorb"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    api = HfApi(endpoint=server.url, token=alice)
    assert "big.bin" not in api.list_repo_files(repo)
    assert b"/commit/main" not in server.log.read_bytes()[start:]
    time.sleep(1)  # the server notices the closed connections
    assert leftovers(server) == []  # no partial xorb anywhere
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    want = hashlib.sha256(big.read_bytes()).hexdigest()
    [entry] = api.get_paths_info(repo, ["big.bin"])
    assert entry.lfs.sha256 == want and entry.xet_hash
    with httpx.stream("GET", f"{server.url}/{repo}/resolve/main/big.bin",
                      headers={"authorization": f"Bearer {alice}"}) as r:
        h = hashlib.sha256()
        for part in r.iter_bytes():
            h.update(part)
    assert h.hexdigest() == want


# -- COVE_XET=0 ------------------------------------------------------------------------------------


def test_xet_off_is_todays_behaviour_and_keeps_xet_files_readable(tmp_path, hf_home):
    data_dir = tmp_path / "data"
    srv = start_server(data_dir)
    payload = os.urandom(11 * MiB)
    try:
        token = srv.user("olga")
        api = HfApi(endpoint=srv.url, token=token)
        api.create_repo("olga/w")
        api.upload_file(path_or_fileobj=payload, path_in_repo="xet.bin", repo_id="olga/w")
        assert api.get_paths_info("olga/w", ["xet.bin"])[0].xet_hash
    finally:
        stop_server(srv)
    srv = start_server(data_dir, env={"COVE_XET": "0"})
    try:
        auth = {"authorization": f"Bearer {token}"}
        with httpx.Client(base_url=srv.url, headers=auth, timeout=60) as c:
            r = c.post("/api/models/olga/w/preupload/main",
                       json={"files": [{"path": "big.bin", "size": 20 * MiB, "sample": ""}]})
            assert r.json()["files"][0]["uploadMode"] == "regular"
            assert c.get("/api/models/olga/w/xet-read-token/main").status_code == 404
            assert c.get("/api/models/olga/w/xet-write-token/main").status_code == 404
            assert c.get(f"/cas/v1/reconstructions/{'0' * 64}").status_code == 404
            assert c.post(f"/cas/v1/xorbs/default/{'0' * 64}", content=b"x").status_code == 404
            head = c.head("/olga/w/resolve/main/xet.bin")
            assert head.status_code == 200 and "x-xet-hash" not in head.headers
            assert "xetHash" not in c.get("/api/models/olga/w/tree/main").text
            assert c.get("/olga/w/resolve/main/xet.bin").content == payload  # stored as chunks, read as ever
            r = c.get("/olga/w/resolve/main/xet.bin", headers={"range": "bytes=5000000-5000009"})
            assert r.status_code == 206 and r.content == payload[5_000_000:5_000_010]
        api = HfApi(endpoint=srv.url, token=token)
        api.upload_file(path_or_fileobj=payload[::-1], path_in_repo="inline.bin", repo_id="olga/w")
        assert Path(api.hf_hub_download("olga/w", "inline.bin", cache_dir=hf_home / "c")).read_bytes() == payload[::-1]
    finally:
        stop_server(srv)
