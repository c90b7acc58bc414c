"""GPT-2 (Radford et al., 2019): a pre-norm decoder with learned positions and ``Conv1D`` projections
(weights stored as (in, out), the transpose of ``nn.Linear``). Matches transformers'
``modeling_gpt2`` with SDPA attention; parameter names are the checkpoint keys.

The tensor path is ``GPT2Model.hidden(input_ids, attention_mask, position_ids, cache)``: ids (B, T);
mask (B, past + T) of 1/0 covering cached and new tokens; positions default to ``past .. past+T`` (as
transformers' forward); ``cache`` a :class:`KVCache` from :meth:`GPT2LMHeadModel.make_cache` (or the
growing one a public forward makes), advanced by T; it returns (B, T, n_embd) hidden states. Generation
calls it, then ``lm_head``. Its layer loop is the one place that collects hidden states and attention
probabilities when asked and runs blocks checkpointed when gradient checkpointing is on. Each model's
public ``forward`` takes transformers' arguments (``labels``, ``past_key_values``/``cache``,
``use_cache``, ``token_type_ids``, ``output_hidden_states``, ``output_attentions``, ``return_dict``) and
returns its output object (:mod:`cove.models.outputs`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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
    slot_mask,
    split_heads,
)
from cove.models._shared.kv_cache import DynamicCache, KVCache
from cove.models._shared.pooling import keep_positions, last_token
from cove.models.configuration import PretrainedConfig
from cove.models.modeling import PreTrainedModel
from cove.models.outputs import (
    BaseModelOutputWithPast,
    CausalLMOutputWithPast,
    Record,
    SequenceClassifierOutputWithPast,
    recorded,
    returned,
)

Cache = KVCache | DynamicCache


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

    stores_transposed = True  # quantization (cove.models.quantized) reads the weight as its transpose

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

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, cache: Cache | None) -> torch.Tensor:
        q, k, v = (split_heads(t, self.heads) for t in self.c_attn(x).chunk(3, dim=-1))  # (B, H, T, D)
        if cache is not None:
            k, v = cache.update(self.layer_idx, k, v)
        dropout = self.dropout_p if self.training else 0.0
        out = attend(q, k, v, mask, causal=True, dropout=dropout, scale=self.scale)
        return self.resid_dropout(self.c_proj(merge_heads(out)))

    def probs(self, x: torch.Tensor, mask: torch.Tensor | None, cache: Cache | None) -> torch.Tensor:
        """The attention probabilities ``forward`` uses, (B, heads, T, past + T); reads, never writes, the cache."""
        q, k, _ = (split_heads(t, self.heads) for t in self.c_attn(x).chunk(3, dim=-1))
        past = cache[self.layer_idx][0] if cache is not None else None
        if past is not None:
            k = torch.cat((past, k), dim=2)
        return attention_probs(q, k, mask, causal=True, scale=self.scale)


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

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, cache: Cache | None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), mask, cache)
        return x + self.mlp(self.ln_2(x))

    def attention_probs(
        self, x: torch.Tensor, mask: torch.Tensor | None, cache: Cache | None
    ) -> torch.Tensor:
        """This block's attention probabilities for input ``x`` (``output_attentions``)."""
        return self.attn.probs(self.ln_1(x), mask, cache)


# --- models ------------------------------------------------------------------------------------


class GPT2PreTrainedModel(PreTrainedModel):
    config_class = GPT2Config
    base_model_prefix = "transformer"
    input_embeddings = "wte"
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

    def _cache(
        self, cache: Cache | None, past_key_values: Cache | None, use_cache: bool | None
    ) -> Cache | None:
        return kv_cache.for_forward(
            cache,
            past_key_values,
            use_cache,
            default=self.config.use_cache,
            num_layers=self.config.n_layer,
            checkpointing=self.checkpoint_options() is not None,
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

    def hidden(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        cache: Cache | None = None,
        *,
        token_type_ids: torch.Tensor | None = None,
        record: Record | None = None,
    ) -> torch.Tensor:
        """The tensor path: (B, T, n_embd) hidden states; ``token_type_ids`` are embedded with ``wte``
        and added, as in transformers; ``record`` collects what a public forward asked."""
        static = cache is not None and cache.static  # then mask and positions are given (see KVCache)
        start = cache.length if cache is not None and not static else 0
        t = input_ids.shape[1]
        if position_ids is None:
            position_ids = torch.arange(start, start + t, device=input_ids.device)[None]
        x = self.wte(input_ids) + self.wpe(position_ids)
        if token_type_ids is not None:
            x = x + self.wte(token_type_ids)
        x = self.drop(x)
        if static:
            mask = slot_mask(attention_mask, cache.slots)
        else:
            mask = causal_mask(attention_mask, q_len=t, start=start, device=input_ids.device)
        if record is not None and record.attentions is not None and static:
            raise ValueError("output_attentions is not available with a static cache")
        checkpointed = self.checkpoint_options()
        for block in self.h:
            if record is not None:
                record.hidden(x)
                if record.attentions is not None:
                    record.attentions.append(block.attention_probs(x, mask, cache))
            x = (
                block(x, mask, cache)
                if checkpointed is None
                else checkpoint(block, x, mask, None, **checkpointed)
            )
        if cache is not None:
            cache.advance(t)
        x = self.ln_f(x)
        if record is not None:
            record.hidden(x)
        return x

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        cache: Cache | None = None,
        *,
        past_key_values: Cache | None = None,
        use_cache: bool | None = None,
        token_type_ids: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> BaseModelOutputWithPast | tuple:
        """``cache``/``past_key_values``: the ``cache`` of an earlier output to continue from (then
        ``attention_mask`` covers past and new tokens); ``use_cache`` (default: yes) returns one."""
        record = Record.asked(self.config, output_hidden_states, output_attentions)
        cache = self._cache(cache, past_key_values, use_cache)
        hidden = self.hidden(
            input_ids, attention_mask, position_ids, cache, token_type_ids=token_type_ids, record=record
        )
        out = BaseModelOutputWithPast(last_hidden_state=hidden, cache=cache, **recorded(record))
        return returned(out, return_dict, self.config)


class GPT2LMHeadModel(GPT2PreTrainedModel):
    """(B, T) ids -> (B, T, vocab) next-token logits; ``lm_head`` shares ``wte``."""

    transposed_linears = True  # float32 weights column-major: faster small-batch decoding

    tied_weights = {"lm_head.weight": "transformer.wte.weight"}
    output_embeddings = "lm_head"

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
        cache: Cache | None = None,
        *,
        past_key_values: Cache | None = None,
        use_cache: bool | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> CausalLMOutputWithPast | tuple:
        """``labels`` (B, T): usually ``input_ids`` with -100 where no loss is wanted (shifted inside);
        ``logits_to_keep``: logits of the last n positions only (0: all). ``cache`` as in ``GPT2Model``."""
        record = Record.asked(self.config, output_hidden_states, output_attentions)
        cache = self._cache(cache, past_key_values, use_cache)
        hidden = self.transformer.hidden(
            input_ids, attention_mask, position_ids, cache, token_type_ids=token_type_ids, record=record
        )
        logits = self.lm_head(keep_positions(hidden, logits_to_keep))
        loss = None if labels is None else losses.causal_lm(logits, labels)
        out = CausalLMOutputWithPast(loss=loss, logits=logits, cache=cache, **recorded(record))
        return returned(out, return_dict, self.config)


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
        cache: Cache | None = None,
        *,
        past_key_values: Cache | None = None,
        use_cache: bool | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> SequenceClassifierOutputWithPast | tuple:
        """``labels``: (B,) class ids, (B, num_labels) floats (multi-label) or values (regression),
        as ``config.problem_type`` says or transformers infers it."""
        record = Record.asked(self.config, output_hidden_states, output_attentions)
        cache = self._cache(cache, past_key_values, use_cache)
        hidden = self.transformer.hidden(
            input_ids, attention_mask, position_ids, cache, token_type_ids=token_type_ids, record=record
        )
        logits = self.score(last_token(hidden, input_ids, self.config.pad_token_id))
        loss = None if labels is None else losses.sequence_classification(logits, labels, self.config)
        out = SequenceClassifierOutputWithPast(loss=loss, logits=logits, cache=cache, **recorded(record))
        return returned(out, return_dict, self.config)


# --- registry entries --------------------------------------------------------------------------

CONFIGS = {"gpt2": GPT2Config}
MODELS = {
    "base": GPT2Model,
    "causal-lm": GPT2LMHeadModel,
    "sequence-classification": GPT2ForSequenceClassification,
}
