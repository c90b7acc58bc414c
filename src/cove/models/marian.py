"""Marian (Junczys-Dowmunt et al., 2018), the OPUS-MT translation models: BART's post-norm
encoder-decoder (transformers' ``modeling_marian`` is a copy of ``modeling_bart``) with fixed
sinusoidal positions, no LayerNorm on the embeddings, and optionally separate source and target
vocabularies (``share_encoder_decoder_embeddings: false``, ``decoder_vocab_size``). The decoder
starts from the pad token (``decoder_start_token_id = pad_token_id``).

The layers, stacks, public forwards and generation contract (``encode``, ``make_cache``, ``decode``)
are BART's (:mod:`cove.models.bart`); this file declares what differs. Parameter names are the
checkpoint keys; the position table is computed, never stored (older checkpoints that stored it load,
the stored copy is ignored).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cove.models.bart import (
    BartDecoder,
    BartEncoder,
    BartForConditionalGeneration,
    BartModel,
    BartPreTrainedModel,
)
from cove.models.configuration import PretrainedConfig
from cove.models.modeling import PreTrainedModel


@dataclass
class MarianConfig(PretrainedConfig):
    """config.json of a Marian model; defaults are transformers' (opus-mt-en-de sized)."""

    model_type = "marian"

    vocab_size: int = 58101
    decoder_vocab_size: int | None = None
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
    scale_embedding: bool = False
    share_encoder_decoder_embeddings: bool = True
    pad_token_id: int | None = 58100
    eos_token_id: int | list[int] | None = 0
    bos_token_id: int | None = None
    is_encoder_decoder: bool = True
    is_decoder: bool = False
    decoder_start_token_id: int | None = 58100
    forced_bos_token_id: int | None = None
    forced_eos_token_id: int | list[int] | None = 0

    @property
    def target_vocab_size(self) -> int:
        """Rows of the decoder's embedding and the LM head."""
        if self.share_encoder_decoder_embeddings:
            return self.vocab_size
        return self.decoder_vocab_size or self.vocab_size

    @property
    def hidden_size(self) -> int:
        return self.d_model

    @property
    def num_hidden_layers(self) -> int:
        return self.encoder_layers

    @property
    def num_attention_heads(self) -> int:
        return self.encoder_attention_heads


class SinusoidalPositions(nn.Module):
    """transformers' ``MarianSinusoidalPositionalEmbedding``: sin of every even-indexed angle in the
    first half of the vector, cos of the odd-indexed ones in the second (not interleaved), angle
    ``p / 10000^(2 * (j // 2) / dim)``; computed in float64 as its numpy table is."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        j = torch.arange(self.dim, dtype=torch.float64, device=positions.device)
        angles = positions.double()[:, None] / torch.pow(10000.0, 2 * torch.div(j, 2, rounding_mode="floor") / self.dim)
        return torch.cat((angles[:, 0::2].sin(), angles[:, 1::2].cos()), dim=-1).float()  # (T, dim)


class MarianPreTrainedModel(BartPreTrainedModel):
    config_class = MarianConfig
    ignored_keys = (r"embed_positions\.weight$", r"encoder\.version$", r"decoder\.version$")


class MarianModel(MarianPreTrainedModel):
    """Encoder and decoder, sharing one token embedding (``shared``) unless the config says not."""

    forward = BartModel.forward

    def __init__(self, config: MarianConfig) -> None:
        super().__init__(config)
        d = config.d_model
        if config.share_encoder_decoder_embeddings:
            self.shared = nn.Embedding(config.vocab_size, d, config.pad_token_id)
            source = target = self.shared
            self.tied_weights = dict(BartModel.tied_weights)
            self.input_embeddings = "shared"
        else:
            source = nn.Embedding(config.vocab_size, d, config.pad_token_id)
            target = nn.Embedding(config.target_vocab_size, d, config.pad_token_id)
            self.tied_weights = {}
            self.input_embeddings = "encoder.embed_tokens"
        self.encoder = BartEncoder(config, source, SinusoidalPositions(d), norm_embedding=False)
        self.decoder = BartDecoder(config, target, SinusoidalPositions(d), norm_embedding=False)


class MarianMTModel(MarianPreTrainedModel):
    """Source ids and target ids -> (B, T, target vocab) logits; ``lm_head`` shares the decoder's
    token embedding, plus ``final_logits_bias``."""

    output_embeddings = "lm_head"
    shifts_input_ids = False  # as transformers' Marian: decoder inputs or labels are required

    forward = BartForConditionalGeneration.forward
    decode = BartForConditionalGeneration.decode
    logits = BartForConditionalGeneration.logits
    init_missing = BartForConditionalGeneration.init_missing
    prepare_decoder_input_ids_from_labels = BartForConditionalGeneration.prepare_decoder_input_ids_from_labels

    def __init__(self, config: MarianConfig) -> None:
        super().__init__(config)
        self.model = MarianModel(config)
        self.input_embeddings = self.model.input_embeddings
        if config.share_encoder_decoder_embeddings:
            self.tied_weights = dict(BartForConditionalGeneration.tied_weights)
        else:
            self.tied_weights = {"lm_head.weight": "model.decoder.embed_tokens.weight"}
        self.register_buffer("final_logits_bias", torch.zeros(1, config.target_vocab_size))
        self.lm_head = nn.Linear(config.d_model, config.target_vocab_size, bias=False)
        self.tie_weights()

    def resize_token_embeddings(self, new_num_tokens=None, pad_to_multiple_of=None, mean_resizing=True):
        """Shared vocabulary: every token embedding, the head and ``final_logits_bias`` (as BART);
        separate vocabularies: the source (encoder) embedding only, as transformers does."""
        if self.config.share_encoder_decoder_embeddings:
            return BartForConditionalGeneration.resize_token_embeddings(
                self, new_num_tokens, pad_to_multiple_of, mean_resizing
            )
        head, self.output_embeddings = self.output_embeddings, ""  # the target side keeps its size
        try:
            return PreTrainedModel.resize_token_embeddings(self, new_num_tokens, pad_to_multiple_of, mean_resizing)
        finally:
            self.output_embeddings = head


# --- registry entries --------------------------------------------------------------------------

CONFIGS = {"marian": MarianConfig}
MODELS = {"base": MarianModel, "seq2seq-lm": MarianMTModel}
