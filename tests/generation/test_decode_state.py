"""The decode state: one object per model holds what generation keeps (greedy head, compiled steps,
default options); no module carries it. ``compile="auto"`` runs eagerly unless a compiled step is at
hand, and a corrupt or foreign entry of the disk cache is ignored. No test here compiles (those are
in test_compile.py and, heavier, test_compile_cache.py)."""

from __future__ import annotations

import copy
import json
import pickle

import pytest
import torch
import transformers as T

from cove.generation import GenerationConfig, greedy_head
from cove.generation.compile_cache import CompileCache, StepKey, machine_tag, model_key
from cove.generation.state import DecodeState, state_of
from cove.models import AutoModelForCausalLM
from tests.models.reference import TINY


@pytest.fixture(scope="module")
def big_vocab(tmp_path_factory):
    """A tiny Llama with a vocabulary the certified greedy head serves (8192 >= MIN_VOCAB)."""
    torch.manual_seed(0)
    config = TINY["llama"]()
    config.vocab_size = 8192
    folder = tmp_path_factory.mktemp("state-llama")
    T.AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    return folder


def stashed(model: torch.nn.Module) -> list[str]:
    """Attributes generation used to stash on modules (``_compiled_*``, ``_certified_argmax``)."""
    return [
        f"{name}.{attr}"
        for name, module in model.named_modules()
        for attr in vars(module)
        if attr.startswith(("_compiled", "_certified"))
    ]


def test_the_state_is_the_only_place_decode_state_lives(big_vocab, padded):
    model = AutoModelForCausalLM.from_pretrained(big_vocab)
    assert model.decode_state is None  # nothing before the first generate
    ids = padded[0][:1]  # one row: this test is about where things are kept
    out = model.generate(ids, max_new_tokens=greedy_head.BUILD_AFTER)
    state = model.decode_state
    assert isinstance(state, DecodeState) and state is state_of(model)
    assert state.head is not None and state.head.full_products == 0  # built, and used
    assert state.config is model.generation_config
    assert stashed(model) == []
    # a copy or a pickle keeps the options, not the int8 head (with its lock) or compiled code; before,
    # the head stashed on lm_head made copy.deepcopy(model) fail after a greedy generate
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert clone.decode_state.head is None and clone.decode_state.config == state.config
        again = clone.generate(ids, max_new_tokens=6)
        assert torch.equal(again, out[:, : again.shape[1]])


def test_generation_config_is_read_and_written_through_the_state(big_vocab):
    model = AutoModelForCausalLM.from_pretrained(big_vocab)
    assert model.generation_config.eos_token_id == 2  # from config.json
    model.generation_config = GenerationConfig(max_new_tokens=3, eos_token_id=None)
    assert model.decode_state.config.max_new_tokens == 3
    assert model.generate(torch.tensor([[5, 6]])).shape == (1, 5)
    with pytest.raises(ValueError, match="compile is True, False or 'auto'"):
        model.generate(torch.tensor([[5, 6]]), compile="sometimes")


def test_memory_accounting_reads_the_state(big_vocab):
    model = AutoModelForCausalLM.from_pretrained(big_vocab)
    state = state_of(model)
    reserved = greedy_head.head_bytes(model.lm_head)
    assert state.nbytes(model) == reserved > 0  # before the head is built
    state.greedy_head(model.lm_head)(torch.randn(1, 32))
    assert state.head.nbytes() == reserved == state.nbytes(model)
    layout = dict(DecodeState.weight_layout(model))
    assert "(32, 8192)" in layout["lm_head.weight"] or "(8192, 32)" in layout["lm_head.weight"]


def test_auto_runs_eagerly_without_a_compiled_step(big_vocab, padded, tmp_path):
    from torch._dynamo.utils import counters

    model = AutoModelForCausalLM.from_pretrained(big_vocab)
    model.decode_state = DecodeState(cache=CompileCache(tmp_path))
    ids, mask = padded
    graphs = counters["stats"]["unique_graphs"]
    for n in (5, greedy_head.BUILD_AFTER):
        eager = model.generate(ids, attention_mask=mask, max_new_tokens=n)
        assert torch.equal(model.generate(ids, attention_mask=mask, max_new_tokens=n, compile="auto"), eager)
    assert model.decode_state.compiles == [] and counters["stats"]["unique_graphs"] == graphs
    assert not (tmp_path / machine_tag() / "steps").exists()


def entry(cache: CompileCache, model: str, key: StepKey, **changes) -> None:
    """Write the step's cache entry as ``record`` does, with ``changes`` (another torch, CPU ...)."""
    cache.record(model, key, 1.0)
    path = cache.folder / "steps" / f"{key.name(model)}.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def test_corrupt_or_foreign_cache_entries_are_ignored(big_vocab, padded, tmp_path):
    model = AutoModelForCausalLM.from_pretrained(big_vocab)
    cache = CompileCache(tmp_path)
    model.decode_state = DecodeState(cache=cache)
    name = model_key(model)
    ids, mask = padded
    eager = model.generate(ids, attention_mask=mask, max_new_tokens=6)
    keys = [StepKey(fn, 3, 128) for fn in ("next_logits", "next_hidden")]
    entry(cache, name, keys[0])
    assert cache.has(name, keys[0])  # a good entry is seen
    for changes in ({"torch": "1.0.0"}, {"cpu": "another CPU"}, {"length": 256}):
        for key in keys:
            entry(cache, name, key, **changes)
            assert not cache.has(name, key), changes
        state = model.decode_state
        assert not state.available(model, keys[0], "auto")
        assert torch.equal(model.generate(ids, attention_mask=mask, max_new_tokens=6, compile="auto"), eager)
        assert state.compiles == []
    for key in keys:
        (cache.folder / "steps" / f"{key.name(name)}.json").write_bytes(b"\x00{not json")
        assert not cache.has(name, key)
    assert torch.equal(model.generate(ids, attention_mask=mask, max_new_tokens=6, compile="auto"), eager)
    assert model.decode_state.compiles == []


def test_the_model_key_follows_architecture_and_layout_not_values(big_vocab):
    a = AutoModelForCausalLM.from_pretrained(big_vocab)
    b = AutoModelForCausalLM.from_pretrained(big_vocab)
    with torch.no_grad():
        b.lm_head.weight.mul_(2)  # another revision of the same architecture: same compiled code
    assert model_key(a) == model_key(b)
    c = AutoModelForCausalLM.from_pretrained(big_vocab, num_hidden_layers=1)
    d = AutoModelForCausalLM.from_pretrained(big_vocab, torch_dtype=torch.bfloat16)
    assert len({model_key(a), model_key(c), model_key(d)}) == 3
