"""Cove vs Hugging Face `tokenizers`: batch-encode ~10 MB of text per tokenizer family, side by side.

    .venv/bin/python bench/tokenizers.py            # ~10 MB per family
    .venv/bin/python bench/tokenizers.py --mb 2     # quicker

Both libraries load the same tokenizer.json and encode the same generated corpus (see
tests/tokenizers/corpus.py; several scripts, emoji, code, long lines). The timed work is what a user
gets: `encode_batch` then reading `ids` and `offsets` of every encoding. `tokenizers` runs with its
default thread pool (all cores) and with TOKENIZERS_PARALLELISM=false; Cove runs in one thread.
Each run also checks that both produce the same ids.
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
    ("gpt2", "GPT-2-style byte-level BPE, trained 4k"),
    ("llama", "Llama-style BPE, byte fallback + Metaspace"),
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


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def run(mb: float, families: list[str]) -> list[tuple[str, str, float, float, float]]:
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
        path = build_family(name, workdir)
        hf_tok = tokenizers.Tokenizer.from_file(str(path))
        cove_tok = Tokenizer.from_file(path)
        for tok in (hf_tok, cove_tok):
            tok.no_padding()
            tok.no_truncation()

        def encode(tok, batch_lines):
            return [(e.ids, e.offsets) for e in tok.encode_batch(batch_lines)]

        t_hf = t_hf1 = t_cove = 0.0
        for i in range(0, len(lines), batch):  # interleaved, so machine load hits all three alike
            chunk = lines[i:i + batch]
            os.environ.pop("TOKENIZERS_PARALLELISM", None)
            dt, hf_out = timed(lambda: encode(hf_tok, chunk))  # noqa: B023
            t_hf += dt
            os.environ["TOKENIZERS_PARALLELISM"] = "false"
            dt, _ = timed(lambda: encode(hf_tok, chunk))  # noqa: B023
            t_hf1 += dt
            dt, cove_out = timed(lambda: encode(cove_tok, chunk))  # noqa: B023
            t_cove += dt
            if hf_out != cove_out:
                raise SystemExit(f"{name}: Cove and tokenizers disagree")
        mb_s = n_bytes / 1e6
        rows.append((name, label, mb_s / t_hf, mb_s / t_hf1, mb_s / t_cove))
        print(f"  {name}: done ({mb_s:.1f} MB)", file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=10.0, help="MB of text per family")
    parser.add_argument("--families", default=",".join(n for n, _ in FAMILIES))
    args = parser.parse_args()
    rows = run(args.mb, args.families.split(","))
    print(f"\n{args.mb:g} MB of generated text per family; MB/s (higher is better)\n")
    print("| family | tokenizers (threads) | tokenizers (1 thread) | Cove | Cove / tokenizers (threads) "
          "| Cove / tokenizers (1 thread) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, label, hf, hf1, cove in rows:
        print(f"| {name}: {label} | {hf:.2f} | {hf1:.2f} | {cove:.2f} | {cove / hf:.2f}x | {cove / hf1:.2f}x |")


if __name__ == "__main__":
    main()
