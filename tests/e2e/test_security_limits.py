"""Every size, count and depth a client sends is bounded: a clear 4xx past each limit, never a 500, a
dropped connection or memory that grows with what the client claims. Upload leftovers are swept."""

from __future__ import annotations

import base64
import json
import os
import stat
import time

import httpx
import pytest
from huggingface_hub import HfApi

from tests.conftest import start_server, stop_server

MAX_FILES, MAX_FILE_BYTES, PART = 20, 10 * 1024**3, 4096


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A Hub with small limits: 20 files per commit, 10 GiB files, 4 KiB multipart parts, depth 16."""
    server = start_server(tmp_path_factory.mktemp("limits") / "data", env={
        "COVE_MAX_COMMIT_FILES": str(MAX_FILES), "COVE_MAX_FILE_BYTES": str(MAX_FILE_BYTES),
        "COVE_MULTIPART_PART_SIZE": str(PART), "COVE_MAX_JSON_DEPTH": "16", "COVE_MAX_BATCH_OBJECTS": "50",
        "COVE_LFS_UPLOADS": "lfs"})
    token = server.user("uma")
    HfApi(endpoint=server.url, token=token).create_repo("uma/box")
    yield server, token
    stop_server(server)


def auth(token: str) -> dict:
    return {"authorization": f"Bearer {token}"}


def nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


def server_rss(server) -> int:
    """Resident memory of the server process and its children, in bytes."""
    total = 0
    pids = [server.proc.pid]
    children = f"/proc/{server.proc.pid}/task/{server.proc.pid}/children"
    if os.path.exists(children):
        pids += [int(p) for p in open(children).read().split()]
    for pid in pids:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


JSON_ROUTES = [("POST", "/api/repos/create"), ("POST", "/api/models/uma/box/preupload/main"),
               ("POST", "/api/models/uma/box/paths-info/main"), ("PUT", "/api/models/uma/box/settings"),
               ("POST", "/uma/box.git/info/lfs/objects/batch"), ("POST", "/api/validate-yaml"),
               ("POST", "/api/models/uma/box/branch/dev"), ("POST", "/api/inference/uma/box"),
               ("POST", "/v1/chat/completions")]


@pytest.mark.parametrize("method,path", JSON_ROUTES)
@pytest.mark.parametrize("body", [
    nested(17), nested(100_000), "[" * 200_000,              # deeper than allowed, far deeper, unterminated
    '{"name": ' + "9" * 5000 + "}",                          # an integer Python will not convert
    '{"name": "x\\ud800y"}', '{"name": "\\udfff"}',          # lone surrogates
    '{"name": NaN}', '{"name": Infinity}',
    "\xff\xfe{}",                                            # not UTF-8
])
def test_hostile_json_bodies_are_400(small, method, path, body):
    server, token = small
    headers = {**auth(token), "content-type": "application/json"}
    r = httpx.request(method, server.url + path, content=body.encode("utf-8", "surrogatepass")
                      if isinstance(body, str) else body, headers=headers, timeout=30)
    assert r.status_code == 400, (path, body[:40], r.status_code, r.text[:200])
    assert r.headers["x-error-code"] == "BadRequest"


@pytest.mark.parametrize("line", [
    {"key": "header", "value": {"summary": "x\ud800"}},                           # the commit message
    {"key": "file", "value": {"path": "a\udc00.txt", "content": "eA=="}},         # a path
    {"key": "deletedFile", "value": {"path": "\ud83d"}},
    {"key": "header", "value": {"summary": "x", "description": json.loads(nested(20))}},
])
def test_hostile_commit_lines_are_400(small, line):
    server, token = small
    api = HfApi(endpoint=server.url, token=token)
    before = api.model_info("uma/box").sha
    header = b'{"key": "header", "value": {"summary": "s"}}\n' if line["key"] != "header" else b""
    body = header + json.dumps(line, ensure_ascii=True).encode() + b"\n"
    r = httpx.post(f"{server.url}/api/models/uma/box/commit/main", content=body,
                   headers={**auth(token), "content-type": "application/x-ndjson"})
    assert r.status_code == 400, r.text
    assert api.model_info("uma/box").sha == before


def test_too_many_files_in_one_commit(small):
    server, token = small
    api = HfApi(endpoint=server.url, token=token)
    before = api.model_info("uma/box").sha
    lines = [{"key": "header", "value": {"summary": "many"}}] + [
        {"key": "file", "value": {"path": f"f{i}.txt", "content": base64.b64encode(b"x").decode()}}
        for i in range(MAX_FILES + 1)]
    r = httpx.post(f"{server.url}/api/models/uma/box/commit/main",
                   content=b"".join(json.dumps(x).encode() + b"\n" for x in lines),
                   headers={**auth(token), "content-type": "application/x-ndjson"})
    assert r.status_code == 413 and str(MAX_FILES) in r.headers["x-error-message"]
    assert api.model_info("uma/box").sha == before
    assert not os.listdir(server.data_dir / "lfs" / "tmp")
    r = httpx.post(f"{server.url}/api/models/uma/box/preupload/main", headers=auth(token),
                   json={"files": [{"path": f"f{i}", "size": 1, "sample": ""} for i in range(MAX_FILES + 1)]})
    assert r.status_code == 400
    # exactly at the limit: fine
    r = httpx.post(f"{server.url}/api/models/uma/box/commit/main",
                   content=b"".join(json.dumps(x).encode() + b"\n" for x in lines[:-1]),
                   headers={**auth(token), "content-type": "application/x-ndjson"})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("size", [10**30, 2**63, 2**64 + 1, MAX_FILE_BYTES + 1, -1, 1.5, "12", None, True])
def test_lfs_batch_refuses_absurd_sizes_without_growing(small, size):
    """The review's request (a multipart upload of size=1e30) grew the server to 21 GB."""
    server, token = small
    rss = server_rss(server)
    r = httpx.post(f"{server.url}/uma/box.git/info/lfs/objects/batch", headers=auth(token), timeout=60,
                   json={"operation": "upload", "transfers": ["basic", "multipart"],
                         "objects": [{"oid": "a" * 64, "size": size}]})
    assert r.status_code == 200, r.text
    item = r.json()["objects"][0]
    assert "error" in item and "actions" not in item
    assert item["error"]["code"] == 422
    assert server_rss(server) - rss < 50 * 1024**2


def test_multipart_never_has_more_than_10000_parts(small):
    server, token = small
    r = httpx.post(f"{server.url}/uma/box.git/info/lfs/objects/batch", headers=auth(token), timeout=60,
                   json={"operation": "upload", "transfers": ["basic", "multipart"],
                         "objects": [{"oid": "b" * 64, "size": MAX_FILE_BYTES}]})
    header = r.json()["objects"][0]["actions"]["upload"]["header"]
    parts = [k for k in header if k.isdigit()]
    chunk = int(header["chunk_size"])
    assert len(parts) <= 10_000 and chunk * len(parts) >= MAX_FILE_BYTES and chunk > PART
    assert len(r.content) < 10 * 1024**2


def test_too_many_batch_objects(small):
    server, token = small
    objects = [{"oid": f"{i:064x}", "size": 1} for i in range(51)]
    r = httpx.post(f"{server.url}/uma/box.git/info/lfs/objects/batch", headers=auth(token),
                   json={"operation": "upload", "objects": objects})
    assert r.status_code == 400 and "50" in r.headers["x-error-message"]


@pytest.mark.parametrize("query", ["size=1&exp=" + "9" * 5000 + "&tok=0&sig=x", "size=abc&exp=1&tok=0&sig=x",
                                   "size=1&exp=1&sig=x", "size=" + "9" * 40 + "&exp=1&tok=0&sig=x"])
def test_lfs_urls_with_bad_numbers_are_4xx(small, query):
    server, _ = small
    r = httpx.put(f"{server.url}/api/lfs/objects/1/{'c' * 64}?{query}", content=b"x")
    assert r.status_code == 403, r.text


def test_oversized_json_body_is_413(small):
    server, token = small
    r = httpx.post(f"{server.url}/api/repos/create", headers=auth(token),
                   content=b'{"name": "' + b"x" * (17 * 1024 * 1024) + b'"}', timeout=60)
    assert r.status_code == 413


def _send_head(url: str, head_start: bytes, filler: bytes, total: int) -> bytes:
    """Start a request, then stream ``total`` bytes of ``filler`` into its head; return the answer."""
    import socket

    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(head_start)
        try:
            for _ in range(total // len(filler)):
                s.sendall(filler)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before we were done: the answer is waiting
        try:
            return s.recv(65536)
        except ConnectionResetError:
            return b""


@pytest.mark.parametrize("head_start,filler", [
    (b"GET /api/models HTTP/1.1\r\nHost: x\r\nX-Big: ", b"y" * 65536),   # one endless header
    (b"GET /api/models HTTP/1.1\r\nHost: x\r\n", b"X-A: b\r\n" * 8192),  # endless small headers
    (b"GET /api/models/", b"a" * 65536),                                  # an endless URL
])
def test_request_heads_are_bounded(small, head_start, filler):
    """httptools keeps any head: 300 MB of header bytes grew the server by 0.5-1.6 GB before."""
    server, _ = small
    rss = server_rss(server)
    answer = _send_head(server.url, head_start, filler, 64 * 1024**2)
    assert answer.startswith(b"HTTP/1.1 431") or answer.startswith(b"HTTP/1.1 400"), answer[:100]
    assert server_rss(server) - rss < 50 * 1024**2
    r = httpx.get(f"{server.url}/api/models", headers={"x-fine": "y" * 30_000})  # under the bound: served
    assert r.status_code == 200


# -- upload leftovers ---------------------------------------------------------------------------------


def test_stale_upload_temporaries_are_swept_at_start(tmp_path):
    data = tmp_path / "data"
    tmp = data / "lfs" / "tmp"
    tmp.mkdir(parents=True)
    stale, fresh = tmp / "multipart-1-abc-def", tmp / "tmpl0ngrunning"
    with open(stale, "wb") as f:
        f.truncate(1024**4)  # a sparse 1 TiB file, as a refused multipart part left behind
    fresh.write_bytes(b"still being written")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    server = start_server(data, env={"COVE_STALE_UPLOAD_SECONDS": "3600"})
    try:
        deadline = time.monotonic() + 10
        while stale.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not stale.exists() and fresh.exists()
        assert "stale upload temporaries" in server.log.read_text()
    finally:
        stop_server(server)


def test_a_refused_part_leaves_nothing_once_stale(small):
    server, token = small
    data = os.urandom(3 * PART)
    import hashlib

    oid = hashlib.sha256(data).hexdigest()
    r = httpx.post(f"{server.url}/uma/box.git/info/lfs/objects/batch", headers=auth(token),
                   json={"operation": "upload", "transfers": ["multipart"],
                         "objects": [{"oid": oid, "size": len(data)}]})
    actions = r.json()["objects"][0]["actions"]["upload"]
    r = httpx.put(actions["header"]["1"], content=data[: PART + 10])  # too long for part 1
    assert r.status_code == 422
    leftovers = list((server.data_dir / "lfs" / "tmp").iterdir())
    assert leftovers  # the upload may still be retried...
    from cove.server.storage.blobs import BlobStore

    store = BlobStore(f"file://{server.data_dir / 'lfs'}")
    old = time.time() - 10
    for p in leftovers:
        os.utime(p, (old, old))
    store.sweep(5)  # ...and once nobody touched it for the stale period, it is gone
    assert not list((server.data_dir / "lfs" / "tmp").iterdir())


def test_data_dir_is_private(small):
    server, _ = small
    assert stat.S_IMODE(server.data_dir.stat().st_mode) == 0o700
    for name in ("cove.db", "secret"):
        assert stat.S_IMODE((server.data_dir / name).stat().st_mode) == 0o600, name
    for path in (server.data_dir / "git").rglob("*"):
        assert not path.stat().st_mode & 0o077, path


@pytest.mark.parametrize("path", ["/login", "/api/models/uma/box/paths-info/main", "/uma/box/inference",
                                  "/settings/tokens"])
def test_form_bodies_are_bounded(small, path):
    """Starlette reads a urlencoded form of any size into memory; forms are bounded as JSON bodies are."""
    server, token = small
    rss = server_rss(server)
    r = httpx.post(server.url + path, content=b"paths=" + b"a" * (17 * 1024 * 1024), timeout=60,
                   headers={**auth(token), "content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413, (path, r.status_code)
    assert server_rss(server) - rss < 100 * 1024**2


@pytest.mark.parametrize("cursor", [base64.urlsafe_b64encode(b"[" * 40_000).decode(),
                                    base64.urlsafe_b64encode(b'{"o": ' + b"9" * 5000 + b"}").decode(),
                                    "not base64!", base64.urlsafe_b64encode(b"[1]").decode()])
def test_hostile_listing_cursors_are_400(small, cursor):
    server, _ = small
    r = httpx.get(f"{server.url}/api/models", params={"cursor": cursor})
    assert r.status_code == 400, r.text


@pytest.mark.parametrize("params", [{"limit": "-1"}, {"limit": "0"},
                                    {"cursor": base64.urlsafe_b64encode(b'{"o": -5}').decode()}])
def test_listings_cannot_escape_the_page_size(small, params):
    server, _ = small
    r = httpx.get(f"{server.url}/api/models", params=params)
    assert r.status_code == 400, r.text
