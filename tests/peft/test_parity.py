"""LoRA parity with the peft library (test-only reference), both ways, on a Llama causal LM and a BERT
classifier: adapter files each library writes load in the other with the same outputs (1e-5), the
configs are the same JSON, merged logits equal unmerged, and one optimizer step from the same adapter
weights gives the same loss and adapter gradients (1e-5)."""

from __future__ import annotations

import contextlib
import io
import json

import peft
import pytest
import torch
from safetensors.torch import load_file

from cove.peft import LoraConfig, PeftModel, get_peft_model
from cove.peft.config import PEFT_VERSION
from tests.peft.reference import CASES, inputs, logits, pair, perturb

ATOL = 1e-5


def configs(case: str, **options) -> tuple[peft.LoraConfig, LoraConfig]:
    _, _, task_type, targets = CASES[case]
    settings = dict(r=4, lora_alpha=8, target_modules=targets, task_type=task_type,
                    **options)
    return peft.LoraConfig(**settings), LoraConfig(**settings)


@pytest.mark.parametrize("case", sorted(CASES))
def test_peft_adapter_loads_in_cove(tmp_path, case):
    ref, model = pair(case, tmp_path / "base")
    ref_config, _ = configs(case, bias="lora_only")
    ref_peft = peft.get_peft_model(ref, ref_config)
    perturb(ref_peft)
    ref_peft.save_pretrained(tmp_path / "adapter")
    loaded = PeftModel.from_pretrained(model, tmp_path / "adapter")
    assert type(loaded).__name__ == type(ref_peft).__name__
    batch = inputs(case)
    ref_peft.eval()
    torch.testing.assert_close(logits(loaded, batch, case), logits(ref_peft, batch, case), atol=ATOL, rtol=0)
    assert not any(p.requires_grad for p in loaded.parameters())  # loaded for inference


@pytest.mark.parametrize("case", sorted(CASES))
def test_cove_adapter_loads_in_peft(tmp_path, case):
    ref, model = pair(case, tmp_path / "base")
    _, config = configs(case, bias="all", use_rslora=True)
    cove_peft = get_peft_model(model, config)
    perturb(cove_peft)
    cove_peft.save_pretrained(tmp_path / "adapter")
    loaded = peft.PeftModel.from_pretrained(ref, tmp_path / "adapter").eval()
    batch = inputs(case)
    torch.testing.assert_close(logits(cove_peft.eval(), batch, case), logits(loaded, batch, case), atol=ATOL, rtol=0)


def _release(version: str) -> tuple[int, int]:
    return tuple(int(part) for part in version.split(".")[:2])


@pytest.mark.parametrize("case", sorted(CASES))
def test_files_are_peft_files(tmp_path, case):
    """The same config gives the same adapter_config.json (keys and values) and the same tensor keys.

    Against the peft release Cove's file matches (PEFT_VERSION, major.minor) the keys are equal; a newer
    peft may add fields: each must be off in peft's own file (so reading Cove's file, which lacks it,
    gives peft's default), and peft reads Cove's file to the same config it reads from its own."""
    ref, model = pair(case, tmp_path / "base")
    ref_config, config = configs(case, modules_to_save=["pooler"] if case == "bert" else None)
    ref_peft, cove_peft = peft.get_peft_model(ref, ref_config), get_peft_model(model, config)
    ref_peft.save_pretrained(tmp_path / "peft")
    cove_peft.save_pretrained(tmp_path / "cove")
    theirs = json.loads((tmp_path / "peft/adapter_config.json").read_text())
    ours = json.loads((tmp_path / "cove/adapter_config.json").read_text())
    assert ours.pop("peft_version") == PEFT_VERSION
    installed = theirs.pop("peft_version")
    assert set(ours) <= set(theirs), f"keys peft {installed} does not write: {set(ours) - set(theirs)}"
    if _release(installed) == _release(PEFT_VERSION):
        assert sorted(ours) == sorted(theirs)
    else:
        assert _release(installed) > _release(PEFT_VERSION), f"peft {installed} is older than Cove's file format"
        newer = {key: theirs.pop(key) for key in set(theirs) - set(ours)}
        assert all(value in (None, False, {}, []) for value in newer.values()), newer
    for key in ("target_modules", "modules_to_save"):  # peft writes sets in any order
        assert sorted(ours.pop(key) or []) == sorted(theirs.pop(key) or [])
    assert ours == theirs
    read = {name: peft.LoraConfig.from_pretrained(tmp_path / name).to_dict() for name in ("peft", "cove")}
    for loaded in read.values():
        loaded.pop("peft_version")
        for key in ("target_modules", "modules_to_save"):
            loaded[key] = sorted(loaded[key] or [])
    assert read["cove"] == read["peft"]
    ref_state = load_file(tmp_path / "peft/adapter_model.safetensors")
    state = load_file(tmp_path / "cove/adapter_model.safetensors")
    assert sorted(state) == sorted(ref_state)
    assert all(state[k].shape == ref_state[k].shape and state[k].dtype == ref_state[k].dtype for k in state)


@pytest.mark.parametrize("case", sorted(CASES))
def test_trainable_parameters_line(tmp_path, case):
    ref, model = pair(case, tmp_path / "base")
    ref_config, config = configs(case)
    lines = []
    for wrapped in (peft.get_peft_model(ref, ref_config), get_peft_model(model, config)):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            wrapped.print_trainable_parameters()
        lines.append(out.getvalue())
    assert lines[0] == lines[1] and lines[1].startswith("trainable params: ")


def test_all_linear_targets_as_peft(tmp_path):
    for case in sorted(CASES):
        ref, model = pair(case, tmp_path / case)
        ref_config, config = configs(case)
        ref_config.target_modules = config.target_modules = "all-linear"
        ref_peft, cove_peft = peft.get_peft_model(ref, ref_config), get_peft_model(model, config)
        expected = sorted(ref_peft.peft_config["default"].target_modules)
        assert sorted(cove_peft.peft_config["default"].target_modules) == expected
        assert not any("lm_head" in t or t == "classifier" for t in expected)


def test_regex_targets(tmp_path):
    _, model = pair("llama", tmp_path)
    wrapped = get_peft_model(model, LoraConfig(target_modules=r".*layers\.1\.self_attn\.(q|k)_proj"))
    adapted = sorted(n.rsplit(".", 2)[0] for n in wrapped.adapter_state_dict() if n.endswith("lora_A.weight"))
    assert adapted == ["base_model.model.model.layers.1.self_attn.k_proj", "base_model.model.model.layers.1.self_attn.q_proj"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_merge_equals_unmerged(tmp_path, case):
    _, model = pair(case, tmp_path / "base")
    batch = inputs(case)
    base_logits = logits(model, batch, case)
    wrapped = get_peft_model(model, configs(case)[1])
    perturb(wrapped)
    wrapped.eval()
    unmerged = logits(wrapped, batch, case)
    assert (unmerged - base_logits).abs().max() > 1e-3  # the adapter changes the outputs
    with wrapped.disable_adapter():
        torch.testing.assert_close(logits(wrapped, batch, case), base_logits, atol=ATOL, rtol=0)
    wrapped.merge_adapter()
    torch.testing.assert_close(logits(wrapped, batch, case), unmerged, atol=ATOL, rtol=0)
    wrapped.unmerge_adapter()
    torch.testing.assert_close(logits(wrapped, batch, case), unmerged, atol=ATOL, rtol=0)
    plain = wrapped.merge_and_unload()
    assert type(plain).__name__ == type(model).__name__
    assert not any("lora" in n or "modules_to_save" in n for n, _ in plain.named_parameters())
    torch.testing.assert_close(logits(plain, batch, case), unmerged, atol=ATOL, rtol=0)


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_step_equals_peft(tmp_path, case):
    ref, model = pair(case, tmp_path / "base")
    _, config = configs(case, lora_dropout=0.0)
    cove_peft = get_peft_model(model, config)
    perturb(cove_peft)  # the same initial adapter weights on both sides, through the files
    cove_peft.save_pretrained(tmp_path / "adapter")
    ref_peft = peft.PeftModel.from_pretrained(ref, tmp_path / "adapter", is_trainable=True)
    batch = inputs(case)
    results = []
    for wrapped in (cove_peft, ref_peft):
        wrapped.eval()  # no dropout (the two libraries draw different masks); gradients flow all the same
        params = {n.replace(".default", ""): p for n, p in wrapped.named_parameters() if p.requires_grad}
        optimizer = torch.optim.AdamW(params.values(), lr=1e-2)
        loss = wrapped(**batch).loss
        loss.backward()
        grads = {n: p.grad.clone() for n, p in params.items()}
        optimizer.step()
        results.append((float(loss), grads, {n: p.detach().clone() for n, p in params.items()}))
    (loss, grads, after), (ref_loss, ref_grads, ref_after) = results
    assert abs(loss - ref_loss) < ATOL
    assert sorted(grads) == sorted(ref_grads) and len(grads) > 4
    for name in grads:
        torch.testing.assert_close(grads[name], ref_grads[name], atol=ATOL, rtol=0)
        torch.testing.assert_close(after[name], ref_after[name], atol=ATOL, rtol=0)
