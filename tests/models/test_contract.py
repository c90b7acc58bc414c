"""The contract every registered architecture and head keeps: shapes, dtypes, padding invariance,
save/load round trip (single file and sharded), config round trip, and for decoders a KV cache
whose incremental decode equals the full forward. Parametrized over the registry."""

from __future__ import annotations

import json

import pytest
import torch

from cove.models import auto
from tests.models.reference import (
    DECODERS,
    ENCODER_DECODERS,
    SPEECH,
    TINY,
    VISION,
    batch,
    decoder_inputs,
    num_labels,
    registry_pairs,
    run,
)

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
    out = run(model, task, ids, mask)
    alone = run(model, task, ids[1:, :5], mask[1:, :5])  # the padded sequence on its own
    expected = {
        "base": (2, 9, 32),
        "masked-lm": (2, 9, 99),
        "causal-lm": (2, 9, 99),
        "sequence-classification": (2, 3),
        "token-classification": (2, 9, 3),
        "question-answering": (2, 9, 2),
        "seq2seq-lm": (2, 9, 99),
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
    expected = run(model, task, ids, mask)
    for folder in ("one", "many"):
        loaded = auto.model_class(model_type, task).from_pretrained(tmp_path / folder, strict=True)
        torch.testing.assert_close(run(loaded, task, ids, mask), expected, atol=0, rtol=0)
    config = json.loads((tmp_path / "one" / "config.json").read_text())
    assert config["architectures"] == [type(model).__name__] and config["dtype"] == "float32"


@pytest.mark.parametrize("model_type", sorted(set(auto.ARCHITECTURES) - VISION - SPEECH))  # own tests: test_vision.py, test_whisper.py
def test_bfloat16_load_and_forward(tmp_path, model_type):
    tiny(model_type, "base").save_pretrained(tmp_path)
    model = auto.AutoModel.from_pretrained(tmp_path, torch_dtype="bfloat16")
    assert all(p.dtype == torch.bfloat16 for p in model.parameters())
    ids, mask = batch(model_type)
    assert run(model, "base", ids, mask).dtype == torch.bfloat16
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
    full = run(model, "causal-lm", ids, mask)
    cache = model.make_cache(batch_size=2, max_length=16)
    steps = [run(model, "causal-lm", ids[:, :4], mask[:, :4], cache=cache)]  # prefill 4 tokens
    for t in range(4, 9):  # then one token at a time
        steps.append(run(model, "causal-lm", ids[:, t : t + 1], mask[:, : t + 1], cache=cache))
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
    # the one declared exception: transformers' Marian is a copy of BART, so marian.py builds BART's
    # layers and stacks with its own positions and vocabularies instead of copying them
    allowed = {"marian": {"bart"}}
    for name in files:
        source = open(importlib.util.find_spec(f"cove.models.{name}").origin).read()
        imported = {
            node.module.rsplit(".", 1)[-1]
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cove.models.")
        }
        imports = imported & (files - {name}) - allowed.get(name, set())
        assert not imports, f"{name}.py imports {imports}"


# --- transformers' forward: outputs, labels, hidden states, attentions, training helpers --------


def labels_for(task: str, ids: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """The label arguments of each head (none for a base model)."""
    if task in ("causal-lm", "masked-lm", "seq2seq-lm"):
        return {"labels": ids.masked_fill(mask == 0, -100)}
    if task == "token-classification":
        return {"labels": (ids % 3).masked_fill(mask == 0, -100)}
    if task == "sequence-classification":
        return {"labels": torch.tensor([0, 2])}
    if task == "question-answering":
        return {"start_positions": torch.tensor([1, 2]), "end_positions": torch.tensor([3, 4])}
    return {}


def sizes(model_type: str) -> tuple[int, int]:
    """(layers, attention heads) of the tiny reference."""
    config = TINY[model_type]()
    return config.num_hidden_layers, config.num_attention_heads


@pytest.mark.parametrize("model_type,task", PAIRS)
def test_forward_returns_an_output_object_or_its_tuple(model_type, task):
    from cove.models.outputs import ModelOutput

    model = tiny(model_type, task)
    ids, mask = batch(model_type)
    labels = labels_for(task, ids, mask)
    extra = decoder_inputs(model, ids) or {"token_type_ids": torch.zeros_like(ids)}  # what a tokenizer gives
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, **extra, **labels)
        plain = model(input_ids=ids, attention_mask=mask, **extra, **labels, return_dict=False)
    assert isinstance(out, ModelOutput) and type(plain) is tuple and len(plain) == len(out.to_tuple())
    for a, b in zip(plain, out.to_tuple(), strict=True):
        assert a is b or (isinstance(a, torch.Tensor) and torch.equal(a, b)) or hasattr(a, "get_seq_length")
    if task != "base":  # every head takes labels and puts the loss first
        assert list(out.keys())[0] == "loss" and out.loss.ndim == 0 and torch.isfinite(out.loss)


@pytest.mark.parametrize("model_type,task", PAIRS)
def test_labels_give_a_loss_whose_gradients_reach_the_embeddings(model_type, task):
    if task == "base":
        pytest.skip("a base model has no loss")
    model = tiny(model_type, task).train()
    ids, mask = batch(model_type)
    model(ids, mask, **labels_for(task, ids, mask)).loss.backward()
    assert model.get_input_embeddings().weight.grad.abs().sum() > 0


@pytest.mark.parametrize("model_type,task", PAIRS)
def test_hidden_states_and_attentions(model_type, task):
    if model_type in ENCODER_DECODERS:
        pytest.skip("encoder and decoder states and attentions: tests/models/test_t5.py")
    model = tiny(model_type, task)
    ids, mask = batch(model_type)
    layers, heads = sizes(model_type)
    with torch.no_grad():
        out = model(ids, mask, output_hidden_states=True, output_attentions=True)
        last = model.base_model.hidden(ids, mask)  # the tensor path generation uses
    assert len(out.hidden_states) == layers + 1 and len(out.attentions) == layers
    assert all(h.shape == (2, 9, 32) for h in out.hidden_states)
    torch.testing.assert_close(out.hidden_states[-1], last, atol=0, rtol=0)
    for a in out.attentions:
        assert a.shape == (2, heads, 9, 9)
        torch.testing.assert_close(a.sum(-1), torch.ones(2, heads, 9), atol=1e-5, rtol=0)
    assert (out.attentions[0][1, :, :, 5:] == 0).all() or model_type in DECODERS  # padded keys get none
    config_default = tiny(model_type, task)
    config_default.config.output_hidden_states = True  # the config's default, as transformers reads it
    with torch.no_grad():
        assert len(config_default(ids, mask).hidden_states) == layers + 1


@pytest.mark.parametrize("model_type,task", PAIRS)
def test_gradient_checkpointing_recomputes_with_the_same_gradients(model_type, task):
    ids, mask = batch(model_type)
    labels = labels_for(task, ids, mask)
    results, calls = [], []
    for enable in (False, True):
        model = tiny(model_type, task).train()  # dropout on: the recomputation must replay it
        if enable:
            model.gradient_checkpointing_enable()
            assert model.is_gradient_checkpointing
        layers = sizes(model_type)[0]
        first = next(m for m in model.modules() if isinstance(m, torch.nn.ModuleList) and len(m) == layers)[0]
        forward = first.forward  # counted: a checkpointed layer runs again in the backward pass
        first.forward = lambda *args, forward=forward, on=enable: calls.append(on) or forward(*args)
        torch.manual_seed(0)
        out = model(ids, mask, **labels, **({} if labels else decoder_inputs(model, ids)))
        loss = out.loss if task != "base" else out.last_hidden_state.square().mean()
        loss.backward()
        results.append({n: p.grad for n, p in model.named_parameters() if p.grad is not None})
    assert calls == [False, True, True]
    assert results[0].keys() == results[1].keys()
    for name, grad in results[0].items():
        torch.testing.assert_close(results[1][name], grad, atol=1e-6, rtol=0, msg=name)


@pytest.mark.parametrize("model_type,task", PAIRS)
def test_num_parameters_and_resize_token_embeddings(model_type, task):
    model = tiny(model_type, task)
    unique = {id(p): p for p in model.parameters()}
    assert model.num_parameters() == sum(p.numel() for p in unique.values())
    assert model.num_parameters(exclude_embeddings=True) < model.num_parameters()
    embedding = model.resize_token_embeddings(101)
    assert embedding is model.get_input_embeddings() and embedding.weight.shape == (101, 32)
    assert model.config.vocab_size == 101
    head = model.get_output_embeddings()
    if task in ("masked-lm", "causal-lm", "seq2seq-lm"):
        assert head.weight.shape[0] == 101
        assert (head.weight is embedding.weight) == bool(model.config.tie_word_embeddings)
    ids, mask = batch(model_type)
    ids[0, 2] = 100
    assert torch.isfinite(run(model, task, ids, mask)).all()


@pytest.mark.parametrize("model_type", sorted(DECODERS))
def test_use_cache_then_past_key_values_equals_the_full_forward(model_type):
    model = tiny(model_type, "causal-lm")
    ids, mask = batch(model_type)
    with torch.no_grad():
        full = model(ids, mask).logits
        first = model(ids[:, :6], mask[:, :6], use_cache=True)
        rest = model(ids[:, 6:], mask, past_key_values=first.past_key_values)
        assert model(ids, mask, use_cache=False).past_key_values is None
    assert first.past_key_values.get_seq_length() == 9 == rest.cache.get_seq_length()
    steps = torch.cat((first.logits, rest.logits), dim=1)
    torch.testing.assert_close(steps[mask.bool()], full[mask.bool()], atol=1e-5, rtol=0)
