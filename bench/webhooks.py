"""Webhooks: what they cost the request that makes the event, and how fast deliveries go out.

Against one `cove serve` with a receiver on 127.0.0.1: N small commits (``upload_file``) to a repo
nobody watches, then N to a repo W webhooks watch (a delivery row each per commit, queued from the worker
thread); the commit latency of both (median, p95), then the time from each commit's return to its
deliveries' arrival (median, p95, max), and the rate the worker drains a backlog (the receiver stopped,
N events queued, then started again). Figures are printed; nothing is asserted.

    .venv/bin/python bench/webhooks.py [--commits 100] [--webhooks 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from huggingface_hub import HfApi

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import free_port, start_server, stop_server  # noqa: E402


class Receiver:
    def __init__(self, port: int) -> None:
        self.arrived: dict[str, list[float]] = {}  # newSha -> arrival times
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                import json

                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                for ref in payload.get("updatedRefs") or []:
                    outer.arrived.setdefault(ref["newSha"], []).append(time.perf_counter())
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def pct(xs: list[float], p: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(p * len(xs)))]


def commits(api: HfApi, repo: str, n: int) -> list[tuple[str, float, float]]:
    """``(sha, seconds the call took, when it returned)`` per commit."""
    out = []
    for i in range(n):
        t = time.perf_counter()
        info = api.upload_file(path_or_fileobj=f"{i}\n".encode(), path_in_repo="n.txt", repo_id=repo)
        done = time.perf_counter()
        out.append((info.oid, done - t, done))
    return out


def wait_for(receiver: Receiver, shas: list[str], copies: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while any(len(receiver.arrived.get(s, [])) < copies for s in shas):
        if time.monotonic() > deadline:
            raise SystemExit("deliveries did not all arrive")
        time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commits", type=int, default=100)
    parser.add_argument("--webhooks", type=int, default=3)
    args = parser.parse_args()
    n, w = args.commits, args.webhooks
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp) / "data", env={"COVE_WEBHOOK_ALLOW": "127.0.0.1",
                                                       "COVE_WEBHOOK_RETRY_SECONDS": "1"})
        receiver = Receiver(port)
        try:
            api = HfApi(endpoint=server.url, token=server.user("bench"))
            api.create_repo("bench/quiet")
            api.create_repo("bench/watched")
            for _ in range(w):
                api.create_webhook(url=f"http://127.0.0.1:{port}/", watched=[{"type": "model", "name": "bench/watched"}],
                                   domains=["repo"])
            quiet = [c[1] for c in commits(api, "bench/quiet", n)]
            watched = commits(api, "bench/watched", n)
            wait_for(receiver, [c[0] for c in watched], w)
            lat = [c[1] for c in watched]
            print(f"commit latency, {n} commits: unwatched median {statistics.median(quiet) * 1e3:.1f} ms "
                  f"(p95 {pct(quiet, .95) * 1e3:.1f}); watched by {w} webhooks median "
                  f"{statistics.median(lat) * 1e3:.1f} ms (p95 {pct(lat, .95) * 1e3:.1f})")
            delays = [t - done for sha, _, done in watched for t in receiver.arrived[sha]]
            print(f"commit returned -> delivery arrived ({len(delays)} deliveries): median "
                  f"{statistics.median(delays) * 1e3:.0f} ms, p95 {pct(delays, .95) * 1e3:.0f} ms, "
                  f"max {max(delays) * 1e3:.0f} ms")
            receiver.close()  # a backlog: every attempt fails (connection refused) until it is back
            backlog = commits(api, "bench/watched", n)
            time.sleep(1.0)
            receiver = Receiver(port)
            t = time.perf_counter()
            wait_for(receiver, [c[0] for c in backlog], w)
            took = time.perf_counter() - t
            print(f"backlog of {n * w} deliveries (first attempts refused, retried after 1 s): drained in "
                  f"{took:.1f} s after the receiver came back ({n * w / took:.0f} deliveries/s)")
        finally:
            receiver.close()
            stop_server(server)


if __name__ == "__main__":
    main()
