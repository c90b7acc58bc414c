"""LoRA against full fine-tuning on SmolLM2-135M (the packaged GGUF, dequantized to float32), side by
side in one run: full fine-tuning with Cove, Cove's LoRA (``cove.peft``) and peft's LoRA on
transformers' model, the same plain loop (AdamW, causal-LM loss), the same batches of news text
(gensim's ``lee_background.cor``). LoRA: r=16, alpha=32, every linear layer but the head. The
``-bf16`` runners hold the frozen base in bfloat16 (QLoRA-style; adapters and their optimizer state
stay float32); ``cove-lora-int8`` keeps the frozen linear layers as int8 weight-only
(``cove.peft.quantize_frozen``). ``--checkpointing`` turns on gradient checkpointing in every runner.

    .venv/bin/python bench/train.py --lora                       # 4 steps, batch 4, length 64
    .venv/bin/python bench/train_lora.py --steps 6 --rounds 3

Each run is its own process (its own peak RSS, ``ru_maxrss``); the first step is not timed;
throughput is per CPU second of the process (one torch thread by default) and per wall second; rounds
are interleaved and the best round per runner is kept (see bench/train.py).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))
from bench.train import Clock  # noqa: E402  (after the path is set)
from tests.peft.realdata import smollm2_folder  # noqa: E402

RUNNERS = ("full", "cove-lora", "peft-lora", "cove-lora-bf16", "peft-lora-bf16", "cove-lora-int8")
LR, SEED, RANK, ALPHA = 1e-4, 0, 16, 32


def batches(steps: int, batch: int, length: int) -> list:
    """``steps`` (batch, length) id tensors of consecutive news text."""
    import torch
    from tests.training.realdata import lee_documents

    from cove.tokenizers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2_folder())
    ids: list[int] = []
    for doc in lee_documents():
        ids += tokenizer(doc)["input_ids"]
        if len(ids) >= steps * batch * length:
            break
    return list(torch.tensor(ids[: steps * batch * length]).reshape(steps, batch, length))


def build(runner: str, checkpointing: bool):
    """The model to train and its trainable parameters."""
    dtype = "bfloat16" if runner.endswith("-bf16") else "float32"
    if runner.startswith("peft-lora"):
        import peft
        import transformers as T

        T.logging.set_verbosity_error()
        model = T.AutoModelForCausalLM.from_pretrained(smollm2_folder(), dtype=dtype)
        if checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model = peft.get_peft_model(model, peft.LoraConfig(r=RANK, lora_alpha=ALPHA, target_modules="all-linear"))
    else:
        from cove.models import AutoModelForCausalLM
        from cove.peft import LoraConfig, get_peft_model, quantize_frozen

        model = AutoModelForCausalLM.from_pretrained(smollm2_folder(), dtype=dtype)
        if checkpointing:
            model.gradient_checkpointing_enable()
        if runner.startswith("cove-lora"):
            model = get_peft_model(model, LoraConfig(r=RANK, lora_alpha=ALPHA, target_modules="all-linear"))
        if runner.endswith("-int8"):
            quantize_frozen(model)
    return model, [p for p in model.parameters() if p.requires_grad]


def run(runner: str, steps: int, length: int, batch: int, threads: int, checkpointing: bool) -> dict:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(SEED)
    data = batches(steps, batch, length)
    model, params = build(runner, checkpointing)
    model.train()
    optimizer = torch.optim.AdamW(params, lr=LR, weight_decay=0.0)
    clock = Clock()
    losses = []
    for step, ids in enumerate(data):
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(round(float(loss.detach()), 4))
        clock.tick(step + 1, steps)
    return {
        "runner": runner,
        "cpu": clock.stop[0] - clock.start[0],
        "wall": clock.stop[1] - clock.start[1],
        "samples": (steps - 1) * batch,
        "trainable": sum(p.numel() for p in params),
        "losses": losses,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runners", default=",".join(RUNNERS))
    parser.add_argument("--checkpointing", action="store_true", help="gradient checkpointing in every runner")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    if opts.child:
        print(json.dumps(run(opts.child, opts.steps, opts.length, opts.batch, opts.threads, opts.checkpointing)))
        return
    smollm2_folder()  # made once, before any timed child
    runners = opts.runners.split(",")
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    sizes = ["--steps", str(opts.steps), "--length", str(opts.length), "--batch", str(opts.batch),
             "--threads", str(opts.threads), *(["--checkpointing"] if opts.checkpointing else [])]
    best: dict[str, dict] = {}
    for round_ in range(opts.rounds):
        for runner in runners:
            out = subprocess.run([sys.executable, __file__, "--child", runner, *sizes], check=True,
                                 capture_output=True, text=True, env=env).stdout
            result = json.loads(out.strip().splitlines()[-1])
            print(f"round {round_ + 1} {runner:10s} cpu {result['cpu']:.2f}s wall {result['wall']:.2f}s "
                  f"rss {result['peak_rss_mb']:.0f} MB losses {result['losses']}", flush=True)
            if runner not in best or result["cpu"] < best[runner]["cpu"]:
                best[runner] = result
    full = best.get("full")
    print(f"\nSmolLM2-135M causal LM, batch {opts.batch}, length {opts.length}, {opts.steps} steps (first "
          f"untimed), {opts.threads} torch thread(s), gradient checkpointing {'on' if opts.checkpointing else 'off'},"
          f" best of {opts.rounds} interleaved rounds\n")
    print("| runner | trainable params | samples/CPU-s | samples/wall-s | peak RSS (MB) | RSS vs full |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for runner in runners:
        r = best[runner]
        ratio = f"{r['peak_rss_mb'] / full['peak_rss_mb']:.2f}" if full else "-"
        print(f"| {runner} | {r['trainable']:,} | {r['samples'] / r['cpu']:.2f} | {r['samples'] / r['wall']:.2f} | "
              f"{r['peak_rss_mb']:.0f} | {ratio} |")


if __name__ == "__main__":
    main()
