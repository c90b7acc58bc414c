"""Tiny models for the LoRA tests, made by transformers and loaded by Cove from the same folder, and
peft (test-only) as the reference. ``CASES`` names the two families the issue asks for: a Llama causal
LM (SmolLM2-like) and a BERT classifier (MiniLM-like)."""

from __future__ import annotations

from pathlib import Path

import torch

from tests.models.reference import COVE_AUTO, HF_CLASS, batch, hf_model

#: case -> (model_type, task, peft task_type, target_modules)
CASES = {
    "llama": ("llama", "causal-lm", "CAUSAL_LM", ["q_proj", "v_proj", "down_proj"]),
    "bert": ("bert", "sequence-classification", "SEQ_CLS", ["query", "value", "dense"]),
}


def pair(case: str, folder: Path) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(transformers model, Cove model) with the same random weights (the folder keeps the checkpoint)."""
    model_type, task, _, _ = CASES[case]
    ref = hf_model(model_type, task)
    ref.save_pretrained(folder)  # both load from the folder: peft names it as the base model, as Cove does
    return HF_CLASS[task].from_pretrained(folder).eval(), COVE_AUTO[task].from_pretrained(folder)


def inputs(case: str) -> dict[str, torch.Tensor]:
    """A padded batch with labels (next tokens for the LM, classes for the classifier)."""
    model_type, task, _, _ = CASES[case]
    ids, mask = batch(model_type, left=False)
    if task == "causal-lm":
        labels = ids.masked_fill(mask == 0, -100)
    else:
        labels = torch.tensor([0, 2])
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def logits(model: torch.nn.Module, batch_: dict[str, torch.Tensor], case: str) -> torch.Tensor:
    """Logits at real tokens (padding positions differ between libraries and mean nothing)."""
    with torch.no_grad():
        out = model(**{k: v for k, v in batch_.items() if k != "labels"}).logits
    return out[batch_["attention_mask"].bool()] if out.ndim == 3 else out


def perturb(model: torch.nn.Module, seed: int = 3) -> None:
    """Give every trainable parameter (LoRA B starts at zero) random values, so adapters matter."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in sorted(model.named_parameters()):
            if p.requires_grad:
                p.copy_(torch.randn(p.shape, generator=g) * 0.2)
