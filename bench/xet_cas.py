"""The Xet CAS core (``cove.server.cas``) against hf_xet: chunking and file IDs of a large file, xorb
verification, server-side reconstruction. Prints MB/s (MB = 10**6 bytes), peak RSS, and the ratio
cove/hf_xet for the file ID (<1: hf_xet faster; it is Rust on every core, Cove numpy + C on one).

    .venv/bin/python bench/xet_cas.py                 # 1 GiB file, 64 MiB xorbs
    prlimit --as=1073741824 .venv/bin/python bench/xet_cas.py --part cove --gib 1   # under 1 GiB of address space

Each part runs in its own process so its peak RSS is its own; hf_xet runs without the limit (its
thread pools reserve address space).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MB = 1e6


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_file(path: Path, gib: float) -> None:
    """Incompressible data with some repeats (so dedup-like content appears), written in 16 MiB blocks."""
    rng = random.Random(0)
    left = int(gib * (1 << 30))
    with open(path, "wb") as f:
        while left:
            block = rng.randbytes(min(left, 16 << 20))
            f.write(block)
            left -= len(block)


def part_cove(path: Path) -> dict:
    from cove.server.cas.chunker import file_id, iter_chunks

    size = path.stat().st_size
    out = {}
    with open(path, "rb") as f:
        t = time.perf_counter()
        n = sum(1 for _ in iter_chunks(f))
        out["chunker_MBps"] = size / MB / (time.perf_counter() - t)
    with open(path, "rb") as f:
        t = time.perf_counter()
        fid, _ = file_id(f)
        out["file_id_MBps"] = size / MB / (time.perf_counter() - t)
    out.update(chunks=n, peak_rss_MB=peak_rss_mb())
    from cove.server.cas.hashes import to_hex
    out["file_id"] = to_hex(fid)
    return out


def part_hf_xet(path: Path) -> dict:
    import hf_xet

    t = time.perf_counter()
    [info] = hf_xet.hash_files([str(path)])
    return {"file_id_MBps": path.stat().st_size / MB / (time.perf_counter() - t), "file_id": info.hash,
            "peak_rss_MB": peak_rss_mb()}


def part_reference_loop() -> dict:
    """The byte loop of spec §5 in pure Python, on 2 MB: why the chunker is vectorized."""
    from cove.server.cas.chunker import GEAR_TABLE

    data = os.urandom(2_000_000)
    t = time.perf_counter()
    h, start, table = 0, 0, GEAR_TABLE
    for i, b in enumerate(data):
        h = ((h << 1) + table[b]) & 0xFFFFFFFFFFFFFFFF
        if i + 1 - start >= 8192 and (i + 1 - start >= 131072 or h & 0xFFFF000000000000 == 0):
            start, h = i + 1, 0
    return {"byte_loop_MBps": len(data) / MB / (time.perf_counter() - t)}


def part_xorbs() -> dict:
    import numpy as np

    from cove.server.cas.chunker import Chunker
    from cove.server.cas.reconstruct import plan_range, stream_range
    from cove.server.cas.shard import Term
    from cove.server.cas.store import CasStore, MemoryStore
    from cove.server.cas.xorb import MAX_XORB_RAW, Scheme, pack_chunks, serialize_xorb, verify_xorb

    rng = random.Random(1)
    n = MAX_XORB_RAW - (1 << 20)  # under 64 MiB whatever the chunk boundaries
    words = [rng.randbytes(rng.randint(1, 6)).hex().encode() for _ in range(2000)]

    def text() -> bytes:
        block = b" ".join(rng.choice(words) for _ in range(200_000))[:1 << 20]
        return (block * (n // len(block) + 1))[:n]

    kinds = {
        "random (scheme 0)": (lambda: rng.randbytes(n), None),
        "text (LZ4)": (text, None),
        "float32 (BG4+LZ4)": (lambda: np.random.default_rng(1).standard_normal(n // 4, dtype=np.float32).tobytes(),
                              Scheme.BG4_LZ4),
    }
    out = {}
    for name, (make, scheme) in kinds.items():
        data = make()
        c = Chunker()
        chunks = c.update(data) + c.finish()
        [group] = list(pack_chunks(chunks))
        t = time.perf_counter()
        body, index = serialize_xorb(group, scheme)
        t_ser = time.perf_counter() - t
        t = time.perf_counter()
        verify_xorb(body, index.hash)
        t_ver = time.perf_counter() - t
        cas = CasStore(MemoryStore())
        cas.put_verified(body, index)
        terms = [Term(index.hash, 0, len(index.chunks), index.raw_size)]
        t = time.perf_counter()
        got = sum(len(b) for b in stream_range(plan_range(terms, cas.index, 0, len(data)), cas.index, cas.read))
        t_rec = time.perf_counter() - t
        assert got == len(data)
        out[name] = {"stored_MB": round(len(body) / MB, 1), "verify_MBps": round(len(data) / MB / t_ver),
                     "serialize_MBps": round(len(data) / MB / t_ser), "reconstruct_MBps": round(len(data) / MB / t_rec)}
    out["peak_rss_MB"] = peak_rss_mb()
    return out


def run_part(part: str, path: Path | None, limit: int | None) -> dict:
    cmd = [sys.executable, __file__, "--part", part] + (["--file", str(path)] if path else [])
    if limit:
        cmd = ["prlimit", f"--as={limit}", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{part} failed: {proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gib", type=float, default=1.0)
    ap.add_argument("--limit", type=int, default=1 << 30, help="address-space limit (bytes) of the Cove parts")
    ap.add_argument("--part")
    ap.add_argument("--file")
    args = ap.parse_args()
    if args.part:
        fn = {"cove": lambda: part_cove(Path(args.file)), "hf_xet": lambda: part_hf_xet(Path(args.file)),
              "loop": part_reference_loop, "xorbs": part_xorbs}[args.part]
        print(json.dumps(fn()))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.bin"
        make_file(path, args.gib)
        cove = run_part("cove", path, args.limit)
        ref = run_part("hf_xet", path, None)
    assert cove["file_id"] == ref["file_id"], (cove["file_id"], ref["file_id"])
    print(f"file ID of {args.gib} GiB (equal to hf_xet's): chunker {cove['chunker_MBps']:.0f} MB/s, "
          f"chunker+hashes {cove['file_id_MBps']:.0f} MB/s, peak RSS {cove['peak_rss_MB']:.0f} MB "
          f"under --as={args.limit}; hf_xet.hash_files {ref['file_id_MBps']:.0f} MB/s; "
          f"ratio cove/hf_xet {cove['file_id_MBps'] / ref['file_id_MBps']:.2f}")
    print("pure-Python byte loop of §5:", run_part("loop", None, None))
    print("64 MiB xorbs:", json.dumps(run_part("xorbs", None, args.limit), indent=1))


if __name__ == "__main__":
    main()
