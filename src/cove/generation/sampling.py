"""Choosing the next token from processed logits: pure functions, randomness only from an explicit
``torch.Generator`` (no global RNG), so a seed reproduces a run exactly."""

from __future__ import annotations

import torch


def greedy(logits: torch.Tensor) -> torch.Tensor:
    """(B, V) -> (B,) the highest-scoring token of each row (the first on ties, as ``argmax``)."""
    return logits.argmax(dim=-1)


def sample(logits: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """(B, V) -> (B,) one token per row drawn from ``softmax(logits)`` (-inf logits are never drawn)."""
    probs = logits.float().softmax(dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(1)


def make_generator(seed: int | None, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator seeded with ``seed``, or from fresh OS entropy when None."""
    g = torch.Generator(device=device)
    if seed is None:
        g.seed()
    else:
        g.manual_seed(seed)
    return g
