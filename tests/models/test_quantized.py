"""Weight-only quantized layers (cove.models.quantized): each layer against a float32 matmul on its
dequantized weight, GGUF blocks mapped onto the kernels exactly, ``from_pretrained(quantization=...)``
on small random decoders, and the real SmolLM2 GGUF loaded without dequantizing."""

from __future__ import annotations

import pytest
import torch

from cove.formats import gguf
from cove.models import AutoModelForCausalLM
from cove.models.gpt2 import GPT2Config, GPT2LMHeadModel
from cove.models.llama import LlamaConfig, LlamaForCausalLM
from cove.models.quantized import (
    Int4Linear,
    Int8GroupLinear,
    Int8Linear,
    QuantizedEmbedding,
    int4_groups,
    int8_activations,
    int8_rows,
    pack_int4,
)

BF16 = torch.bfloat16


def bf(t: torch.Tensor) -> torch.Tensor:
    """``t`` rounded to bfloat16, back in float32: what the kernels compute with."""
    return t.to(BF16).float()


def assert_matmul(
    y: torch.Tensor, x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None = None
) -> None:
    """``y`` equals ``bf16(x) @ w.T (+ bias)`` in float32 up to the rounding of a bfloat16 output
    (2^-8 relative, on the largest output) and float32 summation order."""
    ref = bf(x) @ w.t() + (0 if bias is None else bias)
    scale = ref.abs().max()
    torch.testing.assert_close(y, ref, atol=float(scale) * 2**-7, rtol=2**-7)


def kernel_weight(
    scale: torch.Tensor, offset: torch.Tensor, q: torch.Tensor, group: int = 32
) -> torch.Tensor:
    """The int4 kernel's weight: ``(q - 8) * s + z`` with s, z the bfloat16 roundings of ``scale`` and
    ``offset + 8 * scale`` (the mapping the module doc states), written out independently."""
    s, z = bf(scale.float()), bf(offset.float() + 8 * scale.float())
    return (q.float() - 8) * s.repeat_interleave(group, 1) + z.repeat_interleave(group, 1)


# --- layers from float weights ---------------------------------------------------------------


def test_int8_linear_rounds_each_input_row_in_two_int8_terms_and_multiplies_exactly():
    torch.manual_seed(0)
    w, b, x = torch.randn(48, 64), torch.randn(48), torch.randn(2, 5, 64)
    x[1, 2] = 0  # an all-zero row
    x[0, 3, 7] = 40.0  # an outlier channel: only its own row's scale grows
    layer = Int8Linear.from_float(w, b)
    q, scale = int8_rows(w)
    assert layer.weight_int8.dtype == torch.int8 and torch.equal(layer.weight_int8, q)
    assert (w - q.float() * scale[:, None]).abs().le(scale[:, None] / 2 + 1e-6).all()  # round to nearest
    y = layer(x)
    assert y.shape == (2, 5, 48) and y.dtype == torch.float32
    # written out independently: each row's absmax / 127, hi = round(x / s), lo = round(254 (x / s - hi)),
    # round half to even, exact integer products
    rows = x.reshape(10, 64).double()
    sx = rows.abs().amax(1, keepdim=True).clamp(min=1e-30) / 127
    hi = torch.round(rows / sx)
    lo = torch.round(254 * (rows / sx - hi))
    assert hi.abs().max() <= 127 and lo.abs().max() <= 127
    want = (hi @ q.double().t() + lo @ q.double().t() / 254) * sx * scale.double() + b.double()
    torch.testing.assert_close(y.reshape(10, 48).double(), want, atol=1e-4, rtol=1e-6)
    got_q, got_s = int8_activations(x.reshape(10, 64))
    assert got_q.dtype == torch.int8 and got_q.shape == (20, 64)
    approx = got_s * (got_q[:10].float() + got_q[10:].float() / 254)
    assert (approx - x.reshape(10, 64)).abs().le(got_s / 508 * (1 + 1e-5)).all()  # the stated error bound
    torch.testing.assert_close(y[1, 2], b)  # the zero row gives the bias
    # per row: a row's result does not depend on the rows batched with it
    assert torch.equal(layer(x[0, 3:4]), y[0, 3:4]) and torch.equal(layer(x[1:, 2:4]), y[1:, 2:4])
    # against the float weight itself: weight and input rounding, small next to the output
    rel = (y - torch.nn.functional.linear(x, w, b)).norm() / y.norm()
    assert rel < 0.02, rel
    # autograd through the layer: the float32 product on the dequantized weight
    xg = x.clone().requires_grad_()
    layer(xg).sum().backward()
    torch.testing.assert_close(xg.grad, (q.float() * scale[:, None]).sum(0).expand_as(x))


def test_compiled_int8_linear_keeps_the_eager_arithmetic_for_few_rows_and_many():
    """Under torch.compile, one or two input rows (decode) are multiplied as floats by the int8 rows
    (one reduction per weight row); the input is rounded to the same two int8 terms, so the result is
    eager's integer product up to float32 summation order, not the unrounded float product."""
    torch.manual_seed(1)
    w, b = torch.randn(96, 128), torch.randn(96)
    layer = Int8Linear.from_float(w, b)
    compiled = torch.compile(layer, dynamic=False)
    with torch.no_grad():
        for shape in [(1, 128), (1, 2, 128), (2, 1, 128), (3, 128), (2, 4, 128)]:
            x = torch.randn(*shape)
            x.view(-1, 128)[0, 5] = 30.0  # an outlier channel: a coarse rounding grid for this row
            y, eager = compiled(x), layer(x)
            torch.testing.assert_close(y, eager, atol=1e-5, rtol=1e-5)
            unrounded = torch.nn.functional.linear(x, layer.dequantized(), b)
            assert (y - unrounded).abs().max() > 100 * (y - eager).abs().max()


def test_int4_linear_is_a_matmul_on_its_dequantized_weight():
    torch.manual_seed(1)
    w, x = torch.randn(64, 96), torch.randn(3, 96)
    q, scale, offset = int4_groups(w)
    assert q.max() <= 15 and q.min() >= 0
    deq = (q.float().reshape(64, 3, 32) * scale[..., None] + offset[..., None]).reshape(64, 96)
    assert (w - deq).abs().le(scale.repeat_interleave(32, 1) / 2 + 1e-6).all()
    layer = Int4Linear(q, scale, offset)
    assert_matmul(layer(x), x, kernel_weight(scale, offset, q))
    torch.testing.assert_close(layer.dequantized(), kernel_weight(scale, offset, q), atol=1e-6, rtol=2**-8)
    rel = (layer(x) - x @ w.t()).norm() / (x @ w.t()).norm()
    assert rel < 0.15, rel  # 4 bits: a coarse but faithful copy


def test_int4_packing_in_row_chunks_equals_packing_whole():
    q = torch.randint(0, 16, (64 * 3, 64), dtype=torch.uint8)
    whole = torch.ops.aten._convert_weight_to_int4pack_for_cpu(q.to(torch.int32), 1)
    import cove.models.quantized as quantized

    old = quantized._PACK_ROWS
    quantized._PACK_ROWS = 64
    try:
        assert torch.equal(pack_int4(q), whole)
    finally:
        quantized._PACK_ROWS = old


# --- GGUF blocks onto the kernels --------------------------------------------------------------


def random_blocks(kind: str, n_blocks: int, seed: int = 0) -> torch.Tensor:
    """Raw bytes of ``n_blocks`` blocks of ``kind`` with random integers and sane float16 scales."""
    g = torch.Generator().manual_seed(seed)
    _, _, size = next(v for v in gguf.GGML_TYPES.values() if v[0] == kind)
    raw = torch.randint(0, 256, (n_blocks, size), dtype=torch.uint8, generator=g)
    halves = {"Q8_0": [0], "Q4_0": [0], "Q4_1": [0, 2], "Q4_K": [0, 2]}[kind]
    for at in halves:  # float16 d (and m / dmin): finite, a realistic magnitude
        f16 = (torch.rand(n_blocks, generator=g) * 0.02 + 0.001).half()
        if at == 2 and kind == "Q4_1":
            f16 = -f16 * 8
        raw[:, at : at + 2] = f16.view(torch.uint8).reshape(n_blocks, 2)
    return raw.reshape(-1)


@pytest.mark.parametrize("kind", ["Q8_0", "Q4_0", "Q4_1", "Q4_K"])
def test_gguf_affine_blocks_dequantize_as_ggml_does(kind):
    rows, cols = 32, 256
    per = gguf.GROUP if kind != "Q4_K" else 256
    raw = random_blocks(kind, rows * cols // per)
    q, scale, offset = gguf.AFFINE[kind](raw)
    blocks = gguf.AffineBlocks(
        q.reshape(rows, cols), scale.reshape(rows, -1), None if offset is None else offset.reshape(rows, -1)
    )
    expected = gguf.DEQUANTIZERS[kind](raw).reshape(rows, cols)  # tested against the gguf package
    torch.testing.assert_close(blocks.dequantize(), expected, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("kind", ["Q8_0", "Q4_0", "Q4_1", "Q4_K"])
def test_gguf_layer_equals_float_matmul_on_dequantized_weight(kind):
    rows, cols = 64, 256
    per = gguf.GROUP if kind != "Q4_K" else 256
    raw = random_blocks(kind, rows * cols // per, seed=3)
    q, scale, offset = gguf.AFFINE[kind](raw)
    q, scale = q.reshape(rows, cols), scale.reshape(rows, -1)
    w = gguf.DEQUANTIZERS[kind](raw).reshape(rows, cols)
    x = torch.randn(4, cols, generator=torch.Generator().manual_seed(4))
    if kind == "Q8_0":
        layer = Int8GroupLinear(q, scale)
        # the two int4 weights sum to bf16(d) * q exactly (bf16(16d) = 16 bf16(d), bf16(8d) = 8 bf16(d))
        u = q.to(torch.int16) + 128
        parts = kernel_weight(16 * scale, -128 * scale, u >> 4) + kernel_weight(scale, 0 * scale, u & 15)
        assert torch.equal(parts, q.float() * bf(scale).repeat_interleave(32, 1))
        torch.testing.assert_close(parts, w, atol=0, rtol=2**-8)
    else:
        offset = offset.reshape(rows, -1)
        layer = Int4Linear(q, scale, offset)
        torch.testing.assert_close(
            layer.dequantized(), kernel_weight(scale, offset, q), atol=1e-6, rtol=2**-8
        )
    assert_matmul(layer(x), x, w)  # the layer's output: a float32 matmul on ggml's dequantized weight


def test_quantized_embedding_rows_and_tied_head():
    torch.manual_seed(2)
    w = torch.randn(80, 64)
    emb = QuantizedEmbedding(*int8_rows(w))
    ids = torch.tensor([[3, 79, 0]])
    q, scale = int8_rows(w)
    torch.testing.assert_close(emb(ids), q[ids].float() * scale[ids][..., None])
    head = emb.head()
    assert isinstance(head, Int8Linear) and head.weight_int8.data_ptr() == emb.weight_q.data_ptr()
    blocks = gguf.AffineBlocks(*[t.reshape(80, -1) for t in int4_groups(w)])
    emb4 = QuantizedEmbedding(blocks.q, blocks.scale, blocks.offset)
    torch.testing.assert_close(emb4(ids), blocks.dequantize()[ids])
    assert isinstance(emb4.head(), Int4Linear)


# --- from_pretrained(quantization=...) ---------------------------------------------------------


def tiny_llama(tmp_path, tied: bool):
    config = LlamaConfig(
        vocab_size=256,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=tied,
        bos_token_id=1,
        eos_token_id=2,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    model.save_pretrained(tmp_path)
    return model


def greedy(model, ids, n=16):
    with torch.no_grad():
        return model.generate(ids, max_new_tokens=n, do_sample=False, min_new_tokens=n)[:, ids.shape[1] :]


@pytest.mark.parametrize("scheme", ["int8", "int4"])
@pytest.mark.parametrize("tied", [True, False])
def test_from_pretrained_quantized_llama(tmp_path, scheme, tied):
    ref = tiny_llama(tmp_path, tied)
    model = AutoModelForCausalLM.from_pretrained(tmp_path, quantization=scheme)
    info = model.quantization_info
    assert info.scheme == scheme and info.kept == {}
    layer = Int4Linear if scheme == "int4" else Int8Linear
    assert isinstance(model.model.layers[0].mlp.up_proj, layer)
    assert isinstance(model.model.embed_tokens, QuantizedEmbedding)
    assert isinstance(model.lm_head, Int8Linear)  # int8 rows even for int4: the head costs most quality
    if tied:
        assert model.lm_head.weight_int8.data_ptr() == model.model.embed_tokens.weight_q.data_ptr()
    assert not any(p.dtype == torch.float32 and p.ndim == 2 for p in model.parameters())
    ids = torch.randint(3, 256, (2, 12), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        got, want = model(ids).logits, ref(ids).logits
    rel = float((got - want).norm() / want.norm())
    assert rel < (0.03 if scheme == "int8" else 0.25), rel
    agree = float((greedy(model, ids) == greedy(ref, ids)).float().mean())
    print(f"{scheme} tied={tied}: logits rel. error {rel:.4f}, greedy agreement with float32 {agree:.2f}")


def test_compiled_int8_decode_gives_the_eager_tokens(tmp_path):
    """``compile=True`` on an int8 model: the decode step (one row) takes the compiled float product
    of the rounded input, the prompt the int32 product; the greedy tokens are eager's."""
    tiny_llama(tmp_path, tied=False)
    model = AutoModelForCausalLM.from_pretrained(tmp_path, quantization="int8")
    ids = torch.randint(3, 256, (1, 9), generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        eager = model.generate(ids, max_new_tokens=16, min_new_tokens=16, do_sample=False)
        compiled = model.generate(ids, max_new_tokens=16, min_new_tokens=16, do_sample=False, compile=True)
    assert torch.equal(compiled, eager)
    assert model.decode_state.compiles  # the step did compile (it did not fall back to eager)


def test_from_pretrained_int8_gpt2_conv1d(tmp_path):
    config = GPT2Config(vocab_size=128, n_embd=64, n_layer=2, n_head=4, n_positions=64)
    torch.manual_seed(0)
    ref = GPT2LMHeadModel(config).eval()
    ref.save_pretrained(tmp_path)
    model = AutoModelForCausalLM.from_pretrained(tmp_path, quantization="int8")
    assert isinstance(model.transformer.h[0].attn.c_attn, Int8Linear)
    ids = torch.randint(0, 128, (1, 10))
    with torch.no_grad():
        got, want = model(ids).logits, ref(ids).logits
    assert float((got - want).norm() / want.norm()) < 0.03


def test_bad_quantization_values_are_clear_errors(tmp_path):
    tiny_llama(tmp_path, tied=True)
    with pytest.raises(ValueError, match="quantization='int3' is not available"):
        AutoModelForCausalLM.from_pretrained(tmp_path, quantization="int3")
    with pytest.raises(ValueError, match="pass gguf_file"):
        AutoModelForCausalLM.from_pretrained(tmp_path, quantization="gguf")
    with pytest.raises(ValueError, match="CPU"):
        AutoModelForCausalLM.from_pretrained(tmp_path, quantization="int8", device="meta")
    with pytest.raises(ValueError, match="no float weights to save"):
        AutoModelForCausalLM.from_pretrained(tmp_path, quantization="int8").save_pretrained(tmp_path / "q")


# --- the real SmolLM2 GGUF --------------------------------------------------------------------


@pytest.mark.slow
def test_smollm2_gguf_loads_quantized_and_answers_paris(smollm_gguf, tmp_path):
    from cove.formats.gguf_tokenizer import write_tokenizer_files
    from cove.tokenizers import AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(
        smollm_gguf.parent, gguf_file=smollm_gguf.name, quantization="gguf"
    )
    info = model.quantization_info
    assert info.kept == {}
    assert set(info.quantized.values()) == {"Int4Linear", "QuantizedEmbedding", "Int8GroupLinear"}
    assert info.quantized["lm_head"] == "Int8GroupLinear"  # the tied Q8_0 table, exact
    write_tokenizer_files(gguf.GGUFFile(smollm_gguf).metadata, tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        return_tensors="pt",
    )
    ids = ids if isinstance(ids, torch.Tensor) else ids["input_ids"]
    out = greedy(model, ids, 10)
    assert "Paris" in tokenizer.decode(out[0]), tokenizer.decode(out[0])


@pytest.mark.parametrize("scheme", ["int8", "int4"])
def test_siblings_are_fused_into_one_product_with_the_same_results(tmp_path, scheme):
    from cove.models._shared.projections import project
    from cove.server.services.inference import module_bytes

    tiny_llama(tmp_path, tied=True)
    model = AutoModelForCausalLM.from_pretrained(tmp_path, quantization=scheme)
    attn, mlp = model.model.layers[0].self_attn, model.model.layers[0].mlp
    weight = "weight_int8" if scheme == "int8" else "weight_int4"
    groups = [(mlp.gate_proj, mlp.up_proj)]
    if scheme == "int8":
        groups.append((attn.q_proj, attn.k_proj, attn.v_proj))
    else:  # int4 packs blocks of 64 rows: k and v (32 rows each) cannot share q's storage
        assert attn.q_proj.fused is None
    assert mlp.down_proj.fused is None
    before = module_bytes(model)
    x = torch.randn(3, 4, 64)
    for members in groups:
        fused = members[0].fused
        assert fused is not None and fused.members == members
        # the members read the fused rows: one copy of the weights
        storage = getattr(fused.layer, weight).untyped_storage().data_ptr()
        assert all(getattr(m, weight).untyped_storage().data_ptr() == storage for m in members)
        with torch.no_grad():
            together = project(x, *members)
            alone = [m(x) for m in members]
        assert all(torch.equal(a, b) for a, b in zip(together, alone))  # the same rows, the same arithmetic
    with torch.no_grad():
        assert len(project(x, mlp.up_proj, mlp.gate_proj)) == 2  # not the fused order: each layer alone
    # counted once: the fused storage is not part of the module tree, the members' views are
    n_weights = sum(getattr(m, weight).numel() for m in model.modules() if hasattr(m, weight) and m is not model.lm_head)
    assert before < n_weights + model.model.embed_tokens.weight_q.numel() + 200_000
