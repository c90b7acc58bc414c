"""Cove's hub client through Xet (hf_xet) next to its old paths, the stock huggingface_hub, and an own
Python Xet client: one large file up and down against one ``cove serve`` (Xet on, its default).

    .venv/bin/python bench/hub_xet.py                       # 1 GiB of random bytes, best of 2 rounds
    .venv/bin/python bench/hub_xet.py --size-mb 256 --repeat 1

Every step runs in its own process with its own HF_HOME and cache (no shard cache, no chunk cache
shared), and reports the seconds of the operation itself (imports excluded), its peak RSS (the
process's ``VmHWM``, imports included: an idle child's is printed for reference) and the server's
CPU seconds during the step. Each upload sends its own random content (no dedup between cases), except
the "again" rows (the same content as an earlier upload, to another repo, from a fresh machine: only
the server's dedup answers help) and the "edited" rows (that content with 1 MiB in the middle
rewritten). Downloads all fetch the file the Cove Xet upload stored.

"own" is what Cove would run without hf_xet: a straightforward client built from ``cove.server.cas``
(the numpy chunker, blake3, LZ4, xorb and shard serialization; one thread, no dedup queries, no
resume), standing in for the code the client would have to carry (``cove.hub`` may not import
``cove.server``). It shows the cost of that choice, not a finished implementation.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MiB = 1024 * 1024


# -- the steps (run in a child process) -----------------------------------------------------------


def own_upload(url: str, token: str, repo: str, path: Path) -> None:
    import hashlib

    import httpx

    from cove.server.cas.chunker import iter_chunks
    from cove.server.cas.hashes import file_hash, from_hex, to_hex, verification_hash
    from cove.server.cas.shard import FileRecord, Term, upload_shard
    from cove.server.cas.xorb import pack_chunks, serialize_xorb

    hub = {"authorization": f"Bearer {token}"}
    with httpx.Client(timeout=600) as http:
        grant = http.get(f"{url}/api/models/{repo}/xet-write-token/main", headers=hub).json()
        cas, auth = grant["casUrl"], {"authorization": f"Bearer {grant['accessToken']}"}
        sha = hashlib.sha256()

        def chunks(f):
            for c in iter_chunks(f):
                sha.update(c)
                yield c

        terms, verification, nodes, new = [], [], [], []
        with open(path, "rb") as f:
            for group in pack_chunks(chunks(f)):
                body, index = serialize_xorb(group)  # LZ4 where it shrinks a chunk
                http.post(f"{cas}/v1/xorbs/default/{to_hex(index.hash)}", content=body,
                          headers=auth).raise_for_status()
                new.append(index)
                terms.append(Term(index.hash, 0, len(index.chunks), index.raw_size))
                verification.append(verification_hash(c.hash for c in index.chunks))
                nodes.extend(index.nodes())
        record = FileRecord(file_hash(nodes), tuple(terms), tuple(verification), from_hex(sha.hexdigest()))
        http.post(f"{cas}/v1/shards", content=upload_shard([record], new), headers=auth).raise_for_status()
        line = {"key": "lfsFile", "value": {"path": path.name, "algo": "sha256", "oid": sha.hexdigest(),
                                            "size": path.stat().st_size}}
        body = "\n".join(json.dumps(x) for x in ({"key": "header", "value": {"summary": "own"}}, line))
        http.post(f"{url}/api/models/{repo}/commit/main", content=body,
                  headers={**hub, "content-type": "application/x-ndjson"}).raise_for_status()


def own_download(url: str, token: str, repo: str, name: str, dest: Path) -> None:
    import hashlib

    import httpx

    from cove.server.cas.xorb import decode_chunks

    hub = {"authorization": f"Bearer {token}"}
    with httpx.Client(timeout=600) as http:
        head = http.head(f"{url}/{repo}/resolve/main/{name}", headers=hub)
        fid, size, etag = head.headers["x-xet-hash"], int(head.headers["x-linked-size"]), head.headers["x-linked-etag"]
        grant = http.get(head.links["xet-auth"]["url"], headers=hub).json()
        auth = {"authorization": f"Bearer {grant['accessToken']}", "range": f"bytes=0-{size - 1}"}
        rec = http.get(f"{grant['casUrl']}/v1/reconstructions/{fid}", headers=auth).json()
        sha, skip, fetched = hashlib.sha256(), rec["offset_into_first_range"], {}
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(dest, "wb") as out:
            for term in rec["terms"]:
                a, b = term["range"]["start"], term["range"]["end"]
                entry = next(e for e in rec["fetch_info"][term["hash"]] if e["range"]["start"] <= a
                             and b <= e["range"]["end"])
                key = (term["hash"], entry["range"]["start"])
                if key not in fetched:
                    fetched.clear()  # one xorb range held at a time
                    r = entry["url_range"]
                    fetched[key] = http.get(entry["url"], headers={"range": f"bytes={r['start']}-{r['end']}"}).content
                for i, (_, raw) in enumerate(decode_chunks(fetched[key], first_index=0, hashes=False)):
                    if a <= entry["range"]["start"] + i < b:
                        piece = raw[skip:]
                        skip = 0
                        out.write(piece)
                        sha.update(piece)
        assert sha.hexdigest() == etag.strip('"'), "own download: sha256 mismatch"


def child(step: str, args: dict) -> None:
    url, token, repo, src, dst = args["url"], args["token"], args["repo"], Path(args["src"]), Path(args["dst"])
    if "hf" in step.split("-"):
        from huggingface_hub import HfApi, hf_hub_download
    else:
        import httpx  # noqa: F401

        from cove.hub import HubApi
    t = time.perf_counter()
    if step.startswith("up-cove"):
        with HubApi(url, token, cache_dir=dst) as api:
            api.upload_file(path_or_fileobj=src, path_in_repo=src.name, repo_id=repo, progress=False)
    elif step.startswith("up-hf"):
        HfApi(endpoint=url, token=token).upload_file(path_or_fileobj=str(src), path_in_repo=src.name, repo_id=repo)
    elif step == "up-own":
        own_upload(url, token, repo, src)
    elif step in ("down-cove", "down-cove-plain", "down-cove-noverify"):
        with HubApi(url, token, cache_dir=dst) as api:
            api.download(repo, src.name, progress=False)
    elif step == "down-hf":
        hf_hub_download(repo, src.name, endpoint=url, token=token, cache_dir=dst)
    elif step == "down-own":
        own_download(url, token, repo, src.name, dst / src.name)
    elif step not in ("idle-cove", "idle-hf"):
        raise SystemExit(f"unknown step {step}")
    print(json.dumps({"seconds": time.perf_counter() - t, "peak_rss_mb": peak_rss_mb()}))


def peak_rss_mb() -> float:
    """This process's peak RSS (``VmHWM``: unlike ``ru_maxrss`` it starts afresh at exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- the parent ------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(step: str, server, work: Path, env: dict, **args) -> dict:
    home = Path(tempfile.mkdtemp(prefix="machine-", dir=work))
    full = {k: v for k, v in os.environ.items() if k not in ("COVE_VERIFY", "COVE_CLIENT_XET", "COVE_OFFLINE")}
    full.update({"HF_HOME": str(home), "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", **env})
    payload = json.dumps({"url": server.url, "dst": str(home / "cache"), "repo": "", "src": "", **args})
    cpu = cpu_seconds(server.proc.pid)
    proc = subprocess.run([sys.executable, __file__, "--child", step, payload], env=full, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{step} failed:\n{proc.stderr[-3000:]}")
    shutil.rmtree(home, ignore_errors=True)
    return {**json.loads(proc.stdout.splitlines()[-1]), "server_cpu": cpu_seconds(server.proc.pid) - cpu}


def xorb_bytes(data: Path) -> int:
    return sum(p.stat().st_size for p in (data / "lfs" / "xet" / "xorbs").rglob("*") if p.is_file()
               and "." not in p.name)


def write_random(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 64 * MiB)
            f.write(os.urandom(n))
            left -= n
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=2, help="rounds; the best time of each case is kept")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child[0], json.loads(args.child[1]))

    from tests.conftest import cove_cli, start_server, stop_server

    work = Path(tempfile.mkdtemp(prefix="hub-xet-bench-"))
    server = start_server(work / "data")
    size = args.size_mb * MiB
    results: dict[str, list[dict]] = {}
    try:
        token = cove_cli("users", "add", "bench", "--data-dir", str(work / "data")).split()[-1]

        def record(name: str, step: str, env: dict | None = None, **kw) -> None:
            before = xorb_bytes(work / "data")
            r = run(step, server, work, env or {}, token=token, **kw)
            r["xorb_mb"] = (xorb_bytes(work / "data") - before) / 1e6
            results.setdefault(name, []).append(r)
            print(f"  {name:<34} {r['seconds']:7.2f} s  server CPU {r['server_cpu']:6.2f} s  "
                  f"peak RSS {r.get('peak_rss_mb', 0):6.0f} MB  new xorbs {r['xorb_mb']:7.1f} MB", flush=True)

        for r in range(args.repeat):
            print(f"round {r + 1}", flush=True)
            ups = {case: write_random(work / f"{case}-{r}.bin", size) for case in ("cove", "lfs", "hf", "own")}
            os.sync()
            repos = {}
            for case, step, env in (("cove", "up-cove", {}), ("lfs", "up-cove-lfs", {"COVE_CLIENT_XET": "0"}),
                                    ("hf", "up-hf", {}), ("own", "up-own", {})):
                repos[case] = f"bench/{case}-{r}"
                cove_cli_repo(server, token, repos[case])
                record(f"upload: {step}", step, env, repo=repos[case], src=str(ups[case]))
            edited = work / f"edited-{r}.bin"
            shutil.copyfile(ups["cove"], edited)
            with open(edited, "r+b") as f:
                f.seek(size // 2)
                f.write(os.urandom(MiB))
            for case, step, src, env in (
                    ("again", "up-cove-again", ups["cove"], {}),
                    ("again", "up-hf-again", ups["cove"], {}),
                    ("again", "up-cove-lfs-again", ups["lfs"], {"COVE_CLIENT_XET": "0"}),
                    ("edited", "up-cove-edited", edited, {}),
                    ("edited", "up-cove-lfs-edited", edited, {"COVE_CLIENT_XET": "0"})):
                repo = f"bench/{step}-{r}"
                cove_cli_repo(server, token, repo)
                record(f"upload {case}: {step}", step, env, repo=repo, src=str(src))
            edited.unlink()
            src = str(work / "cove-0.bin")
            for step, env in (("down-cove", {}), ("down-cove-noverify", {"COVE_VERIFY": "0"}),
                              ("down-cove-plain", {"COVE_CLIENT_XET": "0"}), ("down-hf", {}), ("down-own", {})):
                record(f"download: {step}", step, env, repo="bench/cove-0", src=src)
            for case in ("lfs", "hf", "own") if r else ():
                (work / f"{case}-{r}.bin").unlink()
        for step in ("idle-cove", "idle-hf"):
            record(f"idle: {step}", step)
    finally:
        stop_server(server)
    print(f"\n{args.size_mb} MiB, best of {args.repeat} rounds, {os.cpu_count()} cores")
    print("MB/s = 10**6 bytes of the file per second; server CPU of the best round; peak RSS the highest of the")
    print("rounds; xorbs sent = new xorb MB stored by the Hub (an LFS upload always sends the whole file)")
    print(f"{'case':<36} {'s':>7} {'MB/s':>7} {'server CPU s':>13} {'peak RSS MB':>12} {'xorbs sent MB':>14}")
    for name, rows in results.items():
        best = min(rows, key=lambda x: x["seconds"])
        rate = size / 1e6 / best["seconds"] if not name.startswith("idle") else 0
        sent = f"{best['xorb_mb']:14.1f}" if name.startswith("upload") and "lfs" not in name else f"{'':>14}"
        print(f"{name:<36} {best['seconds']:7.2f} {rate:7.0f} {best['server_cpu']:13.2f} "
              f"{max(x.get('peak_rss_mb', 0) for x in rows):12.0f} {sent}")
    shutil.rmtree(work, ignore_errors=True)


def cove_cli_repo(server, token: str, repo: str) -> None:
    import httpx

    ns, name = repo.split("/")
    httpx.post(f"{server.url}/api/repos/create", json={"name": name, "organization": ns},
               headers={"authorization": f"Bearer {token}"}).raise_for_status()


if __name__ == "__main__":
    main()
