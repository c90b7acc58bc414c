"""Cove's own client (``cove.hub``) through Xet against a ``cove serve`` that speaks it (its default).

Every "machine" has its own cache and its own ``HF_HOME`` (hf_xet keeps its shard cache there, and a
shared one would hide what the server does). The Hub logs each request (``--log-level info``), so a
test can tell which routes a client used. What is proved:

* Cove uploads a >64 MiB file and a folder through Xet (write token, xorbs, a shard, ``lfsFile``
  lines; no LFS batch call, nothing inline); Cove and the stock ``huggingface_hub`` download them
  through Xet (reconstructions and fetch URLs, no GET on ``resolve``), and the reverse;
* the cache is one: what Cove fetched through Xet huggingface_hub reads offline, and the reverse;
* a second upload of the same file sends no xorb (same machine, and a fresh one);
* a download killed mid-transfer resumes through Xet from the bytes on disk;
* a corrupted fetch (one wrong byte) is caught by the sha256 check: fetched again over plain HTTP
  when the damage was in transit, refused (nothing cached) when the stored xorb is damaged;
* with Xet off on the server (``COVE_XET=0``), without hf_xet (an import guard), or with
  ``COVE_CLIENT_XET=0``, the old paths (LFS batch API, plain GET) still work.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest
from tests.conftest import start_server, stop_server

from cove.errors import Unprocessable
from cove.hub import HubApi
from cove.hub.cache import RepoCache

pytest.importorskip("hf_xet")
MiB = 1024 * 1024
_REQUEST = re.compile(r'"(GET|POST|PUT|HEAD|DELETE) (\S+) HTTP/1\.1" (\d{3})')


@pytest.fixture(scope="module")
def xhub(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("cove-xet") / "data", args=("--log-level", "info"))
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def token(xhub) -> str:
    return xhub.user("carol")


class Requests:
    """The requests the Hub logged since this object was made."""

    def __init__(self, server) -> None:
        self.server, self.start = server, server.log.stat().st_size

    def all(self) -> list[tuple[str, str, int]]:
        with open(self.server.log, "rb") as f:
            f.seek(self.start)
            text = f.read().decode("utf-8", "replace")
        return [(m[1], m[2], int(m[3])) for m in _REQUEST.finditer(text)]

    def count(self, method: str, prefix: str, status: int | None = None) -> int:
        return sum(1 for m, p, s in self.all() if m == method and p.startswith(prefix) and status in (None, s))

    def fetched_bytes(self) -> int:
        """Bytes of xorbs asked through fetch URLs (``?r=first-last``, inclusive)."""
        total = 0
        for m, p, s in self.all():
            if m == "GET" and p.startswith("/cas/v1/fetch/") and s == 206:
                first, last = re.search(r"[?&]r=(\d+)-(\d+)", p).groups()
                total += int(last) - int(first) + 1
        return total


def machine(server, token: str, home: Path, monkeypatch) -> HubApi:
    """A Cove client on its own "machine": its own cache and HF_HOME (read when hf_xet starts)."""
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("COVE_OFFLINE", raising=False)
    return HubApi(server.url, token, cache_dir=home / "cove-cache")


def hf_client(server, token: str, code: str, home: Path, **env: str) -> str:
    """Run ``code`` with the stock client in a new process whose Hugging Face home is ``home``."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    full.update(HF_ENDPOINT=server.url, HF_TOKEN=token, HF_HOME=str(home), HF_HUB_DISABLE_TELEMETRY="1",
                HF_HUB_DISABLE_PROGRESS_BARS="1", **env)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=full, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


def random_file(path: Path, size: int, seed: int) -> Path:
    """Random (incompressible) bytes; the same seed gives the same content."""
    import numpy as np

    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 8 * MiB)
            f.write(rng.bytes(n))
            left -= n
    return path


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def xorb_files(server) -> set[Path]:
    return {p for p in (server.data_dir / "lfs" / "xet" / "xorbs").rglob("*") if p.is_file() and "." not in p.name}


def new_repo(api: HubApi, stem: str, owner: str = "carol") -> str:
    repo = f"{owner}/{stem}-{os.urandom(4).hex()}"
    api.create_repo(repo)
    return repo


# -- up through Xet, down with both clients ------------------------------------------------------------


@pytest.mark.slow
def test_large_file_and_folder_up_and_down_through_xet(xhub, token, tmp_path, monkeypatch, caplog):
    big = random_file(tmp_path / "src" / "big.bin", 70 * MiB + 12_345, seed=1)
    folder = tmp_path / "folder"
    files = {"README.md": b"# hello\n", "sub/a.txt": b"a text file\n" * 10,
             "sub/model.safetensors": os.urandom(3 * MiB), "big.dat": os.urandom(12 * MiB)}
    files["dup.dat"] = files["big.dat"]
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    want = sha256_of(big)

    with machine(xhub, token, tmp_path / "a", monkeypatch) as api:
        repo = new_repo(api, "big")
        log = Requests(xhub)
        api.upload_file(path_or_fileobj=big, path_in_repo="weights/big.bin", repo_id=repo, progress=False)
        assert log.count("GET", f"/api/models/{repo}/xet-write-token/main", 200) == 1
        assert log.count("POST", "/cas/v1/xorbs/", 200) >= 2  # 70 MiB: more than one 64 MiB xorb
        assert log.count("POST", "/cas/v1/shards", 200) >= 1
        assert log.count("POST", f"/api/models/{repo}/commit/main", 200) == 1
        assert log.count("POST", f"/{repo}.git/info/lfs/objects/batch") == 0
        log = Requests(xhub)
        api.upload_folder(repo_id=repo, folder_path=folder, progress=False)
        assert log.count("POST", "/cas/v1/shards", 200) >= 1 and log.count("POST", "/cas/v1/xorbs/", 200) >= 1
        assert log.count("POST", f"/{repo}.git/info/lfs/objects/batch") == 0
        tree = {e.path: e for e in api.list_repo_tree(repo, recursive=True) if hasattr(e, "size")}
    assert tree["weights/big.bin"].lfs.sha256 == want and tree["weights/big.bin"].xet_hash
    lfs = {p for p, e in tree.items() if e.lfs}
    assert lfs == {"weights/big.bin", "sub/model.safetensors", "big.dat", "dup.dat"}
    assert all(tree[p].xet_hash for p in lfs) and tree["big.dat"].xet_hash == tree["dup.dat"].xet_hash

    # Cove, on another machine: one file (HEAD, then Xet), then the snapshot (the tree's xetHash, no HEAD)
    with machine(xhub, token, tmp_path / "b", monkeypatch) as api, caplog.at_level(logging.INFO, "cove.hub"):
        log = Requests(xhub)
        path = api.download(repo, "weights/big.bin", progress=False)
        assert sha256_of(path) == want and path.resolve().name == want
        assert log.count("GET", "/cas/v2/reconstructions/", 200) >= 1 and log.count("GET", "/cas/v1/fetch/", 206) >= 2
        assert log.count("GET", f"/{repo}/resolve/") == 0  # the bytes came from the CAS
        log = Requests(xhub)
        snap = api.snapshot_download(repo, progress=False)
        for name, data in files.items():
            assert (snap / name).read_bytes() == data
        assert sha256_of(snap / "weights/big.bin") == want
        assert log.count("HEAD", f"/{repo}/resolve/") == 0 and log.count("GET", "/cas/v1/fetch/", 206) >= 1
        gets = {p.split("/resolve/", 1)[1].split("/", 1)[1] for m, p, _ in log.all() if m == "GET" and "/resolve/" in p}
        assert gets == {".gitattributes", "README.md", "sub/a.txt"}  # only the regular files over plain GET
    assert "through Xet" in caplog.text and "plain HTTP" not in caplog.text

    # the stock client reads what Cove uploaded, through Xet
    log = Requests(xhub)
    out = hf_client(xhub, token, f"""
        import hashlib, json, os
        from huggingface_hub import hf_hub_download, snapshot_download
        path = hf_hub_download({repo!r}, "weights/big.bin")
        folder = snapshot_download({repo!r})
        got = {{p: hashlib.sha256(open(os.path.join(folder, p), "rb").read()).hexdigest() for p in {sorted(files)!r}}}
        print(json.dumps([hashlib.sha256(open(path, "rb").read()).hexdigest(), got]))
    """, tmp_path / "c")
    got_big, got_files = json.loads(out.splitlines()[-1])
    assert got_big == want and got_files == {p: hashlib.sha256(d).hexdigest() for p, d in files.items()}
    assert log.count("GET", "/cas/v1/fetch/", 206) >= 2 and log.count("GET", f"/{repo}/resolve/main/weights") == 0


@pytest.mark.slow
def test_stock_upload_then_cove_download_and_one_cache(xhub, token, tmp_path, monkeypatch):
    """The reverse direction, and the cache: Cove's Xet downloads are huggingface_hub's cache, and back."""
    big = random_file(tmp_path / "src" / "w.bin", 20 * MiB + 3, seed=2)
    with machine(xhub, token, tmp_path / "a", monkeypatch) as api:
        repo = new_repo(api, "from-hf")
    hf_client(xhub, token, f"""
        from huggingface_hub import HfApi
        HfApi().upload_file(path_or_fileobj={str(big)!r}, path_in_repo="w.bin", repo_id={repo!r})
        HfApi().upload_file(path_or_fileobj=b'{{"a": 1}}', path_in_repo="config.json", repo_id={repo!r})
    """, tmp_path / "hf-up")
    want = sha256_of(big)

    # Cove, into plain folders (local_dir): one file (HEAD), then the snapshot (the tree)
    with machine(xhub, token, tmp_path / "d", monkeypatch) as api:
        log = Requests(xhub)
        one = api.download(repo, "w.bin", local_dir=tmp_path / "local-one", progress=False)
        local = api.snapshot_download(repo, local_dir=tmp_path / "local", progress=False)
        assert sha256_of(one) == sha256_of(local / "w.bin") == want and not one.is_symlink()
        assert log.count("GET", "/cas/v1/fetch/", 206) >= 2 and log.count("GET", f"/{repo}/resolve/main/w.bin") == 0

    # Cove downloads through Xet into a cache that huggingface_hub then reads offline
    shared = tmp_path / "cove-then-hf"
    with machine(xhub, token, tmp_path / "b", monkeypatch) as api:
        log = Requests(xhub)
        folder = api.snapshot_download(repo, cache_dir=shared, progress=False)
        assert sha256_of(folder / "w.bin") == want and log.count("GET", "/cas/v1/fetch/", 206) >= 1
        assert log.count("GET", f"/{repo}/resolve/{folder.name}/w.bin") == 0
    out = hf_client(xhub, token, f"""
        import hashlib
        from huggingface_hub import hf_hub_download, snapshot_download
        path = hf_hub_download({repo!r}, "w.bin", cache_dir={str(shared)!r}, local_files_only=True)
        assert snapshot_download({repo!r}, cache_dir={str(shared)!r}, local_files_only=True) == {str(folder)!r}
        print(hashlib.sha256(open(path, "rb").read()).hexdigest())
    """, tmp_path / "hf-reader", HF_HUB_OFFLINE="1")
    assert out.split()[-1] == want

    # huggingface_hub downloads through Xet into a cache that Cove then reads offline
    other = tmp_path / "hf-then-cove"
    log = Requests(xhub)
    hf_client(xhub, token, f"""
        from huggingface_hub import snapshot_download
        snapshot_download({repo!r}, cache_dir={str(other)!r})
    """, tmp_path / "hf-down")
    assert log.count("GET", "/cas/v1/fetch/", 206) >= 1
    monkeypatch.setenv("COVE_OFFLINE", "1")
    with HubApi("http://127.0.0.1:9", cache_dir=other) as offline:
        assert sha256_of(offline.download(repo, "w.bin")) == want
        assert offline.download(repo, "config.json").read_bytes() == b'{"a": 1}'


# -- dedup -----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_second_upload_sends_no_xorbs(xhub, token, tmp_path, monkeypatch):
    big = random_file(tmp_path / "same.bin", 20 * MiB, seed=3)
    with machine(xhub, token, tmp_path / "a", monkeypatch) as api:
        first, second = new_repo(api, "same-a"), new_repo(api, "same-b")
        log = Requests(xhub)
        api.upload_file(path_or_fileobj=big, path_in_repo="same.bin", repo_id=first, progress=False)
        assert log.count("POST", "/cas/v1/xorbs/", 200) >= 1
        before, log = xorb_files(xhub), Requests(xhub)
        api.upload_file(path_or_fileobj=big, path_in_repo="same.bin", repo_id=second, progress=False)
        assert log.count("POST", "/cas/v1/xorbs/") == 0 and xorb_files(xhub) == before  # the local shard cache
        assert log.count("POST", "/cas/v1/shards", 200) == 1  # the file's reconstruction, a few hundred bytes
    with machine(xhub, token, tmp_path / "fresh", monkeypatch) as api:  # no shard cache: the Hub's dedup answers
        third = new_repo(api, "same-c")
        log = Requests(xhub)
        api.upload_file(path_or_fileobj=big, path_in_repo="copy.bin", repo_id=third, progress=False)
        assert log.count("POST", "/cas/v1/xorbs/") == 0 and xorb_files(xhub) == before
        assert log.count("GET", "/cas/v1/chunks/", 200) >= 1
        assert api.download(third, "copy.bin", progress=False).read_bytes() == big.read_bytes()


# -- resume ----------------------------------------------------------------------------------------------

# The child slows itself down (0.25 s per 8 MiB written) so that the kill lands mid-transfer.
SLOW_CHILD = """
import logging, sys, time
import tqdm.std
logging.basicConfig(level=logging.INFO)
real = tqdm.std.tqdm.update
def slow(self, n=1):
    time.sleep(0.25)
    return real(self, n)
tqdm.std.tqdm.update = slow
from cove.hub import download
print(download(sys.argv[1], "big.bin", endpoint=sys.argv[2], token=sys.argv[3], cache_dir=sys.argv[4]))
"""


@pytest.mark.slow
def test_killed_download_resumes_through_xet(xhub, token, tmp_path, monkeypatch, caplog):
    big = random_file(tmp_path / "src" / "big.bin", 70 * MiB, seed=4)
    with machine(xhub, token, tmp_path / "up", monkeypatch) as api:
        repo = new_repo(api, "resume")
        api.upload_file(path_or_fileobj=big, path_in_repo="big.bin", repo_id=repo, progress=False)
    cache, etag = tmp_path / "down" / "cove-cache", sha256_of(big)
    partial = RepoCache(cache, repo, "model").incomplete(etag)
    child = subprocess.Popen([sys.executable, "-c", SLOW_CHILD, repo, xhub.url, token, str(cache)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "HF_HOME": str(tmp_path / "down")})
    deadline = time.monotonic() + 120
    while not (partial.exists() and partial.stat().st_size >= 16 * MiB):
        assert time.monotonic() < deadline and child.poll() is None, child.communicate()
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    _, err = child.communicate()
    assert "through Xet" in err
    received = partial.stat().st_size
    assert 16 * MiB <= received < big.stat().st_size

    log = Requests(xhub)
    with machine(xhub, token, tmp_path / "down", monkeypatch) as api, caplog.at_level(logging.INFO, "cove.hub"):
        path = api.download(repo, "big.bin", progress=False)
    assert path.read_bytes() == big.read_bytes() and not partial.exists()
    assert f"through Xet at byte {received} of {big.stat().st_size}" in caplog.text
    # only what was missing was fetched (plus the chunk the cut fell in, and 8-byte chunk headers)
    missing = big.stat().st_size - received
    print(f"resume: received {received}, missing {missing}, fetched {log.fetched_bytes()}")
    assert missing <= log.fetched_bytes() <= missing + 128 * 1024 + big.stat().st_size // 1000
    assert log.count("GET", f"/{repo}/resolve/") == 0


# -- corruption ------------------------------------------------------------------------------------------


class CorruptingProxy:
    """An HTTP proxy in front of the Hub that flips one byte in the next ``flips`` CAS fetch responses.

    It forwards the ``Host`` header, so the URLs the Hub builds (refresh route, ``casUrl``, fetch URLs)
    point at the proxy too.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream, self.flips, self.flipped = upstream, 0, 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                proxy.forward(self)

            do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def forward(self, h: http.server.BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("content-length") or 0)
        body = h.rfile.read(length) if length else None
        headers = {k: v for k, v in h.headers.items() if k.lower() not in ("connection", "content-length")}
        r = httpx.request(h.command, self.upstream + h.path, headers=headers, content=body, timeout=120)
        data = r.content
        if h.path.startswith("/cas/v1/fetch/") and r.status_code == 206 and self.flips > 0 and len(data) > 100:
            self.flips -= 1
            self.flipped += 1
            i = len(data) // 2
            data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]
        h.send_response(r.status_code)
        for k, v in r.headers.multi_items():
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding", "date",
                                 "server"):
                h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.slow
def test_corrupted_fetch_is_caught(xhub, token, tmp_path, monkeypatch, caplog):
    data = os.urandom(6 * MiB)  # random: stored uncompressed, so a flipped byte decodes "fine"
    with machine(xhub, token, tmp_path / "up", monkeypatch) as api:
        repo = new_repo(api, "corrupt")
        before = xorb_files(xhub)
        api.upload_file(path_or_fileobj=data, path_in_repo="w.bin", repo_id=repo, progress=False)
        [stored] = xorb_files(xhub) - before
    sha = hashlib.sha256(data).hexdigest()

    # in transit: one fetch answers a wrong byte; the sha256 check catches it, plain HTTP fetches it again
    proxy = CorruptingProxy(xhub.url)
    try:
        proxy.flips = 1
        with HubApi(proxy.url, token, cache_dir=tmp_path / "c1") as api, caplog.at_level(logging.INFO, "cove.hub"):
            path = api.download(repo, "w.bin", progress=False)
        assert proxy.flipped == 1 and path.read_bytes() == data
        assert f"not {sha}; downloading it again over plain HTTP" in caplog.text
    finally:
        proxy.close()

    # at rest: the stored xorb itself is damaged; both paths serve the wrong byte, nothing is cached
    original = stored.read_bytes()
    stored.write_bytes(original[:5000] + bytes([original[5000] ^ 0xFF]) + original[5001:])
    try:
        with HubApi(xhub.url, token, cache_dir=tmp_path / "c2") as api:
            with pytest.raises(Unprocessable) as e:
                api.download(repo, "w.bin", progress=False)
            assert sha in str(e.value)
            rc = RepoCache(tmp_path / "c2", repo, "model")
            assert not rc.blob(sha).exists() and not rc.incomplete(sha).exists()
            assert not any(p.is_file() or p.is_symlink() for p in rc.folder.joinpath("snapshots").rglob("w.bin"))
    finally:
        stored.write_bytes(original)


# -- the old paths ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_xet_off_on_the_server(tmp_path, monkeypatch):
    """``COVE_XET=0``: the token routes 404, so Cove sends LFS files through the batch API and reads them
    over plain GET (the HEAD names no Xet hash)."""
    server = start_server(tmp_path / "data", env={"COVE_XET": "0", "COVE_LFS_UPLOADS": "lfs"},
                          args=("--log-level", "info"))
    try:
        token = server.user("dave")
        data = os.urandom(12 * MiB)
        with machine(server, token, tmp_path / "a", monkeypatch) as api:
            repo = new_repo(api, "no-xet", owner="dave")
            log = Requests(server)
            api.upload_file(path_or_fileobj=data, path_in_repo="w.bin", repo_id=repo, progress=False)
            assert log.count("GET", f"/api/models/{repo}/xet-write-token/", 404) == 1
            assert log.count("POST", f"/{repo}.git/info/lfs/objects/batch", 200) == 1
            assert log.count("POST", "/cas/") == 0
        with machine(server, token, tmp_path / "b", monkeypatch) as api:
            log = Requests(server)
            assert api.download(repo, "w.bin", progress=False).read_bytes() == data
            assert log.count("GET", f"/{repo}/resolve/", 200) == 1 and log.count("GET", "/cas/") == 0
            assert log.count("GET", f"/api/models/{repo}/xet-read-token/") == 0
    finally:
        stop_server(server)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["hf_xet missing", "COVE_CLIENT_XET=0"])
def test_without_hf_xet_the_old_paths(how, xhub, token, tmp_path, monkeypatch):
    """No hf_xet (the import guard sees ``import hf_xet`` fail) or the client switch off: the LFS batch API
    up, and the plain GET down, also for files stored through Xet (the Hub reconstructs them)."""
    data = os.urandom(9 * MiB)
    with machine(xhub, token, tmp_path / "xet", monkeypatch) as api:
        repo = new_repo(api, "old-paths")
        api.upload_file(path_or_fileobj=data, path_in_repo="via-xet.bin", repo_id=repo, progress=False)
    if how == "hf_xet missing":
        monkeypatch.setitem(sys.modules, "hf_xet", None)  # `import hf_xet` now raises ImportError
    else:
        monkeypatch.setenv("COVE_CLIENT_XET", "0")
    other = os.urandom(9 * MiB)
    with machine(xhub, token, tmp_path / "old", monkeypatch) as api:
        assert not api.xet.available
        log = Requests(xhub)
        api.upload_file(path_or_fileobj=other, path_in_repo="via-lfs.bin", repo_id=repo, progress=False)
        assert log.count("POST", f"/{repo}.git/info/lfs/objects/batch", 200) == 1
        assert log.count("GET", f"/api/models/{repo}/xet-write-token/") == 0 and log.count("POST", "/cas/") == 0
        log = Requests(xhub)
        assert api.download(repo, "via-xet.bin", progress=False).read_bytes() == data
        assert api.download(repo, "via-lfs.bin", progress=False).read_bytes() == other
        assert log.count("GET", f"/{repo}/resolve/", 200) == 2 and log.count("GET", "/cas/") == 0
