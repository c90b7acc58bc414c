"""Key/value caches for incremental decoding: preallocated (generation) and growing (the public forward).

As in gpt-fast: one buffer per layer of shape (B, H_kv, max_length, D) allocated once, written in
place at the current position, so decoding never reallocates. ``update`` returns the filled prefix
(B, H_kv, start + T, D); the model advances ``length`` once per forward, after every layer wrote.

Static decoding (``slots`` set): each forward writes at the cache positions held in the ``slots``
tensor and attends over every slot of the buffers, with a mask hiding the empty ones, so a decode
step has the same shapes and reads no Python counter from one step to the next (it can be compiled
once); the caller then moves ``slots`` and ``length`` on itself.

:class:`DynamicCache` is what a public ``forward(..., use_cache=True)`` returns as ``out.cache``: it
keeps each forward's keys and values as they come (concatenated), so it needs no size up front, as
transformers' ``DynamicCache``. Both caches offer ``get_seq_length()`` and ``cache[layer] -> (k, v)``.
"""

from __future__ import annotations

from typing import Any

import torch


class KVCache:
    """Keys and values of every layer for ``batch_size`` sequences of up to ``max_length`` tokens.

    Args:
        num_layers: layers that attend (one buffer pair each).
        batch_size: sequences decoded together.
        num_kv_heads: key/value heads (fewer than query heads under grouped-query attention).
        head_dim: size of one head.
        max_length: prompt plus generated tokens, at most.
    """

    def __init__(
        self,
        *,
        num_layers: int,
        batch_size: int,
        num_kv_heads: int,
        head_dim: int,
        max_length: int,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        shape = (batch_size, num_kv_heads, max_length, head_dim)
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(num_layers)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(num_layers)]
        self.max_length = max_length
        self.length = 0  # tokens stored so far (the position of the next token)
        self.slots: torch.Tensor | None = None  # static decoding: (T,) long positions the next forward writes

    @property
    def static(self) -> bool:
        return self.slots is not None

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store k, v (B, H_kv, T, D) at positions ``length .. length+T``; return all keys/values so far
        (static: at ``slots``; return the whole buffers)."""
        if self.slots is not None:
            self.keys[layer].index_copy_(2, self.slots, k)
            self.values[layer].index_copy_(2, self.slots, v)
            return self.keys[layer], self.values[layer]
        end = self.length + k.shape[2]
        if end > self.max_length:
            raise ValueError(f"KV cache holds {self.max_length} tokens; {end} needed (raise max_length)")
        self.keys[layer][:, :, self.length : end] = k
        self.values[layer][:, :, self.length : end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def advance(self, n: int) -> None:
        """Called by the model after all layers stored ``n`` new tokens (not in static decoding)."""
        if self.slots is None:
            self.length += n

    def reset(self) -> None:
        self.length = 0

    def get_seq_length(self) -> int:
        """Tokens stored so far (transformers' name)."""
        return self.length

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The keys and values stored for ``layer``, (B, H_kv, length, D) each."""
        return self.keys[layer][:, :, : self.length], self.values[layer][:, :, : self.length]


class DynamicCache:
    """Keys and values of every layer, grown by concatenation at each forward (no size up front).

    Args:
        num_layers: layers that attend.
    """

    slots = None  # never static: a forward attends over what it holds plus the new tokens

    def __init__(self, num_layers: int) -> None:
        self.keys: list[torch.Tensor | None] = [None] * num_layers
        self.values: list[torch.Tensor | None] = [None] * num_layers
        self.length = 0

    @property
    def static(self) -> bool:
        return False

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append k, v (B, H_kv, T, D); return all keys and values of ``layer`` so far."""
        if self.keys[layer] is None:
            self.keys[layer], self.values[layer] = k, v  # kept as is: no copy (as transformers)
        else:
            self.keys[layer] = torch.cat((self.keys[layer], k), dim=2)
            self.values[layer] = torch.cat((self.values[layer], v), dim=2)
        return self.keys[layer], self.values[layer]

    def advance(self, n: int) -> None:
        self.length += n

    def get_seq_length(self) -> int:
        return self.length

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, layer: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        return self.keys[layer], self.values[layer]


def for_forward(
    cache: KVCache | DynamicCache | None,
    past_key_values: KVCache | DynamicCache | None,
    use_cache: bool | None,
    *,
    default: bool | None,
    num_layers: int,
    checkpointing: bool,
) -> KVCache | DynamicCache | None:
    """The cache a decoder's public ``forward`` runs with and returns: the one passed (``cache``, or
    ``past_key_values``, its older name), else a new :class:`DynamicCache` when ``use_cache`` (else
    the config's ``default``; None means yes, as transformers) asks for one. While layers run
    checkpointed (training with gradient checkpointing) no cache is made, as transformers does, and
    passing one is an error: the backward pass would run the layers, and write the cache, again."""
    if past_key_values is not None:
        if cache is not None:
            raise TypeError("pass cache or past_key_values (its older name), not both")
        cache = past_key_values
    if checkpointing:
        if cache is not None:
            raise ValueError(
                "a cache cannot be used while layers run checkpointed (gradient checkpointing in training"
                " mode): call model.eval() or model.gradient_checkpointing_disable() first"
            )
        return None
    if cache is None and (use_cache if use_cache is not None else default is not False):
        cache = DynamicCache(num_layers)
    return cache


class EncoderDecoderCache:
    """An encoder-decoder's cache: the decoder's self-attention keys and values (a :class:`KVCache`
    for generation, a :class:`DynamicCache` for the public forward) and each layer's cross-attention
    keys and values, projected from the encoder's output once (on the first decoder forward) and read
    on every later step, as transformers' ``EncoderDecoderCache``.

    A decoder layer calls ``self_attention.update(...)`` as a decoder-only model does, and
    ``cross(layer, project)`` for its cross-attention: ``project()`` runs only when that layer has
    none stored yet. The model calls ``advance(n)`` after every layer ran, as with the other caches.
    """

    slots = None

    def __init__(self, self_attention: KVCache | DynamicCache) -> None:
        self.self_attention = self_attention
        num_layers = len(self_attention)
        self.cross_keys: list[torch.Tensor | None] = [None] * num_layers
        self.cross_values: list[torch.Tensor | None] = [None] * num_layers

    @property
    def static(self) -> bool:
        return self.self_attention.static

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.self_attention.update(layer, k, v)

    def cross(self, layer: int, project) -> tuple[torch.Tensor, torch.Tensor]:
        """The cross-attention keys and values of ``layer``: ``project() -> (k, v)`` the first time."""
        if self.cross_keys[layer] is None:
            self.cross_keys[layer], self.cross_values[layer] = project()
        return self.cross_keys[layer], self.cross_values[layer]

    def advance(self, n: int) -> None:
        self.self_attention.advance(n)

    def get_seq_length(self) -> int:
        return self.self_attention.get_seq_length()

    def reorder(self, index: torch.Tensor) -> None:
        """Keep rows ``index`` of every buffer, in that order (beam search picks its beams' parents);
        the cross-attention keys and values are indexed too (beams may be seeded from fewer rows)."""
        sa = self.self_attention
        for store in (sa.keys, sa.values, self.cross_keys, self.cross_values):
            for i, t in enumerate(store):
                if t is not None:
                    store[i] = t.index_select(0, index)

    def __len__(self) -> int:
        return len(self.self_attention)

    def __getitem__(self, layer: int):
        """``(self_k, self_v, cross_k, cross_v)`` of ``layer``, transformers' legacy tuple order."""
        k, v = self.self_attention[layer]
        return k, v, self.cross_keys[layer], self.cross_values[layer]


def encoder_decoder(
    *,
    num_layers: int,
    heads: int,
    head_dim: int,
    batch_size: int,
    max_length: int,
    dtype: torch.dtype,
    device: torch.device,
) -> EncoderDecoderCache:
    """An encoder-decoder's generation cache: a preallocated :class:`KVCache` for the decoder's
    self-attention (cross-attention keys and values are projected on the first decode)."""
    return EncoderDecoderCache(
        KVCache(
            num_layers=num_layers,
            batch_size=batch_size,
            num_kv_heads=heads,
            head_dim=head_dim,
            max_length=max_length,
            dtype=dtype,
            device=device,
        )
    )


def for_seq2seq_forward(cache: Any, past_key_values: Any, use_cache: bool | None, **options: Any) -> Any:
    """:func:`for_forward` for an encoder-decoder's public ``forward``: a decoder cache passed or made
    is wrapped in an :class:`EncoderDecoderCache` (``options`` as for :func:`for_forward`)."""
    cache = for_forward(cache, past_key_values, use_cache, **options)
    if isinstance(cache, KVCache | DynamicCache):
        cache = EncoderDecoderCache(cache)
    return cache
