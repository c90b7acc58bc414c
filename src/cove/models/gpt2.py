"""GPT-2 (Radford et al., 2019): a pre-norm decoder with learned positions and ``Conv1D`` projections
(weights stored as (in, out), the transpose of ``nn.Linear``). Matches transformers'
``modeling_gpt2`` with SDPA attention; parameter names are the checkpoint keys.

``forward(input_ids, attention_mask, position_ids, cache)``: ids (B, T); mask (B, past + T) of 1/0
covering cached and new tokens; positions default to ``past .. past+T`` (as transformers' forward);
``cache`` a :class:`KVCache` from :meth:`GPT2LMHeadModel.make_cache`, advanced by T.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cove.models._shared.activations import activation
from cove.models._shared.attention import attend, causal_mask, merge_heads, slot_mask, split_heads
from cove.models._shared.kv_cache import KVCache
from cove.models._shared.pooling import last_token
from cove.models.configuration import PretrainedConfig
from cove.models.modeling import PreTrainedModel


@dataclass
class GPT2Config(PretrainedConfig):
    """config.json of a GPT-2 model; defaults are gpt2 (124M)'s."""

    model_type = "gpt2"

    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: int | None = None
    activation_function: str = "gelu_new"
    resid_pdrop: float = 0.1
    embd_pdrop: float = 0.1
    attn_pdrop: float = 0.1
    layer_norm_epsilon: float = 1e-5
    scale_attn_weights: bool = True
    scale_attn_by_inverse_layer_idx: bool = False
    bos_token_id: int | None = 50256
    eos_token_id: int | list[int] | None = 50256


class Conv1D(nn.Module):
    """A linear layer with its weight stored (in_features, out_features), as OpenAI saved GPT-2."""

    def __init__(self, nf: int, nx: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(nn.init.normal_(torch.empty(nx, nf), std=0.02))
        self.bias = nn.Parameter(torch.zeros(nf))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight.t(), self.bias)


class GPT2Attention(nn.Module):
    def __init__(self, config: GPT2Config, layer_idx: int) -> None:
        super().__init__()
        self.heads = config.n_head
        self.layer_idx = layer_idx
        self.c_attn = Conv1D(3 * config.n_embd, config.n_embd)
        self.c_proj = Conv1D(config.n_embd, config.n_embd)
        self.resid_dropout = nn.Dropout(config.resid_pdrop)
        self.dropout_p = config.attn_pdrop
        head_dim = config.n_embd // config.n_head
        self.scale = 1 / math.sqrt(head_dim) if config.scale_attn_weights else 1.0
        if config.scale_attn_by_inverse_layer_idx:
            self.scale /= layer_idx + 1

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, cache: KVCache | None) -> torch.Tensor:
        q, k, v = (split_heads(t, self.heads) for t in self.c_attn(x).chunk(3, dim=-1))  # (B, H, T, D)
        if cache is not None:
            k, v = cache.update(self.layer_idx, k, v)
        dropout = self.dropout_p if self.training else 0.0
        out = attend(q, k, v, mask, causal=True, dropout=dropout, scale=self.scale)
        return self.resid_dropout(self.c_proj(merge_heads(out)))


class GPT2MLP(nn.Module):
    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        inner = config.n_inner or 4 * config.n_embd
        self.c_fc = Conv1D(inner, config.n_embd)
        self.c_proj = Conv1D(config.n_embd, inner)
        self.act = activation(config.activation_function)
        self.dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.act(self.c_fc(x))))


class GPT2Block(nn.Module):
    def __init__(self, config: GPT2Config, layer_idx: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = GPT2Attention(config, layer_idx)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = GPT2MLP(config)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, cache: KVCache | None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), mask, cache)
        return x + self.mlp(self.ln_2(x))


# --- models ------------------------------------------------------------------------------------


class GPT2PreTrainedModel(PreTrainedModel):
    config_class = GPT2Config
    base_model_prefix = "transformer"
    ignored_keys = (r"\.attn\.bias$", r"\.attn\.masked_bias$")

    def make_cache(
        self,
        batch_size: int,
        max_length: int,
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | None = None,
    ) -> KVCache:
        """A static cache for ``batch_size`` sequences of up to ``max_length`` tokens."""
        c = self.config
        return KVCache(
            num_layers=c.n_layer,
            batch_size=batch_size,
            num_kv_heads=c.n_head,
            head_dim=c.n_embd // c.n_head,
            max_length=max_length,
            dtype=dtype or self.dtype,
            device=device or self.device,
        )


class GPT2Model(GPT2PreTrainedModel):
    """The decoder stack: (B, T) ids -> (B, T, n_embd) hidden states after ``ln_f``."""

    def __init__(self, config: GPT2Config) -> None:
        super().__init__(config)
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.n_positions, config.n_embd)
        self.drop = nn.Dropout(config.embd_pdrop)
        self.h = nn.ModuleList(GPT2Block(config, i) for i in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        static = cache is not None and cache.static  # then mask and positions are given (see KVCache)
        start = cache.length if cache is not None and not static else 0
        t = input_ids.shape[1]
        if position_ids is None:
            position_ids = torch.arange(start, start + t, device=input_ids.device)[None]
        x = self.drop(self.wte(input_ids) + self.wpe(position_ids))
        if static:
            mask = slot_mask(attention_mask, cache.slots)
        else:
            mask = causal_mask(attention_mask, q_len=t, start=start, device=input_ids.device)
        for block in self.h:
            x = block(x, mask, cache)
        if cache is not None:
            cache.advance(t)
        return self.ln_f(x)


class GPT2LMHeadModel(GPT2PreTrainedModel):
    """(B, T) ids -> (B, T, vocab) next-token logits; ``lm_head`` shares ``wte``."""

    transposed_linears = True  # float32 weights column-major: faster small-batch decoding

    tied_weights = {"lm_head.weight": "transformer.wte.weight"}

    def __init__(self, config: GPT2Config) -> None:
        super().__init__(config)
        self.transformer = GPT2Model(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.tie_weights()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        return self.lm_head(self.transformer(input_ids, attention_mask, position_ids, cache))


class GPT2ForSequenceClassification(GPT2PreTrainedModel):
    """(B, T) ids -> (B, num_labels) logits at each row's last non-padding token."""

    def __init__(self, config: GPT2Config) -> None:
        super().__init__(config)
        self.transformer = GPT2Model(config)
        self.score = nn.Linear(config.n_embd, config.num_labels, bias=False)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        hidden = self.transformer(input_ids, attention_mask, position_ids)
        return self.score(last_token(hidden, input_ids, self.config.pad_token_id))


# --- registry entries --------------------------------------------------------------------------

CONFIGS = {"gpt2": GPT2Config}
MODELS = {
    "base": GPT2Model,
    "causal-lm": GPT2LMHeadModel,
    "sequence-classification": GPT2ForSequenceClassification,
}
