"""``cove.datasets`` against Hugging Face ``datasets``, side by side in one run: N rows (text of ~100
characters and an int label) through build, save/load, ``map`` (unbatched, batched, num_proc=2),
``filter``, ``shuffle``+``select``, ``sort`` and iteration as torch batches. Prints seconds, peak RSS
growth per step, and the ratio datasets/cove (>1: Cove faster).

    .venv/bin/python bench/datasets.py                  # 1,000,000 rows
    .venv/bin/python bench/datasets.py --rows 200000 --big-gb 0   # quicker, no 2 GB open test

Each library runs in its own process (so memory is its own), on the same generated rows, in fresh
cache folders. ``--big-gb`` also writes a dataset of that size once and opens it with each library
in a fresh process, reporting the anonymous (not file-backed) memory that costs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
# this file is named datasets.py: keep its folder off the path so `import datasets` finds the library
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def rss_kb(field: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def anonymous_kb() -> int:
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        if line.startswith("Anonymous:"):
            return int(line.split()[1])
    return 0


def reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    except OSError:
        pass


def rows(n: int) -> dict:
    import numpy as np

    rng = np.random.default_rng(0)
    words = np.array(["data", "model", "token", "train", "layer", "batch", "loss", "value", "query", "graph",
                      "arrow", "cache", "vector", "shard", "label", "split"])
    picks = rng.integers(0, len(words), size=(n, 17))
    text = [" ".join(words[p]) for p in picks]  # ~100 characters
    return {"text": text, "label": [int(x) for x in rng.integers(0, 2, size=n)]}


def n_chars(row):
    return {"n": len(row["text"])}


def n_chars_batched(batch):
    return {"n": [len(t) for t in batch["text"]]}


def is_one(row):
    return row["label"] == 1


def worker(lib: str, n: int, workdir: Path) -> dict:
    if lib == "cove":
        import cove.datasets as m
    else:
        import datasets as m

        m.disable_progress_bars()
    import torch  # noqa: F401 - imported before timing, as a training script would

    data = rows(n)
    m.Dataset.from_dict(rows(10)).map(n_chars)  # warm up lazy imports outside the timings
    results = {}

    def step(name, fn):
        reset_peak()
        before = rss_kb()
        start = time.perf_counter()
        out = fn()
        results[name] = {"s": time.perf_counter() - start, "peak_mb": (rss_kb("VmHWM") - before) / 1024}
        return out

    ds = step("build (from_dict)", lambda: m.Dataset.from_dict(data))
    step("save_to_disk", lambda: ds.save_to_disk(str(workdir / "saved")))
    del ds
    ds = step("load_from_disk", lambda: m.load_from_disk(str(workdir / "saved")))
    step("map (unbatched)", lambda: ds.map(n_chars, load_from_cache_file=False))
    step("map (batched)", lambda: ds.map(n_chars_batched, batched=True, load_from_cache_file=False))
    step("map (unbatched, num_proc=2)", lambda: ds.map(n_chars, num_proc=2, load_from_cache_file=False))
    step("filter", lambda: ds.filter(is_one, load_from_cache_file=False))
    step("shuffle+select 10% (+read 10k rows)",
         lambda: [r for r in ds.shuffle(seed=0).select(range(n // 10)).select(range(min(10_000, n // 10)))])
    step("sort (text)", lambda: ds.sort("text")[:10])
    step("iterate torch batches (1000)", lambda: sum(len(b["label"]) for b in ds.with_format("torch").iter(1000)))
    return results


def make_big(path: Path, gigabytes: float) -> None:
    """A save_to_disk folder of about ``gigabytes`` (written by Cove in the shared format, once)."""
    import cove.datasets as cd
    from cove.datasets.table import ArrowWriter

    chunk = cd.Dataset.from_dict(rows(1_000_000))
    chunk.save_to_disk(path)
    table = chunk.data
    copies = max(1, math.ceil(gigabytes * 1e9 / table.nbytes))
    target = path / "data-00000-of-00001.arrow"
    with ArrowWriter(path / "big.arrow", chunk.features.arrow_schema) as writer:
        for _ in range(copies):
            writer.write_table(table, batch_size=100_000)
    os.replace(path / "big.arrow", target)


def open_big(lib: str, path: Path) -> dict:
    if lib == "cove":
        import cove.datasets as m
    else:
        import datasets as m
    import pyarrow.compute as pc

    base = anonymous_kb()
    start = time.perf_counter()
    ds = m.load_from_disk(str(path))
    opened = time.perf_counter() - start
    last = ds[len(ds) - 1]
    total = pc.sum(ds.data.column("label")).as_py()  # touches every page of one column
    del last, total
    return {"rows": len(ds), "open_s": opened, "anon_mb": (anonymous_kb() - base) / 1024,
            "rss_mb": rss_kb() / 1024}


def run_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-gb", type=float, default=2.0)
    parser.add_argument("--worker", choices=["cove", "datasets"])
    parser.add_argument("--open-big", choices=["cove", "datasets"])
    parser.add_argument("--dir")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.rows, Path(args.dir))))
        return
    if args.open_big:
        print(json.dumps(open_big(args.open_big, Path(args.dir))))
        return

    root = Path(tempfile.mkdtemp(prefix="bench-datasets-"))
    try:
        results = {}
        for lib in ("datasets", "cove"):
            work = root / lib
            work.mkdir()
            os.environ["COVE_DATASETS_CACHE"] = str(work / "cove-cache")
            os.environ["HF_DATASETS_CACHE"] = str(work / "hf-cache")
            results[lib] = run_child("--worker", lib, "--rows", str(args.rows), "--dir", str(work))
        print(f"{args.rows:,} rows (text ~100 chars + int label); seconds, peak RSS growth (MB), ratio datasets/cove")
        print(f"{'step':40} {'datasets s':>11} {'cove s':>9} {'ratio':>7} {'datasets MB':>12} {'cove MB':>9}")
        for name, theirs in results["datasets"].items():
            ours = results["cove"][name]
            print(f"{name:40} {theirs['s']:11.2f} {ours['s']:9.2f} {theirs['s'] / max(ours['s'], 1e-9):7.1f}x"
                  f" {theirs['peak_mb']:12.0f} {ours['peak_mb']:9.0f}")
        unbatched = results["cove"]["map (unbatched)"]["s"]
        print(f"unbatched map: cove {args.rows / unbatched:,.0f} rows/s, "
              f"datasets {args.rows / results['datasets']['map (unbatched)']['s']:,.0f} rows/s")
        if args.big_gb > 0:
            big = root / "big"
            make_big(big, args.big_gb)
            size = sum(f.stat().st_size for f in big.iterdir()) / 1e9
            print(f"\nopen a {size:.2f} GB save_to_disk folder, read the last row and sum a column:")
            for lib in ("datasets", "cove"):
                r = run_child("--open-big", lib, "--dir", str(big))
                print(f"  {lib:9} {r['rows']:,} rows, open {r['open_s'] * 1000:.0f} ms, "
                      f"anonymous memory +{r['anon_mb']:.0f} MB, RSS {r['rss_mb']:.0f} MB (file-backed pages count)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
