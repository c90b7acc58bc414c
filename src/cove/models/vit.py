"""ViT, the Vision Transformer (Dosovitskiy et al., 2020, arXiv:2010.11929). Matches transformers'
``modeling_vit`` with SDPA attention; parameter names are the checkpoint keys transformers writes
(``vit.encoder.layer.{i}.attention.attention.query`` ...).

An image (B, C, H, W) is cut into P x P patches by a strided convolution, a learned [CLS] token is put
first, position embeddings are added, and pre-norm transformer layers run over the B x (1 + N)
tokens. The classifier reads the final layer-normed [CLS] token. ``ViTModel.hidden`` is the tensor
path; public ``forward`` methods take transformers' arguments and return its output objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from cove.models._shared import losses
from cove.models._shared.activations import activation
from cove.models._shared.attention import attend, attention_probs, merge_heads, split_heads
from cove.models._shared.vision import check_pixels, interpolate_positions
from cove.models.configuration import PretrainedConfig
from cove.models.modeling import PreTrainedModel
from cove.models.outputs import (
    BaseModelOutputWithPooling,
    ImageClassifierOutput,
    Record,
    recorded,
    returned,
)


@dataclass
class ViTConfig(PretrainedConfig):
    """config.json of a ViT model; defaults are google/vit-base-patch16-224's."""

    model_type = "vit"

    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    layer_norm_eps: float = 1e-12
    image_size: int = 224
    patch_size: int = 16
    num_channels: int = 3
    qkv_bias: bool = True
    encoder_stride: int = 16
    pooler_output_size: int | None = None
    pooler_act: str = "tanh"


# --- layers ------------------------------------------------------------------------------------


class ViTPatchEmbeddings(nn.Module):
    """(B, C, H, W) -> (B, N, D): one token per non-overlapping P x P patch."""

    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.num_channels = config.num_channels
        self.projection = nn.Conv2d(
            config.num_channels, config.hidden_size, kernel_size=config.patch_size, stride=config.patch_size
        )

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        check_pixels(pixel_values, self.num_channels)
        return self.projection(pixel_values).flatten(2).transpose(1, 2)


class ViTEmbeddings(nn.Module):
    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        patches = (config.image_size // config.patch_size) ** 2
        self.image_size = config.image_size
        self.patch_size = config.patch_size
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
        self.patch_embeddings = ViTPatchEmbeddings(config)
        self.position_embeddings = nn.Parameter(torch.zeros(1, patches + 1, config.hidden_size))
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, pixel_values: torch.Tensor, interpolate: bool) -> torch.Tensor:
        height, width = pixel_values.shape[-2:]
        x = self.patch_embeddings(pixel_values)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)  # (B, 1 + N, D)
        if interpolate:
            grid = (height // self.patch_size, width // self.patch_size)
            return self.dropout(x + interpolate_positions(self.position_embeddings, grid))
        if (height, width) != (self.image_size, self.image_size):
            raise ValueError(
                f"input image size ({height}*{width}) doesn't match the model ({self.image_size}*{self.image_size});"
                " pass interpolate_pos_encoding=True to resize the position embeddings"
            )
        return self.dropout(x + self.position_embeddings)


class ViTSelfAttention(nn.Module):
    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.heads = config.num_attention_heads
        self.dropout_p = config.attention_probs_dropout_prob
        self.query = nn.Linear(config.hidden_size, config.hidden_size, bias=config.qkv_bias)
        self.key = nn.Linear(config.hidden_size, config.hidden_size, bias=config.qkv_bias)
        self.value = nn.Linear(config.hidden_size, config.hidden_size, bias=config.qkv_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (split_heads(proj(x), self.heads) for proj in (self.query, self.key, self.value))
        return merge_heads(attend(q, k, v, None, causal=False, dropout=self.dropout_p if self.training else 0.0))

    def probs(self, x: torch.Tensor) -> torch.Tensor:
        """(B, heads, T, T) attention probabilities (``output_attentions``)."""
        q, k = split_heads(self.query(x), self.heads), split_heads(self.key(x), self.heads)
        return attention_probs(q, k, None, causal=False)


class ViTLayer(nn.Module):
    """Pre-norm: x + attention(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.attention = nn.Module()
        self.attention.attention = ViTSelfAttention(config)
        self.attention.output = nn.Module()
        self.attention.output.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.output = nn.Module()
        self.output.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.layernorm_before = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.layernorm_after = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.act = activation(config.hidden_act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.attention.output.dense(self.attention.attention(self.layernorm_before(x))))
        h = self.act(self.intermediate.dense(self.layernorm_after(x)))
        return x + self.dropout(self.output.dense(h))

    def attention_probs(self, x: torch.Tensor) -> torch.Tensor:
        return self.attention.attention.probs(self.layernorm_before(x))


class ViTPooler(nn.Module):
    """dense + activation over the [CLS] token: (B, T, D) -> (B, pooler_output_size)."""

    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.pooler_output_size or config.hidden_size)
        self.act = activation(config.pooler_act)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.act(self.dense(hidden[:, 0]))


# --- models ------------------------------------------------------------------------------------


class ViTPreTrainedModel(PreTrainedModel):
    config_class = ViTConfig
    base_model_prefix = "vit"
    input_embeddings = "embeddings.patch_embeddings.projection"
    main_input_name = "pixel_values"

    def init_missing(self, name: str, tensor: torch.Tensor) -> None:
        if name.endswith("mask_token"):
            with torch.no_grad():
                tensor.zero_()
            return
        super().init_missing(name, tensor)


class ViTModel(ViTPreTrainedModel):
    """The encoder: (B, C, H, W) pixels -> (B, 1 + N, D) layer-normed states; ``pooler`` -> (B, D)."""

    def __init__(self, config: ViTConfig, *, add_pooling_layer: bool = True) -> None:
        super().__init__(config)
        self.embeddings = ViTEmbeddings(config)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(ViTLayer(config) for _ in range(config.num_hidden_layers))
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.pooler = ViTPooler(config) if add_pooling_layer else None

    def hidden(
        self, pixel_values: torch.Tensor, *, interpolate: bool = False, record: Record | None = None
    ) -> torch.Tensor:
        """The tensor path: (B, 1 + N, D) states after the final layer norm."""
        dtype = self.embeddings.patch_embeddings.projection.weight.dtype
        x = self.embeddings(pixel_values.to(dtype), interpolate)
        checkpointed = self.checkpoint_options()
        for layer in self.encoder.layer:
            if record is not None:
                record.hidden(x)
                if record.attentions is not None:
                    record.attentions.append(layer.attention_probs(x))
            x = layer(x) if checkpointed is None else checkpoint(layer, x, **checkpointed)
        if record is not None:
            record.hidden(x)
        return self.layernorm(x)

    def forward(
        self,
        pixel_values: torch.Tensor,
        *,
        interpolate_pos_encoding: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> BaseModelOutputWithPooling | tuple:
        record = Record.asked(self.config, output_hidden_states, output_attentions)
        hidden = self.hidden(pixel_values, interpolate=bool(interpolate_pos_encoding), record=record)
        pooled = self.pooler(hidden) if self.pooler is not None else None
        out = BaseModelOutputWithPooling(last_hidden_state=hidden, pooler_output=pooled, **recorded(record))
        return returned(out, return_dict, self.config)


class ViTForImageClassification(ViTPreTrainedModel):
    """(B, C, H, W) pixels -> (B, num_labels) logits from the final [CLS] state."""

    def __init__(self, config: ViTConfig) -> None:
        super().__init__(config)
        self.vit = ViTModel(config, add_pooling_layer=False)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)

    def forward(
        self,
        pixel_values: torch.Tensor,
        *,
        labels: torch.Tensor | None = None,
        interpolate_pos_encoding: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> ImageClassifierOutput | tuple:
        """``labels``: (B,) class ids (or floats for multi-label / regression, as ``problem_type`` says)."""
        record = Record.asked(self.config, output_hidden_states, output_attentions)
        hidden = self.vit.hidden(pixel_values, interpolate=bool(interpolate_pos_encoding), record=record)
        logits = self.classifier(hidden[:, 0])
        loss = None if labels is None else losses.sequence_classification(logits, labels, self.config)
        out = ImageClassifierOutput(loss=loss, logits=logits, **recorded(record))
        return returned(out, return_dict, self.config)


# --- registry entries --------------------------------------------------------------------------

CONFIGS = {"vit": ViTConfig}
MODELS = {"base": ViTModel, "image-classification": ViTForImageClassification}
