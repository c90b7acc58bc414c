"""Beam search, the vectorized algorithm of transformers' ``_beam_search`` (>= 4.50) step for step,
so the same checkpoint gives the same tokens.

Each step scores ``num_beams * vocab`` continuations per prompt from the running beams' summed
log-probabilities, keeps the top ``max(2, 1 + n_eos) * num_beams`` (so that enough beams survive when
some end), continues the best ``num_beams`` that did not stop, and merges the ones that stopped
among the top ``num_beams`` into the finished set, scored ``sum_logprobs / new_len ** length_penalty``.
``early_stopping``: True stops once ``num_beams`` beams finished; False stops when no running beam
can beat the worst finished one at its current length; ``"never"`` assumes the best possible length.
The cache is reordered in place after each step to follow the surviving beams.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from cove.generation.config import GenerationConfig
from cove.generation.generate import Decoder, Prompt
from cove.generation.processors import Processor, apply, build_processors
from cove.generation.stopping import StopStrings

NEG = -1.0e9


def _gather(t: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """t (B, K, ...) indexed along dim 1 by idx (B, J) -> (B, J, ...)."""
    while idx.ndim < t.ndim:
        idx = idx.unsqueeze(-1)
    return torch.gather(t, 1, idx.expand(*idx.shape[:2], *t.shape[2:]))


def beam_search(
    model: Any,
    prompt: Prompt,
    config: GenerationConfig,
    *,
    generator: torch.Generator | None = None,
    tokenizer: Any = None,
    make_decoder: Callable[[Prompt, int], Any] | None = None,
    processors: Sequence[Processor] = (),
) -> torch.Tensor:
    """(B * num_return_sequences, T + new) ids: each prompt's best ``num_return_sequences`` beams.

    A candidate stops (as transformers' stopping criteria decide) on an eos, at the length limit, or
    when its text gains one of ``stop_strings`` (which need ``tokenizer``). ``make_decoder``: see
    :func:`cove.generation.generate.decode_steps`; so is ``processors`` (a model's own, applied to the
    log-probabilities after those ``config`` asks for, as transformers applies them).
    """
    nb, lp, early = config.num_beams, config.length_penalty, config.early_stopping
    b, t = prompt.ids.shape
    total = config.total_length(t)
    device = prompt.ids.device
    eos = config.eos_ids()
    keep = max(2, 1 + len(eos)) * nb
    top_nb = torch.arange(keep, device=device) < nb  # (keep,)
    # transformers' filler: `pad or eos[0]` (a pad of 0 yields eos[0]), -1 without eos
    fill = (config.pad_id() or eos[0]) if eos else -1
    running = torch.full((b, nb, total), fill, dtype=torch.long, device=device)
    running[:, :, :t] = prompt.ids[:, None]
    finished = running.clone()
    running_scores = torch.zeros(b, nb, device=device)
    running_scores[:, 1:] = NEG  # all beams start equal: only the first may expand at step one
    finished_scores = torch.full((b, nb), NEG, device=device)
    finished_len = torch.zeros(b, nb, dtype=torch.long, device=device)
    is_finished = torch.zeros(b, nb, dtype=torch.bool, device=device)
    improvable = torch.ones(b, 1, dtype=torch.bool, device=device)
    eos_t = torch.tensor(eos, device=device, dtype=torch.long)
    offset = torch.arange(b, device=device)[:, None] * nb
    stop_strings = StopStrings.make(config.stop_strings, tokenizer) if config.stop_strings else None

    flat_prompt = prompt.repeat(nb)
    processors = [*build_processors(config, prompt_length=t, padding=flat_prompt.padding), *processors]
    if make_decoder is not None:
        decoder = make_decoder(flat_prompt, total)
    else:
        decoder = Decoder(model, flat_prompt, total, static=config.static_decode(), compile=config.compile)
    logits = decoder.prefill(flat_prompt)
    for cur in range(t, total):
        logp = logits.log_softmax(-1)
        logp = apply(processors, running.view(b * nb, total)[:, :cur], logp)
        vocab = logp.shape[-1]
        logp = (logp.view(b, nb, vocab) + running_scores[:, :, None]).view(b, nb * vocab)
        if config.do_sample:
            idx = torch.multinomial(logp.softmax(-1), keep, generator=generator)
            top_logp = logp.gather(1, idx)
        else:
            top_logp, idx = torch.topk(logp, keep)
        source = idx // vocab  # (B, keep): the beam each candidate extends
        top_seq = _gather(running, source)
        top_seq[:, :, cur] = idx % vocab
        hits = torch.isin(top_seq[:, :, cur], eos_t) | (cur + 1 >= total)  # (B, keep)
        if stop_strings is not None:
            hits = hits | stop_strings(top_seq.view(b * keep, total)[:, : cur + 1]).view(b, keep)

        # the best num_beams candidates that go on
        go_on = top_logp + hits.float() * NEG
        best = torch.topk(go_on, nb).indices
        running = _gather(top_seq, best)
        running_scores = _gather(go_on, best)
        rows = (_gather(source, best) + offset).view(-1)

        # candidates that stopped among the top num_beams join the finished set if they rank
        just = hits & top_nb[None]
        scored = top_logp / ((cur + 1 - t) ** lp)
        full = is_finished.all(-1, keepdim=True) & (early is True)
        scored = scored + full.float() * NEG + (~improvable).float() * NEG + (~just).float() * NEG
        merged = torch.topk(torch.cat((finished_scores, scored), 1), nb).indices
        finished = _gather(torch.cat((finished, top_seq), 1), merged)
        finished_scores = _gather(torch.cat((finished_scores, scored), 1), merged)
        new_len = torch.full_like(scored, cur + 1 - t, dtype=torch.long)
        finished_len = _gather(torch.cat((finished_len, new_len), 1), merged)
        is_finished = _gather(torch.cat((is_finished, just), 1), merged)

        # can a running beam still beat the worst finished one?
        best_len = (total - t) if (early == "never" and lp > 0.0) else (cur + 1 - t)
        best_running = running_scores[:, :1] / (best_len**lp)
        worst = torch.where(is_finished, finished_scores.min(-1, keepdim=True).values, NEG)
        improvable = improvable & (best_running > worst).any(-1, keepdim=True)
        stop = not bool(improvable.any()) or (bool(is_finished.all()) and early is True) or bool(hits.all())
        if stop or cur + 1 == total:
            break
        decoder.reorder(rows)
        logits = decoder.step(running[:, :, cur].reshape(-1))

    n = config.num_return_sequences
    out = finished[:, :n].reshape(b * n, total)
    return out[:, : t + int(finished_len[:, :n].max())]
