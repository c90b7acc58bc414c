"""Rotary position embeddings (Su et al., 2021, arXiv:2104.09864) in the ``rotate_half`` layout
transformers uses: the two halves of each head are the real and imaginary parts.

``inv_freq`` supports the scalings of Llama-family configs: ``default``, ``linear`` (positions
divided by a factor) and ``llama3`` (Llama 3.1's frequency-dependent wavelength scaling).
"""

from __future__ import annotations

import math
from typing import Any

import torch


def inv_freq(head_dim: int, theta: float, scaling: dict[str, Any] | None = None) -> torch.Tensor:
    """(head_dim/2,) float32 inverse frequencies, scaled as ``scaling`` says."""
    freqs = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    kind = (scaling or {}).get("rope_type", (scaling or {}).get("type", "default"))
    if kind == "default":
        return freqs
    if kind == "linear":
        return freqs / scaling["factor"]
    if kind == "llama3":
        factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
        old_len = scaling["original_max_position_embeddings"]
        wavelen = 2 * math.pi / freqs
        smooth = (old_len / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * freqs / factor + smooth * freqs
        out = torch.where(wavelen > old_len / low, freqs / factor, freqs)
        medium = (wavelen <= old_len / low) & (wavelen >= old_len / high)
        return torch.where(medium, smoothed, out)
    raise NotImplementedError(f"RoPE scaling {kind!r} is not supported (default, linear, llama3 are)")


def cos_sin(
    freqs: torch.Tensor, position_ids: torch.Tensor, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """position_ids (B, T) -> cos and a signed sin (B, 1, T, head_dim), computed in float32: the first
    half of the sin is negated, which is what :func:`apply` multiplies the swapped halves by."""
    angles = position_ids.float()[..., None] * freqs.to(position_ids.device)[None, None, :]  # (B, T, D/2)
    emb = torch.cat((angles, angles), dim=-1)[:, None]
    sin = emb.sin()  # as transformers computes it, then the first half negated (exact)
    half = sin.shape[-1] // 2
    return emb.cos().to(dtype), torch.cat((-sin[..., :half], sin[..., half:]), dim=-1).to(dtype)


def apply(x: torch.Tensor, cos: torch.Tensor, signed_sin: torch.Tensor) -> torch.Tensor:
    """Rotate x (B, H, T, D) by the angles in cos, signed_sin (B, 1, T, D).

    transformers computes ``x * cos + rotate_half(x) * sin`` with ``rotate_half(x) = (-x2, x1)``; the
    halves swapped, (x2, x1), times (-sin, sin) gives the same products bit for bit, in fewer ops."""
    swapped = x.unflatten(-1, (2, x.shape[-1] // 2)).flip(-2).flatten(-2)
    return x * cos + swapped * signed_sin
