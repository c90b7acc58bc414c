"""Logits processors: pure functions of (ids so far, next-token logits) -> new logits.

Each processor is a small frozen dataclass called as ``proc(ids, logits)``; ids (B, T) are the prompt
and the tokens generated so far, logits (B, V) float. Nothing is modified in place. Each one matches
the transformers ``LogitsProcessor`` of the same role (tested on random logits), and
:func:`build_processors` assembles them in transformers' order for a :class:`GenerationConfig`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from cove.generation.config import GenerationConfig

NEG_INF = -math.inf
Processor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _keep_first(sorted_remove: torch.Tensor, n: int) -> torch.Tensor:
    """Never remove the ``n`` first entries of a sorted removal mask."""
    keep = torch.arange(sorted_remove.shape[-1], device=sorted_remove.device) < n
    return sorted_remove & ~keep


@dataclass(frozen=True)
class Temperature:
    temperature: float

    def __call__(self, ids: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        return logits / self.temperature


@dataclass(frozen=True)
class TopK:
    """Keep the ``top_k`` highest logits (ties at the threshold kept too)."""

    top_k: int
    min_tokens_to_keep: int = 1

    def __call__(self, ids: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        k = min(max(self.top_k, self.min_tokens_to_keep), logits.shape[-1])
        threshold = torch.topk(logits, k).values[..., -1:]
        return logits.masked_fill(logits < threshold, NEG_INF)


@dataclass(frozen=True)
class TopP:
    """Nucleus sampling (Holtzman et al., 2019): the smallest set of tokens whose mass reaches ``top_p``."""

    top_p: float
    min_tokens_to_keep: int = 1

    def __call__(self, ids: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        sorted_logits, order = torch.sort(logits, descending=False)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        remove = cum <= 1 - self.top_p
        remove = _keep_first(remove.flip(-1), self.min_tokens_to_keep).flip(-1)  # keep the largest ones
        return logits.masked_fill(remove.scatter(1, order, remove), NEG_INF)


@dataclass(frozen=True)
class MinP:
    """Keep tokens whose probability is at least ``min_p`` times the top probability (arXiv:2407.01082)."""

    min_p: float
    min_tokens_to_keep: int = 1

    def __call__(self, ids: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        probs = logits.softmax(-1)
        remove = probs < self.min_p * probs.amax(-1, keepdim=True)
        order = torch.argsort(logits, descending=True)
        sorted_remove = _keep_first(remove.gather(1, order), self.min_tokens_to_keep)
        return logits.masked_fill(sorted_remove.scatter(1, order, sorted_remove), NEG_INF)


@dataclass(frozen=True)
class Typical:
    """Locally typical sampling (Meister et al., 2022, arXiv:2202.00666) with mass ``mass``."""

    mass: float
    min_tokens_to_keep: int = 1

    def __call__(self, ids: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        logp = logits.log_softmax(-1)
        entropy = -(logp * logp.exp()).nansum(-1, keepdim=True)
        shifted, order = torch.sort((-logp - entropy).abs())
        cum = logits.gather(-1, order).softmax(-1).cumsum(-1)
        last = (cum < self.mass).sum(dim=1).clamp(max=logits.shape[-1] - 1)
        remove = _keep_first(shifted > shifted.gather(1, last[:, None]), self.min_tokens_to_keep)
        return logits.masked_fill(remove.scatter(1, order, remove), NEG_INF)


@dataclass(frozen=True)
class RepetitionPenalty:
    """CTRL's penalty (Keskar et al., 2019): logits of seen tokens divided by ``penalty`` (multiplied
    when negative). ``skip`` (B,) left-padding lengths whose tokens do not count (None: all count)."""

    penalty: float
    skip: torch.Tensor | None = None

    def __call__(self, ids: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        vocab = logits.shape[-1]
        if self.skip is not None:
            pos = torch.arange(ids.shape[1], device=ids.device)
            ids = ids.masked_fill(pos[None] < self.skip[:, None].to(ids.device), vocab)
        ids = ids.clamp(max=vocab)  # a column past the vocabulary absorbs skipped ids
        padded = torch.nn.functional.pad(logits, (0, 1))
        seen = padded.gather(1, ids)
        seen = torch.where(seen < 0, seen * self.penalty, seen / self.penalty)
        return padded.scatter(1, ids, seen)[..., :vocab]


@dataclass(frozen=True)
class NoRepeatNGram:
    """Forbid any token that would repeat an n-gram of size ``n`` already in the row (tensor ops only)."""

    n: int

    def __call__(self, ids: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        b, t = ids.shape
        if t < self.n:  # no complete n-gram yet (t + 1 == n too: a decoder's lone start token)
            return logits
        if self.n == 1:
            banned = torch.zeros_like(logits, dtype=torch.bool).scatter(1, ids, True)
            return logits.masked_fill(banned, NEG_INF)
        grams = ids.unfold(1, self.n, 1)  # (B, t-n+1, n): every n-gram so far
        prefix = ids[:, t - self.n + 1 :]  # (B, n-1): what the next token would complete
        hit = (grams[:, :, :-1] == prefix[:, None]).all(-1)  # (B, t-n+1)
        banned = torch.zeros(b, logits.shape[-1] + 1, dtype=torch.bool, device=logits.device)
        targets = torch.where(hit, grams[:, :, -1], logits.shape[-1])  # misses go to the spare column
        banned = banned.scatter(1, targets, True)[:, :-1]
        return logits.masked_fill(banned, NEG_INF)


@dataclass(frozen=True)
class BadWords:
    """Forbid each sequence in ``bad_words_ids``: its last token is banned where the row ends with the
    rest. A bad word that is exactly an eos token is dropped (as transformers does)."""

    bad_words_ids: tuple[tuple[int, ...], ...]

    @classmethod
    def make(cls, bad_words_ids: Sequence[Sequence[int]], eos: Sequence[int]) -> BadWords:
        words = tuple(tuple(w) for w in bad_words_ids if list(w) not in [[e] for e in eos])
        return cls(words)

    def __call__(self, ids: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        banned = torch.zeros_like(logits, dtype=torch.bool)
        for word in self.bad_words_ids:
            *head, last = word
            if not head:
                rows = torch.ones(ids.shape[0], dtype=torch.bool, device=ids.device)
            elif len(head) > ids.shape[1]:
                continue
            else:
                rows = (ids[:, ids.shape[1] - len(head) :] == torch.tensor(head, device=ids.device)).all(-1)
            banned[:, last] |= rows
        return logits.masked_fill(banned, NEG_INF)


@dataclass(frozen=True)
class MinLength:
    """No eos before the row (prompt included) holds ``min_length`` tokens."""

    min_length: int
    eos: tuple[int, ...]

    def __call__(self, ids: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        if ids.shape[-1] >= self.min_length:
            return logits
        out = logits.clone()
        out[:, list(self.eos)] = NEG_INF
        return out


@dataclass(frozen=True)
class MinNewTokens:
    """No eos before ``min_new_tokens`` tokens follow the prompt of ``prompt_length``."""

    prompt_length: int
    min_new_tokens: int
    eos: tuple[int, ...]

    def __call__(self, ids: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        return MinLength(self.prompt_length + self.min_new_tokens, self.eos)(ids, logits)


def banned_ids(processors: Sequence[Processor], length: int) -> list[int] | None:
    """The token ids ``processors`` forbid after ``length`` ids when all they do is forbid fixed ids
    (``MinLength``, ``MinNewTokens``); None when any one does more."""
    out: list[int] = []
    for proc in processors:
        if isinstance(proc, MinNewTokens):
            proc = MinLength(proc.prompt_length + proc.min_new_tokens, proc.eos)
        if not isinstance(proc, MinLength):
            return None
        if length < proc.min_length:
            out.extend(proc.eos)
    return out


@dataclass(frozen=True)
class ForcedBOS:
    """The first generated token (after a one-token prompt) is ``token_id``."""

    token_id: int

    def __call__(self, ids: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        if ids.shape[-1] != 1:
            return logits
        out = torch.full_like(logits, NEG_INF)
        out[:, self.token_id] = 0
        return out


@dataclass(frozen=True)
class ForcedEOS:
    """The last token before ``max_length`` is one of ``eos``."""

    max_length: int
    eos: tuple[int, ...]

    def __call__(self, ids: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        if ids.shape[-1] != self.max_length - 1:
            return logits
        out = torch.full_like(logits, NEG_INF)
        out[:, list(self.eos)] = 0
        return out


def apply(processors: Sequence[Processor], ids: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    for proc in processors:
        logits = proc(ids, logits)
    return logits


def build_processors(
    config: GenerationConfig, *, prompt_length: int, padding: torch.Tensor | None = None
) -> list[Processor]:
    """The processors ``config`` asks for, in transformers' order: constraints first, then (when
    sampling) the warpers temperature -> top-k -> top-p -> min-p -> typical.

    Args:
        prompt_length: columns of the (padded) prompt.
        padding: (B,) left-padding length of each row (the repetition penalty skips padding).
    """
    eos = tuple(config.eos_ids())
    out: list[Processor] = []
    if config.repetition_penalty != 1.0:
        out.append(RepetitionPenalty(config.repetition_penalty, padding))
    if config.no_repeat_ngram_size > 0:
        out.append(NoRepeatNGram(config.no_repeat_ngram_size))
    if config.bad_words_ids:
        out.append(BadWords.make(config.bad_words_ids, eos))
    if config.min_length > 0 and eos:
        out.append(MinLength(config.min_length, eos))
    if config.min_new_tokens and eos:
        out.append(MinNewTokens(prompt_length, config.min_new_tokens, eos))
    if config.forced_bos_token_id is not None:
        out.append(ForcedBOS(config.forced_bos_token_id))
    if config.forced_eos_token_id is not None:
        forced = config.forced_eos_token_id
        out.append(
            ForcedEOS(
                config.total_length(prompt_length), (forced,) if isinstance(forced, int) else tuple(forced)
            )
        )
    if config.do_sample:
        keep = len(eos) + 1 if config.num_beams > 1 else 1
        if config.temperature != 1.0:
            out.append(Temperature(config.temperature))
        if config.top_k:
            out.append(TopK(config.top_k, keep))
        if config.top_p < 1.0:
            out.append(TopP(config.top_p, keep))
        if config.min_p is not None:
            out.append(MinP(config.min_p, keep))
        if config.typical_p < 1.0:
            out.append(Typical(config.typical_p, keep))
    return out
