"""Cove vs Hugging Face `tokenizers`: batch-encode ~10 MB of text per tokenizer family, side by side.

    .venv/bin/python bench/tokenizers.py            # ~10 MB per family
    .venv/bin/python bench/tokenizers.py --mb 2     # quicker
    .venv/bin/python bench/tokenizers.py --families whisper,whisper-py
    .venv/bin/python bench/tokenizers.py --threshold --families gpt2,minilm   # where parallel pays

Both libraries load the same tokenizer.json and encode the same generated corpus (see
tests/tokenizers/corpus.py; several scripts, emoji, code, long lines). The timed work is what a user
gets: `encode_batch` of 1,000 lines then reading `ids` and `offsets` of every encoding.

The main figures are wall-clock seconds with both libraries at their default threads (`tokenizers`'
rayon pool; Cove's threads over a compiled core or its worker processes, see
cove.tokenizers.parallel), started and warm before timing. Next to them, CPU seconds of this process
(`time.process_time`) with one thread each (TOKENIZERS_PARALLELISM=false, COVE_NUM_THREADS=1): on a
shared machine wall time measures the neighbours too, so the load average is printed with each row.
"Cove caller (CPU)" is the calling thread's CPU time in Cove's default run (`time.thread_time`): with
worker processes, what the caller itself spends (its share, then rebuilding the workers' results),
the wall time to expect when every core is free and the workers keep up.
The four runs alternate batch by batch, so load hits all alike. Each batch also checks that both give
the same ids and offsets, at both settings. `whisper-py` is the real GPT-2 file with Cove's compiled
core switched off (`use_compiled_core = False`): the pure-Python word path, for comparison.

`--threshold` times Cove alone on batches of growing size, one thread against the parallel path,
with the size limits of cove.tokenizers.parallel lifted and its serial/parallel chooser overruled:
the smallest size where the parallel path wins is where those limits belong.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# This file is named tokenizers.py: keep its folder off the path so `import tokenizers` is the library.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests" / "tokenizers"))

from corpus import make_corpus  # noqa: E402
from families import build_family  # noqa: E402

from cove.tokenizers import Tokenizer  # noqa: E402

FAMILIES = [
    ("whisper", "GPT-2 byte-level BPE, 50k vocab (real file)"),
    ("whisper-py", "the same, Cove without the compiled core"),
    ("gpt2", "GPT-2-style byte-level BPE, trained 4k"),
    ("llama", "Llama-style BPE, byte fallback + Metaspace"),
    ("llama-legacy", "the same as older Llama 2 files: Prepend + Replace normalizers"),
    ("t5", "T5-style Unigram, Precompiled charsmap"),
    ("minilm", "BERT WordPiece (real MiniLM file)"),
]


def corpus_of_size(mb: float) -> list[str]:
    lines: list[str] = []
    size = 0
    seed = 100
    while size < mb * 1e6:
        chunk = make_corpus(5000, seed=seed)
        seed += 1
        lines.extend(chunk)
        size += sum(len(x.encode("utf-8")) for x in chunk)
    return lines


def timed(fn, clock=time.process_time) -> tuple[float, object]:
    t0 = clock()
    out = fn()
    return clock() - t0, out


def encode(tok, batch_lines):
    return [(e.ids, e.offsets) for e in tok.encode_batch(batch_lines)]


def set_threads(one: bool) -> None:
    """One thread for both libraries, or their defaults."""
    for name in ("TOKENIZERS_PARALLELISM", "COVE_NUM_THREADS"):
        os.environ.pop(name, None)
    if one:
        os.environ.update(TOKENIZERS_PARALLELISM="false", COVE_NUM_THREADS="1")


def warm(cove_tok, lines: list[str]) -> float:
    """Build Cove's compiled core and start its workers (if it uses them); the wall seconds it took."""
    t0 = time.perf_counter()
    set_threads(one=False)
    cove_tok.encode_batch(lines)
    pool = cove_tok._pool
    if pool is not None:
        for w in pool.workers:
            w.ready.wait(120)
    return time.perf_counter() - t0


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def run(mb: float, families: list[str]) -> list[tuple[Any, ...]]:
    import tokenizers

    assert hasattr(tokenizers, "decoders"), "imported the wrong `tokenizers`"

    lines = corpus_of_size(mb)
    n_bytes = sum(len(x.encode("utf-8")) for x in lines)
    batch = 1000
    rows = []
    workdir = Path(tempfile.mkdtemp(prefix="cove-bench-"))
    for name, label in FAMILIES:
        if name not in families:
            continue
        path = build_family(name.removesuffix("-py"), workdir)
        hf_tok = tokenizers.Tokenizer.from_file(str(path))
        cove_tok = Tokenizer.from_file(path)
        cove_tok.use_compiled_core = not name.endswith("-py")
        for tok in (hf_tok, cove_tok):
            tok.no_padding()
            tok.no_truncation()
        t_setup = warm(cove_tok, lines[:batch])
        load_before = load()
        wall_hf = wall_cove = cpu_hf = cpu_cove = caller_cove = 0.0
        for i in range(0, len(lines), batch):  # interleaved, so machine load hits all four alike
            chunk = lines[i:i + batch]
            set_threads(one=False)
            dt, hf_out = timed(lambda: encode(hf_tok, chunk), time.perf_counter)  # noqa: B023
            wall_hf += dt
            c0 = time.thread_time()
            dt, cove_out = timed(lambda: encode(cove_tok, chunk), time.perf_counter)  # noqa: B023
            wall_cove += dt
            caller_cove += time.thread_time() - c0
            set_threads(one=True)
            dt, hf1_out = timed(lambda: encode(hf_tok, chunk))  # noqa: B023
            cpu_hf += dt
            dt, cove1_out = timed(lambda: encode(cove_tok, chunk))  # noqa: B023
            cpu_cove += dt
            if not (hf_out == cove_out == hf1_out == cove1_out):
                raise SystemExit(f"{name}: Cove and tokenizers disagree")
        set_threads(one=False)
        cove_tok.close_pool()
        mb_s = n_bytes / 1e6
        rows.append((name, label, mb_s / wall_hf, mb_s / wall_cove, mb_s / cpu_hf, mb_s / cpu_cove,
                     mb_s / caller_cove, t_setup, f"{load_before}-{load()}"))
        print(f"  {name}: done ({mb_s:.1f} MB)", file=sys.stderr)
    return rows


def threshold(families: list[str]) -> None:
    """Cove at one thread and at its default on batches of growing size (limits lifted)."""
    from cove.tokenizers import parallel

    parallel.MIN_CHARS = parallel.THREAD_MIN_CHARS = parallel.WARMUP_SLICE = 0
    parallel.Chooser.pick = lambda self: True  # always the parallel path, whatever it measured
    lines = corpus_of_size(1.0)
    workdir = Path(tempfile.mkdtemp(prefix="cove-bench-"))
    print("| family | lines | chars | one thread (ms) | default (ms) | ratio | load |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in families:
        tok = Tokenizer.from_file(build_family(name.removesuffix("-py"), workdir))
        warm(tok, lines[:1000])
        for n in (10, 25, 50, 100, 200, 400, 800, 1600):
            chunks = [lines[i:i + n] for i in range(0, min(len(lines), 20 * n), n)][:20]
            best = {}
            for one in (True, False, True, False):  # the better of two rounds each, interleaved
                set_threads(one)
                total = sum(timed(lambda: encode(tok, c), time.perf_counter)[0] for c in chunks)  # noqa: B023
                best[one] = min(best.get(one, total), total)
            chars = sum(map(len, chunks[0]))
            print(f"| {name} | {n} | {chars} | {1000 * best[True] / len(chunks):.1f} | "
                  f"{1000 * best[False] / len(chunks):.1f} | {best[True] / best[False]:.2f}x | {load()} |")
        tok.close_pool()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=10.0, help="MB of text per family")
    parser.add_argument("--families", default=",".join(n for n, _ in FAMILIES if not n.endswith("-py")))
    parser.add_argument("--threshold", action="store_true", help="time Cove's parallel path against batch size")
    args = parser.parse_args()
    families = args.families.split(",")
    unknown = set(families) - {n for n, _ in FAMILIES}
    if unknown:
        parser.error(f"unknown families: {sorted(unknown)}")
    if args.threshold:
        threshold(families)
        return
    print(f"{os.cpu_count()} CPUs; load average at start {load()}", file=sys.stderr)
    rows = run(args.mb, families)
    print(f"\n{args.mb:g} MB of generated text per family; MB/s (higher is better)\n")
    print("| family | tokenizers, default threads (wall) | Cove, default threads (wall) | **Cove / tokenizers, wall** "
          "| tokenizers, 1 thread (CPU) | Cove, 1 thread (CPU) | Cove / tokenizers, CPU | Cove caller (CPU) "
          "| Cove setup (s) | load |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, label, hf, cove, hf1, cove1, caller, t_setup, loads in rows:
        print(f"| {name}: {label} | {hf:.2f} | {cove:.2f} | **{cove / hf:.2f}x** | {hf1:.2f} | {cove1:.2f} | "
              f"{cove1 / hf1:.2f}x | {caller:.2f} | {t_setup:.2f} | {loads} |")


if __name__ == "__main__":
    main()
