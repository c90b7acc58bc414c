"""Compiled decode steps on disk and in the background (issue 24); each test compiles, which costs
tens of seconds on two busy cores, so they run with ``-m compile_cache`` (``make test-compile``).

- A second process finds the step the first compiled (``warm``) and gives the same tokens; so does a
  model of the same architecture with other weights; corrupt inductor files are survived.
- A background compiler: requests run eagerly while it compiles (none waits on it), then take the
  compiled step, with the same tokens; the inference server does the same behind ``/v1``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest
import torch
import transformers as T

from cove.generation import compile_cache
from cove.generation.background import BackgroundCompiler
from cove.generation.compile_cache import CompileCache, StepKey, machine_tag
from cove.generation.state import DecodeState
from cove.models import AutoModelForCausalLM
from tests.conftest import start_server, stop_server
from tests.models.reference import TINY

pytestmark = pytest.mark.compile_cache
ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import json, sys, torch
    from cove.models import AutoModelForCausalLM
    folder, mode = sys.argv[1], sys.argv[2]
    model = AutoModelForCausalLM.from_pretrained(folder)
    ids = torch.tensor([[5, 9, 17, 33, 2, 8, 40]])
    compile = {"true": True, "false": False, "auto": "auto"}[mode]
    out = model.generate(ids, max_new_tokens=10, min_new_tokens=10, compile=compile)
    state = model.decode_state
    compiles = [dict(fn=c.key.fn, batch=c.key.batch, length=c.key.length, warm=c.warm, seconds=c.seconds)
                for c in state.compiles]
    print(json.dumps({"tokens": out[0].tolist(), "compiles": compiles}))
    """
)


def tiny(folder: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    T.AutoModelForCausalLM.from_config(TINY["llama"]()).save_pretrained(folder)
    return folder


def child(folder: Path, mode: str, cache: Path) -> dict:
    """One fresh process generating with ``compile=mode`` against the compile cache ``cache``."""
    env = {**os.environ, "COVE_COMPILE_CACHE": str(cache), "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(folder), mode], capture_output=True, text=True,
                          env=env, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_second_process_reuses_the_compiled_step(tmp_path):
    cache = tmp_path / "cache"
    first = tiny(tmp_path / "a", seed=0)
    eager = child(first, "false", cache)
    assert eager["compiles"] == [] and not cache.exists()
    auto_cold = child(first, "auto", cache)  # nothing on disk: eager, no compile
    assert auto_cold == eager
    cold = child(first, "true", cache)
    assert cold["tokens"] == eager["tokens"]
    assert [(c["fn"], c["warm"]) for c in cold["compiles"]] == [("next_logits", False)]  # vocab 99: no int8 head
    folder = cache / machine_tag()
    assert len(list((folder / "steps").glob("*.json"))) == 1
    assert any((folder / "inductor").rglob("*.so"))  # inductor's compiled kernels are kept
    warm = child(first, "auto", cache)
    assert warm["tokens"] == eager["tokens"]
    assert [(c["fn"], c["warm"]) for c in warm["compiles"]] == [("next_logits", True)]
    other = tiny(tmp_path / "b", seed=1)  # same architecture, other weights: the same compiled code
    other_eager = child(other, "false", cache)
    assert other_eager["tokens"] != eager["tokens"]
    other_warm = child(other, "auto", cache)
    assert other_warm["tokens"] == other_eager["tokens"] and other_warm["compiles"][0]["warm"]
    print(f"\ncompile: cold {cold['compiles'][0]['seconds']:.1f} s, second process {warm['compiles'][0]['seconds']:.1f} s")


def test_corrupt_inductor_files_are_survived(tmp_path):
    cache = tmp_path / "cache"
    folder = tiny(tmp_path / "a", seed=0)
    eager = child(folder, "false", cache)
    child(folder, "true", cache)
    for path in (cache / machine_tag() / "inductor").rglob("*"):
        if path.is_file():
            path.write_bytes(b"\x7fELF garbage" if path.suffix == ".so" else b"garbage")
    again = child(folder, "auto", cache)
    assert again["tokens"] == eager["tokens"] and len(again["compiles"]) == 1


def test_background_compile_swaps_in_and_no_call_waits(tmp_path, padded):
    model = AutoModelForCausalLM.from_pretrained(tiny(tmp_path / "a", seed=0))
    state = model.decode_state = DecodeState(cache=CompileCache(tmp_path / "cache"))
    state.background = compiler = BackgroundCompiler()
    ids, mask = padded
    eager = model.generate(ids, attention_mask=mask, max_new_tokens=8, min_new_tokens=8)
    runs = []
    real_run = state.run

    def counted(*args):  # the compiled steps callers run (the background compiler's own call left out)
        if threading.current_thread().name != "cove-compile":
            runs.append(args[2])
        return real_run(*args)

    state.run = counted
    held, release = threading.Event(), threading.Event()

    def hold_the_compile_lock():  # the background compile cannot start until released
        with compile_cache.compile_lock():
            held.set()
            release.wait(600)

    holder = threading.Thread(target=hold_the_compile_lock)
    holder.start()
    held.wait(10)
    try:
        done = []
        call = threading.Thread(
            target=lambda: done.append(model.generate(ids, attention_mask=mask, max_new_tokens=8, min_new_tokens=8, compile="auto"))
        )
        call.start()
        call.join(120)  # it must finish while the compile is blocked: it never waits on one
        assert done and torch.equal(done[0], eager) and runs == []
    finally:
        release.set()
        holder.join()
    assert compiler.wait(600) and compiler.errors == []
    key = StepKey("next_logits", 3, 128)
    assert key in state.ready and [c.thread for c in state.compiles] == ["cove-compile"]
    runs.clear()
    assert torch.equal(model.generate(ids, attention_mask=mask, max_new_tokens=8, min_new_tokens=8, compile="auto"), eager)
    assert runs == [key] * 7  # the compiled step ran every decode step of that call
    compiler.close()


def test_the_inference_server_swaps_the_compiled_step_in(tmp_path):
    from huggingface_hub import HfApi

    from tests.inference.models import llama_chat

    server = start_server(tmp_path / "data", {"COVE_INFERENCE_COMPILE": "1"})
    try:
        token = server.user("decodecache")
        api = HfApi(endpoint=server.url, token=token)
        api.create_repo("decodecache/tiny-chat")
        api.upload_folder(folder_path=llama_chat(tmp_path / "chat"), repo_id="decodecache/tiny-chat")
        admin = server.user("decodecache-admin", admin=True)

        def complete() -> str:
            r = httpx.post(f"{server.url}/v1/completions", timeout=120, headers={"Authorization": f"Bearer {token}"},
                           json={"model": "decodecache/tiny-chat", "prompt": "hello world", "max_tokens": 8,
                                 "temperature": 0})
            assert r.status_code == 200, r.text
            return r.json()["choices"][0]["text"]

        def steps() -> list[str]:
            r = httpx.get(f"{server.url}/api/inference/status", headers={"Authorization": f"Bearer {admin}"})
            return [s for m in r.json()["models"] for s in m["compiled_steps"]]

        first = complete()  # eager; the step is queued for the background thread
        deadline = time.monotonic() + 600
        while not steps() and time.monotonic() < deadline:
            assert complete() == first  # requests go on meanwhile, eagerly
            time.sleep(2)
        assert steps() == ["next_logits-b1-t128"]
        assert complete() == first
        assert list((tmp_path / "data" / "compile-cache").rglob("*.json"))
    finally:
        stop_server(server)
