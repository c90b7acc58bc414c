"""Attention dispatch and masks: one call to ``scaled_dot_product_attention`` for every model.

Masks are boolean, True where a query may attend to a key, shaped (B or 1, 1, T_q, T_k) to broadcast
over heads. A query row with no allowed key (a padding token under a causal mask) would make SDPA
return NaN; such rows are opened fully instead: their outputs are padding and never used.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def padding_mask(attention_mask: torch.Tensor | None) -> torch.Tensor | None:
    """(B, T_k) of 1/0 -> (B, 1, 1, T_k) bool, or None when nothing is padded."""
    if attention_mask is None or bool(attention_mask.all()):
        return None
    return attention_mask.bool()[:, None, None, :]


def causal_mask(
    attention_mask: torch.Tensor | None,
    *,
    q_len: int,
    start: int,
    sliding_window: int | None = None,
    device: torch.device,
) -> torch.Tensor | None:
    """The mask for queries at positions ``start .. start+q_len`` over keys ``0 .. start+q_len``.

    Args:
        attention_mask: (B, start + q_len) of 1/0 covering the cached and the new tokens, or None.
        sliding_window: keys further back than this many positions are hidden (Mistral).

    Returns None when nothing needs hiding beyond causality: no padding and no window, and either no
    cache offset (plain ``is_causal``) or one query (a decode step sees every key so far).
    """
    k_len = start + q_len
    unpadded = attention_mask is None or bool(attention_mask.all())
    if unpadded and sliding_window is None and (start == 0 or q_len == 1):
        return None
    q_pos = torch.arange(start, k_len, device=device)[:, None]
    k_pos = torch.arange(k_len, device=device)[None, :]
    mask = k_pos <= q_pos  # (T_q, T_k)
    if sliding_window is not None:
        mask = mask & (k_pos > q_pos - sliding_window)
    mask = mask[None, None]  # (1, 1, T_q, T_k)
    if attention_mask is not None:
        mask = mask & attention_mask.bool()[:, None, None, :k_len]
    return mask | ~mask.any(dim=-1, keepdim=True)


def slot_mask(
    attention_mask: torch.Tensor, slots: torch.Tensor, *, sliding_window: int | None = None
) -> torch.Tensor:
    """Static decoding's mask: queries at cache positions ``slots`` (T,) over every slot of the cache.

    Args:
        attention_mask: (B, L) of 1/0 over the whole cache, 0 for padding (slots past the queries may be
            anything: causality hides them).

    Returns (B, 1, T, L) bool, built from tensors only (no Python value changes between steps).
    """
    k_pos = torch.arange(attention_mask.shape[-1], device=slots.device)[None, :]  # (1, L)
    q_pos = slots[:, None]  # (T, 1)
    mask = k_pos <= q_pos
    if sliding_window is not None:
        mask = mask & (k_pos > q_pos - sliding_window)
    return attention_mask.bool()[:, None, None, :] & mask[None, None]


def attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    *,
    causal: bool,
    dropout: float = 0.0,
    scale: float | None = None,
) -> torch.Tensor:
    """SDPA over q (B, H, T_q, D) and k, v (B, H_kv, T_k, D); grouped-query heads are shared by SDPA
    (``enable_gqa``), not repeated over the whole cache every step.

    ``causal`` applies only when ``mask`` is None (the mask already encodes causality otherwise) and
    there is more than one query: a single query (a decode step) attends to every key it is given.
    """
    is_causal = causal and mask is None and q.shape[2] > 1
    return F.scaled_dot_product_attention(
        q,
        k,
        v,
        attn_mask=mask,
        dropout_p=dropout,
        is_causal=is_causal,
        scale=scale,
        enable_gqa=k.shape[1] != q.shape[1],
    )


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, T, H*D) -> (B, H, T, D)."""
    b, t, _ = x.shape
    return x.view(b, t, heads, -1).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, H, T, D) -> (B, T, H*D)."""
    b, h, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, h * d)


def attention_probs(
    q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor | None, *, causal: bool, scale: float | None = None
) -> torch.Tensor:
    """The probabilities :func:`attend` weighs values by, computed eagerly (SDPA does not return them):
    softmax(q k^T * scale) under the same mask and causality, in float32, cast to q's dtype.

    For ``output_attentions`` only; q (B, H, T_q, D), k (B, H_kv, T_k, D) -> (B, H, T_q, T_k). These
    are the probabilities before attention dropout (training mode drops some of them in the forward).
    """
    if k.shape[1] != q.shape[1]:  # grouped-query heads, shared as SDPA's enable_gqa shares them
        k = k.repeat_interleave(q.shape[1] // k.shape[1], dim=1)
    scores = (q @ k.transpose(-1, -2)).float() * (q.shape[-1] ** -0.5 if scale is None else scale)
    t_q, t_k = q.shape[2], k.shape[2]
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    elif causal and t_q > 1:  # attend's is_causal: the queries are the last t_q positions
        allowed = torch.ones(t_q, t_k, dtype=torch.bool, device=q.device).tril(t_k - t_q)
        scores = scores.masked_fill(~allowed, float("-inf"))
    return scores.softmax(-1).to(q.dtype)
