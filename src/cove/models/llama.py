"""Llama (Touvron et al., 2023, arXiv:2302.13971), also serving Mistral and Qwen2 checkpoints, whose
weights are interchangeable with Llama's up to three differences written in their configs: a sliding
attention window (Mistral; Qwen2 when ``use_sliding_window``), biases on q/k/v (Qwen2), and RoPE
scaling (linear, llama3). Matches transformers' ``modeling_llama`` / ``_mistral`` / ``_qwen2`` with
SDPA attention and grouped-query heads; parameter names are the checkpoint keys.

The tensor path is ``LlamaModel.hidden(input_ids, attention_mask, position_ids, cache)``: ids (B, T);
mask (B, past + T) of 1/0; positions default to ``past .. past+T``; ``cache`` a :class:`KVCache` from
``make_cache`` (or the growing one a public forward makes); it returns (B, T, hidden) states after
the final norm. Generation calls it, then ``lm_head``. Its layer loop is the one place that collects
hidden states and attention probabilities when asked and runs layers checkpointed when gradient
checkpointing is on. Each model's public ``forward`` takes transformers' arguments (``labels``,
``past_key_values``/``cache``, ``use_cache``, ``output_hidden_states``, ``output_attentions``,
``return_dict``) and returns its output object (:mod:`cove.models.outputs`).

The end of the file maps a llama.cpp GGUF file onto this model (names, config, q/k row order).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from cove.models._shared import kv_cache, losses, rope
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
from cove.models._shared.projections import project
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

if TYPE_CHECKING:
    from cove.formats.gguf import AffineBlocks, GGUFFile

Cache = KVCache | DynamicCache


@dataclass
class LlamaConfig(PretrainedConfig):
    """config.json of a Llama model; defaults are Llama-2-7B's.

    RoPE is read from ``rope_parameters`` (transformers 5) or ``rope_theta`` + ``rope_scaling`` (older).
    """

    model_type = "llama"

    vocab_size: int = 32000
    hidden_size: int = 4096
    intermediate_size: int = 11008
    num_hidden_layers: int = 32
    num_attention_heads: int = 32
    num_key_value_heads: int | None = None
    head_dim: int | None = None
    hidden_act: str = "silu"
    max_position_embeddings: int = 2048
    rms_norm_eps: float = 1e-6
    rope_theta: float | None = None
    rope_scaling: dict[str, Any] | None = None
    rope_parameters: dict[str, Any] | None = None
    attention_bias: bool = False
    mlp_bias: bool = False
    attention_dropout: float = 0.0
    sliding_window: int | None = None
    layer_types: list[str] | None = None
    tie_word_embeddings: bool = False
    bos_token_id: int | None = 1
    eos_token_id: int | list[int] | None = 2

    @property
    def kv_heads(self) -> int:
        return self.num_key_value_heads or self.num_attention_heads

    @property
    def dim_per_head(self) -> int:
        return self.head_dim or self.hidden_size // self.num_attention_heads

    @property
    def rope(self) -> tuple[float, dict[str, Any] | None]:
        """(theta, scaling) whichever spelling the config uses."""
        if self.rope_parameters is not None:
            return float(self.rope_parameters.get("rope_theta", 10000.0)), self.rope_parameters
        return float(self.rope_theta or 10000.0), self.rope_scaling

    @property
    def qkv_bias(self) -> bool:
        return self.attention_bias

    @property
    def o_bias(self) -> bool:
        return self.attention_bias

    def layer_window(self, layer: int) -> int | None:
        """The sliding window of ``layer``, or None for full attention."""
        if self.layer_types is not None:
            return self.sliding_window if self.layer_types[layer] == "sliding_attention" else None
        return None


@dataclass
class MistralConfig(LlamaConfig):
    """Mistral: Llama with a sliding window on every layer (unless ``layer_types`` says otherwise)."""

    model_type = "mistral"

    sliding_window: int | None = 4096
    max_position_embeddings: int = 32768

    def layer_window(self, layer: int) -> int | None:
        return super().layer_window(layer) if self.layer_types is not None else self.sliding_window


@dataclass
class Qwen2Config(LlamaConfig):
    """Qwen2: Llama with biases on q/k/v (not o), and a window on layers >= ``max_window_layers``
    only when ``use_sliding_window``."""

    model_type = "qwen2"

    vocab_size: int = 151936
    max_position_embeddings: int = 32768
    use_sliding_window: bool = False
    max_window_layers: int = 28
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None

    @property
    def qkv_bias(self) -> bool:
        return True

    @property
    def o_bias(self) -> bool:
        return False

    def layer_window(self, layer: int) -> int | None:
        if self.layer_types is not None:
            return super().layer_window(layer)
        return self.sliding_window if self.use_sliding_window and layer >= self.max_window_layers else None


# --- layers ------------------------------------------------------------------------------------


class LlamaRMSNorm(nn.Module):
    """x / rms(x) * weight, computed in float32 (Zhang & Sennrich, 2019)."""

    def __init__(self, size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # transformers' float32 x * rsqrt(mean(x^2) + eps), bit for bit, in fewer ops (no-op casts
        # skipped, mean as sum then divide: a decode step runs two norms per layer)
        h = x if x.dtype == torch.float32 else x.float()
        var = (h * h).sum(-1, keepdim=True).div_(h.shape[-1])
        h = h * var.add_(self.eps).rsqrt_()
        return self.weight * (h if x.dtype == torch.float32 else h.to(x.dtype))


class LlamaAttention(nn.Module):
    def __init__(self, config: LlamaConfig, layer_idx: int) -> None:
        super().__init__()
        self.layer_idx = layer_idx
        self.heads, self.kv_heads, d = config.num_attention_heads, config.kv_heads, config.dim_per_head
        self.dropout_p = config.attention_dropout
        self.q_proj = nn.Linear(config.hidden_size, self.heads * d, bias=config.qkv_bias)
        self.k_proj = nn.Linear(config.hidden_size, self.kv_heads * d, bias=config.qkv_bias)
        self.v_proj = nn.Linear(config.hidden_size, self.kv_heads * d, bias=config.qkv_bias)
        self.o_proj = nn.Linear(self.heads * d, config.hidden_size, bias=config.o_bias)

    def forward(
        self,
        x: torch.Tensor,
        cos_sin: tuple[torch.Tensor, torch.Tensor],
        mask: torch.Tensor | None,
        cache: Cache | None,
    ) -> torch.Tensor:
        q, k, v = project(x, self.q_proj, self.k_proj, self.v_proj)  # one product when quantized and fused
        q = split_heads(q, self.heads)  # (B, H, T, D)
        k = split_heads(k, self.kv_heads)  # (B, H_kv, T, D)
        v = split_heads(v, self.kv_heads)
        q, k = rope.apply(q, *cos_sin), rope.apply(k, *cos_sin)
        if cache is not None:
            k, v = cache.update(self.layer_idx, k, v)
        out = attend(q, k, v, mask, causal=True, dropout=self.dropout_p if self.training else 0.0)
        return self.o_proj(merge_heads(out))

    def probs(
        self,
        x: torch.Tensor,
        cos_sin: tuple[torch.Tensor, torch.Tensor],
        mask: torch.Tensor | None,
        cache: Cache | None,
    ) -> torch.Tensor:
        """The attention probabilities ``forward`` uses, (B, heads, T, past + T); reads, never writes, the cache."""
        q = rope.apply(split_heads(self.q_proj(x), self.heads), *cos_sin)
        k = rope.apply(split_heads(self.k_proj(x), self.kv_heads), *cos_sin)
        past = cache[self.layer_idx][0] if cache is not None else None
        if past is not None:
            k = torch.cat((past, k), dim=2)
        return attention_probs(q, k, mask, causal=True)


class LlamaMLP(nn.Module):
    """SwiGLU (Shazeer, 2020): down(act(gate(x)) * up(x))."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        h, i, bias = config.hidden_size, config.intermediate_size, config.mlp_bias
        self.gate_proj = nn.Linear(h, i, bias=bias)
        self.up_proj = nn.Linear(h, i, bias=bias)
        self.down_proj = nn.Linear(i, h, bias=bias)
        self.act = activation(config.hidden_act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = project(x, self.gate_proj, self.up_proj)
        return self.down_proj(self.act(gate) * up)


class LlamaDecoderLayer(nn.Module):
    def __init__(self, config: LlamaConfig, layer_idx: int) -> None:
        super().__init__()
        self.window = config.layer_window(layer_idx)
        self.self_attn = LlamaAttention(config, layer_idx)
        self.mlp = LlamaMLP(config)
        self.input_layernorm = LlamaRMSNorm(config.hidden_size, config.rms_norm_eps)
        self.post_attention_layernorm = LlamaRMSNorm(config.hidden_size, config.rms_norm_eps)

    def forward(
        self,
        x: torch.Tensor,
        cos_sin: tuple[torch.Tensor, torch.Tensor],
        mask: torch.Tensor | None,
        cache: Cache | None,
    ) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos_sin, mask, cache)
        return x + self.mlp(self.post_attention_layernorm(x))

    def attention_probs(
        self,
        x: torch.Tensor,
        cos_sin: tuple[torch.Tensor, torch.Tensor],
        mask: torch.Tensor | None,
        cache: Cache | None,
    ) -> torch.Tensor:
        """This layer's attention probabilities for input ``x`` (``output_attentions``)."""
        return self.self_attn.probs(self.input_layernorm(x), cos_sin, mask, cache)


# --- models ------------------------------------------------------------------------------------


class LlamaPreTrainedModel(PreTrainedModel):
    config_class = LlamaConfig
    base_model_prefix = "model"
    input_embeddings = "embed_tokens"
    ignored_keys = (r"rotary_emb\.inv_freq$",)

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
            num_layers=c.num_hidden_layers,
            batch_size=batch_size,
            num_kv_heads=c.kv_heads,
            head_dim=c.dim_per_head,
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
            num_layers=self.config.num_hidden_layers,
            checkpointing=self.checkpoint_options() is not None,
        )


class LlamaModel(LlamaPreTrainedModel):
    """The decoder stack: (B, T) ids -> (B, T, hidden) states after the final norm."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(LlamaDecoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.norm = LlamaRMSNorm(config.hidden_size, config.rms_norm_eps)
        theta, scaling = config.rope
        self.rope_theta, self.rope_scaling = theta, scaling
        rope.inv_freq(
            config.dim_per_head, theta, scaling
        )  # an unsupported scaling fails here, not in forward
        self._freqs: torch.Tensor | None = None  # (head_dim/2,) float32 on the device, kept after first use

    def hidden(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        cache: Cache | None = None,
        *,
        record: Record | None = None,
    ) -> torch.Tensor:
        """The tensor path: (B, T, hidden) states; ``record`` collects what a public forward asked."""
        static = cache is not None and cache.static  # then mask and positions are given (see KVCache)
        start = cache.length if cache is not None and not static else 0
        t, device = input_ids.shape[1], input_ids.device
        if position_ids is None:
            position_ids = torch.arange(start, start + t, device=device)[None]
        x = self.embed_tokens(input_ids)
        if self._freqs is None or self._freqs.device != device:  # built on meta, so made on first use
            self._freqs = rope.inv_freq(self.config.dim_per_head, self.rope_theta, self.rope_scaling).to(
                device
            )
        cos_sin = rope.cos_sin(self._freqs, position_ids, x.dtype)
        if record is not None and record.attentions is not None and static:
            raise ValueError("output_attentions is not available with a static cache")
        checkpointed = self.checkpoint_options()
        masks: dict[int | None, torch.Tensor | None] = {}
        for layer in self.layers:
            if layer.window not in masks and static:
                masks[layer.window] = slot_mask(attention_mask, cache.slots, sliding_window=layer.window)
            elif layer.window not in masks:
                masks[layer.window] = causal_mask(
                    attention_mask, q_len=t, start=start, sliding_window=layer.window, device=device
                )
            mask = masks[layer.window]
            if record is not None:
                record.hidden(x)
                if record.attentions is not None:
                    record.attentions.append(layer.attention_probs(x, cos_sin, mask, cache))
            if checkpointed is None:
                x = layer(x, cos_sin, mask, cache)
            else:
                x = checkpoint(layer, x, cos_sin, mask, None, **checkpointed)
        if cache is not None:
            cache.advance(t)
        x = self.norm(x)
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
        ``attention_mask`` covers past and new tokens); ``use_cache`` (default: yes) returns one.
        ``token_type_ids`` are accepted (a tokenizer's output passes as is) and unused, as in transformers."""
        record = Record.asked(self.config, output_hidden_states, output_attentions)
        cache = self._cache(cache, past_key_values, use_cache)
        hidden = self.hidden(input_ids, attention_mask, position_ids, cache, record=record)
        out = BaseModelOutputWithPast(last_hidden_state=hidden, cache=cache, **recorded(record))
        return returned(out, return_dict, self.config)


class LlamaForCausalLM(LlamaPreTrainedModel):
    """(B, T) ids -> (B, T, vocab) next-token logits."""

    transposed_linears = True  # float32 weights column-major: faster small-batch decoding

    tied_weights = {"lm_head.weight": "model.embed_tokens.weight"}
    output_embeddings = "lm_head"

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__(config)
        self.model = LlamaModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
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
        ``logits_to_keep``: logits of the last n positions only (0: all). The rest as in ``LlamaModel``."""
        record = Record.asked(self.config, output_hidden_states, output_attentions)
        cache = self._cache(cache, past_key_values, use_cache)
        hidden = self.model.hidden(input_ids, attention_mask, position_ids, cache, record=record)
        logits = self.lm_head(keep_positions(hidden, logits_to_keep))
        loss = None if labels is None else losses.causal_lm(logits, labels)
        out = CausalLMOutputWithPast(loss=loss, logits=logits, cache=cache, **recorded(record))
        return returned(out, return_dict, self.config)


class LlamaForSequenceClassification(LlamaPreTrainedModel):
    """(B, T) ids -> (B, num_labels) logits at each row's last non-padding token."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__(config)
        self.model = LlamaModel(config)
        self.score = nn.Linear(config.hidden_size, config.num_labels, bias=False)

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
        hidden = self.model.hidden(input_ids, attention_mask, position_ids, cache, record=record)
        logits = self.score(last_token(hidden, input_ids, self.config.pad_token_id))
        loss = None if labels is None else losses.sequence_classification(logits, labels, self.config)
        out = SequenceClassifierOutputWithPast(loss=loss, logits=logits, cache=cache, **recorded(record))
        return returned(out, return_dict, self.config)


# --- registry entries --------------------------------------------------------------------------

CONFIGS = {"llama": LlamaConfig, "mistral": MistralConfig, "qwen2": Qwen2Config}
MODELS = {
    "base": LlamaModel,
    "causal-lm": LlamaForCausalLM,
    "sequence-classification": LlamaForSequenceClassification,
}


# --- GGUF (llama.cpp) --------------------------------------------------------------------------

#: llama.cpp tensor names -> checkpoint keys (``{i}`` is the layer).
GGUF_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
    "blk.{i}.attn_q.weight": "model.layers.{i}.self_attn.q_proj.weight",
    "blk.{i}.attn_k.weight": "model.layers.{i}.self_attn.k_proj.weight",
    "blk.{i}.attn_v.weight": "model.layers.{i}.self_attn.v_proj.weight",
    "blk.{i}.attn_q.bias": "model.layers.{i}.self_attn.q_proj.bias",
    "blk.{i}.attn_k.bias": "model.layers.{i}.self_attn.k_proj.bias",
    "blk.{i}.attn_v.bias": "model.layers.{i}.self_attn.v_proj.bias",
    "blk.{i}.attn_output.weight": "model.layers.{i}.self_attn.o_proj.weight",
    "blk.{i}.ffn_gate.weight": "model.layers.{i}.mlp.gate_proj.weight",
    "blk.{i}.ffn_up.weight": "model.layers.{i}.mlp.up_proj.weight",
    "blk.{i}.ffn_down.weight": "model.layers.{i}.mlp.down_proj.weight",
    "blk.{i}.attn_norm.weight": "model.layers.{i}.input_layernorm.weight",
    "blk.{i}.ffn_norm.weight": "model.layers.{i}.post_attention_layernorm.weight",
}


def config_from_gguf(gguf: GGUFFile) -> LlamaConfig:
    """A LlamaConfig from a GGUF file's ``llama.*`` and ``tokenizer.ggml.*`` metadata."""
    m = gguf.metadata
    arch = m["general.architecture"]

    def get(key: str, default: Any = None) -> Any:
        return m.get(f"{arch}.{key}", default)

    heads = get("attention.head_count")
    hidden = get("embedding_length")
    vocab = get("vocab_size") or len(m["tokenizer.ggml.tokens"])
    cls = CONFIGS.get(arch, LlamaConfig)
    return cls(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=get("feed_forward_length"),
        num_hidden_layers=get("block_count"),
        num_attention_heads=heads,
        num_key_value_heads=get("attention.head_count_kv", heads),
        head_dim=get("attention.key_length", hidden // heads),
        max_position_embeddings=get("context_length", 2048),
        rms_norm_eps=get("attention.layer_norm_rms_epsilon", 1e-6),
        rope_theta=get("rope.freq_base", 10000.0),
        tie_word_embeddings="output.weight" not in gguf.tensors,
        bos_token_id=m.get("tokenizer.ggml.bos_token_id"),
        eos_token_id=m.get("tokenizer.ggml.eos_token_id"),
        pad_token_id=m.get("tokenizer.ggml.padding_token_id"),
        dtype="float32",
    )


def unpermute(w: torch.Tensor, heads: int) -> torch.Tensor:
    """Undo llama.cpp's q/k row order (interleaved pairs per head) for ``rotate_half`` RoPE:
    rows viewed as (heads, head_dim/2, 2) get their last two axes swapped back."""
    rows = w.shape[0]
    return w.reshape(heads, rows // heads // 2, 2, *w.shape[1:]).transpose(1, 2).reshape(w.shape)


class GGUFWeights(Mapping[str, torch.Tensor]):
    """Checkpoint key -> float32 tensor of a GGUF file, dequantized (q/k rows restored) when asked, so
    loading holds one dequantized tensor at a time besides the model."""

    dtype = torch.float32  # what every tensor dequantizes to (loading need not dequantize one to know)

    def __init__(self, gguf: GGUFFile, config: LlamaConfig) -> None:
        names = {}
        for i in range(config.num_hidden_layers):
            names.update({g.format(i=i): k.format(i=i) for g, k in GGUF_NAMES.items() if "{i}" in g})
        names.update({g: k for g, k in GGUF_NAMES.items() if "{i}" not in g})
        self._gguf, self._config = gguf, config
        self._names = {names.get(name, name): name for name in gguf.tensors}  # key -> GGUF name
        self._permuted = config.model_type in ("llama", "mistral")  # llama.cpp permutes only for "llama"

    def __getitem__(self, key: str) -> torch.Tensor:
        name = self._names[key]
        return self._rows(name, self._gguf.dequantize(name))

    def affine(self, key: str) -> AffineBlocks | None:
        """The tensor's integers, scales and offsets as stored (q/k rows restored), when its block
        format maps onto a quantized kernel (see ``GGUFFile.affine``), else None."""
        name = self._names[key]
        b = self._gguf.affine(name)
        if b is None:
            return None
        offset = None if b.offset is None else self._rows(name, b.offset)
        return type(b)(self._rows(name, b.q), self._rows(name, b.scale), offset)

    def _rows(self, name: str, w: torch.Tensor) -> torch.Tensor:
        """``w``, a tensor of rows of GGUF tensor ``name``, with llama.cpp's q/k row order undone."""
        if self._permuted and name.endswith(("attn_q.weight", "attn_q.bias")):
            return unpermute(w, self._config.num_attention_heads)
        if self._permuted and name.endswith(("attn_k.weight", "attn_k.bias")):
            return unpermute(w, self._config.kv_heads)
        return w

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def weights_from_gguf(gguf: GGUFFile, config: LlamaConfig) -> GGUFWeights:
    """Every GGUF tensor, dequantized to float32 on access, under its checkpoint key, q/k rows restored."""
    return GGUFWeights(gguf, config)
