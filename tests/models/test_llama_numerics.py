"""Llama's norm and RoPE take fewer ops than transformers' but must give the same bits: greedy decoding
of a random model turns a one-ulp difference into a different token sooner or later."""

from __future__ import annotations

import pytest
import torch
import transformers.models.llama.modeling_llama as ref

from cove.models._shared import rope
from cove.models.llama import LlamaRMSNorm

DTYPES = [torch.float32, torch.bfloat16]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1, 576), (8, 1, 576), (2, 33, 768), (3, 5, 100)])
def test_rms_norm_is_bit_identical(dtype, shape):
    g = torch.Generator().manual_seed(sum(shape))
    x = (torch.randn(shape, generator=g) * 3).to(dtype)
    x[..., 3] *= 40  # an outlier channel
    theirs = ref.LlamaRMSNorm(shape[-1], eps=1e-5)
    ours = LlamaRMSNorm(shape[-1], eps=1e-5)
    with torch.no_grad():
        theirs.weight.copy_(torch.randn(shape[-1], generator=g))
        ours.weight.copy_(theirs.weight)
    theirs, ours = theirs.to(dtype), ours.to(dtype)
    with torch.no_grad():
        assert torch.equal(ours(x), theirs(x))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("head_dim", [64, 96, 128])
def test_rope_is_bit_identical(dtype, head_dim):
    config = ref.LlamaConfig(hidden_size=head_dim * 4, num_attention_heads=4, head_dim=head_dim)
    rotary = ref.LlamaRotaryEmbedding(config)
    g = torch.Generator().manual_seed(head_dim)
    positions = torch.stack([torch.arange(7) + 1000, torch.arange(7)])  # (2, 7), far positions too
    q = torch.randn(2, 4, 7, head_dim, generator=g).to(dtype)
    k = torch.randn(2, 2, 7, head_dim, generator=g).to(dtype)
    cos, sin = rotary(q, positions)
    q_ref, k_ref = ref.apply_rotary_pos_emb(q, k, cos, sin)
    freqs = rope.inv_freq(head_dim, config.rope_parameters["rope_theta"])
    ours = rope.cos_sin(freqs, positions, dtype)
    assert torch.equal(ours[0][:, 0], cos)
    assert torch.equal(rope.apply(q, *ours), q_ref)
    assert torch.equal(rope.apply(k, *ours), k_ref)
