"""BART (Lewis et al., 2019): a post-norm Transformer encoder-decoder with learned positions (offset
by 2), a LayerNorm on the embeddings, GELU and a tied LM head plus ``final_logits_bias``. Matches
transformers' ``modeling_bart`` with SDPA attention; parameter names are the checkpoint keys.

The stacks here (:class:`BartEncoder`, :class:`BartDecoder`) take their token embedding and position
module from the model that builds them, so Marian (``cove.models.marian``, a copy of BART in
transformers with sinusoidal positions and no embedding norm) builds the same stacks with its own parts.

The tensor path generation uses (the encoder-decoder contract of :mod:`cove.generation`):

- ``model.encode(input_ids, attention_mask) -> (B, S, H)``, the encoder's last hidden state;
- ``model.make_cache(batch_size, max_length) -> EncoderDecoderCache`` holding a preallocated
  :class:`KVCache` for the decoder's self-attention (cross-attention keys are projected once, on the
  first decode);
- ``model.decode(decoder_ids (B, T), encoder_hidden, encoder_mask (B, S), cache) -> (B, T, V)``
  logits, continuing at position ``cache.get_seq_length()`` and advancing the cache by T.

Each model's public ``forward`` takes transformers' arguments (``decoder_input_ids``, ``labels``,
``encoder_outputs``, ``past_key_values``/``cache``, ``use_cache``, ``output_*``, ``return_dict``)
and returns its output object (:mod:`cove.models.outputs`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from cove.models._shared import kv_cache, losses
from cove.models._shared.activations import activation
from cove.models._shared.attention import (
    attend,
    attention_probs,
    causal_mask,
    merge_heads,
    padding_mask,
    slot_mask,
    split_heads,
)
from cove.models._shared.kv_cache import EncoderDecoderCache
from cove.models.configuration import PretrainedConfig
from cove.models.modeling import PreTrainedModel
from cove.models.outputs import (
    BaseModelOutput,
    Record,
    Seq2SeqLMOutput,
    Seq2SeqModelOutput,
    SequenceClassifierOutput,
    as_encoder_output,
    recorded,
    returned,
    seq2seq_fields,
)


@dataclass
class BartConfig(PretrainedConfig):
    """config.json of a BART model; defaults are bart-large's."""

    model_type = "bart"

    vocab_size: int = 50265
    max_position_embeddings: int = 1024
    d_model: int = 1024
    encoder_layers: int = 12
    encoder_ffn_dim: int = 4096
    encoder_attention_heads: int = 16
    decoder_layers: int = 12
    decoder_ffn_dim: int = 4096
    decoder_attention_heads: int = 16
    encoder_layerdrop: float = 0.0
    decoder_layerdrop: float = 0.0
    activation_function: str = "gelu"
    dropout: float = 0.1
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0
    init_std: float = 0.02
    classifier_dropout: float = 0.0
    scale_embedding: bool = False
    pad_token_id: int | None = 1
    bos_token_id: int | None = 0
    eos_token_id: int | list[int] | None = 2
    is_encoder_decoder: bool = True
    is_decoder: bool = False
    decoder_start_token_id: int | None = 2
    forced_bos_token_id: int | None = None
    forced_eos_token_id: int | list[int] | None = 2

    @property
    def hidden_size(self) -> int:
        return self.d_model

    @property
    def num_hidden_layers(self) -> int:
        return self.encoder_layers

    @property
    def num_attention_heads(self) -> int:
        return self.encoder_attention_heads


# --- layers ------------------------------------------------------------------------------------


class LearnedPositions(nn.Embedding):
    """BART's learned positions: row ``p + 2`` for position p (fairseq kept two rows for padding)."""

    offset = 2

    def __init__(self, max_positions: int, dim: int) -> None:
        super().__init__(max_positions + self.offset, dim)

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        return super().forward(positions + self.offset)


class BartAttention(nn.Module):
    """Multi-head attention; self-attention when ``memory`` is None, else cross-attention over it."""

    def __init__(self, dim: int, heads: int, dropout: float, layer_idx: int) -> None:
        super().__init__()
        self.heads = heads
        self.layer_idx = layer_idx
        self.dropout_p = dropout
        self.scale = (dim // heads) ** -0.5
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.q_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def _qkv(self, x: torch.Tensor, memory: torch.Tensor | None, cache: Any) -> tuple[torch.Tensor, ...]:
        q = split_heads(self.q_proj(x), self.heads)  # (B, H, T, D)
        if memory is None:
            k, v = split_heads(self.k_proj(x), self.heads), split_heads(self.v_proj(x), self.heads)
            if cache is not None:
                k, v = cache.update(self.layer_idx, k, v)
            return q, k, v

        def project() -> tuple[torch.Tensor, torch.Tensor]:
            return split_heads(self.k_proj(memory), self.heads), split_heads(self.v_proj(memory), self.heads)

        k, v = cache.cross(self.layer_idx, project) if cache is not None else project()
        return q, k, v

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None,
        cache: Any,
        memory: torch.Tensor | None = None,
        *,
        causal: bool = False,
        probs: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """(B, T, dim) -> (B, T, dim); ``probs`` (output_attentions) receives the (B, heads, T, T_k)
        attention probabilities."""
        q, k, v = self._qkv(x, memory, cache)
        if probs is not None:
            probs.append(attention_probs(q, k, mask, causal=causal, scale=self.scale))
        dropout = self.dropout_p if self.training else 0.0
        out = attend(q, k, v, mask, causal=causal, dropout=dropout, scale=self.scale)
        return self.out_proj(merge_heads(out))


def _feed_forward(layer: Any, x: torch.Tensor) -> torch.Tensor:
    """fc1 -> activation -> dropout -> fc2 -> dropout of an encoder or decoder layer."""
    h = layer.activation_dropout(layer.act(layer.fc1(x)))
    return layer.dropout(layer.fc2(h))


class BartEncoderLayer(nn.Module):
    """Post-norm: x = norm(x + attn(x)); x = norm(x + ffn(x))."""

    def __init__(self, config: Any, layer_idx: int) -> None:
        super().__init__()
        dim = config.d_model
        self.self_attn = BartAttention(dim, config.encoder_attention_heads, config.attention_dropout, layer_idx)
        self.self_attn_layer_norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, config.encoder_ffn_dim)
        self.fc2 = nn.Linear(config.encoder_ffn_dim, dim)
        self.final_layer_norm = nn.LayerNorm(dim)
        self.act = activation(config.activation_function)
        self.dropout = nn.Dropout(config.dropout)
        self.activation_dropout = nn.Dropout(config.activation_dropout)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, probs: list[torch.Tensor] | None = None
    ) -> torch.Tensor:
        x = self.self_attn_layer_norm(x + self.dropout(self.self_attn(x, mask, None, probs=probs)))
        return self.final_layer_norm(x + _feed_forward(self, x))


class BartDecoderLayer(nn.Module):
    """Post-norm: causal self-attention, cross-attention over the encoder's output, feed-forward."""

    def __init__(self, config: Any, layer_idx: int) -> None:
        super().__init__()
        dim, heads = config.d_model, config.decoder_attention_heads
        self.self_attn = BartAttention(dim, heads, config.attention_dropout, layer_idx)
        self.self_attn_layer_norm = nn.LayerNorm(dim)
        self.encoder_attn = BartAttention(dim, heads, config.attention_dropout, layer_idx)
        self.encoder_attn_layer_norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, config.decoder_ffn_dim)
        self.fc2 = nn.Linear(config.decoder_ffn_dim, dim)
        self.final_layer_norm = nn.LayerNorm(dim)
        self.act = activation(config.activation_function)
        self.dropout = nn.Dropout(config.dropout)
        self.activation_dropout = nn.Dropout(config.activation_dropout)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None,
        memory: torch.Tensor,
        memory_mask: torch.Tensor | None,
        cache: Any,
        probs: list[torch.Tensor] | None = None,
        cross_probs: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        h = self.self_attn(x, mask, cache, causal=True, probs=probs)
        x = self.self_attn_layer_norm(x + self.dropout(h))
        h = self.encoder_attn(x, memory_mask, cache, memory, probs=cross_probs)
        x = self.encoder_attn_layer_norm(x + self.dropout(h))
        return self.final_layer_norm(x + _feed_forward(self, x))


class BartEncoder(nn.Module):
    """(B, S) ids -> (B, S, d_model): scaled token embeddings + positions (+ LayerNorm), then layers."""

    def __init__(
        self, config: Any, embed_tokens: nn.Embedding, embed_positions: nn.Module, *, norm_embedding: bool
    ) -> None:
        super().__init__()
        self.embed_scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0
        self.embed_tokens = embed_tokens
        self.embed_positions = embed_positions
        self.layers = nn.ModuleList(BartEncoderLayer(config, i) for i in range(config.encoder_layers))
        self.layernorm_embedding = nn.LayerNorm(config.d_model) if norm_embedding else None
        self.dropout = nn.Dropout(config.dropout)

    def hidden(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        *,
        record: Record | None = None,
        checkpointed: dict[str, Any] | None = None,
    ) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.embed_tokens(input_ids) * self.embed_scale
        x = x + self.embed_positions(positions).to(x.dtype)
        if self.layernorm_embedding is not None:
            x = self.layernorm_embedding(x)
        x = self.dropout(x)
        mask = padding_mask(attention_mask)
        for layer in self.layers:
            if record is not None:
                record.hidden(x)
            if checkpointed is not None and (record is None or record.attentions is None):
                x = checkpoint(layer, x, mask, **checkpointed)
            else:
                x = layer(x, mask, None if record is None else record.attentions)
        if record is not None:
            record.hidden(x)
        return x

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> BaseModelOutput:
        """transformers' ``model.get_encoder()(input_ids, attention_mask)``: the encoder's output object."""
        return BaseModelOutput(last_hidden_state=self.hidden(input_ids, attention_mask))


class BartDecoder(nn.Module):
    """(B, T) ids -> (B, T, d_model) attending over the encoder's (B, S, d_model) output."""

    def __init__(
        self, config: Any, embed_tokens: nn.Embedding, embed_positions: nn.Module, *, norm_embedding: bool
    ) -> None:
        super().__init__()
        self.embed_scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0
        self.embed_tokens = embed_tokens
        self.embed_positions = embed_positions
        self.layers = nn.ModuleList(BartDecoderLayer(config, i) for i in range(config.decoder_layers))
        self.layernorm_embedding = nn.LayerNorm(config.d_model) if norm_embedding else None
        self.dropout = nn.Dropout(config.dropout)

    def hidden(
        self,
        input_ids: torch.Tensor,
        encoder_hidden: torch.Tensor,
        encoder_mask: torch.Tensor | None,
        attention_mask: torch.Tensor | None = None,
        cache: Any = None,
        *,
        record: Record | None = None,
        cross: list[torch.Tensor] | None = None,
        checkpointed: dict[str, Any] | None = None,
    ) -> torch.Tensor:
        """``attention_mask`` (B, past + T) covers cached and new tokens; ``cross`` collects the
        cross-attention probabilities (with ``record.attentions``)."""
        t = input_ids.shape[1]
        static = cache is not None and cache.static
        if static:  # positions are the cache slots; the mask hides empty slots (see KVCache)
            own = cache.self_attention
            positions = own.slots
            full = attention_mask
            if full is None:
                full = torch.ones(input_ids.shape[0], own.max_length, device=input_ids.device)
            mask = slot_mask(full, own.slots)
        else:
            start = cache.get_seq_length() if cache is not None else 0
            positions = torch.arange(start, start + t, device=input_ids.device)
            mask = causal_mask(attention_mask, q_len=t, start=start, device=input_ids.device)
        x = self.embed_tokens(input_ids) * self.embed_scale
        x = x + self.embed_positions(positions).to(x.dtype)
        if self.layernorm_embedding is not None:
            x = self.layernorm_embedding(x)
        x = self.dropout(x)
        memory_mask = padding_mask(encoder_mask)
        attentions = None if record is None else record.attentions
        if attentions is not None and static:
            raise ValueError("output_attentions is not available with a static cache")
        for layer in self.layers:
            if record is not None:
                record.hidden(x)
            if checkpointed is not None and attentions is None:
                x = checkpoint(layer, x, mask, encoder_hidden, memory_mask, None, **checkpointed)
            else:
                x = layer(x, mask, encoder_hidden, memory_mask, cache, attentions, cross)
        if cache is not None:
            cache.advance(t)
        if record is not None:
            record.hidden(x)
        return x


# --- models ------------------------------------------------------------------------------------


def _check_ids(name: str, value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of token ids, not {type(value).__name__}")
    if value.ndim != 2:
        raise ValueError(f"{name} must be (batch, length) token ids; got shape {tuple(value.shape)}")
    return value


def _check_labels(labels: Any, decoder_input_ids: torch.Tensor | None, batch: int | None) -> torch.Tensor:
    labels = _check_ids("labels", labels)
    if labels.dtype not in (torch.long, torch.uint8):
        raise TypeError(f"labels must hold int64 token ids (got {labels.dtype}); pass labels.long()")
    if decoder_input_ids is not None and labels.shape != decoder_input_ids.shape:
        raise ValueError(
            f"labels has shape {tuple(labels.shape)} but decoder_input_ids has {tuple(decoder_input_ids.shape)}:"
            " pass one label per decoder input (or labels alone, shifted right into decoder inputs)"
        )
    if batch is not None and labels.shape[0] != batch:
        raise ValueError(f"labels has {labels.shape[0]} rows but input_ids has {batch}")
    return labels


class BartPreTrainedModel(PreTrainedModel):
    """What every BART-shaped model shares: the generation contract and the seq2seq forward."""

    config_class = BartConfig
    base_model_prefix = "model"
    input_embeddings = "shared"
    ignored_keys = (r"encoder\.version$", r"decoder\.version$")
    main_input_name = "input_ids"
    shifts_input_ids = False  # an LM head given neither decoder inputs nor labels: shift input_ids?

    # --- the generation contract ---------------------------------------------------------------

    def make_cache(
        self,
        batch_size: int,
        max_length: int,
        dtype: torch.dtype | None = None,
        device: torch.device | None = None,
    ) -> EncoderDecoderCache:
        """A cache for ``batch_size`` sequences of up to ``max_length`` decoder tokens."""
        c = self.config
        return kv_cache.encoder_decoder(
            num_layers=c.decoder_layers,
            heads=c.decoder_attention_heads,
            head_dim=c.d_model // c.decoder_attention_heads,
            batch_size=batch_size,
            max_length=max_length,
            dtype=dtype or self.dtype,
            device=device or self.device,
        )

    def get_encoder(self) -> BartEncoder:
        return self.base_model.encoder

    def get_decoder(self) -> BartDecoder:
        return self.base_model.decoder

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, S) ids -> (B, S, d_model), the encoder's last hidden state."""
        return self.base_model.encoder.hidden(input_ids, attention_mask)

    # --- the public forward ----------------------------------------------------------------------

    def _cache(self, cache: Any, past_key_values: Any, use_cache: bool | None) -> EncoderDecoderCache | None:
        return kv_cache.for_seq2seq_forward(
            cache,
            past_key_values,
            use_cache,
            default=self.config.use_cache,
            num_layers=self.config.decoder_layers,
            checkpointing=self.checkpoint_options() is not None,
        )

    def _seq2seq(
        self,
        input_ids: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        decoder_input_ids: torch.Tensor | None,
        decoder_attention_mask: torch.Tensor | None,
        encoder_outputs: Any,
        cache: Any,
        output_attentions: bool | None,
        output_hidden_states: bool | None,
    ) -> dict[str, Any]:
        """Run encoder (unless ``encoder_outputs`` are given) and decoder; the fields of a
        :class:`Seq2SeqModelOutput`, with the decoder's output as ``last_hidden_state``."""
        base = self.base_model
        checkpointed = self.checkpoint_options()
        if encoder_outputs is None:
            if input_ids is None:
                raise ValueError("pass input_ids (or encoder_outputs) to run the encoder")
            input_ids = _check_ids("input_ids", input_ids)
            record = Record.asked(self.config, output_hidden_states, output_attentions)
            hidden = base.encoder.hidden(input_ids, attention_mask, record=record, checkpointed=checkpointed)
            encoder = BaseModelOutput(last_hidden_state=hidden, **recorded(record))
        else:
            encoder = as_encoder_output(encoder_outputs)
        decoder_input_ids = _check_ids("decoder_input_ids", decoder_input_ids)
        record = Record.asked(self.config, output_hidden_states, output_attentions)
        cross = None if record is None or record.attentions is None else []
        hidden = base.decoder.hidden(
            decoder_input_ids,
            encoder.last_hidden_state,
            attention_mask,
            decoder_attention_mask,
            cache,
            record=record,
            cross=cross,
            checkpointed=checkpointed,
        )
        return seq2seq_fields(hidden, cache, record, cross, encoder)


class BartModel(BartPreTrainedModel):
    """Encoder and decoder sharing one token embedding: -> (B, T, d_model) decoder hidden states."""

    tied_weights = {"encoder.embed_tokens.weight": "shared.weight", "decoder.embed_tokens.weight": "shared.weight"}

    def __init__(self, config: BartConfig) -> None:
        super().__init__(config)
        self.shared = nn.Embedding(config.vocab_size, config.d_model, config.pad_token_id)
        positions = config.max_position_embeddings
        self.encoder = BartEncoder(
            config, self.shared, LearnedPositions(positions, config.d_model), norm_embedding=True
        )
        self.decoder = BartDecoder(
            config, self.shared, LearnedPositions(positions, config.d_model), norm_embedding=True
        )

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.Tensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: Any = None,
        cache: Any = None,
        *,
        past_key_values: Any = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> Seq2SeqModelOutput | tuple:
        """Without ``decoder_input_ids`` the decoder reads ``input_ids`` shifted right (BART's
        denoising setup, as transformers). ``cache``/``past_key_values``: an earlier output's cache."""
        if decoder_input_ids is None:
            if input_ids is None:
                raise ValueError("pass decoder_input_ids, or input_ids to shift right into decoder inputs")
            decoder_input_ids = losses.shift_labels_right(
                _check_ids("input_ids", input_ids), self.config.pad_token_id, self.config.decoder_start_token_id
            )
        cache = self._cache(cache, past_key_values, use_cache)
        fields = self._seq2seq(
            input_ids,
            attention_mask,
            decoder_input_ids,
            decoder_attention_mask,
            encoder_outputs,
            cache,
            output_attentions,
            output_hidden_states,
        )
        return returned(Seq2SeqModelOutput(**fields), return_dict, self.config)


class BartForConditionalGeneration(BartPreTrainedModel):
    """(B, S) source ids and (B, T) decoder ids -> (B, T, vocab) logits; ``lm_head`` shares the
    token embedding, plus the ``final_logits_bias`` buffer."""

    tied_weights = {
        "model.encoder.embed_tokens.weight": "model.shared.weight",
        "model.decoder.embed_tokens.weight": "model.shared.weight",
        "lm_head.weight": "model.shared.weight",
    }
    output_embeddings = "lm_head"
    shifts_input_ids = True  # no decoder inputs nor labels: the decoder reads input_ids shifted right

    def __init__(self, config: BartConfig) -> None:
        super().__init__(config)
        self.model = BartModel(config)
        self.register_buffer("final_logits_bias", torch.zeros(1, config.vocab_size))
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.tie_weights()

    def init_missing(self, name: str, tensor: torch.Tensor) -> None:
        if name == "final_logits_bias":  # transformers initialises it to zeros (and may not save it)
            with torch.no_grad():
                tensor.zero_()
            return
        PreTrainedModel.init_missing(self, name, tensor)  # explicit: Marian's head reuses this method

    def resize_token_embeddings(self, new_num_tokens=None, pad_to_multiple_of=None, mean_resizing=True):
        embedding = PreTrainedModel.resize_token_embeddings(self, new_num_tokens, pad_to_multiple_of, mean_resizing)
        rows, old = embedding.num_embeddings, self.final_logits_bias.shape[-1]
        bias = self.final_logits_bias[:, :rows]
        if rows > old:
            bias = torch.cat((bias, bias.new_zeros(1, rows - old)), dim=1)
        self.final_logits_bias = bias
        return embedding

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.lm_head(hidden) + self.final_logits_bias

    def decode(
        self,
        decoder_ids: torch.Tensor,
        encoder_hidden: torch.Tensor,
        encoder_mask: torch.Tensor | None,
        cache: EncoderDecoderCache,
    ) -> torch.Tensor:
        """(B, T) ids -> (B, T, vocab) logits, continuing at ``cache.get_seq_length()``."""
        hidden = self.base_model.decoder.hidden(decoder_ids, encoder_hidden, encoder_mask, None, cache)
        return self.logits(hidden)

    def prepare_decoder_input_ids_from_labels(self, labels: torch.Tensor) -> torch.Tensor:
        return losses.shift_labels_right(labels, self.config.pad_token_id, self.config.decoder_start_token_id)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.Tensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: Any = None,
        cache: Any = None,
        *,
        past_key_values: Any = None,
        labels: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> Seq2SeqLMOutput | tuple:
        """``labels`` (B, T): target ids, -100 where no loss is wanted; without ``decoder_input_ids``
        the decoder reads them shifted right behind ``decoder_start_token_id`` (and no cache is made,
        as transformers). ``cache``/``past_key_values``: an earlier output's cache to continue from."""
        if labels is not None:
            batch = None if input_ids is None else input_ids.shape[0]
            labels = _check_labels(labels, decoder_input_ids, batch)
            use_cache = False if cache is None and past_key_values is None else use_cache
            if decoder_input_ids is None:
                decoder_input_ids = self.prepare_decoder_input_ids_from_labels(labels)
        if decoder_input_ids is None and input_ids is not None and self.shifts_input_ids:
            # BART's denoising setup, as transformers' BartModel does (its mask-filling example
            # calls ``model(input_ids).logits``)
            decoder_input_ids = self.prepare_decoder_input_ids_from_labels(_check_ids("input_ids", input_ids))
        if decoder_input_ids is None:
            raise ValueError(
                "pass decoder_input_ids or labels: a seq2seq LM needs the decoder's inputs (labels are"
                " shifted right into them)"
            )
        cache = self._cache(cache, past_key_values, use_cache)
        fields = self._seq2seq(
            input_ids,
            attention_mask,
            decoder_input_ids,
            decoder_attention_mask,
            encoder_outputs,
            cache,
            output_attentions,
            output_hidden_states,
        )
        logits = self.logits(fields.pop("last_hidden_state"))
        loss = None if labels is None else losses.masked_lm(logits, labels)
        return returned(Seq2SeqLMOutput(loss=loss, logits=logits, **fields), return_dict, self.config)


class BartClassificationHead(nn.Module):
    def __init__(self, dim: int, num_labels: int, dropout: float) -> None:
        super().__init__()
        self.dense = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)
        self.out_proj = nn.Linear(dim, num_labels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out_proj(self.dropout(torch.tanh(self.dense(self.dropout(x)))))


class BartForSequenceClassification(BartPreTrainedModel):
    """(B, S) ids -> (B, num_labels) logits from the decoder's state at each row's last ``</s>``
    (every row must hold the same number of them, as transformers requires)."""

    tied_weights = {
        "model.encoder.embed_tokens.weight": "model.shared.weight",
        "model.decoder.embed_tokens.weight": "model.shared.weight",
    }

    def __init__(self, config: BartConfig) -> None:
        super().__init__(config)
        self.model = BartModel(config)
        self.classification_head = BartClassificationHead(
            config.d_model, config.num_labels, config.classifier_dropout
        )

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.Tensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: Any = None,
        *,
        labels: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> SequenceClassifierOutput | tuple:
        if input_ids is None:
            raise ValueError("BartForSequenceClassification needs input_ids (it pools at their </s> tokens)")
        input_ids = _check_ids("input_ids", input_ids)
        if decoder_input_ids is None:
            decoder_input_ids = losses.shift_labels_right(
                input_ids, self.config.pad_token_id, self.config.decoder_start_token_id
            )
        fields = self._seq2seq(
            input_ids,
            attention_mask,
            decoder_input_ids,
            decoder_attention_mask,
            encoder_outputs,
            None,
            output_attentions,
            output_hidden_states,
        )
        hidden = fields["last_hidden_state"]
        eos = input_ids.eq(self.config.eos_token_id)
        counts = eos.sum(1)
        if bool((counts == 0).any()) or torch.unique_consecutive(counts).numel() != 1:
            raise ValueError("All examples must have the same number of <eos> tokens.")
        pooled = hidden[eos].view(hidden.shape[0], -1, hidden.shape[-1])[:, -1]
        logits = self.classification_head(pooled)
        loss = None if labels is None else losses.sequence_classification(logits, labels, self.config)
        out = SequenceClassifierOutput(
            loss=loss,
            logits=logits,
            hidden_states=fields["decoder_hidden_states"],
            attentions=fields["decoder_attentions"],
        )
        return returned(out, return_dict, self.config)


# --- registry entries --------------------------------------------------------------------------

CONFIGS = {"bart": BartConfig}
MODELS = {
    "base": BartModel,
    "seq2seq-lm": BartForConditionalGeneration,
    "sequence-classification": BartForSequenceClassification,
}
