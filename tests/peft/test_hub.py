"""Adapters on a real ``cove serve`` (the session ``hub``): ``push_to_hub`` writes peft's files and a
card naming the base model and its revision, the model page says "Adapter of <base>" with a link,
``AutoPeftModelForCausalLM`` loads the adapter and its base from the Hub, and inference serves
adapter repos on one shared copy of their base (user ``pefty``, repos ``pefty/peft-*``)."""

from __future__ import annotations

import json

import httpx
import pytest
import torch
from huggingface_hub import HfApi

from cove.formats.cards import split_card
from cove.models import AutoModelForCausalLM
from cove.peft import AutoPeftModelForCausalLM, LoraConfig, get_peft_model
from tests.inference.models import llama_chat
from tests.peft.reference import perturb

PARAMS = {"max_new_tokens": 8, "do_sample": False}


@pytest.fixture(scope="module")
def world(hub, tmp_path_factory):
    """A base chat model on the Hub and two adapters of it pushed by Cove."""
    token = hub.user("pefty")
    admin = hub.user("pefty-admin", admin=True)
    root = tmp_path_factory.mktemp("peft-hub")
    api = HfApi(endpoint=hub.url, token=token)
    api.create_repo("pefty/peft-base")
    base_sha = api.upload_folder(folder_path=llama_chat(root / "base"), repo_id="pefty/peft-base").oid
    mp = pytest.MonkeyPatch()
    mp.setenv("COVE_CACHE", str(root / "cache"))
    adapters = {}
    for seed, name in ((1, "pefty/peft-lora-a"), (2, "pefty/peft-lora-b")):
        base = AutoModelForCausalLM.from_pretrained("pefty/peft-base", token=token, endpoint=hub.url)
        model = get_peft_model(base, LoraConfig(r=4, target_modules="all-linear", task_type="CAUSAL_LM"))
        perturb(model, seed=seed)
        model.push_to_hub(name, token=token, endpoint=hub.url)
        adapters[name] = model.eval()
    yield {"token": token, "admin": admin, "base_sha": base_sha, "adapters": adapters, "root": root}
    mp.undo()


def test_push_writes_peft_files_and_card(hub, world):
    api = HfApi(endpoint=hub.url, token=world["token"])
    files = set(api.list_repo_files("pefty/peft-lora-a"))
    assert {"adapter_config.json", "adapter_model.safetensors", "README.md"} <= files
    assert "model.safetensors" not in files
    config = json.loads(open(api.hf_hub_download("pefty/peft-lora-a", "adapter_config.json")).read())
    assert config["base_model_name_or_path"] == "pefty/peft-base"
    assert config["revision"] == world["base_sha"] and config["inference_mode"] is True
    meta, body = split_card(open(api.hf_hub_download("pefty/peft-lora-a", "README.md")).read())
    assert meta["library_name"] == "peft" and meta["base_model"] == "pefty/peft-base"
    assert "base_model:adapter:pefty/peft-base" in meta["tags"] and meta["pipeline_tag"] == "text-generation"
    assert world["base_sha"] in body
    info = api.model_info("pefty/peft-lora-a")
    assert info.library_name == "peft"


def test_model_page_names_the_base(hub, world):
    page = httpx.get(f"{hub.url}/pefty/peft-lora-a").text
    assert 'Adapter of <a href="/pefty/peft-base">pefty/peft-base</a>' in page
    assert "Adapter of" not in httpx.get(f"{hub.url}/pefty/peft-base").text


def test_auto_peft_model_from_the_hub(hub, world, tmp_path, monkeypatch):
    monkeypatch.setenv("COVE_CACHE", str(tmp_path / "cache"))
    loaded = AutoPeftModelForCausalLM.from_pretrained("pefty/peft-lora-a", token=world["token"], endpoint=hub.url)
    ids = torch.tensor([[5, 9, 14, 3, 7]])
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, world["adapters"]["pefty/peft-lora-a"](ids).logits,
                                   atol=1e-5, rtol=0)


def test_inference_serves_adapters_on_one_base(hub, world):
    from cove.pipelines import pipeline

    def infer(repo: str) -> httpx.Response:
        return httpx.post(f"{hub.url}/api/inference/{repo}", json={"inputs": "hello world", "parameters": PARAMS},
                          headers={"Authorization": f"Bearer {world['token']}"}, timeout=120)

    def status() -> dict:
        return httpx.get(f"{hub.url}/api/inference/status",
                         headers={"Authorization": f"Bearer {world['admin']}"}).json()

    local = pipeline("text-generation", model=str(world["root"] / "base"), device="cpu")
    expected = {"pefty/peft-base": local("hello world", **PARAMS)}
    for name, model in world["adapters"].items():
        local.model = model  # the pipeline's tokenizer over the adapted model
        expected[name] = local("hello world", **PARAMS)
    assert expected["pefty/peft-lora-a"] != expected["pefty/peft-base"]  # the adapters change the output
    for repo in ("pefty/peft-lora-a", "pefty/peft-base", "pefty/peft-lora-b", "pefty/peft-lora-a"):
        r = infer(repo)
        assert r.status_code == 200, r.text
        assert r.json() == expected[repo], repo
    bases = [m for m in status()["models"] if m["model"] == "pefty/peft-base"]
    assert len(bases) == 1  # one copy of the base serves both adapters and itself
    assert not [m for m in status()["models"] if "lora" in m["model"]]


def test_trainer_pushes_an_adapter(hub, world, tmp_path):
    from cove.training import Trainer, TrainingArguments

    base = AutoModelForCausalLM.from_pretrained("pefty/peft-base", token=world["token"], endpoint=hub.url)
    model = get_peft_model(base, LoraConfig(r=2, target_modules=["q_proj"], task_type="CAUSAL_LM"))
    rows = [{"input_ids": [5, 6, 7, 8], "attention_mask": [1] * 4, "labels": [5, 6, 7, 8]}] * 4
    args = TrainingArguments(str(tmp_path), max_steps=2, per_device_train_batch_size=2, save_strategy="no",
                             disable_tqdm=True, hub_model_id="pefty/peft-trained", hub_endpoint=hub.url,
                             hub_token=world["token"])
    trainer = Trainer(model, args, train_dataset=rows)
    trainer.train()
    trainer.push_to_hub()
    api = HfApi(endpoint=hub.url, token=world["token"])
    assert "adapter_model.safetensors" in api.list_repo_files("pefty/peft-trained")
    meta, _ = split_card(open(api.hf_hub_download("pefty/peft-trained", "README.md")).read())
    assert meta["library_name"] == "peft" and meta["base_model"] == "pefty/peft-base"
    assert 'Adapter of <a href="/pefty/peft-base">' in httpx.get(f"{hub.url}/pefty/peft-trained").text
