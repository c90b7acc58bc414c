"""A large download survives the server being killed mid-transfer and restarted: it resumes with a
Range request and the bytes are verified. (The plain path: ``COVE_CLIENT_XET=0``; a killed Xet
download is in test_xet.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.conftest import cove_cli, free_port

from cove.hub import HubApi
from cove.hub.cache import RepoCache

# The child slows itself down (a slow consumer, 1 s per 8 MiB block) so the kill lands mid-transfer.
CHILD = """
import logging, sys, time
import tqdm.std
logging.basicConfig(level=logging.INFO)
real = tqdm.std.tqdm.update
def slow(self, n=1):
    time.sleep(1.0)
    return real(self, n)
tqdm.std.tqdm.update = slow
from cove.hub import download
print(download(sys.argv[1], "big.bin", endpoint=sys.argv[2], token=sys.argv[3], cache_dir=sys.argv[4]))
"""


def _serve(data_dir: Path, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "COVE_DATA_DIR": str(data_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "cove.cli.main", "serve", "--port", str(port)],
                            stdout=open(log, "a"), stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/agent-harnesses", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(log.read_text())


@pytest.mark.slow
def test_kill_server_mid_download_then_resume(tmp_path, monkeypatch):
    monkeypatch.setenv("COVE_CLIENT_XET", "0")  # the uploader here and the child
    data_dir, port, log = tmp_path / "data", free_port(), tmp_path / "server.log"
    proc = _serve(data_dir, port, log)
    try:
        token = cove_cli("users", "add", "alice", "--data-dir", str(data_dir)).strip().splitlines()[-1]
        url = f"http://127.0.0.1:{port}"
        data = os.urandom(48 * 1024 * 1024)
        with HubApi(url, token, cache_dir=tmp_path / "unused") as api:
            api.create_repo("alice/big")
            api.upload_file(path_or_fileobj=data, path_in_repo="big.bin", repo_id="alice/big", progress=False)
            etag = next(e for e in api.list_repo_tree("alice/big") if e.path == "big.bin").etag
        cache = tmp_path / "cache"
        partial = RepoCache(cache, "alice/big", "model").incomplete(etag)
        child = subprocess.Popen([sys.executable, "-c", CHILD, "alice/big", url, token, str(cache)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not (partial.exists() and partial.stat().st_size >= 8 * 1024 * 1024):
            assert time.monotonic() < deadline and child.poll() is None, child.communicate()
            time.sleep(0.02)
        proc.kill()
        proc.wait()
        received = partial.stat().st_size
        assert received < len(data)
        proc = _serve(data_dir, port, log)
        out, err = child.communicate(timeout=180)
        assert child.returncode == 0, err
        assert Path(out.strip().splitlines()[-1]).read_bytes() == data
        assert "Resuming" in err and "interrupted" in err
    finally:
        proc.kill()
        proc.wait()
