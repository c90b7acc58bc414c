"""Spaces: what building, waking and proxying a Gradio Space costs (docs/benchmarks.md, "Spaces").

Starts a Hub on a fresh data dir whose wheelhouse is the test asset cache's (warm once the Space tests
ran), then measures:

* cold build: push of a Gradio Space until RUNNING, with a warm wheelhouse but no venv (pip resolves
  against the index and installs from local files), then a second Space with the same requirements
  (its venv is shared: nothing is installed);
* wake from sleep (``--sleep-mode``): a sleeping Space's first proxied request (``GET config``) until it
  answers, and what the sleeping app's processes hold;
* proxy overhead: ``GET config`` of the app with ``--clients`` threads for ``--seconds``, straight to
  the app's port and through the Hub's ``/-/spaces/...`` proxy, ``--rounds`` times interleaved (the
  machine's other load hits both alike), with the load average (requests/s, p50, p99; medians);
* memory: the app's processes (RSS, summed over its process group) idle, and the Hub process's RSS
  per running Space.

    .venv/bin/python bench/spaces.py --seconds 10 --clients 4
    .venv/bin/python bench/spaces.py --envs ~/.cache/cove-test-assets/spaces-envs --rounds 4 --seconds 5

``--envs`` reuses the Space tests' venvs (no cold build); ``--profile out.txt`` records the Hub with
py-spy during the load runs (``pip install py-spy``; ``.svg`` for a flame graph).
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from huggingface_hub import CommitOperationAdd, HfApi  # noqa: E402
from tests.conftest import start_server, stop_server  # noqa: E402
from tests.formats.assets import ASSETS  # noqa: E402
from tests.spaces.conftest import GRADIO_APP, card  # noqa: E402


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def group_rss_kib(pgid: int) -> int:
    total = 0
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if int((p / "stat").read_text().rsplit(")", 1)[1].split()[2]) == pgid:
                    total += rss_kib(int(p.name))
            except (OSError, IndexError, ValueError):
                continue
    return total


def app_groups(port: int) -> set[int]:
    """The process groups whose processes were given ``GRADIO_SERVER_PORT=port`` (the app's)."""
    out = set()
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and f"GRADIO_SERVER_PORT={port}\0".encode() in (p / "environ").read_bytes():
                out.add(int((p / "stat").read_text().rsplit(")", 1)[1].split()[2]))
        except (OSError, IndexError, ValueError):
            continue
    return out


def port_of(data_dir: Path, repo_id: str) -> int:
    ns, name = repo_id.split("/")
    with sqlite3.connect(data_dir / "cove.db") as db:
        return db.execute("select s.port from space_states s join repos r on r.id = s.repo_id "
                          "where r.namespace = ? and r.name = ?", (ns, name)).fetchone()[0]


def wait(api: HfApi, repo_id: str, stage: str, timeout: float = 900) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if api.get_space_runtime(repo_id).stage == stage:
            return time.monotonic() - start
        time.sleep(0.1)
    raise SystemExit(f"{repo_id} never reached {stage}: {api.get_space_runtime(repo_id).raw}")


def push(api: HfApi, repo_id: str) -> float:
    api.create_repo(repo_id, repo_type="space", space_sdk="gradio")
    start = time.monotonic()
    api.create_commit(repo_id, [CommitOperationAdd("README.md", card("gradio").encode()),
                                CommitOperationAdd("app.py", GRADIO_APP.encode())], commit_message="app",
                      repo_type="space")
    return start


def load(url: str, seconds: float, clients: int) -> tuple[float, float, float]:
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker() -> None:
        mine = []
        with httpx.Client(timeout=30) as c:
            while time.monotonic() < stop:
                t = time.perf_counter()
                c.get(url).raise_for_status()
                mine.append(time.perf_counter() - t)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    return len(latencies) / seconds, statistics.median(latencies) * 1000, latencies[int(len(latencies) * 0.99)] * 1000


def proxy_load(hub, port: int, args) -> None:
    """Direct and proxied runs interleaved (the machine's other load hits both alike), then the medians."""
    import os
    import subprocess

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| round | path | req/s | p50 ms | p99 ms |\n|---|---|---|---|---|")
    runs: dict[str, list] = {"direct": [], "proxied": []}
    spy = None
    if args.profile:
        spy = subprocess.Popen(["py-spy", "record", "-o", args.profile, "-p", str(hub.proc.pid), "-r", "200",
                                "--format", "raw" if args.profile.endswith(".txt") else "flamegraph"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for r in range(args.rounds):
        for path, url in (("direct", f"http://127.0.0.1:{port}/config"),
                          ("proxied", f"{hub.url}/-/spaces/bench/first/config")):
            got = load(url, args.seconds, args.clients)
            runs[path].append(got)
            print(f"| {r + 1} | {path} | {got[0]:.0f} | {got[1]:.1f} | {got[2]:.1f} |")
    if spy is not None:
        spy.send_signal(2)
        spy.wait(60)
    med = {k: [statistics.median(x[i] for x in v) for i in range(3)] for k, v in runs.items()}
    d, p = med["direct"], med["proxied"]
    print(f"medians: direct {d[0]:.0f} req/s p99 {d[2]:.1f} ms; proxied {p[0]:.0f} req/s p99 {p[2]:.1f} ms")
    print(f"proxy overhead: {100 * (1 - p[0] / d[0]):.0f}% fewer req/s, p99 x{p[2] / d[2]:.2f}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--wakes", type=int, default=3)
    ap.add_argument("--sleep-mode", choices=("stop", "freeze", "tiered"), default="tiered")
    ap.add_argument("--envs", default="", help="a venv folder to reuse (default: a new one, a cold build)")
    ap.add_argument("--rounds", type=int, default=1, help="direct and proxied runs, interleaved")
    ap.add_argument("--profile", default="", help="record the Hub with py-spy during the proxied runs into this SVG")
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="bench-spaces-")) / "data"
    hub = start_server(data, env={"COVE_SPACES_WHEELHOUSE": str(ASSETS / "spaces-wheelhouse"),
                                  "COVE_SPACES_SLEEP_MODE": args.sleep_mode, "COVE_SPACES_ENVS": args.envs})
    try:
        api = HfApi(endpoint=hub.url, token=hub.user("bench"))
        idle_hub = rss_kib(hub.proc.pid)
        start = push(api, "bench/first")
        wait(api, "bench/first", "RUNNING")
        cold = time.monotonic() - start
        print(f"build to RUNNING{' (venvs reused)' if args.envs else ', warm wheelhouse'}: {cold:.1f} s")
        if not args.envs:
            start = push(api, "bench/second")
            wait(api, "bench/second", "RUNNING")
            print(f"same requirements (shared venv): {time.monotonic() - start:.1f} s")
        time.sleep(2)
        port = port_of(data, "bench/first")
        app_rss = sum(group_rss_kib(g) for g in app_groups(port))
        hub_rss = rss_kib(hub.proc.pid)
        print(f"idle app processes: {app_rss / 1024:.0f} MiB RSS; Hub process: {idle_hub / 1024:.0f} MiB before, "
              f"{hub_rss / 1024:.0f} MiB with Spaces running ({(hub_rss - idle_hub) / 1024 / (1 if args.envs else 2):.1f} "
              "MiB per Space)")
        proxy_load(hub, port, args)
        api.set_space_sleep_time("bench/first", 1)
        for _ in range(args.wakes):
            wait(api, "bench/first", "SLEEPING", timeout=60)
            time.sleep(1.5)  # the supervisor's pass after the stage is written (freezing or stopping)
            asleep = port_of(data, "bench/first")
            rss = sum(group_rss_kib(g) for g in app_groups(asleep)) if asleep else 0
            print(f"asleep ({args.sleep_mode}): the app's processes hold {rss / 1024:.0f} MiB RSS")
            t = time.monotonic()
            httpx.get(f"{hub.url}/-/spaces/bench/first/config", timeout=120).raise_for_status()
            print(f"wake from sleep ({args.sleep_mode}) to first answer: {time.monotonic() - t:.2f} s")
    finally:
        stop_server(hub)


if __name__ == "__main__":
    main()
