"""Int8 weight-only frozen layers for QLoRA-style training on CPU.

``quantize_frozen(model)`` replaces every frozen ``nn.Linear`` (the base layers under LoRA and the
untargeted ones; never the output head) by an :class:`Int8Linear`: int8 weights with one float scale
per output row (symmetric absmax), a quarter of float32's bytes. The forward and the backward each
dequantize the layer's weight into a temporary (one layer at a time, freed at once), so autograd
keeps no float copy: the grad of the input is ``(grad_out * scale) @ W_int8``. The weights never
train (LoRA trains beside them), as in QLoRA (Dettmers et al., 2023), with int8 instead of NF4.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class _Int8Matmul(torch.autograd.Function):
    """``x @ (q * scale[:, None]).T``, keeping only ``q`` and ``scale`` for the backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        ctx.save_for_backward(q, scale)
        return F.linear(x, q.to(x.dtype) * scale[:, None].to(x.dtype))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: ANN001, ANN205
        q, scale = ctx.saved_tensors
        return (grad * scale.to(grad.dtype)) @ q.to(grad.dtype), None, None  # (..., out) @ (out, in)


class Int8Linear(nn.Module):
    """A frozen linear layer with int8 weights (out, in) and float32 row scales (out,)."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        w = linear.weight.detach().float()
        scale = w.abs().amax(dim=1).clamp(min=1e-12) / 127.0  # (out,)
        self.register_buffer("weight_int8", torch.round(w / scale[:, None]).to(torch.int8).contiguous())
        self.register_buffer("weight_scale", scale)
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().clone(), requires_grad=False)
        self.in_features, self.out_features = linear.in_features, linear.out_features

    @property
    def weight(self) -> torch.Tensor:
        """The dequantized weight (a new tensor: for merging and inspection, not for training)."""
        return self.weight_int8.float() * self.weight_scale[:, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = _Int8Matmul.apply(x, self.weight_int8, self.weight_scale)
        return out if self.bias is None else out + self.bias.to(out.dtype)


def quantize_frozen(model: nn.Module) -> nn.Module:
    """Replace every frozen ``nn.Linear`` of ``model`` but the output head by an :class:`Int8Linear`,
    in place (call it after ``get_peft_model``: the LoRA matrices and saved modules train and stay).
    Merging into an int8 base is not supported."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    head = inner.get_output_embeddings() if hasattr(inner, "get_output_embeddings") else None
    for path, module in list(model.named_modules()):
        if type(module) is not nn.Linear or module is head or any(p.requires_grad for p in module.parameters()):
            continue
        parent_path, _, attr = path.rpartition(".")
        setattr(model.get_submodule(parent_path), attr, Int8Linear(module))
    return model
