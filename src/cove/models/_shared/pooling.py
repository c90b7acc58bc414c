"""Picking positions of a sequence: one vector per row for decoder classification heads, and the
positions an LM head computes logits for."""

from __future__ import annotations

import torch


def last_token(hidden: torch.Tensor, input_ids: torch.Tensor, pad_token_id: int | None) -> torch.Tensor:
    """(B, T, H) -> (B, H) at each row's last non-padding token, as transformers' decoder
    classifiers pick it (the rightmost token that is not ``pad_token_id``; left padding works too).
    Without a pad token every row uses its last position."""
    if pad_token_id is None:
        return hidden[:, -1]
    positions = torch.arange(input_ids.shape[1], device=input_ids.device)
    last = (positions * (input_ids != pad_token_id)).argmax(-1)  # (B,)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


def keep_positions(hidden: torch.Tensor, logits_to_keep: int | torch.Tensor) -> torch.Tensor:
    """transformers' ``logits_to_keep``: 0 keeps every position of (B, T, H), n > 0 the last n, and a
    tensor of indices those positions."""
    if isinstance(logits_to_keep, int):
        return hidden[:, -logits_to_keep:] if logits_to_keep else hidden
    return hidden[:, logits_to_keep]
