"""``generate``: ids in, ids out. A prefill over the prompt, then one decode step per token with the
model's preallocated KV cache; :func:`decode_steps` is that loop as a Python generator (it yields each
step's tokens and never sees text), :func:`generate` collects it the way transformers' ``generate``
returns: the prompt followed by the new ids, finished rows filled with the pad id.

Prompts of different lengths are left-padded: the attention mask hides the padding and position ids
count real tokens only (``cumsum(mask) - 1``), so each row gives what it gives alone. A decode step
does no Python work that grows with the sequence: ids and the mask are preallocated buffers that
the step views, and the cache writes in place. With ``cache_implementation="static"`` (or
``compile=True``, which compiles that step with ``torch.compile``) a step also has the same shapes
every time: it attends over the whole cache with a mask and writes at a slot tensor.
``compile="auto"`` takes that path only when the compiled step is at hand (see :class:`Decoder`).

What generation keeps for a model between calls (compiled steps, the certified greedy head, the
default options) lives in its decode state (:mod:`cove.generation.state`), never on its modules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from cove.generation import greedy_head, sampling
from cove.generation.compile_cache import StepKey
from cove.generation.config import FILE_NAME, GenerationConfig
from cove.generation.processors import Processor, apply, banned_ids, build_processors
from cove.generation.state import DecodeState, state_of
from cove.generation.stopping import StopOnEos, StopStrings

__all__ = ["DecodeState", "Decoder", "Prompt", "decode_steps", "default_config", "generate", "state_of"]


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
    token ids of its config.json. Read once and kept in the model's decode state (``config``), which
    ``model.generation_config`` reads and writes."""
    state = state_of(model)
    if isinstance(state.config, GenerationConfig):
        return state.config
    folder = getattr(model, "name_or_path", None)
    if folder is not None and (folder / FILE_NAME).is_file():
        config = GenerationConfig.from_pretrained(folder)
    else:
        config = GenerationConfig.from_model_config(model.config)
    state.config = config
    return config


STATIC_BUCKET = 128  # a static cache's length is a multiple of this


def next_logits(
    model: Any, tokens: torch.Tensor, mask: Any, positions: torch.Tensor, cache: Any
) -> torch.Tensor:
    """One forward on (B, T) tokens; (B, V) float32 logits after the last one (what gets compiled):
    the base model's tensor path, then ``lm_head`` on the last position (no output objects)."""
    return model.lm_head(next_hidden(model, tokens, mask, positions, cache)[:, None])[:, -1].float()


def next_hidden(
    model: Any, tokens: torch.Tensor, mask: Any, positions: torch.Tensor, cache: Any
) -> torch.Tensor:
    """One forward of the base model's tensor path (``hidden``) on (B, T) tokens; (B, H) hidden state
    after the last one."""
    return getattr(model, model.base_model_prefix).hidden(tokens, mask, positions, cache)[:, -1]


class Decoder:
    """One forward of the model on new tokens, against a preallocated cache and mask buffer.

    Args:
        model: a causal LM built as a base model (``model.<base_model_prefix>``) whose tensor path
            ``hidden(ids, mask, positions, cache)`` gives (B, T, H) states, and an ``lm_head``.
        prompt: the batch, whose mask seeds the (B, total) mask buffer.
        total: prompt + new tokens at most (the cache's length).
        static: decode steps attend over the whole cache with a mask (static shapes; see ``KVCache``).
        compile: run static decode steps through ``torch.compile`` (True); ``"auto"``: when the model's
            decode state has the compiled step for this shape, in memory or on disk (see
            :meth:`DecodeState.available`), else eagerly (and the state's background compiler, if
            any, compiles it for later calls).
    """

    def __init__(
        self, model: Any, prompt: Prompt, total: int, *, static: bool = False, compile: bool | str = False
    ) -> None:
        b, t = prompt.ids.shape
        self.model = model
        self.state = state_of(model)
        bucket = -(-total // STATIC_BUCKET) * STATIC_BUCKET  # calls of nearby lengths share shapes
        self.keys = {fn: StepKey(fn.__name__, b, bucket) for fn in (next_logits, next_hidden)}
        self.static = static or any(self.state.available(model, k, compile) for k in self.keys.values())
        if self.static:
            total = bucket
        self.cache = model.make_cache(b, total)
        self.mask = torch.ones(b, total, dtype=torch.long, device=prompt.ids.device)
        self.mask[:, :t] = prompt.mask
        self.padded = bool((prompt.mask == 0).any())
        self.next_position = prompt.positions[:, -1:] + 1  # (B, 1)
        self.compile = compile
        self.compiled: dict[Any, bool] = {}  # step function -> whether it runs compiled

    def _split(self) -> tuple[Any, Any]:
        """(base model, ``lm_head``)."""
        base = getattr(self.model, getattr(self.model, "base_model_prefix", ""), None)
        head = getattr(self.model, "lm_head", None)
        if base is None or head is None or not hasattr(base, "hidden"):
            raise TypeError(
                f"{type(self.model).__name__} cannot generate: it needs a base model with a tensor path"
                " `hidden` and an `lm_head` (a causal LM head of cove.models)"
            )
        return base, head

    def prefill(self, prompt: Prompt) -> torch.Tensor:
        """Run the prompt; (B, V) float32 logits of the next token."""
        mask = prompt.mask if self.padded else None
        base, head = self._split()
        hidden = base.hidden(prompt.ids, mask, prompt.positions, self.cache)
        logits = head(hidden[:, -1:])[:, -1].float()  # the head on the last position only
        if self.static:  # from here on the step writes at ``slots`` (a tensor), moved on in place
            self.cache.slots = torch.full((1,), self.cache.length, dtype=torch.long, device=prompt.ids.device)
        return logits

    def greedy_head(self, build: bool = True) -> Any:
        """The certified argmax of the model's output layer (see ``greedy_head``), or None when the
        head is not an ``nn.Linear`` or it does not apply."""
        return self.state.greedy_head(self._split()[1], build)

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Feed (B,) tokens; (B, V) float32 logits of the token after them."""
        return self._advance(next_logits, tokens)

    def greedy_step(self, tokens: torch.Tensor, head: Any, banned: list[int]) -> torch.Tensor:
        """Feed (B,) tokens; (B,) greedy choices of the token after them: the base model's step
        (compiled with ``compile``), then ``head`` outside it."""
        return head(self._advance(next_hidden, tokens), banned)

    def _advance(self, fn: Any, tokens: torch.Tensor) -> torch.Tensor:
        """``fn(model, (B, 1) tokens, mask, positions, cache)`` (compiled when the decoder is static
        and its state has or makes the step), with the cache, mask and positions moved on by one step."""
        key = self.keys[fn]
        compiled = self.compiled.get(fn)
        if compiled is None:  # decided on the first step of each function
            compiled = self.compiled[fn] = self.static and self.state.available(self.model, key, self.compile)
            if not compiled and self.compile == "auto":
                self.state.want(self.model, key)
        if compiled:
            args = (tokens[:, None], self.mask, self.next_position, self.cache)
            out = self.state.run(self.model, fn, key, self.compile, *args)
        elif self.static:
            out = fn(self.model, tokens[:, None], self.mask, self.next_position, self.cache)
        else:
            end = self.cache.length + 1
            mask = self.mask[:, :end] if self.padded else None
            out = fn(self.model, tokens[:, None], mask, self.next_position, self.cache)
        if self.static:
            self.cache.slots.add_(1)
            self.cache.length += 1
        self.next_position = self.next_position + 1
        return out

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
    make_decoder: Callable[[Prompt, int], Any] | None = None,
    processors: Sequence[Processor] = (),
) -> Iterator[torch.Tensor]:
    """Greedy or sampled decoding as a generator: yields (B,) new tokens per step (the pad id for rows
    that already stopped) until every row stopped or the length limit is reached.

    Args:
        prompt: the left-padded batch.
        config: resolved options (see :class:`GenerationConfig`).
        generator: the randomness of sampling (seeded from ``config.seed`` when None).
        tokenizer: needed only for ``stop_strings``.
        make_decoder: ``(prompt, total) -> decoder`` in place of :class:`Decoder` (an encoder-decoder's,
            see :mod:`cove.generation.seq2seq`).
        processors: a model's own processors, applied after those ``config`` asks for (Whisper's,
            see :mod:`cove.generation.whisper`).
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
    processors = [*build_processors(config, prompt_length=t, padding=prompt.padding), *processors]
    stops: list[Any] = [StopOnEos(tuple(config.eos_ids()))]
    if config.stop_strings:
        stops.append(StopStrings.make(config.stop_strings, tokenizer))
    running = torch.ones(b, dtype=torch.bool, device=prompt.ids.device)
    if make_decoder is not None:
        decoder = make_decoder(prompt, total)
    else:
        decoder = Decoder(model, prompt, total, static=config.static_decode(), compile=config.compile)
    head = None  # greedy with at most bans (min_new_tokens): the argmax can skip most of the output layer
    if not config.do_sample and banned_ids(processors, t) is not None:
        head = decoder.greedy_head(build=total - t >= greedy_head.BUILD_AFTER)
    logits = decoder.prefill(prompt)
    chosen = None
    for cur in range(t, total):
        if chosen is None:
            scores = apply(processors, seq[:, :cur], logits) if processors else logits
            tokens = sampling.sample(scores, generator) if config.do_sample else sampling.greedy(scores)
        else:
            tokens = chosen
        tokens = torch.where(running, tokens, pad)
        seq[:, cur] = tokens
        for stop in stops:
            running = running & ~stop(seq[:, : cur + 1])
        yield tokens
        if cur + 1 == total or not bool(running.any()):
            return
        if head is not None:
            chosen = decoder.greedy_step(tokens, head, banned_ids(processors, cur + 1))
        else:
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
    assistant_model: Any = None,
    **options: Any,
) -> torch.Tensor:
    """The prompt followed by the new ids, (B * num_return_sequences, T + new), as transformers returns.

    Args:
        model: a causal LM with ``make_cache``, or an encoder-decoder (``config.is_encoder_decoder``;
            see :mod:`cove.generation.seq2seq`), which returns the decoder ids instead.
        input_ids: (B, T) or (T,) prompt ids, left-padded (an encoder's inputs: any padding side).
        attention_mask: (B, T) 1 for real tokens, 0 for padding (None: no padding).
        generation_config: base options (default: the model's generation_config.json / config.json).
        streamer: receives ``put(ids)`` for the prompt and every step, then ``end()`` (batch 1).
        generator: randomness for sampling (default: seeded by ``seed`` or fresh).
        tokenizer: for ``stop_strings``.
        assistant_model: a draft model with the same vocabulary (e.g. a quantized copy): greedy decoding
            checks its guesses several at a time, with the same tokens (see :mod:`cove.generation.assisted`).
        options: per-call overrides of any :class:`GenerationConfig` field; others raise.
    """
    config = (generation_config or default_config(model)).with_options(options)
    input_ids = input_ids.to(model.device)
    if streamer is not None and (input_ids.ndim > 1 and input_ids.shape[0] != 1):
        raise ValueError("a streamer follows one sequence: pass a batch of 1")
    try:
        with torch.inference_mode():
            if getattr(model.config, "is_encoder_decoder", False):
                from cove.generation import seq2seq

                return seq2seq.generate(
                    model, input_ids, attention_mask, config, streamer, generator, tokenizer
                )
            prompt = Prompt.make(input_ids, attention_mask)
            if assistant_model is not None:
                from cove.generation.assisted import assisted_steps

                steps = assisted_steps(model, assistant_model, prompt, config, tokenizer=tokenizer)
                return _collect(prompt, steps, streamer)
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
    make_decoder: Callable[[Prompt, int], Any] | None = None,
    processors: Sequence[Processor] = (),
) -> torch.Tensor:
    """Beam search, or the decode loop collected; ``make_decoder`` and ``processors`` as in
    :func:`decode_steps`."""
    if config.num_beams > 1:
        if processors:
            raise ValueError("beam search does not take a model's own logits processors")
        from cove.generation.beam import beam_search

        out = beam_search(
            model, prompt, config, generator=generator, tokenizer=tokenizer, make_decoder=make_decoder
        )
        if streamer is not None:
            streamer.put(prompt.ids[0])
            streamer.put(out[0, prompt.ids.shape[1] :])
        return out
    prompt = prompt.repeat(config.num_return_sequences)
    steps = decode_steps(
        model,
        prompt,
        config,
        generator=generator,
        tokenizer=tokenizer,
        make_decoder=make_decoder,
        processors=processors,
    )
    return _collect(prompt, steps, streamer)


def _collect(prompt: Prompt, steps: Iterator[torch.Tensor], streamer: Any) -> torch.Tensor:
    """The prompt followed by each step's tokens, streamed as they come."""
    if streamer is not None:
        streamer.put(prompt.ids[0])
    new = []
    for tokens in steps:
        new.append(tokens)
        if streamer is not None:
            streamer.put(tokens)
    if not new:
        return prompt.ids.clone()
    return torch.cat((prompt.ids, torch.stack(new, dim=1)), dim=1)


def warm_step(model: Any, key: StepKey) -> None:
    """Compile the decode step ``key`` of ``model`` (through the disk cache) on a batch of its own:
    a one-token prompt of zeros in a cache of ``key.length``, prefilled, then one step. What a
    background compiler runs; the model's other callers are not disturbed (their caches are theirs)."""
    fns = {fn.__name__: fn for fn in (next_logits, next_hidden)}
    with torch.inference_mode():  # as generate runs: the compiled code is specialised to it
        ids = torch.zeros(key.batch, 1, dtype=torch.long, device=model.device)
        prompt = Prompt.make(ids, None)
        decoder = Decoder(model, prompt, key.length, static=True, compile=True)
        decoder.prefill(prompt)
        decoder._advance(fns[key.fn], ids[:, 0])
