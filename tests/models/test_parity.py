"""Parity with transformers, both ways, for every architecture and head in the registry.

transformers -> Cove: a tiny random model saved with ``save_pretrained`` loads in Cove and gives the
same outputs (1e-4, float32) on padded batches. Cove -> transformers: a model Cove saved loads in
transformers with the same outputs.
"""

from __future__ import annotations

import pytest
import torch

from cove.models import auto
from tests.models.reference import (
    COVE_AUTO,
    DECODERS,
    HF_CLASS,
    TINY,
    batch,
    hf_model,
    hf_output,
    num_labels,
    registry_pairs,
    run,
    valid,
)

ATOL = 1e-4


@pytest.mark.parametrize("model_type,task", registry_pairs())
def test_transformers_to_cove(tmp_path, model_type, task):
    ref = hf_model(model_type, task)
    ref.save_pretrained(tmp_path)
    model = COVE_AUTO[task].from_pretrained(tmp_path)
    assert model.loading_info.missing == [] and model.loading_info.unexpected == []
    paddings = (False, True) if model_type in DECODERS else (False,)
    for left in paddings:
        ids, mask = batch(model_type, left=left)
        expected = hf_output(ref, task, ids, mask)
        got = run(model, task, ids, mask)
        assert got.shape == expected.shape
        torch.testing.assert_close(valid(got, mask, task), valid(expected, mask, task), atol=ATOL, rtol=0)


@pytest.mark.parametrize("model_type,task", registry_pairs())
def test_cove_to_transformers(tmp_path, model_type, task):
    config = auto.AutoConfig.from_dict(TINY[model_type]().to_dict()).with_overrides(
        {"num_labels": num_labels(task)}
    )
    torch.manual_seed(0)
    model = auto.model_class(model_type, task)(config).eval()
    model.save_pretrained(tmp_path)
    ref = HF_CLASS[task].from_pretrained(tmp_path).eval()
    ids, mask = batch(model_type)
    got = run(model, task, ids, mask)
    expected = hf_output(ref, task, ids, mask)
    torch.testing.assert_close(valid(got, mask, task), valid(expected, mask, task), atol=ATOL, rtol=0)


def test_llama_variants(tmp_path):
    """RoPE scaling (llama3, linear), tied embeddings, q/k/v bias, head_dim != hidden/heads."""
    import transformers as T

    variants = [
        dict(
            rope_parameters={
                "rope_type": "llama3",
                "rope_theta": 500000.0,
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 8,
            }
        ),
        dict(
            rope_parameters={"rope_type": "linear", "rope_theta": 10000.0, "factor": 2.0},
            tie_word_embeddings=True,
        ),
        dict(attention_bias=True, mlp_bias=True, head_dim=16),
    ]
    for i, extra in enumerate(variants):
        cfg = T.LlamaConfig(
            vocab_size=99,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=37,
            **extra,
        )
        torch.manual_seed(i)
        ref = T.LlamaForCausalLM(cfg).eval()
        ref.save_pretrained(tmp_path / str(i))
        model = auto.AutoModelForCausalLM.from_pretrained(tmp_path / str(i))
        ids, mask = batch("llama")
        torch.testing.assert_close(
            run(model, "causal-lm", ids, mask)[mask.bool()],
            hf_output(ref, "causal-lm", ids, mask)[mask.bool()],
            atol=ATOL,
            rtol=0,
        )


def test_qwen2_sliding_window_layers(tmp_path):
    import transformers as T

    cfg = T.Qwen2Config(
        vocab_size=99,
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=37,
        use_sliding_window=True,
        sliding_window=3,
        max_window_layers=1,
    )
    torch.manual_seed(0)
    ref = T.Qwen2ForCausalLM(cfg).eval()
    ref.save_pretrained(tmp_path)
    model = auto.AutoModelForCausalLM.from_pretrained(tmp_path)
    assert [layer.window for layer in model.model.layers] == [None, 3, 3]
    ids, mask = batch("qwen2")
    torch.testing.assert_close(
        run(model, "causal-lm", ids, mask)[mask.bool()],
        hf_output(ref, "causal-lm", ids, mask)[mask.bool()],
        atol=ATOL,
        rtol=0,
    )
