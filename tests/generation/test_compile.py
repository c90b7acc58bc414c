"""``compile=True``: the static decode step through ``torch.compile`` (inductor) gives transformers'
tokens, and later calls of another length in the same cache bucket reuse the compiled step, which
the model's decode state holds (and the disk cache records).
One tiny model only: compiling costs seconds even for two layers."""

from __future__ import annotations

import pytest
import torch
import transformers as T

from cove.generation.compile_cache import model_key
from cove.generation.state import state_of
from cove.models import AutoModelForCausalLM
from tests.models.reference import TINY


@pytest.mark.parametrize("vocab", [99, 8192])  # 8192: the base step is compiled, the certified argmax follows
def test_compiled_decode_matches_transformers_and_is_reused(tmp_path, padded, vocab):
    from torch._dynamo.utils import counters

    torch.manual_seed(0)
    config = TINY["llama"]()
    config.vocab_size = vocab
    ref = T.AutoModelForCausalLM.from_config(config).eval()
    ref.save_pretrained(tmp_path)
    model = AutoModelForCausalLM.from_pretrained(tmp_path)
    if vocab == 8192:  # built once, it serves every greedy call, however short
        assert state_of(model).greedy_head(model.lm_head) is not None
    ids, mask = padded
    expected = ref.generate(ids, attention_mask=mask, do_sample=False, max_new_tokens=12)
    assert torch.equal(model.generate(ids, attention_mask=mask, max_new_tokens=12, compile=True), expected)
    graphs = counters["stats"]["unique_graphs"]
    assert graphs >= 1  # it did compile
    expected = ref.generate(ids, attention_mask=mask, do_sample=False, max_new_tokens=20)
    assert torch.equal(model.generate(ids, attention_mask=mask, max_new_tokens=20, compile=True), expected)
    assert counters["stats"]["unique_graphs"] == graphs  # same batch and bucket: no recompile
    if vocab == 8192:
        assert model.decode_state.head.full_products == 0
    # the decode state holds the compiled steps, no module does; they are recorded in the disk cache
    state = model.decode_state
    fn = "next_hidden" if vocab == 8192 else "next_logits"
    assert [(c.key.fn, c.key.batch, c.key.length) for c in state.compiles] == [(fn, 3, 128)]
    assert state.cache.has(model_key(model), state.compiles[0].key)
    assert [a for m in model.modules() for a in vars(m) if a.startswith(("_compiled", "_certified"))] == []
