"""A preallocated (static) key/value cache for incremental decoding.

As in gpt-fast: one buffer per layer of shape (B, H_kv, max_length, D) allocated once, written in
place at the current position, so decoding never reallocates. ``update`` returns the filled prefix
(B, H_kv, start + T, D); the model advances ``length`` once per forward, after every layer wrote.

Static decoding (``slots`` set): each forward writes at the cache positions held in the ``slots``
tensor and attends over every slot of the buffers, with a mask hiding the empty ones, so a decode
step has the same shapes and reads no Python counter from one step to the next (it can be compiled
once); the caller then moves ``slots`` and ``length`` on itself.
"""

from __future__ import annotations

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
