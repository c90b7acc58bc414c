"""Hub transfer speed: the stock huggingface_hub client against `cove serve` on loopback.

Uploads then downloads one large file (stored as LFS) and a folder of many small files, and compares
each with a plain file copy on the same disk (the limit). Large-file uploads are measured both ways
the client can send them: inline in the commit (what every client does against a server that answers
"regular" at preupload, the default) and through the LFS batch API (clients with HF_HUB_DISABLE_XET=1
against a server started with COVE_LFS_UPLOADS=lfs). Each client step runs in its own process so its
peak RSS is its own; the server's peak RSS is read from /proc at the end.

    .venv/bin/python bench/hub_transfer.py [--size-mb 1024] [--files 500]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import start_server, stop_server  # noqa: E402

STEP = r"""
import json, os, sys, time, resource
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
op, endpoint, token, repo, src, dst = sys.argv[1:7]
api = HfApi(endpoint=endpoint, token=token)
t = time.perf_counter()
if op == "upload-file":
    api.upload_file(path_or_fileobj=src, path_in_repo=os.path.basename(src), repo_id=repo)
elif op == "upload-folder":
    api.upload_folder(folder_path=src, repo_id=repo)
elif op == "download-file":
    hf_hub_download(repo, os.path.basename(src), endpoint=endpoint, token=token, cache_dir=dst)
elif op == "download-folder":
    snapshot_download(repo, endpoint=endpoint, token=token, cache_dir=dst, max_workers=8)
dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def step(op: str, server, token: str, repo: str, src: Path, dst: Path, env: dict | None = None) -> dict:
    proc = subprocess.run([sys.executable, "-c", STEP, op, server.url, token, repo, str(src), str(dst)],
                          capture_output=True, text=True, env={**os.environ, "HF_HUB_DISABLE_TELEMETRY": "1",
                                                               **(env or {})})
    if proc.returncode != 0:
        raise RuntimeError(f"{op} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def copy_speed(src: Path, dst: Path) -> float:
    t = time.perf_counter()
    if src.is_dir():
        shutil.copytree(src, dst)
    else:
        shutil.copyfile(src, dst)
    os.sync()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--files", type=int, default=500)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cove-bench-"))
    try:
        big = work / "big.bin"
        with open(big, "wb") as f:
            for _ in range(args.size_mb):
                f.write(os.urandom(1024 * 1024))
        folder = work / "folder"
        folder.mkdir()
        for i in range(args.files):
            (folder / f"f{i:04d}.txt").write_text(f"file {i}\n" * 50)
        folder_mb = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
        size_mb = big.stat().st_size / 1e6
        copy_big = copy_speed(big, work / "copy.bin")
        copy_folder = copy_speed(folder, work / "copy-folder")
        rows = []
        for mode, server_env, client_env in [
            ("inline (default)", {}, {}),
            ("LFS batch API", {"COVE_LFS_UPLOADS": "lfs"}, {"HF_HUB_DISABLE_XET": "1"}),
        ]:
            server = start_server(work / f"data-{len(rows)}", env=server_env)
            try:
                token = server.user("bench")
                from huggingface_hub import HfApi

                api = HfApi(endpoint=server.url, token=token)
                api.create_repo("bench/big")
                api.create_repo("bench/folder")
                up = step("upload-file", server, token, "bench/big", big, work, client_env)
                down = step("download-file", server, token, "bench/big", big, work / f"cache-{mode[:3]}", client_env)
                rows.append((f"{args.size_mb} MiB file, upload, {mode}", size_mb, up, copy_big))
                rows.append((f"{args.size_mb} MiB file, download", size_mb, down, copy_big))
                if mode.startswith("inline"):
                    upf = step("upload-folder", server, token, "bench/folder", folder, work, client_env)
                    downf = step("download-folder", server, token, "bench/folder", folder, work / "cache-f", client_env)
                    rows.append((f"{args.files} files, upload_folder", folder_mb, upf, copy_folder))
                    rows.append((f"{args.files} files, snapshot_download", folder_mb, downf, copy_folder))
                server_rss = peak_rss_mb(server.proc.pid)
            finally:
                stop_server(server)
            print(f"server ({mode}) peak RSS: {server_rss:.0f} MB", flush=True)
        print()
        print(f"{'transfer':44} {'seconds':>8} {'speed':>12} {'plain copy':>12} {'ratio':>7} {'client RSS MB':>14}")
        for label, mb, result, copy_s in rows:
            unit, amount = ("files/s", args.files) if "files" in label else ("MB/s", mb)
            speed, copy = amount / result["seconds"], amount / copy_s
            print(f"{label:44} {result['seconds']:8.2f} {speed:7.1f} {unit:>4} {copy:7.1f} {unit:>4} "
                  f"{speed / copy:7.2f} {result['peak_rss_mb']:14.0f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
