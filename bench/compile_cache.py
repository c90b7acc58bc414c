"""What the on-disk compile cache saves: the first ``generate(compile=...)`` of a process, cold
(nothing cached: the decode step compiles from scratch) against warm (a second process finds the
step the first one compiled, ``compile="auto"``), with eager as the floor.

Each column is a fresh process on the same checkpoint (the ones bench/generate.py makes) and a fresh
compile cache folder for the model; times are wall seconds of the process's first greedy call
(``--new`` tokens after a ``--prompt``-token prompt, batch 1), compile included; "compile s" is what
the decode state measured around the compile itself. The tokens of all three must be the same.

Run: ``.venv/bin/python bench/compile_cache.py [--only gpt2] [--smollm] [--threads 2]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # not bench/, whose tokenizers.py would shadow the `tokenizers` package

from bench.generate import make_models  # noqa: E402

CHILD = textwrap.dedent(
    """
    import hashlib, json, sys, time
    import torch
    folder, gguf, mode, prompt, new, threads = sys.argv[1:7]
    if int(threads):
        torch.set_num_threads(int(threads))
    from cove.models import AutoModelForCausalLM
    options = {"gguf_file": gguf} if gguf != "-" else {}
    model = AutoModelForCausalLM.from_pretrained(folder, **options)
    ids = torch.randint(10, 1000, (1, int(prompt)), generator=torch.Generator().manual_seed(0))
    compile = {"true": True, "false": False, "auto": "auto"}[mode]
    start = time.perf_counter()
    out = model.generate(ids, max_new_tokens=int(new), min_new_tokens=int(new), compile=compile)
    first = time.perf_counter() - start
    start = time.perf_counter()
    model.generate(ids, max_new_tokens=int(new), min_new_tokens=int(new), compile=compile)
    again = time.perf_counter() - start
    compiles = [(c.key.fn, c.warm, c.seconds) for c in model.decode_state.compiles]
    print(json.dumps({"first": first, "tps": int(new) / again, "compiles": compiles,
                      "tokens": hashlib.sha1(out.numpy().tobytes()).hexdigest()}))
    """
)


def child(folder: Path, gguf: str, mode: str, cache: Path, args: argparse.Namespace) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COVE_COMPILE_CACHE": str(cache),
           "TRANSFORMERS_VERBOSITY": "error", "HF_HUB_OFFLINE": "1"}
    argv = [str(folder), gguf, mode, args.prompt, args.new, args.threads]
    proc = subprocess.run([sys.executable, "-c", CHILD, *argv], capture_output=True, text=True, env=env)
    if proc.returncode:
        raise RuntimeError(f"{folder} {mode}: {proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "cove-bench")
    parser.add_argument("--threads", default="0", help="torch threads (0: torch's default)")
    parser.add_argument("--prompt", default="32")
    parser.add_argument("--new", default="64")
    parser.add_argument("--only", default="gpt2,llama", help="comma-separated model name prefixes")
    parser.add_argument("--smollm", action="store_true", help="also the real SmolLM2 GGUF")
    args = parser.parse_args()
    only = [s for s in args.only.split(",") if s] + (["smollm"] if args.smollm else [])
    print(f"load average {os.getloadavg()[0]:.1f}; prompt {args.prompt}, new {args.new}, batch 1, greedy\n")
    print("| model | eager first call s | cold first call s | cold compile s | warm first call s "
          "| warm compile s | cold/warm compile | eager tok/s | compiled tok/s | same tokens |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for name, (folder, gguf) in make_models(args.cache, args.smollm).items():
        if not any(name.startswith(o) for o in only):
            continue
        with tempfile.TemporaryDirectory(prefix="cove-compile-bench-") as cache:
            eager = child(folder, gguf, "false", Path(cache), args)
            cold = child(folder, gguf, "true", Path(cache), args)
            warm = child(folder, gguf, "auto", Path(cache), args)
        cold_s = sum(c[2] for c in cold["compiles"])
        warm_s = sum(c[2] for c in warm["compiles"])
        same = eager["tokens"] == cold["tokens"] == warm["tokens"]
        assert all(c[1] for c in warm["compiles"]) and warm["compiles"], warm
        print(f"| {name} | {eager['first']:.1f} | {cold['first']:.1f} | {cold_s:.1f} | {warm['first']:.1f} "
              f"| {warm_s:.1f} | {cold_s / warm_s:.1f}x | {eager['tps']:.1f} | {warm['tps']:.1f} "
              f"| {'yes' if same else 'NO'} |", flush=True)
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
