"""EfficientNet (Tan & Le, 2019, arXiv:1905.11946), as transformers' ``modeling_efficientnet`` builds it
(parameter names are its checkpoint keys), and the EfficientNet-Lite0 ImageNet checkpoint imported
into that layout.

A stem (3x3 stride-2 conv, BN, activation) feeds MBConv blocks: a 1x1 expansion, a depthwise KxK conv
with TensorFlow "same" padding (asymmetric, right/bottom, on stride 2), squeeze-and-excite, a 1x1
projection, and a residual when shape allows. A 1x1 conv to ``hidden_dim``, global mean pooling and a
linear classifier end it. Stages are the config's lists (kernel, stride, expand ratio, repeats,
channels), widened and deepened by ``width_coefficient`` and ``depth_coefficient``.

EfficientNet-Lite (TF's ``efficientnet_lite``, lukemelas' ``efficientnet_pytorch`` key names) differs
in three ways: ReLU6 instead of swish, no squeeze-and-excite, and a fixed-width stem and head (equal
to the scaled ones at Lite0's coefficients of 1.0). ReLU6 is ``hidden_act``; the missing
squeeze-and-excite is written as an exact identity (reduce weights zero, expand bias 64: sigmoid(64)
is 1.0 in float32 and bfloat16), so :func:`import_lite_state_dict` gives a checkpoint that transformers'
``EfficientNetForImageClassification`` also loads with the same logits.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cove.models._shared import losses
from cove.models._shared.activations import activation
from cove.models._shared.vision import check_pixels
from cove.models.configuration import PretrainedConfig
from cove.models.modeling import PreTrainedModel
from cove.models.outputs import BaseModelOutputWithPooling, ImageClassifierOutput, returned


@dataclass
class EfficientNetConfig(PretrainedConfig):
    """config.json of an EfficientNet; defaults are transformers' (google/efficientnet-b7)."""

    model_type = "efficientnet"

    num_channels: int = 3
    image_size: int = 600
    width_coefficient: float = 2.0
    depth_coefficient: float = 3.1
    depth_divisor: int = 8
    kernel_sizes: list[int] = (3, 3, 5, 3, 5, 5, 3)
    in_channels: list[int] = (32, 16, 24, 40, 80, 112, 192)
    out_channels: list[int] = (16, 24, 40, 80, 112, 192, 320)
    depthwise_padding: list[int] = ()
    strides: list[int] = (1, 2, 2, 2, 1, 2, 1)
    num_block_repeats: list[int] = (1, 2, 2, 3, 3, 4, 1)
    expand_ratios: list[int] = (1, 6, 6, 6, 6, 6, 6)
    squeeze_expansion_ratio: float = 0.25
    hidden_act: str = "swish"
    hidden_dim: int = 2560
    pooling_type: str = "mean"
    batch_norm_eps: float = 1e-3
    batch_norm_momentum: float = 0.99
    dropout_rate: float = 0.5
    drop_connect_rate: float = 0.2


def round_filters(config: EfficientNetConfig, channels: int) -> int:
    """Channels scaled by ``width_coefficient``, rounded to a multiple of ``depth_divisor`` (never
    below 90% of the scaled value), as the reference implementation rounds them."""
    divisor = config.depth_divisor
    scaled = channels * config.width_coefficient
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * scaled else rounded)


def same_padding(kernel: int, adjust: bool) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) zero padding before a stride-2 conv: TF "same" on even inputs puts
    the extra pixel right/bottom (``adjust``); otherwise symmetric."""
    half = kernel // 2
    return (half - 1, half, half - 1, half) if adjust else (half, half, half, half)


def batch_norm(config: EfficientNetConfig, channels: int) -> nn.BatchNorm2d:
    # transformers passes Keras' momentum (0.99, the weight of the old statistics) to torch unchanged
    return nn.BatchNorm2d(channels, eps=config.batch_norm_eps, momentum=config.batch_norm_momentum)


# --- layers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockSpec:
    """One MBConv block of the stage table, after width and depth scaling."""

    in_dim: int
    out_dim: int
    stride: int
    expand_ratio: int
    kernel: int
    drop_rate: float
    first_of_stage: bool
    adjust_padding: bool


def block_specs(config: EfficientNetConfig) -> list[BlockSpec]:
    """Every block, stage by stage: repeats scaled by ``depth_coefficient`` (rounded up), the first
    block of a stage taking its stride and input width, the rest stride 1 at the output width."""
    repeats = [int(math.ceil(config.depth_coefficient * n)) for n in config.num_block_repeats]
    total, specs = sum(repeats), []
    for stage, count in enumerate(repeats):
        in_dim = round_filters(config, config.in_channels[stage])
        out_dim = round_filters(config, config.out_channels[stage])
        for j in range(count):
            n = len(specs)
            specs.append(
                BlockSpec(
                    in_dim=in_dim if j == 0 else out_dim,
                    out_dim=out_dim,
                    stride=config.strides[stage] if j == 0 else 1,
                    expand_ratio=config.expand_ratios[stage],
                    kernel=config.kernel_sizes[stage],
                    drop_rate=config.drop_connect_rate * n / total,
                    first_of_stage=j == 0,
                    adjust_padding=n not in config.depthwise_padding,
                )
            )
    return specs


class EfficientNetBlock(nn.Module):
    """MBConv: (B, in, H, W) -> (B, out, H / stride, W / stride)."""

    def __init__(self, config: EfficientNetConfig, spec: BlockSpec) -> None:
        super().__init__()
        self.spec = spec
        dim = spec.in_dim * spec.expand_ratio
        self.act = activation(config.hidden_act)
        if spec.expand_ratio != 1:
            self.expansion = nn.Module()
            self.expansion.expand_conv = nn.Conv2d(spec.in_dim, dim, 1, bias=False)
            self.expansion.expand_bn = batch_norm(config, dim)
        self.depthwise_conv = nn.Module()
        self.depthwise_conv.depthwise_conv = nn.Conv2d(
            dim, dim, spec.kernel, stride=spec.stride, groups=dim, bias=False,
            padding=0 if spec.stride == 2 else spec.kernel // 2,
        )
        self.depthwise_conv.depthwise_norm = batch_norm(config, dim)
        squeezed = max(1, int(spec.in_dim * config.squeeze_expansion_ratio))
        self.squeeze_excite = nn.Module()
        self.squeeze_excite.reduce = nn.Conv2d(dim, squeezed, 1)
        self.squeeze_excite.expand = nn.Conv2d(squeezed, dim, 1)
        self.projection = nn.Module()
        self.projection.project_conv = nn.Conv2d(dim, spec.out_dim, 1, bias=False)
        self.projection.project_bn = batch_norm(config, spec.out_dim)
        self.projection.dropout = nn.Dropout(spec.drop_rate)
        self.residual = spec.stride == 1 and not spec.first_of_stage

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        if self.spec.expand_ratio != 1:
            h = self.act(self.expansion.expand_bn(self.expansion.expand_conv(h)))
        if self.spec.stride == 2:
            h = F.pad(h, same_padding(self.spec.kernel, self.spec.adjust_padding))
        h = self.act(self.depthwise_conv.depthwise_norm(self.depthwise_conv.depthwise_conv(h)))
        se = self.squeeze_excite
        h = h * torch.sigmoid(se.expand(self.act(se.reduce(h.mean((2, 3), keepdim=True)))))
        h = self.projection.project_bn(self.projection.project_conv(h))
        return x + self.projection.dropout(h) if self.residual else h


# --- models ------------------------------------------------------------------------------------


class EfficientNetPreTrainedModel(PreTrainedModel):
    config_class = EfficientNetConfig
    base_model_prefix = "efficientnet"
    input_embeddings = "embeddings.convolution"
    main_input_name = "pixel_values"
    supports_gradient_checkpointing = False

    def init_missing(self, name: str, tensor: torch.Tensor) -> None:
        """BatchNorm statistics start at mean 0, variance 1, no batches seen; other tensors as usual."""
        with torch.no_grad():
            if name.endswith("running_mean") or name.endswith("num_batches_tracked"):
                tensor.zero_()
            elif name.endswith("running_var"):
                tensor.fill_(1.0)
            else:
                super().init_missing(name, tensor)


class EfficientNetModel(EfficientNetPreTrainedModel):
    """(B, C, H, W) pixels -> (B, hidden_dim, H/32, W/32) features; ``pooler_output`` (B, hidden_dim)."""

    def __init__(self, config: EfficientNetConfig) -> None:
        super().__init__(config)
        if config.pooling_type not in ("mean", "max"):
            raise ValueError(f"pooling_type must be 'mean' or 'max', not {config.pooling_type!r}")
        stem = round_filters(config, 32)
        self.embeddings = nn.Module()
        self.embeddings.convolution = nn.Conv2d(config.num_channels, stem, 3, stride=2, bias=False)
        self.embeddings.batchnorm = batch_norm(config, stem)
        specs = block_specs(config)
        self.encoder = nn.Module()
        self.encoder.blocks = nn.ModuleList(EfficientNetBlock(config, spec) for spec in specs)
        self.encoder.top_conv = nn.Conv2d(specs[-1].out_dim, round_filters(config, 1280), 1, bias=False)
        self.encoder.top_bn = batch_norm(config, config.hidden_dim)
        self.act = activation(config.hidden_act)

    def features(
        self, pixel_values: torch.Tensor, hidden_states: list[torch.Tensor] | None = None
    ) -> torch.Tensor:
        """The tensor path: (B, hidden_dim, h, w); ``hidden_states`` collects the stem's and every
        block's output (transformers' ``hidden_states``)."""
        check_pixels(pixel_values, self.config.num_channels)
        x = F.pad(pixel_values.to(self.embeddings.convolution.weight.dtype), (0, 1, 0, 1))
        x = self.act(self.embeddings.batchnorm(self.embeddings.convolution(x)))
        for block in self.encoder.blocks:
            if hidden_states is not None:
                hidden_states.append(x)
            x = block(x)
        if hidden_states is not None:
            hidden_states.append(x)
        return self.act(self.encoder.top_bn(self.encoder.top_conv(x)))

    def pool(self, features: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) -> (B, C): the global mean (or max) of each channel."""
        return features.mean((2, 3)) if self.config.pooling_type == "mean" else features.amax((2, 3))

    def forward(
        self,
        pixel_values: torch.Tensor,
        *,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> BaseModelOutputWithPooling | tuple:
        states = [] if _asked(output_hidden_states, self.config.output_hidden_states) else None
        x = self.features(pixel_values, states)
        out = BaseModelOutputWithPooling(
            last_hidden_state=x, pooler_output=self.pool(x), hidden_states=None if states is None else tuple(states)
        )
        return returned(out, return_dict, self.config)


class EfficientNetForImageClassification(EfficientNetPreTrainedModel):
    """(B, C, H, W) pixels -> (B, num_labels) logits from the pooled features."""

    def __init__(self, config: EfficientNetConfig) -> None:
        super().__init__(config)
        self.efficientnet = EfficientNetModel(config)
        self.dropout = nn.Dropout(config.dropout_rate)
        self.classifier = nn.Linear(config.hidden_dim, config.num_labels)

    def forward(
        self,
        pixel_values: torch.Tensor,
        *,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> ImageClassifierOutput | tuple:
        """``labels``: (B,) class ids (or floats for multi-label / regression, as ``problem_type`` says)."""
        states = [] if _asked(output_hidden_states, self.config.output_hidden_states) else None
        features = self.efficientnet.features(pixel_values, states)
        logits = self.classifier(self.dropout(self.efficientnet.pool(features)))
        loss = None if labels is None else losses.sequence_classification(logits, labels, self.config)
        out = ImageClassifierOutput(loss=loss, logits=logits, hidden_states=None if states is None else tuple(states))
        return returned(out, return_dict, self.config)


def _asked(value: bool | None, default: bool | None) -> bool:
    return bool(default) if value is None else bool(value)


# --- importing EfficientNet-Lite ---------------------------------------------------------------

#: EfficientNet-Lite0's stage table and widths (TF's efficientnet_lite_builder, lite0: 1.0, 1.0, 224).
LITE0 = dict(
    image_size=224,
    width_coefficient=1.0,
    depth_coefficient=1.0,
    hidden_dim=1280,
    hidden_act="relu6",
    dropout_rate=0.2,
    drop_connect_rate=0.2,
    batch_norm_eps=1e-3,
)

#: lukemelas ``efficientnet_pytorch`` names -> this file's names (a block index stays where it is).
_LITE_KEYS = [
    (r"^_conv_stem\.", "efficientnet.embeddings.convolution."),
    (r"^_bn0\.", "efficientnet.embeddings.batchnorm."),
    (r"^_blocks\.(\d+)\._expand_conv\.", r"efficientnet.encoder.blocks.\1.expansion.expand_conv."),
    (r"^_blocks\.(\d+)\._bn0\.", r"efficientnet.encoder.blocks.\1.expansion.expand_bn."),
    (r"^_blocks\.(\d+)\._depthwise_conv\.", r"efficientnet.encoder.blocks.\1.depthwise_conv.depthwise_conv."),
    (r"^_blocks\.(\d+)\._bn1\.", r"efficientnet.encoder.blocks.\1.depthwise_conv.depthwise_norm."),
    (r"^_blocks\.(\d+)\._project_conv\.", r"efficientnet.encoder.blocks.\1.projection.project_conv."),
    (r"^_blocks\.(\d+)\._bn2\.", r"efficientnet.encoder.blocks.\1.projection.project_bn."),
    (r"^_conv_head\.", "efficientnet.encoder.top_conv."),
    (r"^_bn1\.", "efficientnet.encoder.top_bn."),
    (r"^_fc\.", "classifier."),
]

SE_IDENTITY_BIAS = 64.0  # sigmoid(64) == 1.0 exactly in float32: an absent squeeze-excite


def lite_key(key: str) -> str:
    """A lukemelas EfficientNet-Lite key in this file's (transformers') names.

    Raises:
        ValueError: a key the Lite layout does not have (e.g. squeeze-excite ``_se_reduce``).
    """
    for pattern, replacement in _LITE_KEYS:
        if re.match(pattern, key):
            return re.sub(pattern, replacement, key)
    raise ValueError(f"{key!r} is not a key of an EfficientNet-Lite state dict")


def import_lite_state_dict(
    state: dict[str, torch.Tensor], id2label: dict[int, str], *, config: dict | None = None
) -> EfficientNetForImageClassification:
    """An EfficientNet-Lite classifier from a lukemelas-style state dict (load it with
    ``torch.load(path, weights_only=True)``): keys renamed by :func:`lite_key`, squeeze-excite set to
    an exact identity. ``config`` overrides :data:`LITE0` for the other Lite sizes.

    Raises:
        ValueError: a key or shape that does not fit the configured network.
    """
    values = {**LITE0, **(config or {}), "id2label": dict(id2label)}
    values["label2id"] = {v: k for k, v in values["id2label"].items()}
    cfg = EfficientNetConfig.from_dict({"model_type": "efficientnet", **values})
    weights = {lite_key(k): v for k, v in state.items()}
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in EfficientNetForImageClassification(cfg).state_dict().items()}
    for name, shape in shapes.items():
        if ".squeeze_excite." in name:
            weights[name] = torch.zeros(shape)
            if name.endswith("expand.bias"):
                weights[name].fill_(SE_IDENTITY_BIAS)
    unknown = sorted(set(weights) - set(shapes))
    missing = sorted(set(shapes) - set(weights))
    if unknown or missing:
        raise ValueError(f"state dict does not fit {cfg.model_type}: missing {missing[:3]}, unexpected {unknown[:3]}")
    for name, shape in shapes.items():
        if tuple(weights[name].shape) != tuple(shape):
            raise ValueError(f"{name}: shape {tuple(weights[name].shape)} in the state dict, {tuple(shape)} expected")
    return EfficientNetForImageClassification.from_weights(cfg, weights, strict=True)


# --- registry entries --------------------------------------------------------------------------

CONFIGS = {"efficientnet": EfficientNetConfig}
MODELS = {"base": EfficientNetModel, "image-classification": EfficientNetForImageClassification}
