"""cove.peft on its own: config JSON, initialisation rules, named adapters, bias and saved modules,
the Auto classes, bad input."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch
from torch import nn

from cove.peft import (
    AutoPeftModelForSequenceClassification,
    LoraConfig,
    LoraLinear,
    PeftModel,
    get_peft_model,
)
from cove.peft.config import CONFIG_NAME
from tests.peft.reference import inputs, logits, pair, perturb


def test_config_round_trips_and_keeps_unknown_keys(tmp_path):
    config = LoraConfig(r=16, lora_alpha=32, target_modules={"v_proj", "q_proj"}, task_type="CAUSAL_LM")
    assert config.target_modules == ["q_proj", "v_proj"]
    data = {**config.to_dict(), "from_a_newer_peft": [1, 2]}
    again = LoraConfig.from_dict(data)
    assert again.to_dict() == data and again.scaling == 2.0
    again.save_pretrained(tmp_path)
    text = (tmp_path / CONFIG_NAME).read_text()
    assert json.loads(text) == data and text == json.dumps(data, indent=2, sort_keys=True)
    assert LoraConfig.from_pretrained(tmp_path).to_dict() == data
    assert LoraConfig(r=16, lora_alpha=32, use_rslora=True).scaling == 8.0


@pytest.mark.parametrize(
    "bad",
    [dict(r=0), dict(bias="some"), dict(task_type="CHAT"), dict(init_lora_weights="pissa"), dict(lora_dropout=1.5),
     dict(peft_type="IA3")],
)
def test_config_refuses_bad_values(bad):
    with pytest.raises(ValueError):
        LoraConfig(**bad)


def test_unimplemented_variants_are_refused_by_name(tmp_path):
    _, model = pair("llama", tmp_path)
    with pytest.raises(NotImplementedError, match="use_dora"):
        get_peft_model(model, LoraConfig(target_modules=["q_proj"], use_dora=True))
    with pytest.raises(ValueError, match="matched no"):
        get_peft_model(model, LoraConfig(target_modules=["nothing_here"]))
    with pytest.raises(ValueError, match="nn.Linear"):
        get_peft_model(model, LoraConfig(target_modules=["input_layernorm"]))


def test_initialisation_rules():
    torch.manual_seed(0)
    layer = LoraLinear(nn.Linear(64, 48))
    layer.add("kaiming", r=8, scaling=1.0, dropout=0.0, init=True)
    layer.add("gauss", r=8, scaling=1.0, dropout=0.0, init="gaussian")
    layer.add("random", r=8, scaling=1.0, dropout=0.0, init=False)
    bound = 1 / math.sqrt(64)  # kaiming-uniform with a=sqrt(5): U(-1/sqrt(in), 1/sqrt(in))
    assert layer.lora_A["kaiming"].weight.abs().max() <= bound and not layer.lora_B["kaiming"].weight.any()
    assert abs(float(layer.lora_A["gauss"].weight.detach().std()) - 1 / 8) < 0.03 and not layer.lora_B["gauss"].weight.any()
    assert layer.lora_B["random"].weight.abs().sum() > 0
    x = torch.randn(3, 64)
    layer.active_adapters = ["kaiming", "gauss"]
    torch.testing.assert_close(layer(x), layer.base_layer(x))  # B = 0: the update starts at nothing


def test_named_adapters(tmp_path):
    _, model = pair("llama", tmp_path / "base")
    batch = inputs("llama")
    base = logits(model, batch, "llama")
    wrapped = get_peft_model(model, LoraConfig(target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    wrapped.add_adapter("other", LoraConfig(target_modules="all-linear", r=2, init_lora_weights=False))
    assert wrapped.active_adapter == "default"
    trainable = [n for n, p in wrapped.named_parameters() if p.requires_grad]
    assert trainable and all(".default." in n for n in trainable)
    first = logits(wrapped, batch, "llama")
    wrapped.set_adapter("other")
    assert all(".other." in n for n, p in wrapped.named_parameters() if p.requires_grad)
    second = logits(wrapped, batch, "llama")
    assert (first - second).abs().max() > 1e-4 and (first - base).abs().max() > 1e-4
    with wrapped.disable_adapter():
        torch.testing.assert_close(logits(wrapped, batch, "llama"), base)
    wrapped.save_pretrained(tmp_path / "adapters")
    assert (tmp_path / "adapters/adapter_model.safetensors").is_file()
    assert (tmp_path / "adapters/other/adapter_model.safetensors").is_file()
    _, fresh = pair("llama", tmp_path / "base2")
    again = PeftModel.from_pretrained(fresh, tmp_path / "adapters")
    again.load_adapter(tmp_path / "adapters/other", "other")
    torch.testing.assert_close(logits(again, batch, "llama"), first)
    again.set_adapter("other")
    torch.testing.assert_close(logits(again, batch, "llama"), second)
    with pytest.raises(ValueError):
        again.delete_adapter("other")  # active
    again.set_adapter("default")
    again.delete_adapter("other")
    assert not any(".other." in n for n, _ in again.named_parameters())


def test_classifier_head_trains_and_saves(tmp_path):
    _, model = pair("bert", tmp_path / "base")
    wrapped = get_peft_model(model, LoraConfig(target_modules=["query"], task_type="SEQ_CLS", bias="lora_only"))
    trainable = {n for n, p in wrapped.named_parameters() if p.requires_grad}
    assert "base_model.model.classifier.modules_to_save.default.weight" in trainable
    assert "base_model.model.bert.encoder.layer.0.attention.self.query.base_layer.bias" in trainable
    assert not any("original_module" in n or n.endswith("key.bias") for n in trainable)
    perturb(wrapped)
    wrapped.save_pretrained(tmp_path / "adapter")
    assert wrapped.peft_config["default"].modules_to_save == ["classifier", "score", "pre_classifier"]  # as peft 0.22
    batch = inputs("bert")
    again = AutoPeftModelForSequenceClassification.from_pretrained(tmp_path / "adapter", num_labels=3)
    torch.testing.assert_close(logits(again, batch, "bert"), logits(wrapped.eval(), batch, "bert"))
    card = (tmp_path / "adapter/README.md").read_text()
    assert "library_name: peft" in card and f"base_model: {tmp_path / 'base'}" in card


def test_adapter_file_must_fit(tmp_path):
    _, model = pair("llama", tmp_path / "base")
    get_peft_model(model, LoraConfig(target_modules=["q_proj"], r=4)).save_pretrained(tmp_path / "r4")
    data = json.loads((tmp_path / "r4" / CONFIG_NAME).read_text())
    (tmp_path / "r4" / CONFIG_NAME).write_text(json.dumps({**data, "r": 2}))
    _, fresh = pair("llama", tmp_path / "base2")
    with pytest.raises(ValueError, match="ranks"):  # refused before anything is allocated
        PeftModel.from_pretrained(fresh, tmp_path / "r4")
    (tmp_path / "r4" / CONFIG_NAME).write_text(json.dumps({**data, "target_modules": ["k_proj"]}))
    with pytest.raises(ValueError, match="has no place"):
        PeftModel.from_pretrained(fresh, tmp_path / "r4")


def test_import_does_not_load_torch():
    code = "import sys, cove.peft; cove.peft.LoraConfig(r=4); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
