"""Assisted generation (transformers' ``assistant_model``): a small draft model guesses the next few
tokens, the model checks them all in one forward, and keeps the guesses up to the first one it would
not have chosen, plus its own token there. Greedy only, batch 1, as in transformers.

The tokens are the model's own greedy tokens: each kept guess is the argmax of the model's logits at
its position (after the same logits processors a plain ``generate`` applies), and the token after
the last kept guess is the model's choice. What changes is the cost: a decode step of a large float32
model is bound by streaming its weights, and checking k + 1 positions in one forward streams them
once, so with a draft that agrees often (a quantized copy of the same model agrees on nearly every
token) the model runs once per several tokens. docs/benchmarks.md measures SmolLM2 float32 assisted
by its own GGUF (Q4_1) copy.

How a round goes, with both KV caches holding every committed token but the last one (``last``):

1. The draft is fed what it has not seen (``last``, or the last two tokens after a round that kept
   every guess) and then guesses ``d1 .. dk`` one step at a time; it stops early at an eos, or when
   its probability for a guess falls below ``assistant_confidence_threshold``.
2. The model runs ``[last, d1 .. dk]`` in one forward: logits for k + 1 positions.
3. Position i's choice ``g_i`` (processors applied to the sequence so far) is compared with
   ``d_{i+1}``; the matches are committed one by one, then ``g_n`` (a correction, or a bonus token
   when all k matched).
4. Both caches are cut back to the committed tokens (a cache's length is where its next write goes:
   nothing is copied).

``num_assistant_tokens`` (default 20) bounds k; ``num_assistant_tokens_schedule`` ``"heuristic"``
adds 2 after a round that kept every guess and takes 1 off otherwise, remembered in the draft's
decode state across calls (``"heuristic_transient"``: for this call only; ``"constant"``: never).
``assistant_confidence_threshold`` (default 0.4) is learnt as transformers learns it: after each
round, the draft probability that best separates kept from rejected guesses so far (false positive
rate + 3 x false negative rate), kept in the draft's decode state for later calls; None or 0: the
draft always guesses k tokens.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch

from cove.generation import greedy_head, sampling
from cove.generation.config import GenerationConfig
from cove.generation.generate import Decoder, Prompt
from cove.generation.processors import Processor, apply, build_processors
from cove.generation.state import state_of
from cove.generation.stopping import StopOnEos, StopStrings

SCHEDULES = ("constant", "heuristic", "heuristic_transient")


def check(model: Any, assistant: Any, prompt: Prompt, config: GenerationConfig) -> None:
    """What assisted generation supports, refused with the reason otherwise."""
    if config.do_sample or config.num_beams > 1 or config.num_return_sequences > 1:
        raise ValueError("assisted generation (assistant_model) is greedy only in Cove: do_sample=False, "
                         "num_beams=1, num_return_sequences=1")
    if prompt.ids.shape[0] != 1:
        raise ValueError(f"assisted generation (assistant_model) takes a batch of 1, not {prompt.ids.shape[0]}")
    if getattr(model.config, "is_encoder_decoder", False) or getattr(assistant.config, "is_encoder_decoder", False):
        raise ValueError("assisted generation (assistant_model) takes decoder-only models")
    ours, theirs = getattr(model.config, "vocab_size", None), getattr(assistant.config, "vocab_size", None)
    if ours != theirs:
        raise ValueError(f"the assistant's vocabulary ({theirs} ids) is not the model's ({ours}): assisted "
                         "generation needs a draft model with the same tokenizer")
    for name in ("eos_token_id", "pad_token_id", "bos_token_id"):  # what transformers compares too
        if getattr(model.config, name, None) != getattr(assistant.config, name, None):
            raise ValueError(f"the assistant's {name} ({getattr(assistant.config, name, None)}) is not the model's "
                             f"({getattr(model.config, name, None)}): assisted generation needs a draft model with "
                             "the same tokenizer")
    if config.num_assistant_tokens_schedule not in SCHEDULES:
        raise ValueError(f"num_assistant_tokens_schedule is one of {SCHEDULES}, "
                         f"not {config.num_assistant_tokens_schedule!r}")


def _forward(decoder: Decoder, tokens: torch.Tensor) -> torch.Tensor:
    """(1, T) tokens through ``decoder``'s base model at the end of its (non-static) cache; (T, H)."""
    base, _ = decoder._split()
    start = decoder.cache.length
    positions = torch.arange(start, start + tokens.shape[1], device=tokens.device)[None]
    hidden = base.hidden(tokens, None, positions, decoder.cache)[0]
    decoder.next_position = decoder.next_position + tokens.shape[1]
    return hidden


def _rewind(decoder: Decoder, length: int) -> None:
    """Keep the first ``length`` tokens of ``decoder``'s cache (the next forward writes after them)."""
    decoder.cache.length = length
    if decoder.cache.slots is not None:
        decoder.cache.slots.fill_(length)
    decoder.next_position = torch.full_like(decoder.next_position, length)


def assisted_steps(
    model: Any,
    assistant: Any,
    prompt: Prompt,
    config: GenerationConfig,
    *,
    tokenizer: Any = None,
    processors: Sequence[Processor] = (),
) -> Iterator[torch.Tensor]:
    """Greedy decoding of ``model`` with ``assistant`` drafting; yields (1,) tokens one at a time (the
    same tokens, in the same order, as :func:`cove.generation.generate.decode_steps` greedy)."""
    check(model, assistant, prompt, config)
    t = prompt.ids.shape[1]
    total = config.total_length(t)
    if total <= t:
        return
    seq = torch.full((1, total), config.pad_id(), dtype=torch.long, device=prompt.ids.device)
    seq[:, :t] = prompt.ids
    processors = [*build_processors(config, prompt_length=t, padding=prompt.padding), *processors]
    stops: list[Any] = [StopOnEos(tuple(config.eos_ids()))]
    if config.stop_strings:
        stops.append(StopStrings.make(config.stop_strings, tokenizer))
    eos = set(config.eos_ids())
    pad = int(prompt.padding[0])  # cache index = sequence index - pad
    real = Prompt.make(prompt.ids[:, pad:], None)  # a batch of 1 needs no padding
    target = Decoder(model, real, total, static=False)
    head = target.greedy_head(build=total - t >= greedy_head.BUILD_AFTER) if not processors else None
    _, lm_head = target._split()
    draft = Decoder(assistant, real, total, static=config.static_decode(), compile=config.compile)
    state = state_of(assistant)
    persistent = config.num_assistant_tokens_schedule == "heuristic"
    k_max = state.assistant_tokens if persistent and state.assistant_tokens else config.num_assistant_tokens
    threshold = config.assistant_confidence_threshold or 0.0
    if threshold and state.assistant_threshold is not None:
        threshold = state.assistant_threshold
    probs: list[float] = []  # the draft's probability of each guess so far, and whether it was kept
    kept_flags: list[int] = []
    committed = t

    def choices(rows: torch.Tensor) -> Iterator[int]:
        """The model's token at each of ``rows`` (T, H) in turn, each after the tokens committed so far
        (processors read the sequence, so a position is scored only once the ones before it are in)."""
        if head is not None:
            yield from head(rows).tolist()
            return
        logits = lm_head(rows).float()
        for i in range(rows.shape[0]):
            scores = apply(processors, seq[:, :committed], logits[i:i + 1]) if processors else logits[i:i + 1]
            yield int(sampling.greedy(scores)[0])

    def commit(token: int) -> bool:
        """Write the next token; whether generation goes on."""
        nonlocal committed
        seq[0, committed] = token
        committed += 1
        running = True
        for stop in stops:
            running = running and not bool(stop(seq[:, :committed])[0])
        return running and committed < total

    going = commit(next(choices(_forward(target, real.ids)[-1:])))  # the prompt: the first new token
    yield seq[:, t]
    if not going:
        return
    draft.prefill(real)
    fed = t  # the draft's cache holds seq[:fed]
    while going:
        start = committed
        k = min(k_max, total - start - 1)  # every guess kept plus the model's own token must fit
        guesses: list[int] = []
        if k > 0:
            for token in seq[0, fed:start - 1].tolist():
                draft.step(seq.new_tensor([token]))
            x = int(seq[0, start - 1])
            for _ in range(k):
                logits = draft.step(seq.new_tensor([x]))[0]
                x = int(logits.argmax())
                guesses.append(x)
                if threshold:
                    probs.append(float(logits.softmax(-1)[x]))
                if x in eos or (threshold and probs[-1] < threshold):
                    break
        window = seq.new_tensor([[int(seq[0, start - 1]), *guesses]])  # the model's cache holds seq[:start - 1]
        kept = 0
        for i, token in enumerate(choices(_forward(target, window))):
            matched = i < len(guesses) and token == guesses[i]
            going = commit(token)
            yield seq[:, committed - 1]
            if not going:
                return
            if not matched:
                break
            kept += 1
        _rewind(target, start + kept - pad)
        if threshold and guesses:
            kept_flags += [1] * kept + [0] * (len(guesses) > kept)
            del probs[len(kept_flags):]
            threshold = state.assistant_threshold = _threshold(probs, kept_flags, threshold)
        if guesses:  # fed: seq[:start] and the guesses but the last; valid: those that were kept
            fed = start + min(kept, len(guesses) - 1)
            _rewind(draft, fed - pad)
            if config.num_assistant_tokens_schedule != "constant":
                k_max = k_max + 2 if kept == len(guesses) else max(1, k_max - 1)
                if persistent:
                    state.assistant_tokens = k_max


def _threshold(probs: list[float], kept: list[int], current: float) -> float:
    """transformers' update of the confidence cut-off: the draft probability that minimises
    ``false positive rate + 3 x false negative rate`` over the guesses so far (kept or not), once
    there are more than 5 of them and both kinds (its ROC curve, without scikit-learn)."""
    if len(probs) <= 5 or not 0 < sum(kept) < len(kept):
        return current
    pairs = sorted(zip(probs, kept), reverse=True)
    positives = sum(kept)
    negatives = len(kept) - positives
    best, best_cost = current, float("inf")
    tp = fp = 0
    for i, (p, k) in enumerate(pairs):  # guesses at or above p count as kept
        tp += k
        fp += 1 - k
        if i + 1 < len(pairs) and pairs[i + 1][0] == p:
            continue
        cost = fp / negatives + 3 * (1 - tp / positives)
        if cost < best_cost:
            best, best_cost = p, cost
    return best
