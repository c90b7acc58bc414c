"""Cove vs Hugging Face `tokenizers`: batch-encode ~10 MB of text per tokenizer family, side by side.

    .venv/bin/python bench/tokenizers.py            # ~10 MB per family
    .venv/bin/python bench/tokenizers.py --mb 2     # quicker
    .venv/bin/python bench/tokenizers.py --families whisper,whisper-py --threads   # more columns

Both libraries load the same tokenizer.json and encode the same generated corpus (see
tests/tokenizers/corpus.py; several scripts, emoji, code, long lines). The timed work is what a user
gets: `encode_batch` of 1,000 lines then reading `ids` and `offsets` of every encoding.

The main figures are CPU seconds of this process (`time.process_time`), `tokenizers` with
TOKENIZERS_PARALLELISM=false against Cove (one thread): on a shared machine wall time measures the
neighbours. Batches alternate between the libraries, so load hits both alike. With `--threads`,
`tokenizers` with its thread pool runs too, shown in wall-clock MB/s, for reference only. Each batch also checks that both give
the same ids and offsets. `whisper-py` is the real GPT-2 file with Cove's compiled core switched off
(`use_compiled_core = False`): the pure-Python word path, for comparison.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

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


def run(mb: float, families: list[str], threads: bool) -> list[tuple[str, str, float, float, float, float]]:
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
        t_load, _ = timed(cove_tok.compiled_core)  # built once per tokenizer, before the first batch
        for tok in (hf_tok, cove_tok):
            tok.no_padding()
            tok.no_truncation()

        def encode(tok, batch_lines):
            return [(e.ids, e.offsets) for e in tok.encode_batch(batch_lines)]

        t_hf = t_hf1 = t_cove = 0.0
        for i in range(0, len(lines), batch):  # interleaved, so machine load hits all three alike
            chunk = lines[i:i + batch]
            if threads:
                os.environ.pop("TOKENIZERS_PARALLELISM", None)
                dt, _ = timed(lambda: encode(hf_tok, chunk), time.perf_counter)  # noqa: B023
                t_hf += dt
            os.environ["TOKENIZERS_PARALLELISM"] = "false"
            dt, hf_out = timed(lambda: encode(hf_tok, chunk))  # noqa: B023
            t_hf1 += dt
            dt, cove_out = timed(lambda: encode(cove_tok, chunk))  # noqa: B023
            t_cove += dt
            if hf_out != cove_out:
                raise SystemExit(f"{name}: Cove and tokenizers disagree")
        mb_s = n_bytes / 1e6
        rows.append((name, label, mb_s / t_hf if threads else 0.0, mb_s / t_hf1, mb_s / t_cove, t_load))
        print(f"  {name}: done ({mb_s:.1f} MB)", file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=10.0, help="MB of text per family")
    parser.add_argument("--families", default=",".join(n for n, _ in FAMILIES if not n.endswith("-py")))
    parser.add_argument("--threads", action="store_true", help="also time tokenizers' thread pool (wall)")
    args = parser.parse_args()
    unknown = set(args.families.split(",")) - {n for n, _ in FAMILIES}
    if unknown:
        parser.error(f"unknown families: {sorted(unknown)}")
    rows = run(args.mb, args.families.split(","), args.threads)
    print(f"\n{args.mb:g} MB of generated text per family; MB/s of CPU time (higher is better)\n")
    extra = " tokenizers, thread pool (wall MB/s) |" if args.threads else ""
    print(f"| family | tokenizers, 1 thread | Cove | **Cove / tokenizers** | Cove core build (CPU s) |{extra}")
    print("| --- | ---: | ---: | ---: | ---: |" + (" ---: |" if args.threads else ""))
    for name, label, hf, hf1, cove, t_load in rows:
        cell = f" {hf:.2f} |" if args.threads else ""
        print(f"| {name}: {label} | {hf1:.2f} | {cove:.2f} | **{cove / hf1:.2f}x** | {t_load:.2f} |{cell}")


if __name__ == "__main__":
    main()
