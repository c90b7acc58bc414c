"""QLoRA-style training on CPU: LoRA (float32 adapters) over a frozen base held in bfloat16, or with
int8 weight-only linear layers, gives the float32 run's losses within 1% (relative), with half (a
quarter, for the linear layers) of the base's bytes."""

from __future__ import annotations

import torch

from cove.models import AutoModelForCausalLM
from cove.peft import Int8Linear, LoraConfig, LoraLinear, get_peft_model, quantize_frozen
from tests.peft.reference import pair

STEPS = 5
TOLERANCE = 0.01  # relative, on every step's loss: bfloat16 keeps 8 bits of mantissa in the base's matmuls


def run(folder, dtype: torch.dtype, *, int8: bool = False) -> tuple[list[float], int, set[torch.dtype]]:
    base = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
    torch.manual_seed(0)
    model = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM"))
    if int8:
        quantize_frozen(model)
    layers = [m.base_layer for m in model.modules() if isinstance(m, LoraLinear)]  # the adapted layers' bases
    base_bytes = sum(t.numel() * t.element_size() for m in layers for t in [*m.parameters(), *m.buffers()])
    adapter_dtypes = {p.dtype for p in model.parameters() if p.requires_grad}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-2)
    ids = torch.randint(3, 99, (2, 10), generator=torch.Generator().manual_seed(1))
    losses = []
    for _ in range(STEPS):  # the adapter learns these four sequences by heart
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss.detach()))
    return losses, base_bytes, adapter_dtypes


def test_bfloat16_base_follows_float32(tmp_path):
    pair("llama", tmp_path)
    full, full_bytes, _ = run(tmp_path, torch.float32)
    half, half_bytes, adapter_dtypes = run(tmp_path, torch.bfloat16)
    assert adapter_dtypes == {torch.float32}  # adapters and their optimizer state stay float32
    assert half_bytes * 2 == full_bytes
    assert full[-1] < 0.95 * full[0]  # it learns
    for a, b in zip(full, half):
        assert abs(a - b) <= TOLERANCE * a, (full, half)


def test_int8_weight_only_base_follows_float32(tmp_path):
    pair("llama", tmp_path)
    full, full_bytes, _ = run(tmp_path, torch.float32)
    quantized, int8_bytes, adapter_dtypes = run(tmp_path, torch.float32, int8=True)
    assert adapter_dtypes == {torch.float32}
    assert int8_bytes < 0.3 * full_bytes  # int8 weights, float32 row scales and biases
    for a, b in zip(full, quantized):
        assert abs(a - b) <= TOLERANCE * a, (full, quantized)


def test_int8_linear_backward_matches_its_dequantized_weight():
    torch.manual_seed(0)
    layer = Int8Linear(torch.nn.Linear(24, 16))
    x = torch.randn(3, 5, 24, requires_grad=True)
    layer(x).square().sum().backward()
    x_ref = x.detach().clone().requires_grad_(True)
    torch.nn.functional.linear(x_ref, layer.weight, layer.bias).square().sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad)
