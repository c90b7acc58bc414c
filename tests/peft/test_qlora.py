"""QLoRA-style training on CPU: LoRA (float32 adapters) over a frozen base held in bfloat16 gives the
float32 run's losses within 1% (relative), with half the base's bytes."""

from __future__ import annotations

import torch

from cove.models import AutoModelForCausalLM
from cove.peft import LoraConfig, get_peft_model
from tests.peft.reference import pair

STEPS = 8
TOLERANCE = 0.01  # relative, on every step's loss: bfloat16 keeps 8 bits of mantissa in the base's matmuls


def run(folder, dtype: torch.dtype) -> tuple[list[float], int, set[torch.dtype]]:
    base = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
    base_bytes = sum(p.numel() * p.element_size() for p in base.parameters())
    torch.manual_seed(0)
    model = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM"))
    adapter_dtypes = {p.dtype for p in model.parameters() if p.requires_grad}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    ids = torch.randint(3, 99, (4, 12), generator=torch.Generator().manual_seed(1))
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
