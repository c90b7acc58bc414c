"""Whisper (Radford et al., 2022, arXiv:2212.04356): a pre-norm Transformer encoder-decoder for speech.
The encoder reads an 80-bin log-mel spectrogram (B, n_mels, 2 * max_source_positions) through two
GELU convolutions (the second of stride 2) and fixed sinusoidal positions; the decoder is a pre-norm
text decoder with learned positions whose output layer ``proj_out`` is tied to its token embedding.
Matches transformers' ``modeling_whisper`` with SDPA attention; parameter names are the checkpoint keys.

The tensor path generation uses (as BART's, see :mod:`cove.generation.seq2seq`, with mel features in
place of ids): ``encode(input_features) -> (B, S, H)``, ``make_cache(batch, max_length)`` and
``decode(ids, encoder_hidden, None, cache) -> (B, T, V)``. ``generate`` handles Whisper's prompt
tokens (start, language, task, no-timestamps), suppressed tokens and timestamps
(:mod:`cove.generation.whisper`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from cove.models._shared import kv_cache, losses
from cove.models._shared.activations import activation
from cove.models._shared.attention import (
    attend,
    attention_probs,
    causal_mask,
    merge_heads,
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
    as_encoder_output,
    recorded,
    returned,
    seq2seq_fields,
)


@dataclass
class WhisperConfig(PretrainedConfig):
    """config.json of a Whisper model; defaults are whisper-tiny's (as transformers')."""

    model_type = "whisper"

    vocab_size: int = 51865
    num_mel_bins: int = 80
    encoder_layers: int = 4
    encoder_attention_heads: int = 6
    decoder_layers: int = 4
    decoder_attention_heads: int = 6
    decoder_ffn_dim: int = 1536
    encoder_ffn_dim: int = 1536
    encoder_layerdrop: float = 0.0
    decoder_layerdrop: float = 0.0
    decoder_start_token_id: int = 50257
    is_encoder_decoder: bool = True
    activation_function: str = "gelu"
    d_model: int = 384
    dropout: float = 0.0
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0
    init_std: float = 0.02
    scale_embedding: bool = False  # read by neither library's forward (kept for the file)
    max_source_positions: int = 1500
    max_target_positions: int = 448
    pad_token_id: int | None = 50256
    bos_token_id: int | None = 50256
    eos_token_id: int | list[int] | None = 50256
    suppress_tokens: list[int] | None = None
    begin_suppress_tokens: list[int] | None = None

    @property
    def hidden_size(self) -> int:
        return self.d_model

    @property
    def num_hidden_layers(self) -> int:
        return self.encoder_layers

    @property
    def num_attention_heads(self) -> int:
        return self.encoder_attention_heads

    @property
    def input_frames(self) -> int:
        """Mel frames the encoder takes: twice its positions (conv2 has stride 2); 3000 = 30 s."""
        return 2 * self.max_source_positions


def sinusoids(length: int, channels: int, max_timescale: float = 10000.0) -> torch.Tensor:
    """(length, channels) fixed positions of the encoder: sines then cosines (the paper's choice)."""
    if channels % 2:
        raise ValueError(f"sinusoidal positions need an even width, got {channels}")
    step = torch.log(torch.tensor(max_timescale)) / (channels // 2 - 1)
    inv = torch.exp(-step * torch.arange(channels // 2))
    t = torch.arange(length)[:, None] * inv[None, :]
    return torch.cat((t.sin(), t.cos()), dim=1)


# --- layers ------------------------------------------------------------------------------------


class WhisperAttention(nn.Module):
    """Multi-head attention (no bias on k); self-attention when ``memory`` is None, else cross-attention."""

    def __init__(self, dim: int, heads: int, dropout: float, layer_idx: int) -> None:
        super().__init__()
        self.heads = heads
        self.layer_idx = layer_idx
        self.dropout_p = dropout
        self.scale = (dim // heads) ** -0.5
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim)
        self.q_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

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
        """(B, T, dim) -> (B, T, dim); ``probs`` receives the (B, heads, T, T_k) probabilities."""
        q = split_heads(self.q_proj(x), self.heads)  # (B, H, T, D)
        if memory is None:
            k, v = split_heads(self.k_proj(x), self.heads), split_heads(self.v_proj(x), self.heads)
            if cache is not None:
                k, v = cache.update(self.layer_idx, k, v)
        else:

            def project() -> tuple[torch.Tensor, torch.Tensor]:
                return split_heads(self.k_proj(memory), self.heads), split_heads(self.v_proj(memory), self.heads)

            k, v = cache.cross(self.layer_idx, project) if cache is not None else project()
        if probs is not None:
            probs.append(attention_probs(q, k, mask, causal=causal, scale=self.scale))
        dropout = self.dropout_p if self.training else 0.0
        out = attend(q, k, v, mask, causal=causal, dropout=dropout, scale=self.scale)
        return self.out_proj(merge_heads(out))


class _FeedForward(nn.Module):
    """Pre-norm feed-forward residual: x + dropout(fc2(dropout(act(fc1(norm(x))))))."""

    def __init__(self, config: WhisperConfig, ffn_dim: int) -> None:
        super().__init__()
        self.final_layer_norm = nn.LayerNorm(config.d_model)
        self.fc1 = nn.Linear(config.d_model, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, config.d_model)
        self.act = activation(config.activation_function)
        self.dropout = nn.Dropout(config.dropout)
        self.activation_dropout = nn.Dropout(config.activation_dropout)

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.activation_dropout(self.act(self.fc1(self.final_layer_norm(x))))
        return x + self.dropout(self.fc2(h))


class WhisperEncoderLayer(_FeedForward):
    """x = x + attn(norm(x)); x = x + ffn(norm(x))."""

    def __init__(self, config: WhisperConfig, layer_idx: int) -> None:
        super().__init__(config, config.encoder_ffn_dim)
        self.self_attn = WhisperAttention(
            config.d_model, config.encoder_attention_heads, config.attention_dropout, layer_idx
        )
        self.self_attn_layer_norm = nn.LayerNorm(config.d_model)

    def forward(self, x: torch.Tensor, probs: list[torch.Tensor] | None = None) -> torch.Tensor:
        x = x + self.dropout(self.self_attn(self.self_attn_layer_norm(x), None, None, probs=probs))
        return self.feed_forward(x)


class WhisperDecoderLayer(_FeedForward):
    """Causal self-attention, cross-attention over the encoder's output, feed-forward; all pre-norm."""

    def __init__(self, config: WhisperConfig, layer_idx: int) -> None:
        super().__init__(config, config.decoder_ffn_dim)
        dim, heads = config.d_model, config.decoder_attention_heads
        self.self_attn = WhisperAttention(dim, heads, config.attention_dropout, layer_idx)
        self.self_attn_layer_norm = nn.LayerNorm(dim)
        self.encoder_attn = WhisperAttention(dim, heads, config.attention_dropout, layer_idx)
        self.encoder_attn_layer_norm = nn.LayerNorm(dim)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None,
        memory: torch.Tensor,
        cache: Any,
        probs: list[torch.Tensor] | None = None,
        cross_probs: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        x = x + self.dropout(self.self_attn(self.self_attn_layer_norm(x), mask, cache, causal=True, probs=probs))
        h = self.encoder_attn(self.encoder_attn_layer_norm(x), None, cache, memory, probs=cross_probs)
        return self.feed_forward(x + self.dropout(h))


class WhisperEncoder(nn.Module):
    """(B, n_mels, 2 * max_source_positions) log-mel -> (B, max_source_positions, d_model)."""

    def __init__(self, config: WhisperConfig) -> None:
        super().__init__()
        self.frames = config.input_frames
        self.conv1 = nn.Conv1d(config.num_mel_bins, config.d_model, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(config.d_model, config.d_model, kernel_size=3, stride=2, padding=1)
        self.embed_positions = nn.Embedding(config.max_source_positions, config.d_model)
        self.embed_positions.requires_grad_(False)
        self.layers = nn.ModuleList(WhisperEncoderLayer(config, i) for i in range(config.encoder_layers))
        self.layer_norm = nn.LayerNorm(config.d_model)
        self.dropout = nn.Dropout(config.dropout)

    def hidden(
        self,
        input_features: torch.Tensor,
        *,
        record: Record | None = None,
        checkpointed: dict[str, Any] | None = None,
    ) -> torch.Tensor:
        if input_features.ndim != 3 or input_features.shape[-1] != self.frames:
            raise ValueError(
                f"Whisper expects log-mel input_features of shape (batch, {self.conv1.in_channels},"
                f" {self.frames}); got {tuple(input_features.shape)}. Pad or trim the audio to 30 s"
                " (the feature extractor does)"
            )
        x = input_features.to(self.conv1.weight.dtype)
        x = F.gelu(self.conv2(F.gelu(self.conv1(x)))).transpose(1, 2)  # (B, S, d_model)
        x = self.dropout(x + self.embed_positions.weight.to(x.dtype))
        for layer in self.layers:
            if record is not None:
                record.hidden(x)
            if checkpointed is not None and (record is None or record.attentions is None):
                x = checkpoint(layer, x, **checkpointed)
            else:
                x = layer(x, None if record is None else record.attentions)
        x = self.layer_norm(x)
        if record is not None:
            record.hidden(x)
        return x

    def forward(self, input_features: torch.Tensor, attention_mask: Any = None) -> BaseModelOutput:
        """transformers' ``model.get_encoder()(input_features)`` (the mask is unused, as there)."""
        return BaseModelOutput(last_hidden_state=self.hidden(input_features))


class WhisperDecoder(nn.Module):
    """(B, T) ids -> (B, T, d_model) attending over the encoder's (B, S, d_model) output."""

    def __init__(self, config: WhisperConfig) -> None:
        super().__init__()
        self.max_positions = config.max_target_positions
        self.embed_tokens = nn.Embedding(config.vocab_size, config.d_model, config.pad_token_id)
        self.embed_positions = nn.Embedding(config.max_target_positions, config.d_model)
        self.layers = nn.ModuleList(WhisperDecoderLayer(config, i) for i in range(config.decoder_layers))
        self.layer_norm = nn.LayerNorm(config.d_model)
        self.dropout = nn.Dropout(config.dropout)

    def hidden(
        self,
        input_ids: torch.Tensor,
        encoder_hidden: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        cache: Any = None,
        *,
        record: Record | None = None,
        cross: list[torch.Tensor] | None = None,
        checkpointed: dict[str, Any] | None = None,
    ) -> torch.Tensor:
        """``attention_mask`` (B, past + T) covers cached and new tokens."""
        t = input_ids.shape[1]
        start = cache.get_seq_length() if cache is not None else 0
        if start + t > self.max_positions:
            raise ValueError(
                f"Whisper's decoder holds {self.max_positions} positions; asked for {start + t}"
                " (lower max_new_tokens)"
            )
        mask = causal_mask(attention_mask, q_len=t, start=start, device=input_ids.device)
        x = self.embed_tokens(input_ids)
        x = self.dropout(x + self.embed_positions.weight[start : start + t].to(x.dtype))
        attentions = None if record is None else record.attentions
        for layer in self.layers:
            if record is not None:
                record.hidden(x)
            if checkpointed is not None and attentions is None:
                x = checkpoint(layer, x, mask, encoder_hidden, None, **checkpointed)
            else:
                x = layer(x, mask, encoder_hidden, cache, attentions, cross)
        if cache is not None:
            cache.advance(t)
        x = self.layer_norm(x)
        if record is not None:
            record.hidden(x)
        return x


# --- models ------------------------------------------------------------------------------------


class WhisperPreTrainedModel(PreTrainedModel):
    """What both Whisper models share: the generation contract and the seq2seq forward."""

    config_class = WhisperConfig
    base_model_prefix = "model"
    input_embeddings = "decoder.embed_tokens"
    main_input_name = "input_features"

    def init_missing(self, name: str, tensor: torch.Tensor) -> None:
        if name.endswith("encoder.embed_positions.weight"):  # fixed sinusoids, as transformers
            with torch.no_grad():
                tensor.copy_(sinusoids(*tensor.shape))
            return
        super().init_missing(name, tensor)

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
            max_length=min(max_length, c.max_target_positions),
            dtype=dtype or self.dtype,
            device=device or self.device,
        )

    def get_encoder(self) -> WhisperEncoder:
        return self.base_model.encoder

    def get_decoder(self) -> WhisperDecoder:
        return self.base_model.decoder

    def encode(self, input_features: torch.Tensor, attention_mask: Any = None) -> torch.Tensor:
        """(B, n_mels, frames) log-mel -> (B, S, d_model), the encoder's last hidden state."""
        return self.base_model.encoder.hidden(input_features)

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
        input_features: torch.Tensor | None,
        decoder_input_ids: torch.Tensor,
        decoder_attention_mask: torch.Tensor | None,
        encoder_outputs: Any,
        cache: Any,
        output_attentions: bool | None,
        output_hidden_states: bool | None,
    ) -> dict[str, Any]:
        """Encoder (unless ``encoder_outputs`` are given) and decoder: a :class:`Seq2SeqModelOutput`'s
        fields, the decoder's output as ``last_hidden_state``."""
        base = self.base_model
        checkpointed = self.checkpoint_options()
        if encoder_outputs is None:
            if input_features is None:
                raise ValueError("pass input_features (or encoder_outputs) to run the encoder")
            record = Record.asked(self.config, output_hidden_states, output_attentions)
            hidden = base.encoder.hidden(input_features, record=record, checkpointed=checkpointed)
            encoder = BaseModelOutput(last_hidden_state=hidden, **recorded(record))
        else:
            encoder = as_encoder_output(encoder_outputs)
        if not isinstance(decoder_input_ids, torch.Tensor) or decoder_input_ids.ndim != 2:
            raise ValueError("decoder_input_ids must be a (batch, length) tensor of token ids")
        record = Record.asked(self.config, output_hidden_states, output_attentions)
        cross = None if record is None or record.attentions is None else []
        hidden = base.decoder.hidden(
            decoder_input_ids,
            encoder.last_hidden_state,
            decoder_attention_mask,
            cache,
            record=record,
            cross=cross,
            checkpointed=checkpointed,
        )
        return seq2seq_fields(hidden, cache, record, cross, encoder)


class WhisperModel(WhisperPreTrainedModel):
    """Encoder and decoder: -> (B, T, d_model) decoder hidden states."""

    def __init__(self, config: WhisperConfig) -> None:
        super().__init__(config)
        self.encoder = WhisperEncoder(config)
        self.decoder = WhisperDecoder(config)

    def forward(
        self,
        input_features: torch.Tensor | None = None,
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
        """``attention_mask`` over the features is accepted and unused, as in transformers."""
        if decoder_input_ids is None:
            raise ValueError("pass decoder_input_ids: Whisper's decoder needs its prompt tokens")
        cache = self._cache(cache, past_key_values, use_cache)
        fields = self._seq2seq(
            input_features,
            decoder_input_ids,
            decoder_attention_mask,
            encoder_outputs,
            cache,
            output_attentions,
            output_hidden_states,
        )
        return returned(Seq2SeqModelOutput(**fields), return_dict, self.config)


class WhisperForConditionalGeneration(WhisperPreTrainedModel):
    """(B, n_mels, frames) features and (B, T) decoder ids -> (B, T, vocab) logits; ``proj_out``
    shares the decoder's token embedding."""

    tied_weights = {"proj_out.weight": "model.decoder.embed_tokens.weight"}
    output_embeddings = "proj_out"

    def __init__(self, config: WhisperConfig) -> None:
        super().__init__(config)
        self.model = WhisperModel(config)
        self.proj_out = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.tie_weights()

    def decode(
        self,
        decoder_ids: torch.Tensor,
        encoder_hidden: torch.Tensor,
        encoder_mask: torch.Tensor | None,
        cache: EncoderDecoderCache,
    ) -> torch.Tensor:
        """(B, T) ids -> (B, T, vocab) logits, continuing at ``cache.get_seq_length()``."""
        return self.proj_out(self.model.decoder.hidden(decoder_ids, encoder_hidden, None, cache))

    def prepare_decoder_input_ids_from_labels(self, labels: torch.Tensor) -> torch.Tensor:
        return losses.shift_labels_right(labels, self.config.pad_token_id, self.config.decoder_start_token_id)

    def generate(  # type: ignore[override]
        self,
        input_features: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        generation_config: Any = None,
        streamer: Any = None,
        *,
        language: str | None = None,
        task: str | None = None,
        return_timestamps: bool | None = None,
        **options: Any,
    ) -> torch.Tensor:
        """Token ids as transformers' Whisper ``generate`` returns them (its seek loop over 30-second
        windows, long-form audio included); see :func:`cove.generation.whisper.generate`."""
        # generation sits above models; like PreTrainedModel.generate this entry point imports it on use
        from cove.generation import whisper

        return whisper.generate(
            self,
            input_features,
            generation_config,
            attention_mask=attention_mask,
            streamer=streamer,
            language=language,
            task=task,
            return_timestamps=return_timestamps,
            **options,
        )

    def forward(
        self,
        input_features: torch.Tensor | None = None,
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
        the decoder reads them shifted right behind ``decoder_start_token_id``."""
        if labels is not None:
            if labels.shape[-1] > self.config.max_target_positions:
                raise ValueError(
                    f"labels hold {labels.shape[-1]} tokens; Whisper's decoder takes at most"
                    f" {self.config.max_target_positions}"
                )
            use_cache = False if cache is None and past_key_values is None else use_cache
            if decoder_input_ids is None:
                decoder_input_ids = self.prepare_decoder_input_ids_from_labels(labels)
        if decoder_input_ids is None:
            raise ValueError("pass decoder_input_ids or labels (shifted right into decoder inputs)")
        cache = self._cache(cache, past_key_values, use_cache)
        fields = self._seq2seq(
            input_features,
            decoder_input_ids,
            decoder_attention_mask,
            encoder_outputs,
            cache,
            output_attentions,
            output_hidden_states,
        )
        logits = self.proj_out(fields.pop("last_hidden_state"))
        loss = None if labels is None else losses.masked_lm(logits, labels)
        return returned(Seq2SeqLMOutput(loss=loss, logits=logits, **fields), return_dict, self.config)


# --- registry entries --------------------------------------------------------------------------

CONFIGS = {"whisper": WhisperConfig}
MODELS = {"base": WhisperModel, "seq2seq-lm": WhisperForConditionalGeneration}
