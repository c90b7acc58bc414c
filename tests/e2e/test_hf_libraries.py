"""transformers and datasets, unchanged, against `cove serve` (HF_ENDPOINT is their only switch, read at
import, so each runs in its own process). Also: the first start of an empty Hub."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import uuid

import httpx
from huggingface_hub import HfApi

from tests.conftest import start_server, stop_server


def run(hub, token: str, code: str, tmp_path, **extra_env: str) -> str:
    env = {**os.environ, **extra_env, "HF_ENDPOINT": hub.url, "HF_TOKEN": token, "HF_HOME": str(tmp_path / "hf"),
           "HF_DATASETS_CACHE": str(tmp_path / "ds"), "TRANSFORMERS_VERBOSITY": "error",
           "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


def test_transformers_push_and_load(hub, alice, tmp_path):
    repo = f"alice/tiny-bert-{uuid.uuid4().hex[:6]}"
    out = run(hub, alice, f"""
        import torch
        from transformers import BertConfig, BertModel, AutoModel, AutoConfig
        torch.manual_seed(0)
        cfg = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=37)
        model = BertModel(cfg)
        model.push_to_hub("{repo}")
        again = AutoModel.from_pretrained("{repo}")
        for (k, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
            assert torch.equal(a, b), k
        assert AutoConfig.from_pretrained("{repo}").hidden_size == 32
        print("ok")
    """, tmp_path)
    assert out.strip().endswith("ok")
    files = HfApi(endpoint=hub.url, token=alice).list_repo_files(repo)
    assert "model.safetensors" in files and "config.json" in files


def test_datasets_load_from_the_hub(hub, alice, tmp_path):
    repo = f"alice/csv-data-{uuid.uuid4().hex[:6]}"
    api = HfApi(endpoint=hub.url, token=alice)
    api.create_repo(repo, repo_type="dataset")
    api.upload_file(path_or_fileobj=b"text,label\na,0\nb,1\n", path_in_repo="data/train.csv", repo_id=repo,
                    repo_type="dataset")
    api.upload_file(path_or_fileobj=b"text,label\nc,1\n", path_in_repo="data/test.csv", repo_id=repo,
                    repo_type="dataset")
    out = run(hub, alice, f"""
        from datasets import load_dataset
        data = load_dataset("{repo}")
        assert data["train"]["text"] == ["a", "b"] and data["test"]["label"] == [1], data
        streamed = list(load_dataset("{repo}", split="train", streaming=True))
        assert [r["text"] for r in streamed] == ["a", "b"]
        print("ok")
    """, tmp_path)
    assert out.strip().endswith("ok")


def test_datasets_push_to_hub(tmp_path):
    """datasets' push_to_hub uploads Parquet shards before the commit and deletes them, so it needs the
    LFS upload path: a Hub with COVE_LFS_UPLOADS=lfs and a client with HF_HUB_DISABLE_XET=1."""
    server = start_server(tmp_path / "data", env={"COVE_LFS_UPLOADS": "lfs"})
    try:
        token = server.user("dora")
        repo = "dora/tiny-data"
        out = run(server, token, f"""
            from datasets import Dataset, DatasetDict, load_dataset
            data = DatasetDict({{
                "train": Dataset.from_dict({{"text": ["a", "b", "c"], "label": [0, 1, 0]}}),
                "test": Dataset.from_dict({{"text": ["d"], "label": [1]}}),
            }})
            data.push_to_hub("{repo}")
            back = load_dataset("{repo}")
            assert back["train"]["text"] == ["a", "b", "c"] and back["test"]["label"] == [1], back
            print("ok")
        """, tmp_path, HF_HUB_DISABLE_XET="1")
        assert out.strip().endswith("ok")
        files = HfApi(endpoint=server.url, token=token).list_repo_tree(repo, repo_type="dataset", recursive=True)
        parquet = [f for f in files if f.path.endswith(".parquet")]
        assert len(parquet) == 2 and all(f.lfs for f in parquet)
    finally:
        stop_server(server)


def test_first_start_creates_the_admin(tmp_path):
    data = tmp_path / "data"
    server = start_server(data, env={"COVE_ADMIN_PASSWORD": ""})
    try:
        log = server.log.read_text()
        password = re.search(r"password: (\S+)", log).group(1)
        token = re.search(r"token:\s+(\S+)", log).group(1)
        assert HfApi(endpoint=server.url, token=token).whoami()["name"] == "admin"
        with httpx.Client(base_url=server.url) as web:
            page = web.get("/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
            form = {"username": "admin", "password": password}
            if csrf:
                form["csrf"] = csrf.group(1)
            r = web.post("/login", data=form)
            assert r.status_code in (200, 303), r.text[:500]
            assert "cove_session" in web.cookies
    finally:
        stop_server(server)
    # a restart does not create another account or print secrets again
    server = start_server(data)
    try:
        assert "token:" not in server.log.read_text()
    finally:
        stop_server(server)
