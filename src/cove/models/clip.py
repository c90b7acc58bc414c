"""CLIP (Radford et al., 2021, arXiv:2103.00020): a text tower and a vision tower trained so that an
image and its caption project to nearby unit vectors. Matches transformers' ``modeling_clip`` with
SDPA attention; parameter names are the checkpoint keys (``text_model.encoder.layers.{i}.self_attn
.q_proj`` ...).

The text tower is a causal pre-norm transformer whose pooled state is the one at the end-of-text
token; the vision tower is a pre-norm ViT (an extra ``pre_layrnorm``, sic) pooled at its class token.
``CLIPModel`` projects both, normalises them and scales their cosine similarities by
``exp(logit_scale)``: ``logits_per_image`` (images, texts) is what zero-shot classification reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from cove.formats.config import config_path, read_json
from cove.models._shared.activations import activation
from cove.models._shared.attention import attend, attention_probs, causal_mask, merge_heads, split_heads
from cove.models._shared.vision import check_pixels, interpolate_positions
from cove.models.configuration import PretrainedConfig
from cove.models.modeling import PreTrainedModel
from cove.models.outputs import BaseModelOutputWithPooling, ModelOutput, Record, recorded, returned


@dataclass
class CLIPTextConfig(PretrainedConfig):
    """``text_config`` of a CLIP config.json; defaults are openai/clip-vit-base-patch32's."""

    model_type = "clip_text_model"

    vocab_size: int = 49408
    hidden_size: int = 512
    intermediate_size: int = 2048
    projection_dim: int = 512
    num_hidden_layers: int = 12
    num_attention_heads: int = 8
    max_position_embeddings: int = 77
    hidden_act: str = "quick_gelu"
    layer_norm_eps: float = 1e-5
    attention_dropout: float = 0.0
    initializer_factor: float = 1.0
    pad_token_id: int | None = 1
    bos_token_id: int | None = 49406
    eos_token_id: int | list[int] | None = 49407


@dataclass
class CLIPVisionConfig(PretrainedConfig):
    """``vision_config`` of a CLIP config.json; defaults are openai/clip-vit-base-patch32's."""

    model_type = "clip_vision_model"

    hidden_size: int = 768
    intermediate_size: int = 3072
    projection_dim: int = 512
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    num_channels: int = 3
    image_size: int = 224
    patch_size: int = 32
    hidden_act: str = "quick_gelu"
    layer_norm_eps: float = 1e-5
    attention_dropout: float = 0.0
    initializer_factor: float = 1.0


@dataclass
class CLIPConfig(PretrainedConfig):
    """config.json of a CLIP model: the two towers' configs kept as the dicts the file holds (so they
    round-trip exactly), read through :meth:`text` and :meth:`vision`."""

    model_type = "clip"

    text_config: dict[str, Any] = field(default_factory=dict)
    vision_config: dict[str, Any] = field(default_factory=dict)
    projection_dim: int = 512
    logit_scale_init_value: float = 2.6592
    initializer_factor: float = 1.0

    def text(self) -> CLIPTextConfig:
        return CLIPTextConfig.from_dict({**self.text_config, "model_type": CLIPTextConfig.model_type})

    def vision(self) -> CLIPVisionConfig:
        return CLIPVisionConfig.from_dict({**self.vision_config, "model_type": CLIPVisionConfig.model_type})


@dataclass
class CLIPOutput(ModelOutput):
    """``logits_per_image`` (images, texts) and its transpose; unit-norm projected embeddings; each
    tower's own output. ``loss``: the symmetric contrastive loss (``return_loss=True``)."""

    loss: torch.Tensor | None = None
    logits_per_image: torch.Tensor | None = None
    logits_per_text: torch.Tensor | None = None
    text_embeds: torch.Tensor | None = None
    image_embeds: torch.Tensor | None = None
    text_model_output: BaseModelOutputWithPooling | None = None
    vision_model_output: BaseModelOutputWithPooling | None = None


# --- layers ------------------------------------------------------------------------------------

TowerConfig = CLIPTextConfig | CLIPVisionConfig


class CLIPAttention(nn.Module):
    def __init__(self, config: TowerConfig) -> None:
        super().__init__()
        self.heads = config.num_attention_heads
        self.dropout_p = config.attention_dropout
        dim = config.hidden_size
        self.q_proj, self.k_proj, self.v_proj = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, causal: bool) -> torch.Tensor:
        q, k, v = (split_heads(p(x), self.heads) for p in (self.q_proj, self.k_proj, self.v_proj))
        dropout = self.dropout_p if self.training else 0.0
        return self.out_proj(merge_heads(attend(q, k, v, mask, causal=causal, dropout=dropout)))

    def probs(self, x: torch.Tensor, mask: torch.Tensor | None, causal: bool) -> torch.Tensor:
        q, k = split_heads(self.q_proj(x), self.heads), split_heads(self.k_proj(x), self.heads)
        return attention_probs(q, k, mask, causal=causal)


class CLIPEncoderLayer(nn.Module):
    """Pre-norm: x + attention(LN1(x)), then x + MLP(LN2(x))."""

    def __init__(self, config: TowerConfig) -> None:
        super().__init__()
        self.self_attn = CLIPAttention(config)
        self.layer_norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = nn.Module()
        self.mlp.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.mlp.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)
        self.layer_norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.act = activation(config.hidden_act)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, causal: bool) -> torch.Tensor:
        x = x + self.self_attn(self.layer_norm1(x), mask, causal)
        return x + self.mlp.fc2(self.act(self.mlp.fc1(self.layer_norm2(x))))


class CLIPEncoder(nn.Module):
    def __init__(self, config: TowerConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(CLIPEncoderLayer(config) for _ in range(config.num_hidden_layers))

    def run(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None,
        *,
        causal: bool,
        record: Record | None,
        checkpointed: dict[str, Any] | None,
    ) -> torch.Tensor:
        """Every layer over (B, T, D); ``record`` collects layer inputs, the output and attentions."""
        for layer in self.layers:
            if record is not None:
                record.hidden(x)
                if record.attentions is not None:
                    record.attentions.append(layer.self_attn.probs(layer.layer_norm1(x), mask, causal))
            if checkpointed is None:
                x = layer(x, mask, causal)
            else:
                x = checkpoint(layer, x, mask, causal, **checkpointed)
        if record is not None:
            record.hidden(x)
        return x


# --- towers ------------------------------------------------------------------------------------


class _Tower(PreTrainedModel):
    """A CLIP tower loads from its own folder or from a whole CLIP checkpoint (its ``text_config`` or
    ``vision_config``, its ``text_model.`` or ``vision_model.`` keys), as transformers' towers do."""

    config_key = ""

    @classmethod
    def _read_config(cls, folder: Path) -> PretrainedConfig:
        data = read_json(config_path(folder))
        if data.get("model_type") == "clip":
            data = {**data.get(cls.config_key, {}), "model_type": cls.config_class.model_type}
        return cls.config_class.from_dict(data)


class CLIPTextModel(_Tower):
    """(B, T) token ids -> (B, T, D) final-normed states; ``pooler_output`` is the end-of-text state."""

    config_class = CLIPTextConfig
    config_key = "text_config"
    base_model_prefix = "text_model"
    input_embeddings = "embeddings.token_embedding"
    ignored_keys = (r"position_ids$",)

    def __init__(self, config: CLIPTextConfig) -> None:
        super().__init__(config)
        self.embeddings = nn.Module()
        self.embeddings.token_embedding = nn.Embedding(config.vocab_size, config.hidden_size)
        self.embeddings.position_embedding = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.encoder = CLIPEncoder(config)
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        *,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> BaseModelOutputWithPooling | tuple:
        length = input_ids.shape[-1]
        if length > self.config.max_position_embeddings:
            raise ValueError(f"{length} tokens; CLIP's text tower takes at most {self.config.max_position_embeddings}")
        if position_ids is None:
            position_ids = torch.arange(length, device=input_ids.device)[None]
        record = Record.asked(self.config, output_hidden_states, output_attentions)
        x = self.embeddings.token_embedding(input_ids) + self.embeddings.position_embedding(position_ids)
        mask = causal_mask(attention_mask, q_len=length, start=0, device=x.device)
        x = self.encoder.run(x, mask, causal=True, record=record, checkpointed=self.checkpoint_options())
        x = self.final_layer_norm(x)
        out = BaseModelOutputWithPooling(last_hidden_state=x, pooler_output=self._pool(x, input_ids), **recorded(record))
        return returned(out, return_dict, self.config)

    def _pool(self, hidden: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
        """The state at each sequence's first end-of-text token (B, D). Configs with the old
        ``eos_token_id`` 2 take the highest id instead, as transformers still does for them."""
        eos = self.config.eos_token_id
        if eos == 2:
            where = input_ids.to(torch.int).argmax(dim=-1)
        else:
            where = (input_ids.to(torch.int) == eos).int().argmax(dim=-1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), where]


class CLIPVisionModel(_Tower):
    """(B, C, H, W) pixels -> (B, 1 + N, D) states; ``pooler_output`` is the post-normed class state."""

    config_class = CLIPVisionConfig
    config_key = "vision_config"
    base_model_prefix = "vision_model"
    input_embeddings = "embeddings.patch_embedding"
    main_input_name = "pixel_values"
    ignored_keys = (r"position_ids$",)

    def __init__(self, config: CLIPVisionConfig) -> None:
        super().__init__(config)
        self.embeddings = nn.Module()
        self.embeddings.class_embedding = nn.Parameter(torch.zeros(config.hidden_size))
        self.embeddings.patch_embedding = nn.Conv2d(
            config.num_channels, config.hidden_size, config.patch_size, stride=config.patch_size, bias=False
        )
        positions = (config.image_size // config.patch_size) ** 2 + 1
        self.embeddings.position_embedding = nn.Embedding(positions, config.hidden_size)
        self.pre_layrnorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.encoder = CLIPEncoder(config)
        self.post_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def init_missing(self, name: str, tensor: torch.Tensor) -> None:
        if name.endswith("class_embedding"):
            with torch.no_grad():
                tensor.normal_(0.0, self.config.hidden_size**-0.5 * self.config.initializer_factor)
            return
        super().init_missing(name, tensor)

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
        x = self.pre_layrnorm(self._embed(pixel_values, bool(interpolate_pos_encoding)))
        x = self.encoder.run(x, None, causal=False, record=record, checkpointed=self.checkpoint_options())
        out = BaseModelOutputWithPooling(
            last_hidden_state=x, pooler_output=self.post_layernorm(x[:, 0]), **recorded(record)
        )
        return returned(out, return_dict, self.config)

    def _embed(self, pixel_values: torch.Tensor, interpolate: bool) -> torch.Tensor:
        """(B, C, H, W) -> (B, 1 + N, D): class token, patches, plus positions."""
        size, patch = self.config.image_size, self.config.patch_size
        check_pixels(pixel_values, self.config.num_channels)
        height, width = pixel_values.shape[-2:]
        if not interpolate and (height, width) != (size, size):
            raise ValueError(f"input image size ({height}*{width}) doesn't match the model ({size}*{size})")
        weight = self.embeddings.patch_embedding.weight
        x = self.embeddings.patch_embedding(pixel_values.to(weight.dtype)).flatten(2).transpose(1, 2)
        cls = self.embeddings.class_embedding.expand(x.shape[0], 1, -1)
        x = torch.cat((cls, x), dim=1)
        table = self.embeddings.position_embedding.weight[None]  # (1, 1 + N, D)
        if interpolate and (height, width) != (size, size):
            table = interpolate_positions(table, (height // patch, width // patch))
        return x + table


# --- the joint model ---------------------------------------------------------------------------


def contrastive_loss(logits_per_text: torch.Tensor) -> torch.Tensor:
    """CLIP's symmetric loss: caption i belongs to image i, and image i to caption i."""
    target = torch.arange(logits_per_text.shape[0], device=logits_per_text.device)
    return (F.cross_entropy(logits_per_text, target) + F.cross_entropy(logits_per_text.t(), target)) / 2


class CLIPModel(PreTrainedModel):
    """Both towers and their projections: texts (B_t, T) and images (B_i, C, H, W) -> similarities."""

    config_class = CLIPConfig
    input_embeddings = "text_model.embeddings.token_embedding"
    ignored_keys = (r"position_ids$",)

    def __init__(self, config: CLIPConfig) -> None:
        super().__init__(config)
        text, vision = config.text(), config.vision()
        self.text_model = CLIPTextModel(text)
        self.vision_model = CLIPVisionModel(vision)
        self.visual_projection = nn.Linear(vision.hidden_size, config.projection_dim, bias=False)
        self.text_projection = nn.Linear(text.hidden_size, config.projection_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(config.logit_scale_init_value))

    def init_missing(self, name: str, tensor: torch.Tensor) -> None:
        with torch.no_grad():
            if name == "logit_scale":
                tensor.fill_(self.config.logit_scale_init_value)
            elif name.endswith("class_embedding"):
                tensor.normal_(0.0, tensor.shape[0] ** -0.5 * self.config.initializer_factor)
            else:
                super().init_missing(name, tensor)

    def get_text_features(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
    ) -> BaseModelOutputWithPooling:
        """The text tower's output with ``pooler_output`` projected: (B, projection_dim), as
        transformers 5 returns it (``.pooler_output`` is the text embedding; not normalised)."""
        out = self.text_model(input_ids, attention_mask, position_ids, return_dict=True)
        out.pooler_output = self.text_projection(out.pooler_output)
        return out

    def get_image_features(
        self, pixel_values: torch.Tensor, *, interpolate_pos_encoding: bool = False
    ) -> BaseModelOutputWithPooling:
        """The vision tower's output with ``pooler_output`` projected: (B, projection_dim)."""
        out = self.vision_model(pixel_values, interpolate_pos_encoding=interpolate_pos_encoding, return_dict=True)
        out.pooler_output = self.visual_projection(out.pooler_output)
        return out

    def forward(
        self,
        input_ids: torch.Tensor,
        pixel_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        *,
        return_loss: bool | None = None,
        interpolate_pos_encoding: bool = False,
        return_dict: bool | None = None,
    ) -> CLIPOutput | tuple:
        vision = self.get_image_features(pixel_values, interpolate_pos_encoding=interpolate_pos_encoding)
        text = self.get_text_features(input_ids, attention_mask, position_ids)
        image_embeds = F.normalize(vision.pooler_output, dim=-1, eps=0.0)
        text_embeds = F.normalize(text.pooler_output, dim=-1, eps=0.0)
        logits_per_text = text_embeds @ image_embeds.t() * self.logit_scale.exp()
        out = CLIPOutput(
            loss=contrastive_loss(logits_per_text) if return_loss else None,
            logits_per_image=logits_per_text.t(),
            logits_per_text=logits_per_text,
            text_embeds=text_embeds,
            image_embeds=image_embeds,
            text_model_output=text,
            vision_model_output=vision,
        )
        return returned(out, return_dict, self.config)


# --- registry entries --------------------------------------------------------------------------

CONFIGS = {"clip": CLIPConfig, "clip_text_model": CLIPTextConfig, "clip_vision_model": CLIPVisionConfig}
# zero-shot first: a CLIPModel checkpoint's task (``architectures``) is zero-shot classification
MODELS = {"zero-shot-image-classification": CLIPModel, "base": CLIPModel}
#: a tower saved on its own (``clip_text_model``, ``clip_vision_model``) loads as that tower
MODELS_BY_TYPE = {"clip_text_model": {"base": CLIPTextModel}, "clip_vision_model": {"base": CLIPVisionModel}}
