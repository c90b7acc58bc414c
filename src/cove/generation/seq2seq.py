"""Encoder-decoder generation (T5, BART, Marian): the encoder runs once over the input, then the
decoder generates from ``decoder_start_token_id`` with the same loops as a decoder-only model
(:func:`cove.generation.generate.decode_steps` for greedy and sampling,
:func:`cove.generation.beam.beam_search`), the decoder ids standing where a prompt stands. The
output is what transformers returns: the decoder ids, starting with the start token.

Tensor-path contract an encoder-decoder model implements (every one alike):

- ``config.is_encoder_decoder = True``; ``config.decoder_start_token_id`` (an int; generation takes
  the generation config's, else the model config's, else ``bos_token_id``, as transformers).
- ``model.encode(input_ids, attention_mask) -> Tensor (B, S, H)``: ids (B, S) long, mask (B, S) of
  1/0 or None (any padding side).
- ``model.make_cache(batch_size, max_length, *, dtype=None, device=None) -> EncoderDecoderCache``:
  the decoder's self-attention keys and values in a preallocated ``KVCache`` of ``max_length``
  positions; cross-attention keys and values filled on the first ``decode`` (``cache.cross``).
- ``model.decode(decoder_ids (B, T), encoder_hidden (B, S, H), encoder_mask (B, S) or None, cache)
  -> logits (B, T, V)``: the decoder on T new ids at positions ``cache.get_seq_length() ..``; it
  writes their keys and values and advances the cache by T (the model calls ``cache.advance``).
- Optional: ``model.decode_hidden(...)`` (same arguments) -> (B, T, H) with ``decode(...) ==
  model.lm_head(decode_hidden(...))`` for an ``nn.Linear`` ``lm_head`` (no bias added after it);
  greedy decoding then takes its argmax from the certified int8 head (``greedy_head``), as
  decoder-only models do. A model whose logits get more than the lm_head (BART's
  ``final_logits_bias``) leaves it out.

Beam search reorders only the self-attention cache (rows never move between prompts, so every row's
encoder states and cross keys stay valid). Decode steps run eagerly (``compile=True`` and the static
cache are decoder-only for now; ``compile="auto"`` runs eagerly here).
"""

from __future__ import annotations

from typing import Any

import torch

from cove.generation.config import GenerationConfig
from cove.generation.generate import Prompt
from cove.generation.state import state_of


class Seq2SeqDecoder:
    """The decoder of an encoder-decoder model stepping through a preallocated cache; the same
    methods as :class:`cove.generation.generate.Decoder`, so the decode loops take either.

    Args:
        model: implements the contract above.
        encoder_hidden: (B0, S, H) encoder states of the inputs.
        encoder_mask: (B0, S) 1/0, or None.
        batch: decoder rows, a multiple of B0 (beams or samples of one input follow each other).
        total: decoder tokens at most (the cache's length).
    """

    def __init__(
        self,
        model: Any,
        encoder_hidden: torch.Tensor,
        encoder_mask: torch.Tensor | None,
        batch: int,
        total: int,
    ) -> None:
        n = batch // encoder_hidden.shape[0]
        self.model = model
        self.hidden = encoder_hidden.repeat_interleave(n, dim=0) if n > 1 else encoder_hidden
        self.mask = None
        if encoder_mask is not None:
            self.mask = encoder_mask.repeat_interleave(n, dim=0) if n > 1 else encoder_mask
        self.cache = model.make_cache(batch, total, dtype=encoder_hidden.dtype, device=encoder_hidden.device)

    def prefill(self, prompt: Prompt) -> torch.Tensor:
        """Run the decoder's first ids (the start token); (B, V) float32 logits of the next token."""
        return self.model.decode(prompt.ids, self.hidden, self.mask, self.cache)[:, -1].float()

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Feed (B,) tokens; (B, V) float32 logits of the token after them."""
        return self.model.decode(tokens[:, None], self.hidden, self.mask, self.cache)[:, -1].float()

    def greedy_head(self, build: bool = True) -> Any:
        """The certified argmax of the model's ``lm_head`` when it offers ``decode_hidden``, else None."""
        head = getattr(self.model, "lm_head", None)
        if head is None or not hasattr(self.model, "decode_hidden"):
            return None
        return state_of(self.model).greedy_head(head, build)

    def greedy_step(self, tokens: torch.Tensor, head: Any, banned: list[int]) -> torch.Tensor:
        """Feed (B,) tokens; (B,) greedy choices of the token after them (``head`` on the states)."""
        hidden = self.model.decode_hidden(tokens[:, None], self.hidden, self.mask, self.cache)
        return head(hidden[:, -1], banned)

    def reorder(self, rows: torch.Tensor) -> None:
        """Make row i of the self-attention cache a copy of row ``rows[i]`` (beam search)."""
        sa = self.cache.self_attention
        n = sa.length
        for buffers in (sa.keys, sa.values):
            for buf in buffers:
                buf[:, :, :n] = buf[rows, :, :n]


def start_ids(model: Any, config: GenerationConfig, batch: int, device: torch.device) -> torch.Tensor:
    """(B, 1) decoder start ids: the generation config's ``decoder_start_token_id``, else the model
    config's, else ``bos_token_id`` (transformers' order); an int, or one per row."""
    start = config.decoder_start_token_id
    if start is None:
        start = getattr(model.config, "decoder_start_token_id", None)
    if start is None:
        start = config.bos_token_id
    if start is None:
        raise ValueError(
            "an encoder-decoder model needs decoder_start_token_id to generate: set it in the model's"
            " config or generation config, or pass generate(..., decoder_start_token_id=...)"
        )
    if isinstance(start, int):
        return torch.full((batch, 1), start, dtype=torch.long, device=device)
    ids = torch.tensor(list(start), dtype=torch.long, device=device)
    if ids.shape != (batch,):
        raise ValueError(f"decoder_start_token_id has {ids.numel()} ids for a batch of {batch}")
    return ids[:, None]


def generate(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    config: GenerationConfig,
    streamer: Any,
    generator: torch.Generator | None,
    tokenizer: Any,
) -> torch.Tensor:
    """(B * num_return_sequences, T_dec) decoder ids, the start token first (see the module docstring)."""
    from cove.generation.generate import _run  # the loops the decoder-only path runs

    if config.static_decode():
        raise ValueError(
            "cache_implementation='static' and compile=True are not available for encoder-decoder models yet"
        )
    if input_ids.ndim == 1:
        input_ids = input_ids[None]
    input_ids = input_ids.long()
    if attention_mask is not None:
        attention_mask = attention_mask.to(input_ids.device)
        if attention_mask.shape != input_ids.shape:
            raise ValueError(
                f"attention_mask {tuple(attention_mask.shape)} does not match input_ids {tuple(input_ids.shape)}"
            )
        if bool(attention_mask.all()):
            attention_mask = None
    encoder_hidden = model.encode(input_ids, attention_mask)  # once, for every beam and step
    prompt = Prompt.make(start_ids(model, config, input_ids.shape[0], input_ids.device), None)

    def make_decoder(rows: Prompt, total: int) -> Seq2SeqDecoder:
        return Seq2SeqDecoder(model, encoder_hidden, attention_mask, rows.ids.shape[0], total)

    return _run(model, prompt, config, streamer, generator, tokenizer, make_decoder=make_decoder)
