"""Llama from GGUF: llama.cpp's names, config keys and q/k row permutation, then the real SmolLM2."""

from __future__ import annotations

import gguf
import pytest
import torch
import transformers as T

from cove.models import AutoConfig, AutoModelForCausalLM
from cove.models.llama import GGUF_NAMES, unpermute


def llama_cpp_permute(w: torch.Tensor, heads: int) -> torch.Tensor:
    """What llama.cpp's convert_hf_to_gguf.py does to q and k rows (LlamaModel.permute)."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def test_unpermute_inverts_llama_cpp():
    w = torch.randn(4 * 8, 5)
    torch.testing.assert_close(unpermute(llama_cpp_permute(w, 4), 4), w, atol=0, rtol=0)


def write_gguf(model: T.LlamaForCausalLM, path) -> None:
    c = model.config
    to_gguf = {}
    for g, k in GGUF_NAMES.items():
        for i in range(c.num_hidden_layers):
            to_gguf[k.format(i=i)] = g.format(i=i)
    writer = gguf.GGUFWriter(str(path), arch="llama")
    writer.add_block_count(c.num_hidden_layers)
    writer.add_context_length(c.max_position_embeddings)
    writer.add_embedding_length(c.hidden_size)
    writer.add_feed_forward_length(c.intermediate_size)
    writer.add_head_count(c.num_attention_heads)
    writer.add_head_count_kv(c.num_key_value_heads)
    writer.add_rope_freq_base(c.rope_parameters["rope_theta"])
    writer.add_layer_norm_rms_eps(c.rms_norm_eps)
    writer.add_vocab_size(c.vocab_size)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    for key, w in model.state_dict().items():
        if key == "lm_head.weight" and c.tie_word_embeddings:
            continue
        name = to_gguf[key]
        if name.endswith("attn_q.weight"):
            w = llama_cpp_permute(w, c.num_attention_heads)
        elif name.endswith("attn_k.weight"):
            w = llama_cpp_permute(w, c.num_key_value_heads)
        writer.add_tensor(name, w.numpy())
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.mark.parametrize("tied", [False, True])
def test_tiny_llama_from_gguf_equals_transformers(tmp_path, tied):
    config = T.LlamaConfig(
        vocab_size=99,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=37,
        rope_theta=50000.0,
        tie_word_embeddings=tied,
    )
    torch.manual_seed(0)
    ref = T.LlamaForCausalLM(config).eval()
    write_gguf(ref, tmp_path / "tiny.gguf")
    cove_config = AutoConfig.from_pretrained(tmp_path, gguf_file="tiny.gguf")
    assert cove_config.model_type == "llama" and cove_config.rope == (50000.0, None)
    assert cove_config.tie_word_embeddings is tied and cove_config.kv_heads == 2
    model = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="tiny.gguf", strict=True)
    ids = torch.randint(3, 99, (2, 10))
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, ref(input_ids=ids).logits, atol=1e-4, rtol=0)


@pytest.mark.slow
def test_smollm2_gguf_answers_paris(smollm_gguf):
    """The real Q4_1 SmolLM2-135M-Instruct, greedy decoding with the static KV cache."""
    # The tokenizer is the oracle's (built from the GGUF metadata): this test is about the model.
    tokenizer = T.AutoTokenizer.from_pretrained(smollm_gguf.parent, gguf_file=smollm_gguf.name)
    model = AutoModelForCausalLM.from_pretrained(smollm_gguf.parent, gguf_file=smollm_gguf.name)
    assert model.config.num_hidden_layers == 30 and model.config.tie_word_embeddings
    assert model.lm_head.weight is model.model.embed_tokens.weight
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
    ids = ids if isinstance(ids, torch.Tensor) else ids["input_ids"]
    cache = model.make_cache(batch_size=1, max_length=ids.shape[1] + 16)
    generated = []
    with torch.no_grad():
        logits = model(ids, cache=cache).logits  # a preallocated cache passed as transformers' past
        for _ in range(10):
            token = logits[:, -1].argmax(-1, keepdim=True)
            if token.item() == model.config.eos_token_id:
                break
            generated.append(token.item())
            logits = model(token, cache=cache).logits
    answer = tokenizer.decode(generated)
    assert "Paris" in answer, answer
