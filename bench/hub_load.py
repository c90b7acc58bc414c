"""Load on a Hub of 1 and 2 ``cove serve`` replicas behind nginx, on SQLite and on PostgreSQL, with blobs on
the local disk or on an S3-compatible server (``--storages disk s3``: the tests' S3 server, tests/s3.py).

For each setup (database x replicas) it starts the replicas on one data dir (tests/replicas.py: the nginx
config of docs/deploy.md), makes a repo of small files, then runs each workload for ``--seconds`` with
``--clients`` threads, each with its own keep-alive connection to nginx:

* ``download``: ``GET /{repo}/resolve/main/f-<i>.txt`` (a 1 KiB file kept in git);
* ``lfs``: ``GET /{repo}/resolve/main/blob.bin`` (a 256 KiB LFS file: read from the blob store, streamed);
* ``listing``: ``GET /api/models/{repo}/tree/main`` and ``GET /api/models?author=...``, alternately;
* ``commit``: ``POST /api/models/{repo}/commit/main``, one 1 KiB file per commit, no ``parent_commit``
  (every commit must land: they queue on the repo's lock).

It prints requests/s, p50 and p99 latency and errors (any answer but 2xx, or no answer) per workload,
as a Markdown table. The clients run on the same machine as the servers, so the figures are those of
the whole machine, clients included.

    .venv/bin/python bench/hub_load.py --seconds 10 --clients 8
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests import postgres, s3  # noqa: E402
from tests.replicas import Replicas  # noqa: E402

FILES = 50
LFS_BYTES = 256 * 1024


def ndjson_commit(path: str, data: bytes) -> bytes:
    lines = [{"key": "header", "value": {"summary": f"load {path}", "description": ""}},
             {"key": "file", "value": {"content": base64.b64encode(data).decode(), "path": path,
                                       "encoding": "base64"}}]
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def prepare(url: str, token: str) -> str:
    headers = {"authorization": f"Bearer {token}"}
    name = f"load-{uuid.uuid4().hex[:6]}"
    r = httpx.post(f"{url}/api/repos/create", json={"name": name}, headers=headers, timeout=60)
    r.raise_for_status()
    repo = r.json()["url"].rstrip("/").split("/", 3)[-1]
    lines = [{"key": "header", "value": {"summary": "files", "description": ""}}]
    lines += [{"key": "file", "value": {"content": base64.b64encode(bytes([i % 256]) * 1024).decode(),
                                        "path": f"f-{i}.txt", "encoding": "base64"}} for i in range(FILES)]
    blob = bytes(range(256)) * (LFS_BYTES // 256)  # binary: stored as an LFS object
    lines.append({"key": "file", "value": {"content": base64.b64encode(blob).decode(), "path": "blob.bin",
                                           "encoding": "base64"}})
    body = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    r = httpx.post(f"{url}/api/models/{repo}/commit/main", content=body, timeout=60,
                   headers={**headers, "content-type": "application/x-ndjson"})
    r.raise_for_status()
    return repo


def run(url: str, token: str, repo: str, workload: str, seconds: float, clients: int) -> dict:
    headers = {"authorization": f"Bearer {token}"}
    owner = repo.split("/")[0]
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(n: int) -> None:
        mine, bad, i = [], 0, 0
        with httpx.Client(base_url=url, headers=headers, timeout=120) as c:
            while time.monotonic() < stop:
                i += 1
                start = time.perf_counter()
                try:
                    if workload == "download":
                        r = c.get(f"/{repo}/resolve/main/f-{(n * 7 + i) % FILES}.txt")
                    elif workload == "lfs":
                        r = c.get(f"/{repo}/resolve/main/blob.bin")
                        ok_size = len(r.content) == LFS_BYTES
                    elif workload == "listing":
                        r = c.get(f"/api/models/{repo}/tree/main") if i % 2 else c.get("/api/models",
                                                                                       params={"author": owner})
                    else:
                        r = c.post(f"/api/models/{repo}/commit/main", content=ndjson_commit(f"c{n}/{i}.txt", b"x" * 1024),
                                   headers={"content-type": "application/x-ndjson"})
                    ok = r.is_success and (workload != "lfs" or ok_size)
                except httpx.HTTPError:
                    ok = False
                mine.append(time.perf_counter() - start)
                bad += not ok
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    began = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    took = time.monotonic() - began
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0.0

    return {"requests": len(latencies), "rps": len(latencies) / took, "p50": pct(0.50), "p99": pct(0.99),
            "errors": errors[0]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="per workload")
    ap.add_argument("--clients", type=int, default=8, help="client threads, each with one connection")
    ap.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    ap.add_argument("--storages", nargs="+", default=["disk"], choices=["disk", "s3"])
    ap.add_argument("--workloads", nargs="+", default=["download", "lfs", "listing", "commit"],
                    choices=["download", "lfs", "listing", "commit"])
    args = ap.parse_args()
    rows = []
    for storage in args.storages:
        for database in args.databases:
            for n in args.replicas:
                env = {"COVE_LOGIN_FAILURES_PER_IP": "100000"}
                if database == "postgresql":
                    env["COVE_DATABASE_URL"] = postgres.shared_cluster().create_database("load")
                if storage == "s3":
                    server = s3.shared_server()
                    env.update(server.env(server.create_bucket()))
                setup = f"{database}/{storage}"
                with tempfile.TemporaryDirectory(prefix="cove-load-") as tmp:
                    replicas = Replicas.start(Path(tmp), n, env)
                    try:
                        token = replicas.hub.user("loader")
                        repo = prepare(replicas.url, token)
                        for workload in args.workloads:
                            result = run(replicas.url, token, repo, workload, args.seconds, args.clients)
                            rows.append((setup, n, workload, result))
                            print(f"{setup:16} {n} replica(s) {workload:8} {result['rps']:8.1f} req/s  "
                                  f"p50 {result['p50']:7.1f} ms  p99 {result['p99']:7.1f} ms  "
                                  f"errors {result['errors']}/{result['requests']}", flush=True)
                    finally:
                        replicas.stop()
    print("\n| database/blobs | replicas | workload | requests/s | p50 (ms) | p99 (ms) | errors |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for setup, n, workload, r in rows:
        print(f"| {setup} | {n} | {workload} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | "
              f"{r['errors']} / {r['requests']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
