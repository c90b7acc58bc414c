"""``generate``: ids in, ids out. A prefill over the prompt, then one decode step per token with the
model's preallocated KV cache; :func:`decode_steps` is that loop as a Python generator (it yields each
step's tokens and never sees text), :func:`generate` collects it the way transformers' ``generate``
returns: the prompt followed by the new ids, finished rows filled with the pad id.

Prompts of different lengths are left-padded: the attention mask hides the padding and position ids
count real tokens only (``cumsum(mask) - 1``), so each row gives what it gives alone. A decode step
does no Python work that grows with the sequence: ids and the mask are preallocated buffers that
the step views, and the cache writes in place.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from cove.generation import sampling
from cove.generation.config import FILE_NAME, GenerationConfig
from cove.generation.processors import apply, build_processors
from cove.generation.stopping import StopOnEos, StopStrings


@dataclass
class Prompt:
    """A left-padded batch ready for the model: ids and mask (B, T), position ids (B, T), padding (B,)."""

    ids: torch.Tensor
    mask: torch.Tensor
    positions: torch.Tensor
    padding: torch.Tensor

    @classmethod
    def make(cls, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> Prompt:
        if input_ids.ndim == 1:
            input_ids = input_ids[None]
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask.to(input_ids.device)
        if mask.shape != input_ids.shape:
            raise ValueError(
                f"attention_mask {tuple(mask.shape)} does not match input_ids {tuple(input_ids.shape)}"
            )
        if bool((mask[:, -1] == 0).any()):
            raise ValueError("generation needs left padding: the last column of attention_mask must be all 1")
        mask = mask.long()
        positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)  # as transformers; padding is hidden
        return cls(input_ids.long(), mask, positions, (mask == 0).sum(-1))

    def repeat(self, n: int) -> Prompt:
        """Each row ``n`` times in a row (beams, or several samples per prompt)."""
        if n == 1:
            return self
        return Prompt(
            *(t.repeat_interleave(n, dim=0) for t in (self.ids, self.mask, self.positions, self.padding))
        )


def default_config(model: Any) -> GenerationConfig:
    """The model's generation_config.json when it was loaded from a folder that has one, else the
    token ids of its config.json. Read once and kept on the model as ``generation_config``."""
    config = getattr(model, "generation_config", None)
    if isinstance(config, GenerationConfig):
        return config
    folder = getattr(model, "name_or_path", None)
    if folder is not None and (folder / FILE_NAME).is_file():
        config = GenerationConfig.from_pretrained(folder)
    else:
        config = GenerationConfig.from_model_config(model.config)
    model.generation_config = config
    return config


def decode_layout(model: Any) -> None:
    """Store the model's float32 CPU ``nn.Linear`` weights (out, in) column-major, once per model.

    Values, shapes, names and tied parameters are unchanged (``.data`` gets new strides, so a tied
    head and embedding stay one tensor); ``linear`` then multiplies by a contiguous (in, out) matrix,
    which MKL's small-batch GEMM runs much faster than the transposed (out, in) one: a Llama-100M
    decode step at batch 8, one thread, takes 1.4x less time; bfloat16 gains nothing and is left as is.
    """
    if getattr(model, "_decode_layout", False):
        return
    with torch.no_grad():
        for module in model.modules():
            w = getattr(module, "weight", None)
            if (
                isinstance(module, torch.nn.Linear)
                and w.dtype == torch.float32
                and w.device.type == "cpu"
                and w.is_contiguous()
            ):
                w.data = w.data.t().contiguous().t()  # (out, in) view of an (in, out) buffer
    model._decode_layout = True


class Decoder:
    """One forward of the model on new tokens, against a preallocated cache and mask buffer.

    Args:
        model: a causal LM whose forward is ``(ids, mask, positions, cache) -> (B, T, V)`` logits.
        prompt: the batch, whose mask seeds the (B, total) mask buffer.
        total: prompt + new tokens at most (the cache's length).
    """

    def __init__(self, model: Any, prompt: Prompt, total: int) -> None:
        b, t = prompt.ids.shape
        decode_layout(model)
        self.model = model
        self.cache = model.make_cache(b, total)
        self.mask = torch.ones(b, total, dtype=torch.long, device=prompt.ids.device)
        self.mask[:, :t] = prompt.mask
        self.padded = bool((prompt.mask == 0).any())
        self.next_position = prompt.positions[:, -1:] + 1  # (B, 1)

    def prefill(self, prompt: Prompt) -> torch.Tensor:
        """Run the prompt; (B, V) float32 logits of the next token."""
        mask = prompt.mask if self.padded else None
        base = getattr(self.model, getattr(self.model, "base_model_prefix", ""), None)
        head = getattr(self.model, "lm_head", None)
        if base is None or head is None:  # not a base + lm_head model: the full forward
            return self.model(prompt.ids, mask, prompt.positions, self.cache)[:, -1].float()
        hidden = base(prompt.ids, mask, prompt.positions, self.cache)[:, -1:]  # (B, 1, H): head on the last only
        return head(hidden)[:, -1].float()

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Feed (B,) tokens; (B, V) float32 logits of the token after them."""
        end = self.cache.length + 1
        mask = self.mask[:, :end] if self.padded else None
        logits = self.model(tokens[:, None], mask, self.next_position, self.cache)[:, -1].float()
        self.next_position = self.next_position + 1
        return logits

    def reorder(self, rows: torch.Tensor) -> None:
        """Make row i of the cache (and mask) a copy of row ``rows[i]`` (beam search)."""
        n = self.cache.length
        for buffers in (self.cache.keys, self.cache.values):
            for buf in buffers:
                buf[:, :, :n] = buf[rows, :, :n]
        self.mask = self.mask[rows]
        self.next_position = self.next_position[rows]


def decode_steps(
    model: Any,
    prompt: Prompt,
    config: GenerationConfig,
    *,
    generator: torch.Generator | None = None,
    tokenizer: Any = None,
) -> Iterator[torch.Tensor]:
    """Greedy or sampled decoding as a generator: yields (B,) new tokens per step (the pad id for rows
    that already stopped) until every row stopped or the length limit is reached.

    Args:
        prompt: the left-padded batch.
        config: resolved options (see :class:`GenerationConfig`).
        generator: the randomness of sampling (seeded from ``config.seed`` when None).
        tokenizer: needed only for ``stop_strings``.
    """
    b, t = prompt.ids.shape
    total = config.total_length(t)
    if total <= t:
        return
    if config.do_sample and generator is None:
        generator = sampling.make_generator(config.seed, prompt.ids.device)
    pad = config.pad_id()
    seq = torch.full((b, total), pad, dtype=torch.long, device=prompt.ids.device)  # (B, total)
    seq[:, :t] = prompt.ids
    processors = build_processors(config, prompt_length=t, padding=prompt.padding)
    stops: list[Any] = [StopOnEos(tuple(config.eos_ids()))]
    if config.stop_strings:
        stops.append(StopStrings.make(config.stop_strings, tokenizer, t))
    running = torch.ones(b, dtype=torch.bool, device=prompt.ids.device)
    decoder = Decoder(model, prompt, total)
    logits = decoder.prefill(prompt)
    for cur in range(t, total):
        scores = apply(processors, seq[:, :cur], logits) if processors else logits
        tokens = sampling.sample(scores, generator) if config.do_sample else sampling.greedy(scores)
        tokens = torch.where(running, tokens, pad)
        seq[:, cur] = tokens
        for stop in stops:
            running = running & ~stop(seq[:, : cur + 1])
        yield tokens
        if cur + 1 == total or not bool(running.any()):
            return
        logits = decoder.step(tokens)


def generate(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    generation_config: GenerationConfig | None = None,
    streamer: Any = None,
    *,
    generator: torch.Generator | None = None,
    tokenizer: Any = None,
    **options: Any,
) -> torch.Tensor:
    """The prompt followed by the new ids, (B * num_return_sequences, T + new), as transformers returns.

    Args:
        model: a causal LM with ``make_cache``.
        input_ids: (B, T) or (T,) prompt ids, left-padded.
        attention_mask: (B, T) 1 for real tokens, 0 for padding (None: no padding).
        generation_config: base options (default: the model's generation_config.json / config.json).
        streamer: receives ``put(ids)`` for the prompt and every step, then ``end()`` (batch 1).
        generator: randomness for sampling (default: seeded by ``seed`` or fresh).
        tokenizer: for ``stop_strings``.
        options: per-call overrides of any :class:`GenerationConfig` field; others raise.
    """
    config = (generation_config or default_config(model)).with_options(options)
    prompt = Prompt.make(input_ids.to(model.device), attention_mask)
    if streamer is not None and prompt.ids.shape[0] != 1:
        raise ValueError("a streamer follows one sequence: pass a batch of 1")
    try:
        with torch.inference_mode():
            return _run(model, prompt, config, streamer, generator, tokenizer)
    finally:
        if streamer is not None:
            streamer.end()  # also on error, so a consumer waiting on the streamer is released


def _run(
    model: Any,
    prompt: Prompt,
    config: GenerationConfig,
    streamer: Any,
    generator: torch.Generator | None,
    tokenizer: Any,
) -> torch.Tensor:
    if config.num_beams > 1:
        from cove.generation.beam import beam_search

        out = beam_search(model, prompt, config, generator=generator)
        if streamer is not None:
            streamer.put(prompt.ids[0])
            streamer.put(out[0, prompt.ids.shape[1] :])
        return out
    prompt = prompt.repeat(config.num_return_sequences)
    if streamer is not None:
        streamer.put(prompt.ids[0])
    new = []
    for tokens in decode_steps(model, prompt, config, generator=generator, tokenizer=tokenizer):
        new.append(tokens)
        if streamer is not None:
            streamer.put(tokens)
    if not new:
        return prompt.ids.clone()
    return torch.cat((prompt.ids, torch.stack(new, dim=1)), dim=1)
