"""The contract every registered architecture and head keeps: shapes, dtypes, padding invariance,
save/load round trip (single file and sharded), config round trip, and for decoders a KV cache
whose incremental decode equals the full forward. Parametrized over the registry."""

from __future__ import annotations

import json

import pytest
import torch

from cove.models import auto
from tests.models.reference import DECODERS, TINY, batch, num_labels, registry_pairs

PAIRS = registry_pairs()


def tiny(model_type: str, task: str, seed: int = 0):
    config = auto.AutoConfig.from_dict(TINY[model_type]().to_dict()).with_overrides(
        {"num_labels": num_labels(task)}
    )
    torch.manual_seed(seed)
    return auto.model_class(model_type, task)(config).init_weights().eval()


def test_every_architecture_has_a_tiny_reference():
    assert set(auto.ARCHITECTURES) <= set(TINY)
    for model_type in auto.ARCHITECTURES:
        module = auto.architecture(model_type)
        assert model_type in module.CONFIGS and module.CONFIGS[model_type].model_type == model_type
        assert set(module.MODELS) <= set(auto.TASKS) and "base" in module.MODELS


@pytest.mark.parametrize("model_type,task", PAIRS)
def test_shapes_dtypes_and_padding_invariance(model_type, task):
    model = tiny(model_type, task)
    ids, mask = batch(model_type)
    with torch.no_grad():
        out = model(ids, mask)
        alone = model(ids[1:, :5], mask[1:, :5])  # the padded sequence on its own
    expected = {
        "base": (2, 9, 32),
        "masked-lm": (2, 9, 99),
        "causal-lm": (2, 9, 99),
        "sequence-classification": (2, 3),
        "token-classification": (2, 9, 3),
        "question-answering": (2, 9, 2),
    }[task]
    assert out.shape == expected and out.dtype == torch.float32 and torch.isfinite(out).all()
    got = out[1:] if task == "sequence-classification" else out[1:, :5]
    torch.testing.assert_close(got, alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize("model_type,task", PAIRS)
def test_save_load_round_trip(tmp_path, model_type, task):
    model = tiny(model_type, task)
    files = model.save_pretrained(tmp_path / "one")
    assert files == ["config.json", "model.safetensors"]
    sharded = model.save_pretrained(tmp_path / "many", max_shard_size=20_000)
    assert "model.safetensors.index.json" in sharded and len(sharded) > 3
    ids, mask = batch(model_type)
    with torch.no_grad():
        expected = model(ids, mask)
        for folder in ("one", "many"):
            loaded = auto.model_class(model_type, task).from_pretrained(tmp_path / folder, strict=True)
            torch.testing.assert_close(loaded(ids, mask), expected, atol=0, rtol=0)
    config = json.loads((tmp_path / "one" / "config.json").read_text())
    assert config["architectures"] == [type(model).__name__] and config["dtype"] == "float32"


@pytest.mark.parametrize("model_type", sorted(auto.ARCHITECTURES))
def test_bfloat16_load_and_forward(tmp_path, model_type):
    tiny(model_type, "base").save_pretrained(tmp_path)
    model = auto.AutoModel.from_pretrained(tmp_path, torch_dtype="bfloat16")
    assert all(p.dtype == torch.bfloat16 for p in model.parameters())
    ids, mask = batch(model_type)
    with torch.no_grad():
        assert model(ids, mask).dtype == torch.bfloat16
    # "auto" keeps what the checkpoint holds: a bf16 save loads as bf16
    model.save_pretrained(tmp_path / "bf16")
    assert auto.AutoModel.from_pretrained(tmp_path / "bf16").dtype == torch.bfloat16


@pytest.mark.parametrize("model_type", sorted(auto.ARCHITECTURES))
def test_config_round_trip(tmp_path, model_type):
    reference = TINY[model_type]()
    reference.save_pretrained(tmp_path)  # the config.json transformers writes
    written = json.loads((tmp_path / "config.json").read_text())
    config = auto.AutoConfig.from_pretrained(tmp_path)
    assert config.to_dict() == written  # unknown keys (transformers_version, ...) kept
    assert type(config).from_dict(config.to_dict()) == config


@pytest.mark.parametrize("model_type", sorted(DECODERS))
@pytest.mark.parametrize("left_padding", [False, True])
def test_incremental_decode_equals_full_forward(model_type, left_padding):
    model = tiny(model_type, "causal-lm")
    ids, mask = batch(model_type, left=left_padding)
    with torch.no_grad():
        full = model(ids, mask)
        cache = model.make_cache(batch_size=2, max_length=16)
        steps = [model(ids[:, :4], mask[:, :4], cache=cache)]  # prefill 4 tokens
        for t in range(4, 9):  # then one token at a time
            steps.append(model(ids[:, t : t + 1], mask[:, : t + 1], cache=cache))
    assert cache.length == 9
    incremental = torch.cat(steps, dim=1)
    torch.testing.assert_close(incremental[mask.bool()], full[mask.bool()], atol=1e-5, rtol=0)


def test_cache_overflow_is_a_clear_error():
    model = tiny("llama", "causal-lm")
    cache = model.make_cache(batch_size=1, max_length=4)
    with pytest.raises(ValueError, match="holds 4 tokens"):
        model(torch.ones(1, 5, dtype=torch.long), cache=cache)


def test_architecture_files_do_not_import_each_other():
    """STYLE.md: one file per architecture, sharing only cove.models._shared and the base classes."""
    import ast
    import importlib.util

    files = set(auto.ARCHITECTURES.values())
    for name in files:
        source = open(importlib.util.find_spec(f"cove.models.{name}").origin).read()
        imported = {
            node.module.rsplit(".", 1)[-1]
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cove.models.")
        }
        assert not (imported & (files - {name})), f"{name}.py imports {imported & files}"
