"""T5 (Raffel et al., 2020, arXiv:1910.10683): an encoder-decoder with pre-norm RMS layer norms
(``T5LayerNorm``: no mean, no bias), unscaled dot-product attention and a learned relative position
bias (bucketed distances; bidirectional in the encoder, causal in the decoder) that only the first
layer of each stack owns and every layer adds. Serves the original T5 (``feed_forward_proj="relu"``,
lm_head tied to the embeddings and fed ``d_model ** -0.5`` scaled states) and T5 v1.1 / Flan-T5
(``"gated-gelu"``, untied lm_head, no scaling). Matches transformers' ``modeling_t5`` (5.x);
parameter names are the checkpoint keys.

Tensor paths (what generation calls; see :mod:`cove.generation.seq2seq` for the contract):
``encode(input_ids, attention_mask) -> (B, S, H)``; ``make_cache(batch_size, max_length)`` an
:class:`EncoderDecoderCache` over a preallocated :class:`KVCache`; ``decode(decoder_ids, encoder_hidden,
encoder_mask, cache) -> (B, T, V)`` logits, continuing at ``cache.get_seq_length()``. The public
``forward`` of each model takes transformers' arguments and returns its output object.

The token embedding is ``shared.weight`` (the stacks take embeddings from their parent, so the tied
``{encoder,decoder}.embed_tokens.weight`` of some files are skipped). transformers 5 writes
``tie_word_embeddings: true`` for every T5 and the v1.1 difference as ``scale_decoder_outputs``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from cove.models._shared import kv_cache, losses
from cove.models._shared.activations import activation
from cove.models._shared.attention import merge_heads, split_heads
from cove.models._shared.kv_cache import EncoderDecoderCache, KVCache
from cove.models.configuration import PretrainedConfig
from cove.models.modeling import PreTrainedModel
from cove.models.outputs import (
    BaseModelOutput,
    Record,
    Seq2SeqLMOutput,
    Seq2SeqModelOutput,
    recorded,
    returned,
)

Cache = EncoderDecoderCache  # a public forward wraps a plain KVCache/DynamicCache into one


@dataclass
class T5Config(PretrainedConfig):
    """config.json of a T5 model; defaults are t5-small's.

    ``feed_forward_proj``: ``"relu"`` (T5) or ``"gated-gelu"`` (v1.1, Flan-T5), any ``[gated-]<act>``.
    ``scale_decoder_outputs``: scale the decoder's output by ``d_model ** -0.5`` before the lm_head;
    None (files before transformers 5) means ``tie_word_embeddings``.
    """

    model_type = "t5"

    vocab_size: int = 32128
    d_model: int = 512
    d_kv: int = 64
    d_ff: int = 2048
    num_layers: int = 6
    num_decoder_layers: int | None = None
    num_heads: int = 8
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    dropout_rate: float = 0.1
    layer_norm_epsilon: float = 1e-6
    initializer_factor: float = 1.0
    feed_forward_proj: str = "relu"
    scale_decoder_outputs: bool | None = None
    classifier_dropout: float = 0.0
    is_encoder_decoder: bool = True
    is_decoder: bool = False
    decoder_start_token_id: int | None = None
    use_cache: bool | None = True
    pad_token_id: int | None = 0
    eos_token_id: int | list[int] | None = 1

    @property
    def hidden_size(self) -> int:
        return self.d_model

    @property
    def num_attention_heads(self) -> int:
        return self.num_heads

    @property
    def num_hidden_layers(self) -> int:
        return self.num_layers

    @property
    def decoder_layers(self) -> int:
        return self.num_decoder_layers if self.num_decoder_layers is not None else self.num_layers

    @property
    def gated(self) -> bool:
        return self.feed_forward_proj.startswith("gated-")

    @property
    def act(self) -> str:
        """The activation name: ``gated-gelu`` means the tanh approximation (``gelu_new``), as transformers."""
        parts = self.feed_forward_proj.split("-")
        if len(parts) > 2 or (len(parts) == 2 and parts[0] != "gated"):
            raise ValueError(
                f"feed_forward_proj {self.feed_forward_proj!r} is not '<act>' or 'gated-<act>' (e.g. 'relu',"
                " 'gated-gelu')"
            )
        return "gelu_new" if self.feed_forward_proj == "gated-gelu" else parts[-1]

    @property
    def scales_output(self) -> bool:
        if self.scale_decoder_outputs is not None:
            return self.scale_decoder_outputs
        return self.tie_word_embeddings


# --- layers ------------------------------------------------------------------------------------


class T5LayerNorm(nn.Module):
    """x / rms(x) * weight (no mean, no bias), the variance in float32, as transformers."""

    def __init__(self, size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        variance = x.float().pow(2).mean(-1, keepdim=True)
        x = x * torch.rsqrt(variance + self.eps)
        if self.weight.dtype in (torch.float16, torch.bfloat16):
            x = x.to(self.weight.dtype)
        return self.weight * x


def relative_position_bucket(
    relative_position: Tensor, *, bidirectional: bool, num_buckets: int, max_distance: int
) -> Tensor:
    """Mesh TensorFlow's buckets of ``key - query`` distances: exact below ``num_buckets / 2`` (halved
    again for the two directions), then logarithmic up to ``max_distance``, then one bucket."""
    buckets = torch.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        buckets += (relative_position > 0).long() * num_buckets
        distance = relative_position.abs()
    else:
        distance = -torch.min(relative_position, torch.zeros_like(relative_position))
    exact = num_buckets // 2
    large = (
        exact
        + (
            torch.log(distance.float() / exact)
            / torch.log(torch.tensor(max_distance / exact))
            * (num_buckets - exact)
        ).long()
    )
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return buckets + torch.where(distance < exact, distance, large)


class T5Attention(nn.Module):
    """Multi-head attention without score scaling; ``mask`` is additive (B or 1, H or 1, T_q, T_k) and
    carries the relative position bias. Self-attention when ``source`` is None, else cross-attention
    over ``source`` (B, S, H), whose keys and values a cache projects once."""

    def __init__(self, config: T5Config, *, relative_bias: bool, bidirectional: bool, layer_idx: int) -> None:
        super().__init__()
        self.layer_idx = layer_idx
        self.heads = config.num_heads
        self.bidirectional = bidirectional
        self.num_buckets = config.relative_attention_num_buckets
        self.max_distance = config.relative_attention_max_distance
        self.dropout_p = config.dropout_rate
        inner = config.num_heads * config.d_kv
        self.q = nn.Linear(config.d_model, inner, bias=False)
        self.k = nn.Linear(config.d_model, inner, bias=False)
        self.v = nn.Linear(config.d_model, inner, bias=False)
        self.o = nn.Linear(inner, config.d_model, bias=False)
        if relative_bias:
            self.relative_attention_bias = nn.Embedding(self.num_buckets, self.heads)

    def position_bias(self, q_len: int, k_len: int, start: int, device: torch.device) -> Tensor:
        """(1, H, q_len, k_len) bias for queries at ``start ..`` over keys at ``0 .. k_len``."""
        queries = torch.arange(start, start + q_len, device=device)[:, None]
        keys = torch.arange(k_len, device=device)[None, :]
        buckets = relative_position_bucket(
            keys - queries,
            bidirectional=self.bidirectional,
            num_buckets=self.num_buckets,
            max_distance=self.max_distance,
        )
        return self.relative_attention_bias(buckets).permute(2, 0, 1)[None]

    def _keys_values(
        self, x: Tensor, source: Tensor | None, cache: Cache | None, *, write: bool = True
    ) -> tuple[Tensor, Tensor]:
        if source is not None:

            def project() -> tuple[Tensor, Tensor]:
                return split_heads(self.k(source), self.heads), split_heads(self.v(source), self.heads)

            return cache.cross(self.layer_idx, project) if cache is not None else project()
        k, v = split_heads(self.k(x), self.heads), split_heads(self.v(x), self.heads)  # (B, H, T, D)
        if cache is not None and write:
            return cache.update(self.layer_idx, k, v)
        if cache is not None:  # read only (attention probabilities): the past, then the new keys
            past_k, past_v = cache.self_attention[self.layer_idx]
            if past_k is not None:
                k, v = torch.cat((past_k, k), dim=2), torch.cat((past_v, v), dim=2)
        return k, v

    def forward(
        self, x: Tensor, mask: Tensor | None, cache: Cache | None = None, source: Tensor | None = None
    ) -> Tensor:
        q = split_heads(self.q(x), self.heads)  # (B, H, T, D)
        k, v = self._keys_values(x, source, cache)
        dropout = self.dropout_p if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, scale=1.0)
        return self.o(merge_heads(out))

    def probs(
        self, x: Tensor, mask: Tensor | None, cache: Cache | None = None, source: Tensor | None = None
    ) -> Tensor:
        """The probabilities ``forward`` weighs values by, (B, H, T_q, T_k); never writes the cache."""
        q = split_heads(self.q(x), self.heads)
        k, _ = self._keys_values(x, source, cache, write=False)
        scores = (q @ k.transpose(-1, -2)).float()
        if mask is not None:
            scores = scores + mask.float()
        return scores.softmax(-1).to(q.dtype)


class T5DenseActDense(nn.Module):
    """wo(act(wi(x))), T5's feed-forward."""

    def __init__(self, config: T5Config) -> None:
        super().__init__()
        self.wi = nn.Linear(config.d_model, config.d_ff, bias=False)
        self.wo = nn.Linear(config.d_ff, config.d_model, bias=False)
        self.dropout = nn.Dropout(config.dropout_rate)
        self.act = activation(config.act)

    def forward(self, x: Tensor) -> Tensor:
        return self.wo(self.dropout(self.act(self.wi(x))))


class T5DenseGatedActDense(nn.Module):
    """wo(act(wi_0(x)) * wi_1(x)), v1.1's gated feed-forward (Shazeer, 2020)."""

    def __init__(self, config: T5Config) -> None:
        super().__init__()
        self.wi_0 = nn.Linear(config.d_model, config.d_ff, bias=False)
        self.wi_1 = nn.Linear(config.d_model, config.d_ff, bias=False)
        self.wo = nn.Linear(config.d_ff, config.d_model, bias=False)
        self.dropout = nn.Dropout(config.dropout_rate)
        self.act = activation(config.act)

    def forward(self, x: Tensor) -> Tensor:
        return self.wo(self.dropout(self.act(self.wi_0(x)) * self.wi_1(x)))


class T5LayerSelfAttention(nn.Module):
    def __init__(self, config: T5Config, *, relative_bias: bool, decoder: bool, layer_idx: int) -> None:
        super().__init__()
        self.SelfAttention = T5Attention(
            config, relative_bias=relative_bias, bidirectional=not decoder, layer_idx=layer_idx
        )
        self.layer_norm = T5LayerNorm(config.d_model, config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, x: Tensor, mask: Tensor | None, cache: Cache | None) -> Tensor:
        return x + self.dropout(self.SelfAttention(self.layer_norm(x), mask, cache))

    def probs(self, x: Tensor, mask: Tensor | None, cache: Cache | None) -> Tensor:
        return self.SelfAttention.probs(self.layer_norm(x), mask, cache)


class T5LayerCrossAttention(nn.Module):
    def __init__(self, config: T5Config, *, layer_idx: int) -> None:
        super().__init__()
        self.EncDecAttention = T5Attention(
            config, relative_bias=False, bidirectional=True, layer_idx=layer_idx
        )
        self.layer_norm = T5LayerNorm(config.d_model, config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, x: Tensor, source: Tensor, mask: Tensor | None, cache: Cache | None) -> Tensor:
        return x + self.dropout(self.EncDecAttention(self.layer_norm(x), mask, cache, source))

    def probs(self, x: Tensor, source: Tensor, mask: Tensor | None, cache: Cache | None) -> Tensor:
        return self.EncDecAttention.probs(self.layer_norm(x), mask, cache, source)


class T5LayerFF(nn.Module):
    def __init__(self, config: T5Config) -> None:
        super().__init__()
        self.DenseReluDense = T5DenseGatedActDense(config) if config.gated else T5DenseActDense(config)
        self.layer_norm = T5LayerNorm(config.d_model, config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.dropout(self.DenseReluDense(self.layer_norm(x)))


class T5Block(nn.Module):
    """``layer``: self-attention, (decoder) cross-attention, feed-forward; each pre-norm and residual."""

    def __init__(self, config: T5Config, *, decoder: bool, layer_idx: int) -> None:
        super().__init__()
        self.decoder = decoder
        layers: list[nn.Module] = [
            T5LayerSelfAttention(config, relative_bias=layer_idx == 0, decoder=decoder, layer_idx=layer_idx)
        ]
        if decoder:
            layers.append(T5LayerCrossAttention(config, layer_idx=layer_idx))
        layers.append(T5LayerFF(config))
        self.layer = nn.ModuleList(layers)

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None,
        source: Tensor | None,
        source_mask: Tensor | None,
        cache: Cache | None,
    ) -> Tensor:
        x = self.layer[0](x, mask, cache)
        if self.decoder:
            x = self.layer[1](x, source, source_mask, cache)
        return self.layer[-1](x)

    def traced(
        self,
        x: Tensor,
        mask: Tensor | None,
        source: Tensor | None,
        source_mask: Tensor | None,
        cache: Cache | None,
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """``forward`` that also returns the self- and cross-attention probabilities (``output_attentions``)."""
        self_probs = self.layer[0].probs(x, mask, cache)
        x = self.layer[0](x, mask, cache)
        cross_probs = None
        if self.decoder:
            cross_probs = self.layer[1].probs(x, source, source_mask, cache)
            x = self.layer[1](x, source, source_mask, cache)
        return self.layer[-1](x), self_probs, cross_probs


def additive_mask(allowed: Tensor | None, bias: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    """SDPA's float mask: ``bias`` (or zeros) where ``allowed``, the dtype's minimum elsewhere (a row
    with no allowed key gets a uniform softmax, never NaN, as transformers)."""
    if allowed is None:
        return bias
    if bias is None:
        bias = torch.zeros((), dtype=dtype, device=allowed.device)
    return torch.where(allowed, bias, torch.finfo(dtype).min)


class T5Stack(nn.Module):
    """The encoder or decoder: embeddings (B, T, H) in, final-normed states (B, T, H) out."""

    def __init__(self, config: T5Config, *, decoder: bool) -> None:
        super().__init__()
        self.is_decoder = decoder
        n = config.decoder_layers if decoder else config.num_layers
        self.block = nn.ModuleList(T5Block(config, decoder=decoder, layer_idx=i) for i in range(n))
        self.final_layer_norm = T5LayerNorm(config.d_model, config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None,
        *,
        source: Tensor | None = None,
        source_mask: Tensor | None = None,
        cache: Cache | None = None,
        record: Record | None = None,
        cross: list[Tensor] | None = None,
        checkpointed: dict[str, Any] | None = None,
    ) -> Tensor:
        """x (B, T, H) embeddings; ``mask`` (B, past + T) 1/0; ``source``/``source_mask`` the encoder's
        states (B, S, H) and mask (B, S) (decoder); ``record``/``cross`` collect what a forward asked."""
        b, t = x.shape[:2]
        start = cache.get_seq_length() if cache is not None else 0
        k_len, device = start + t, x.device
        bias = self.block[0].layer[0].SelfAttention.position_bias(t, k_len, start, device).to(x.dtype)
        allowed = None if mask is None or bool(mask.all()) else mask.bool()[:, None, None, :k_len]
        if self.is_decoder and t > 1:  # (1, 1, T, K): queries at start .. see keys up to themselves
            causal = torch.ones(t, k_len, dtype=torch.bool, device=device).tril(start)[None, None]
            allowed = causal if allowed is None else allowed & causal
        self_mask = additive_mask(allowed, bias, x.dtype)
        source_mask = None if source_mask is None or bool(source_mask.all()) else source_mask
        cross_mask = None
        if source is not None and source_mask is not None:
            cross_mask = additive_mask(source_mask.bool()[:, None, None, :], None, x.dtype)
        if record is not None and record.attentions is not None and cache is not None and cache.static:
            raise ValueError("output_attentions is not available with a static cache")
        x = self.dropout(x)
        for block in self.block:
            if record is not None:
                record.hidden(x)
            if record is not None and record.attentions is not None:
                x, self_probs, cross_probs = block.traced(x, self_mask, source, cross_mask, cache)
                record.attentions.append(self_probs)
                if cross is not None and cross_probs is not None:
                    cross.append(cross_probs)
            elif checkpointed is not None:
                x = checkpoint(block, x, self_mask, source, cross_mask, None, **checkpointed)
            else:
                x = block(x, self_mask, source, cross_mask, cache)
        if cache is not None:
            cache.advance(t)
        x = self.dropout(self.final_layer_norm(x))
        if record is not None:
            record.hidden(x)
        return x


# --- models ------------------------------------------------------------------------------------


class T5PreTrainedModel(PreTrainedModel):
    config_class = T5Config
    base_model_prefix = ""  # every T5 class keeps shared/encoder/decoder at the top level
    input_embeddings = "shared"
    ignored_keys = (
        r"^(encoder|decoder)\.embed_tokens\.weight$",  # tied copies of shared.weight
        r"^decoder\.block\.0\.layer\.1\.EncDecAttention\.relative_attention_bias\.weight$",  # unused, old files
    )

    def init_missing(self, name: str, tensor: Tensor) -> None:
        """transformers' T5 initialisation: each matrix normal with a std that keeps the unscaled
        attention and the residual stream near unit scale (``initializer_factor`` times it)."""
        c, f = self.config, self.config.initializer_factor
        std = {
            "q": (c.d_model * c.d_kv) ** -0.5,
            "k": c.d_model**-0.5,
            "v": c.d_model**-0.5,
            "o": (c.num_heads * c.d_kv) ** -0.5,
            "relative_attention_bias": c.d_model**-0.5,
            "wi": c.d_model**-0.5,
            "wi_0": c.d_model**-0.5,
            "wi_1": c.d_model**-0.5,
            "wo": c.d_ff**-0.5,
        }.get(name.rsplit(".", 2)[-2] if name.count(".") >= 1 else "", 1.0)
        with torch.no_grad():
            if tensor.ndim == 1:
                tensor.fill_(f)
            else:
                tensor.normal_(0.0, f * std)

    def make_cache(
        self,
        batch_size: int,
        max_length: int,
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | None = None,
    ) -> EncoderDecoderCache:
        """A preallocated decoder cache for ``batch_size`` sequences of up to ``max_length`` tokens."""
        c = self.config
        return EncoderDecoderCache(
            KVCache(
                num_layers=c.decoder_layers,
                batch_size=batch_size,
                num_kv_heads=c.num_heads,
                head_dim=c.d_kv,
                max_length=max_length,
                dtype=dtype or self.dtype,
                device=device or self.device,
            )
        )

    def _cache(self, cache: Any, past_key_values: Any, use_cache: bool | None) -> EncoderDecoderCache | None:
        checkpointing = self.checkpoint_options() is not None
        cache = kv_cache.for_forward(
            cache,
            past_key_values,
            use_cache,
            default=self.config.use_cache,
            num_layers=self.config.decoder_layers,
            checkpointing=checkpointing,
        )
        if cache is not None and not isinstance(cache, EncoderDecoderCache):
            cache = EncoderDecoderCache(cache)
        return cache

    def encode(
        self,
        input_ids: Tensor | None,
        attention_mask: Tensor | None = None,
        *,
        inputs_embeds: Tensor | None = None,
        record: Record | None = None,
    ) -> Tensor:
        """The encoder's tensor path: (B, S) ids (1/0 mask) -> (B, S, H) states."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids or inputs_embeds")
        x = self.shared(input_ids) if inputs_embeds is None else inputs_embeds
        return self.encoder(x, attention_mask, record=record, checkpointed=self.checkpoint_options())

    def _encoder_output(
        self,
        input_ids: Tensor | None,
        attention_mask: Tensor | None,
        inputs_embeds: Tensor | None,
        encoder_outputs: Any,
        output_hidden_states: bool | None,
        output_attentions: bool | None,
    ) -> BaseModelOutput:
        if encoder_outputs is None:
            record = Record.asked(self.config, output_hidden_states, output_attentions)
            hidden = self.encode(input_ids, attention_mask, inputs_embeds=inputs_embeds, record=record)
            return BaseModelOutput(last_hidden_state=hidden, **recorded(record))
        if isinstance(encoder_outputs, BaseModelOutput):
            return encoder_outputs
        if isinstance(encoder_outputs, Tensor):
            return BaseModelOutput(last_hidden_state=encoder_outputs)
        parts = tuple(encoder_outputs)  # transformers' tuple form: (last, hidden_states?, attentions?)
        return BaseModelOutput(
            last_hidden_state=parts[0],
            hidden_states=parts[1] if len(parts) > 1 else None,
            attentions=parts[2] if len(parts) > 2 else None,
        )

    def _decoder_hidden(
        self,
        decoder_input_ids: Tensor | None,
        decoder_attention_mask: Tensor | None,
        decoder_inputs_embeds: Tensor | None,
        encoder_hidden: Tensor,
        encoder_mask: Tensor | None,
        cache: Cache | None,
        record: Record | None = None,
        cross: list[Tensor] | None = None,
    ) -> Tensor:
        if decoder_input_ids is not None and decoder_inputs_embeds is not None:
            raise ValueError("pass decoder_input_ids or decoder_inputs_embeds, not both")
        x = self.shared(decoder_input_ids) if decoder_inputs_embeds is None else decoder_inputs_embeds
        return self.decoder(
            x,
            decoder_attention_mask,
            source=encoder_hidden,
            source_mask=encoder_mask,
            cache=cache,
            record=record,
            cross=cross,
            checkpointed=self.checkpoint_options(),
        )

    def _seq2seq(
        self,
        input_ids: Tensor | None,
        attention_mask: Tensor | None,
        decoder_input_ids: Tensor | None,
        decoder_attention_mask: Tensor | None,
        encoder_outputs: Any,
        cache: Any,
        past_key_values: Any,
        inputs_embeds: Tensor | None,
        decoder_inputs_embeds: Tensor | None,
        use_cache: bool | None,
        output_attentions: bool | None,
        output_hidden_states: bool | None,
    ) -> tuple[Tensor, dict[str, Any]]:
        """The decoder's last states (B, T, H) and the other fields of a Seq2Seq output."""
        if decoder_input_ids is None and decoder_inputs_embeds is None:
            raise ValueError(
                f"{type(self).__name__} needs decoder_input_ids (or decoder_inputs_embeds, or labels for"
                " T5ForConditionalGeneration, which are shifted right into decoder inputs); to run the"
                " encoder alone use model.encoder / T5EncoderModel, to generate use model.generate(input_ids)"
            )
        encoder = self._encoder_output(
            input_ids, attention_mask, inputs_embeds, encoder_outputs, output_hidden_states, output_attentions
        )
        cache = self._cache(cache, past_key_values, use_cache)
        record = Record.asked(self.config, output_hidden_states, output_attentions)
        cross = [] if record is not None and record.attentions is not None else None
        hidden = self._decoder_hidden(
            decoder_input_ids,
            decoder_attention_mask,
            decoder_inputs_embeds,
            encoder.last_hidden_state,
            attention_mask,
            cache,
            record,
            cross,
        )
        decoded = recorded(record)
        return hidden, {
            "cache": cache,
            "decoder_hidden_states": decoded["hidden_states"],
            "decoder_attentions": decoded["attentions"],
            "cross_attentions": None if cross is None else tuple(cross),
            "encoder_last_hidden_state": encoder.last_hidden_state,
            "encoder_hidden_states": encoder.hidden_states,
            "encoder_attentions": encoder.attentions,
        }


class T5Model(T5PreTrainedModel):
    """Encoder and decoder without a head: (B, S) ids and (B, T) decoder ids -> (B, T, H) states."""

    def __init__(self, config: T5Config) -> None:
        super().__init__(config)
        self.shared = nn.Embedding(config.vocab_size, config.d_model)
        self.encoder = T5Stack(config, decoder=False)
        self.decoder = T5Stack(config, decoder=True)

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        decoder_input_ids: Tensor | None = None,
        decoder_attention_mask: Tensor | None = None,
        encoder_outputs: Any = None,
        past_key_values: Cache | None = None,
        inputs_embeds: Tensor | None = None,
        decoder_inputs_embeds: Tensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        *,
        cache: Cache | None = None,
    ) -> Seq2SeqModelOutput | tuple:
        """transformers' arguments: ``encoder_outputs`` (an earlier output or its tuple) skips the
        encoder; ``past_key_values``/``cache`` continue a decoder (``decoder_attention_mask`` then
        covers past and new tokens); ``use_cache`` (default: the config's, yes) returns one."""
        hidden, fields = self._seq2seq(
            input_ids,
            attention_mask,
            decoder_input_ids,
            decoder_attention_mask,
            encoder_outputs,
            cache,
            past_key_values,
            inputs_embeds,
            decoder_inputs_embeds,
            use_cache,
            output_attentions,
            output_hidden_states,
        )
        return returned(Seq2SeqModelOutput(last_hidden_state=hidden, **fields), return_dict, self.config)


class T5ForConditionalGeneration(T5PreTrainedModel):
    """(B, S) ids and (B, T) decoder ids -> (B, T, vocab) logits; ``generate`` decodes from the encoder's states."""

    tied_weights = {"lm_head.weight": "shared.weight"}
    output_embeddings = "lm_head"
    transposed_linears = True  # float32 weights column-major: faster small-batch decoding

    def __init__(self, config: T5Config) -> None:
        super().__init__(config)
        self.shared = nn.Embedding(config.vocab_size, config.d_model)
        self.encoder = T5Stack(config, decoder=False)
        self.decoder = T5Stack(config, decoder=True)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.tie_weights()

    def head_input(self, hidden: Tensor) -> Tensor:
        """(B, T, H) decoder states as the lm_head reads them: scaled by d_model ** -0.5 when the config says."""
        return hidden * (self.config.d_model**-0.5) if self.config.scales_output else hidden

    def decode_hidden(
        self,
        decoder_ids: Tensor,
        encoder_hidden: Tensor,
        encoder_mask: Tensor | None,
        cache: EncoderDecoderCache,
    ) -> Tensor:
        """``decode`` before the lm_head: (B, T, H) (greedy generation takes its argmax from these)."""
        hidden = self._decoder_hidden(decoder_ids, None, None, encoder_hidden, encoder_mask, cache)
        return self.head_input(hidden)

    def decode(
        self,
        decoder_ids: Tensor,
        encoder_hidden: Tensor,
        encoder_mask: Tensor | None,
        cache: EncoderDecoderCache,
    ) -> Tensor:
        """The decoder's tensor path: (B, T) ids after the ``cache.get_seq_length()`` cached ones ->
        (B, T, V) logits; the cache advances by T (cross keys projected on its first call)."""
        return self.lm_head(self.decode_hidden(decoder_ids, encoder_hidden, encoder_mask, cache))

    def prepare_decoder_input_ids_from_labels(self, labels: Tensor) -> Tensor:
        """Labels shifted right: ``decoder_start_token_id`` first, -100 replaced by the pad id (transformers'
        ``_shift_right``)."""
        return losses.shift_labels_right(labels, self.config.pad_token_id, self.config.decoder_start_token_id)

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        decoder_input_ids: Tensor | None = None,
        decoder_attention_mask: Tensor | None = None,
        encoder_outputs: Any = None,
        past_key_values: Cache | None = None,
        inputs_embeds: Tensor | None = None,
        decoder_inputs_embeds: Tensor | None = None,
        labels: Tensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        *,
        cache: Cache | None = None,
    ) -> Seq2SeqLMOutput | tuple:
        """``labels`` (B, T) int64 target ids, -100 where no loss is wanted; without decoder inputs
        they are shifted right into them. The rest as in :class:`T5Model`."""
        if labels is not None:
            labels = _check_labels(labels)
            if decoder_input_ids is None and decoder_inputs_embeds is None:
                decoder_input_ids = self.prepare_decoder_input_ids_from_labels(labels)
        hidden, fields = self._seq2seq(
            input_ids,
            attention_mask,
            decoder_input_ids,
            decoder_attention_mask,
            encoder_outputs,
            cache,
            past_key_values,
            inputs_embeds,
            decoder_inputs_embeds,
            use_cache,
            output_attentions,
            output_hidden_states,
        )
        logits = self.lm_head(self.head_input(hidden))
        if labels is not None and _shape(labels) != _shape(logits)[:-1]:
            raise ValueError(
                f"labels has shape {_shape(labels)} but the decoder inputs give logits {_shape(logits)}:"
                f" labels must be shaped like decoder_input_ids {_shape(logits)[:-1]}"
            )
        loss = None if labels is None else losses.masked_lm(logits, labels)
        return returned(Seq2SeqLMOutput(loss=loss, logits=logits, **fields), return_dict, self.config)


class T5EncoderModel(T5PreTrainedModel):
    """The encoder alone: (B, S) ids -> (B, S, H) states (for embeddings, classifiers)."""

    ignored_keys = (*T5PreTrainedModel.ignored_keys, r"^decoder\.", r"^lm_head\.weight$")

    def __init__(self, config: T5Config) -> None:
        super().__init__(config)
        self.shared = nn.Embedding(config.vocab_size, config.d_model)
        self.encoder = T5Stack(config, decoder=False)

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> BaseModelOutput | tuple:
        out = self._encoder_output(
            input_ids, attention_mask, inputs_embeds, None, output_hidden_states, output_attentions
        )
        return returned(out, return_dict, self.config)


def _shape(t: Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def _check_labels(labels: Any) -> Tensor:
    if not isinstance(labels, Tensor):
        raise TypeError(f"labels must be a Tensor of int64 token ids, not {type(labels).__name__}")
    if labels.dtype != torch.long:
        raise TypeError(f"labels must hold int64 token ids (got {labels.dtype}); pass labels.long()")
    if labels.ndim != 2:
        raise ValueError(f"labels has shape {_shape(labels)}; a seq2seq LM needs (batch, target_length)")
    return labels


# --- registry entries --------------------------------------------------------------------------

CONFIGS = {"t5": T5Config}
MODELS = {"base": T5Model, "seq2seq-lm": T5ForConditionalGeneration}
