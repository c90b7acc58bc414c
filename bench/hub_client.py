"""Cove's hub client against ``huggingface_hub``, side by side on one ``cove serve``: upload and download
of one large file and of a many-file snapshot. Prints seconds, MB/s and the ratio hf/cove (>1: Cove faster).

    .venv/bin/python bench/hub_client.py                       # 1 GiB file, 500 files of 64 KiB
    .venv/bin/python bench/hub_client.py --size-mb 256 --files 200 --lfs

Cove hashes every download (sha256 / git sha1) and ``huggingface_hub`` does not; the ``COVE_VERIFY=0``
rows show the cost of that check. Each client uploads its own copy of the content (different random bytes, same sizes) to its own repo,
then downloads into an empty cache. ``--lfs`` starts the server with ``COVE_LFS_UPLOADS=lfs`` (both clients
then use the LFS batch API; Xet is disabled for huggingface_hub). Baselines: a plain httpx GET written
to disk without hashing, and a file write of the same size.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")

import httpx  # noqa: E402

MiB = 1024 * 1024


def start_server(data: Path, lfs: bool) -> tuple[subprocess.Popen, str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "COVE_DATA_DIR": str(data), "COVE_LFS_UPLOADS": "lfs" if lfs else "regular"}
    proc = subprocess.Popen([sys.executable, "-m", "cove.cli.main", "serve", "--port", str(port)],
                            stdout=open(data.parent / "server.log", "w"), stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/api/agent-harnesses", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError((data.parent / "server.log").read_text())


def write_random(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 64 * MiB)
            f.write(os.urandom(n))
            left -= n


def timed(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1024, help="size of the large file")
    ap.add_argument("--files", type=int, default=500, help="files in the snapshot")
    ap.add_argument("--file-kb", type=int, default=64, help="size of each snapshot file")
    ap.add_argument("--lfs", action="store_true", help="server answers 'lfs' at preupload")
    ap.add_argument("--repeat", type=int, default=2, help="rounds (order alternates); the best time is kept")
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()

    from huggingface_hub import HfApi, hf_hub_download, snapshot_download

    from cove.hub import HubApi

    work = Path(args.workdir or tempfile.mkdtemp(prefix="hub-bench-"))
    proc, url = start_server(work / "data", args.lfs)
    try:
        token = subprocess.run([sys.executable, "-m", "cove.cli.main", "users", "add", "bench", "--data-dir",
                                str(work / "data")], capture_output=True, text=True, check=True).stdout.split()[-1]
        size, many_bytes = args.size_mb * MiB, args.files * args.file_kb * 1024
        clients = ("cove", "hf")
        for r in range(args.repeat):
            for who in clients:
                write_random(work / f"{who}{r}" / "big.bin", size)
                for i in range(args.files):
                    write_random(work / f"{who}{r}" / "many" / f"d{i % 20}" / f"f{i}.bin", args.file_kb * 1024)
        os.sync()  # no writeback of the inputs during the timings
        cove, hf = HubApi(url, token, cache_dir=work / "unused"), HfApi(endpoint=url, token=token)
        os.environ["COVE_VERIFY"] = "0"
        trusting = HubApi(url, token)
        del os.environ["COVE_VERIFY"]

        def upload(who: str, r: int, kind: str) -> None:
            repo, src = f"bench/{who}-{kind}-{r}", work / f"{who}{r}"
            cove.create_repo(repo)
            if who == "cove" and kind == "big":
                cove.upload_file(path_or_fileobj=src / "big.bin", path_in_repo="big.bin", repo_id=repo,
                                 progress=False)
            elif who == "cove":
                cove.upload_folder(repo_id=repo, folder_path=src / "many", progress=False)
            elif kind == "big":
                hf.upload_file(path_or_fileobj=str(src / "big.bin"), path_in_repo="big.bin", repo_id=repo)
            else:
                hf.upload_folder(repo_id=repo, folder_path=str(src / "many"))

        def fetch(who: str, r: int, kind: str) -> None:
            cache = work / f"cache-{who}-{kind}-{r}"
            repo = f"bench/cove-{kind}-0"
            if who == "cove-noverify":
                api = trusting
            elif who == "cove":
                api = cove
            elif kind == "big":
                return hf_hub_download(repo, "big.bin", endpoint=url, token=token, cache_dir=cache)
            else:
                return snapshot_download(repo, endpoint=url, token=token, cache_dir=cache)
            if kind == "big":
                api.download(repo, "big.bin", cache_dir=cache, progress=False)
            else:
                api.snapshot_download(repo, cache_dir=cache, progress=False)

        times: dict[tuple[str, str], list[float]] = {}
        for r in range(args.repeat):  # alternate who goes first, keep each client's best time
            order = clients if r % 2 == 0 else clients[::-1]
            for kind in ("big", "many"):
                for who in order:
                    times.setdefault((f"up-{kind}", who), []).append(timed(upload, who, r, kind))
            for kind in ("big", "many"):
                for who in (*order, "cove-noverify"):
                    times.setdefault((f"down-{kind}", who), []).append(timed(fetch, who, r, kind))
                    os.sync()
            a = (work / f"cache-cove-big-{r}").rglob("big.bin")
            b = (work / f"cache-hf-big-{r}").rglob("big.bin")
            assert next(a).read_bytes() == next(b).read_bytes(), "the two clients downloaded different bytes"
            for cache in work.glob(f"cache-*-{r}"):
                shutil.rmtree(cache)
        best = {k: min(v) for k, v in times.items()}
        rows = [
            (f"upload 1 file of {args.size_mb} MiB", best["up-big", "cove"], best["up-big", "hf"], size),
            (f"upload {args.files} files of {args.file_kb} KiB", best["up-many", "cove"], best["up-many", "hf"],
             many_bytes),
            (f"download 1 file of {args.size_mb} MiB", best["down-big", "cove"], best["down-big", "hf"], size),
            ("  same, COVE_VERIFY=0 (no sha256)", best["down-big", "cove-noverify"], best["down-big", "hf"], size),
            (f"snapshot {args.files} files of {args.file_kb} KiB", best["down-many", "cove"], best["down-many", "hf"],
             many_bytes),
            ("  same, COVE_VERIFY=0", best["down-many", "cove-noverify"], best["down-many", "hf"], many_bytes),
        ]

        # baselines: raw loopback GET to disk (no hashing), and a plain disk write
        raw_path = work / "raw.bin"
        big_url = f"{url}/bench/cove-big-0/resolve/main/big.bin"

        def raw_get():
            with httpx.stream("GET", big_url, headers={"authorization": f"Bearer {token}"}) as r, \
                    open(raw_path, "wb") as f:
                for b in r.iter_raw(8 * MiB):
                    f.write(b)

        raw = timed(raw_get)
        disk = timed(lambda: shutil.copyfile(work / "cove0/big.bin", work / "copy.bin"))
    finally:
        proc.terminate()
        proc.wait()

    mode = "lfs" if args.lfs else "regular"
    print(f"\nhub client bench: server uploads mode '{mode}', best of {args.repeat} rounds, {os.cpu_count()} cores")
    print(f"{'case':<34} {'cove s':>8} {'hf s':>8} {'cove MB/s':>10} {'hf MB/s':>9} {'hf/cove':>8}")
    for name, c, h, nbytes in rows:
        print(f"{name:<34} {c:8.2f} {h:8.2f} {nbytes / MiB / c:10.0f} {nbytes / MiB / h:9.0f} {h / c:8.2f}")
    print(f"{'baseline: raw GET to disk':<34} {raw:8.2f} {'':>8} {size / MiB / raw:10.0f}")
    print(f"{'baseline: disk copy':<34} {disk:8.2f} {'':>8} {size / MiB / disk:10.0f}")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
