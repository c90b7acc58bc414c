"""Several projections of one input, as one product when their layers were fused.

Quantized layers that read the same input (a decoder's q/k/v, its gate/up) are fused after
loading (:class:`cove.models.quantized.FusedLinear`): each member then carries ``fused``, with the
members in order (``members``), their widths (``sizes``) and the fused layer (``layer``)."""

from __future__ import annotations

import torch
from torch import nn


def project(x: torch.Tensor, *layers: nn.Module) -> tuple[torch.Tensor, ...]:
    """``tuple(layer(x) for layer in layers)``, in one product when exactly these layers, in this
    order, were fused; separately otherwise (float layers, a LoRA wrapper in place of one of them)."""
    fused = getattr(layers[0], "fused", None)
    if fused is not None and len(fused.members) == len(layers) and all(
        a is b for a, b in zip(fused.members, layers, strict=True)
    ):
        return tuple(fused.layer(x).split(fused.sizes, dim=-1))
    return tuple(layer(x) for layer in layers)
