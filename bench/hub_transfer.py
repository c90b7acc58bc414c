"""Hub transfer speed: the stock huggingface_hub client against `cove serve` on loopback.

Uploads then downloads one large file (stored as LFS) and a folder of many small files, and compares
each with a plain file copy on the same disk (the limit). Large files are measured every way the
client can send them: through Xet (the default: the client has hf_xet and the Hub speaks Xet),
inline in the commit (a Hub with COVE_XET=0 answers "regular" at preupload) and through the LFS batch
API (clients with HF_HUB_DISABLE_XET=1 against COVE_XET=0 COVE_LFS_UPLOADS=lfs). With Xet the same
file is then uploaded again from another machine (its own HF_HOME: only the server's dedup answers
help). Each client step runs in its own process with its own HF_HOME, so its peak RSS is its own; the
server's peak RSS is read from /proc at the end of each mode.

``--storage s3`` keeps the Hub's blobs in a bucket of the tests' S3 server (tests/s3.py: moto, in this
process, holding objects in memory) instead of the data dir; ``--presign`` has downloads redirected
to presigned URLs of it.

    .venv/bin/python bench/hub_transfer.py [--size-mb 1024] [--files 500] [--modes xet,inline,lfs]
                                           [--storage file|s3] [--presign] [--rounds 3]

The large file is downloaded ``--rounds`` times, each in a fresh process into an empty cache, and each
download's ratio is to a plain copy of the same file made just before it, so both meet the same state of
the machine's memory. The first download after an upload is the slowest on this VM: the client's
writes into the page cache (``copy_folio_from_iter_atomic``) cost it about twice the system time of
later rounds (perf), with the same requests and the same server CPU.
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

from tests import s3  # noqa: E402
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
    home = Path(tempfile.mkdtemp(prefix="hf-home-"))  # a machine of its own: no shard cache shared
    try:
        proc = subprocess.run([sys.executable, "-c", STEP, op, server.url, token, repo, str(src), str(dst)],
                              capture_output=True, text=True,
                              env={**os.environ, "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HOME": str(home),
                                   "HF_HUB_DISABLE_PROGRESS_BARS": "1", **(env or {})})
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{op} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(pid: int, quiet: float = 1.0, most: float = 120.0) -> float:
    """Flush the upload's writes to disk, then wait until the server has used no CPU for ``quiet`` seconds
    (the work a commit queues: the git sha1 of a large file, its scans), at most ``most`` seconds; the
    seconds waited. A download measured right after a 1 GiB upload otherwise shares the cores with that
    work and is throttled by the kernel writing back the upload's gigabyte of dirty pages (measured: the
    first download after an upload took 2.8 s and 1,077 MB of client RSS, the next ones 2.3-2.4 s and
    230-460 MB)."""
    t0 = time.perf_counter()
    os.sync()
    last = cpu_seconds(pid)
    while time.perf_counter() - t0 < most:
        time.sleep(quiet)
        now = cpu_seconds(pid)
        if now - last < 0.02:
            break
        last = now
    return time.perf_counter() - t0


def copy_speed(src: Path, dst: Path) -> float:
    t = time.perf_counter()
    if src.is_dir():
        shutil.copytree(src, dst)
    else:
        shutil.copyfile(src, dst)
    os.sync()
    return time.perf_counter() - t


def store_speed(src: Path, dst: Path) -> tuple[float, float]:
    """Seconds to upload ``src`` to the tests' S3 server and download it again with boto3's own
    transfer manager (multipart, parallel): the store's limit, what the Hub on S3 compares with."""
    store = s3.shared_server()
    client, bucket = store.client(), store.create_bucket("baseline")
    t = time.perf_counter()
    client.upload_file(str(src), bucket, "object")
    up = time.perf_counter() - t
    t = time.perf_counter()
    client.download_file(bucket, "object", str(dst))
    down = time.perf_counter() - t
    client.delete_object(Bucket=bucket, Key="object")
    dst.unlink()
    return up, down


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--files", type=int, default=500)
    ap.add_argument("--modes", default="xet,inline,lfs", help="which of xet, inline, lfs to run")
    ap.add_argument("--storage", choices=("file", "s3"), default="file", help="where the Hub keeps blobs")
    ap.add_argument("--presign", action="store_true", help="with --storage s3: downloads from presigned URLs")
    ap.add_argument("--rounds", type=int, default=3,
                    help="downloads of the large file per mode, each next to a plain copy made just before it")
    args = ap.parse_args()
    modes = {"xet": ("Xet (default)", {}, {}),
             "inline": ("inline (COVE_XET=0)", {"COVE_XET": "0"}, {}),
             "lfs": ("LFS batch API", {"COVE_XET": "0", "COVE_LFS_UPLOADS": "lfs"}, {"HF_HUB_DISABLE_XET": "1"})}
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
        if args.storage == "s3":
            up_s, down_s = store_speed(big, work / "from-store.bin")
            print(f"the S3 server alone (boto3 upload_file / download_file of the {args.size_mb} MiB file): "
                  f"{size_mb / up_s:.1f} MB/s up, {size_mb / down_s:.1f} MB/s down", flush=True)
        rows = []
        for key in args.modes.split(","):
            mode, server_env, client_env = modes[key]
            if args.storage == "s3":
                store = s3.shared_server()
                server_env = {**server_env, **store.env(store.create_bucket("bench"), presign=args.presign)}
                mode += ", S3" + (" presigned" if args.presign else "")
            server = start_server(work / f"data-{key}", env=server_env)
            try:
                token = server.user("bench")
                from huggingface_hub import HfApi

                api = HfApi(endpoint=server.url, token=token)
                for name in ("bench/big", "bench/big-again", "bench/folder"):
                    api.create_repo(name)
                up = step("upload-file", server, token, "bench/big", big, work, client_env)
                print(f"{mode}: the server settled {settle(server.proc.pid):.1f} s after the upload", flush=True)
                rows.append((f"{args.size_mb} MiB file, upload, {mode}", size_mb, up, copy_big))
                for i in range(args.rounds):
                    copy_now = copy_speed(big, work / "copy-now.bin")
                    (work / "copy-now.bin").unlink()
                    down = step("download-file", server, token, "bench/big", big, work / f"cache-{key}", client_env)
                    shutil.rmtree(work / f"cache-{key}")
                    rows.append((f"{args.size_mb} MiB file, download {i + 1}, {mode}", size_mb, down, copy_now))
                if key == "xet":
                    again = step("upload-file", server, token, "bench/big-again", big, work, client_env)
                    rows.append((f"{args.size_mb} MiB file, same again to another repo, {mode}", size_mb, again,
                                 copy_big))
                if key in ("xet", "inline"):
                    upf = step("upload-folder", server, token, "bench/folder", folder, work, client_env)
                    downf = step("download-folder", server, token, "bench/folder", folder, work / f"cache-f-{key}",
                                 client_env)
                    rows.append((f"{args.files} files, upload_folder, {mode}", folder_mb, upf, copy_folder))
                    rows.append((f"{args.files} files, snapshot_download, {mode}", folder_mb, downf, copy_folder))
                server_rss = peak_rss_mb(server.proc.pid)
            finally:
                stop_server(server)
            print(f"server ({mode}) peak RSS: {server_rss:.0f} MB", flush=True)
        print()
        print(f"{'transfer':64} {'seconds':>8} {'speed':>12} {'plain copy':>12} {'ratio':>7} {'client RSS MB':>14}")
        for label, mb, result, copy_s in rows:
            unit, amount = ("files/s", args.files) if "files" in label else ("MB/s", mb)
            speed, copy = amount / result["seconds"], amount / copy_s
            print(f"{label:64} {result['seconds']:8.2f} {speed:7.1f} {unit:>4} {copy:7.1f} {unit:>4} "
                  f"{speed / copy:7.2f} {result['peak_rss_mb']:14.0f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
