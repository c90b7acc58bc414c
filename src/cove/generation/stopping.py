"""When a row is done: an eos token, a stop string, or the length limit.

Checks look at a bounded tail of each row, so their cost does not grow with the sequence. Stop
strings need a tokenizer (anything with ``decode(ids) -> str``): a row stops when the text of its
last tokens contains a stop string that the text without the newest token did not, the prompt's tail
included, as transformers' ``StopStringCriteria`` decides (the string must overlap the newest token).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class StopOnEos:
    eos: tuple[int, ...]

    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, T) -> (B,) True where the newest token is an eos."""
        if not self.eos:
            return torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
        return torch.isin(ids[:, -1], torch.tensor(self.eos, device=ids.device))


@dataclass(frozen=True)
class StopStrings:
    """Stop a row once its decoded text gains one of ``strings``."""

    strings: tuple[str, ...]
    tokenizer: Any

    @classmethod
    def make(cls, strings: str | Sequence[str], tokenizer: Any) -> StopStrings:
        if tokenizer is None:
            raise ValueError("stop_strings need a tokenizer: generate(..., tokenizer=tok)")
        return cls((strings,) if isinstance(strings, str) else tuple(strings), tokenizer)

    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        window = max(len(s) for s in self.strings) + 4  # a token holds >= 1 char, bytes excepted
        start = max(0, ids.shape[1] - window)
        out = []
        for row in ids[:, start:].tolist():
            text, before = self.tokenizer.decode(row), self.tokenizer.decode(row[:-1])
            kept = len(os.path.commonprefix([text, before]))  # text the newest token did not change
            # a stop string counts only where it reaches past that text: it overlaps the newest token
            out.append(any(s in text[max(0, kept - len(s) + 1) :] for s in self.strings))
        return torch.tensor(out, dtype=torch.bool, device=ids.device)
