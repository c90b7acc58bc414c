"""Quantized linear layers on torch's own CPU kernels, and the transform that puts them in
a model (``from_pretrained(..., quantization="int8" | "int4" | "gguf")``).

Every layer stores integers and per-row or per-group scales (weight-only storage: activations are
not stored quantized). The kernels are ATen's, shipped with every CPU build of torch:

- :class:`Int8Linear`: ``W = scale[n] * q[n, :]``, int8 per output row, symmetric (absmax / 127);
  its input is written per row as two int8 terms and the product is exact int32 (``torch._int_mm``).
- :class:`Int4Linear`: ``W = scale[n, g] * q[n, k] + offset[n, g]`` over groups of 32 inputs, q in
  0..15 (min/max, as llama.cpp's Q4_1 rounds), on ``aten._weight_int4pack_mm_for_cpu``. That
  kernel computes ``(q - 8) * s + z``, so it gets ``s = scale`` and ``z = offset + 8 * scale``: the
  same affine map, shifted. GGUF's Q4_0 (``d * (q - 8)``: offset ``-8d``), Q4_1 (``d * q + m``)
  and Q4_K (sub-blocks of 32, ``d*sc * q - dmin*m``) load as they are stored.
- :class:`Int8GroupLinear`: GGUF's Q8_0 (``d * q`` per group of 32, q in -128..127) without
  requantizing: ``q + 128 = 16 h + l`` with h, l in 0..15, so ``W = 16d (h - 8) + d l`` is the sum
  of two int4 layers (``s = 16d, z = 0`` and ``s = d, z = 8d``), both exact maps of the stored bytes.
- :class:`QuantizedEmbedding`: the token table kept as integers; a lookup dequantizes its rows in
  float32. When the output layer is tied to it, the head is built from the same integers.

The int4 kernel runs fast with bfloat16 activations and scales only (its float32 path is scalar,
10-40x slower here), so an int4 layer casts its input to bfloat16 and its output back: the weights
computed are exactly the stored ones up to the bfloat16 rounding of each scale and offset (relative
2^-9), and the input is rounded the same way. The int8 layer rounds its input to two int8 terms
instead (see :class:`Int8Linear`). Tests compare each layer with a product written out independently.
Why not ``torchao``: on CPU its int8 and int4 weight-only configurations call ATen's
``_weight_int8pack_mm`` and the same int4 kernel, so it would add a dependency (built for one torch
version) and no speed.

The layers require in_features divisible by 16 (int8) and by 32 with out_features divisible by 16
(int4); a layer that does not fit stays float32 (``QuantizedModel.kept`` lists them).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from cove.formats.gguf import AffineBlocks

SCHEMES = ("int8", "int4", "gguf")
GROUP = 32  # inputs per scale in int4 layers (llama.cpp's block size)
_ACT = torch.bfloat16  # the dtype the kernels compute in
_TINY = 1e-30  # the scale of an all-zero input row (any positive value gives q = 0)
_GEMV_ROWS = 2  # compiled int8 products of at most this many rows reduce in float (see Int8Linear)
_PACK_ROWS = 4096  # rows quantized or packed at a time (the int4 layout interleaves blocks of 64 rows)


def check_scheme(quantization: str | None) -> str | None:
    """``quantization`` as given when it is None or one of :data:`SCHEMES`; a clear error otherwise."""
    if quantization is not None and quantization not in SCHEMES:
        raise ValueError(
            f"quantization={quantization!r} is not available: pass 'int8' (per-row int8 weights), 'int4'"
            " (groups of 32, scale and offset), 'gguf' (a GGUF file's own blocks) or None (float weights)"
        )
    return quantization


# --- quantizing float weights ------------------------------------------------------------------


def int8_rows(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, K) float -> int8 q (N, K) and float32 scale (N,): ``w ~ scale[:, None] * q``, symmetric
    absmax rounding to nearest (ties to even); an all-zero row gets scale 1."""
    q = torch.empty(w.shape, dtype=torch.int8)
    scale = torch.empty(w.shape[0], dtype=torch.float32)
    for start in range(0, w.shape[0], _PACK_ROWS):  # a chunk of rows at a time: small temporaries
        rows = w[start : start + _PACK_ROWS].float()
        s = rows.abs().amax(dim=1) / 127
        s = torch.where(s > 0, s, torch.ones_like(s))
        q[start : start + _PACK_ROWS] = rows.div(s[:, None]).round_().clamp_(-127, 127)
        scale[start : start + _PACK_ROWS] = s
    return q, scale


def int4_groups(w: torch.Tensor, group: int = GROUP) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(N, K) float -> uint8 q (N, K) in 0..15, float32 scale and offset (N, K / group):
    ``w ~ scale * q + offset`` per group, offset the group's minimum and scale (max - min) / 15."""
    n, k = w.shape
    g = w.float().reshape(n, k // group, group)
    low, high = g.amin(-1), g.amax(-1)
    scale = (high - low) / 15
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = torch.round((g - low[..., None]) / scale[..., None]).clamp_(0, 15).to(torch.uint8)
    return q.reshape(n, k), scale, low


# --- layers ------------------------------------------------------------------------------------



def pack_int4(q: torch.Tensor, split: Any = None) -> torch.Tensor:
    """(N, K) values 0..15 (or ``split(rows)`` of them) -> the int4 kernel's packed (N, K / 2) uint8,
    a chunk of rows at a time so the int32 copy the packing op takes stays small."""
    n, k = q.shape
    step = _PACK_ROWS if n % 64 == 0 else n
    out = torch.empty(n, k // 2, dtype=torch.uint8)
    for start in range(0, n, step):
        rows = q[start : start + step]
        rows = (rows if split is None else split(rows)).to(torch.int32).contiguous()
        out[start : start + step] = torch.ops.aten._convert_weight_to_int4pack_for_cpu(rows, 1)
    return out


def _high(q: torch.Tensor) -> torch.Tensor:
    """int8 q -> h, the high nibble of q + 128 (Q8_0 as two int4 layers)."""
    return (q.to(torch.int16) + 128) >> 4


def _low(q: torch.Tensor) -> torch.Tensor:
    """int8 q -> l, the low nibble of q + 128."""
    return (q.to(torch.int16) + 128) & 0x0F


def _linear_out(y: torch.Tensor, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """A kernel's (M, N) result in ``x``'s dtype and leading shape, plus ``bias``."""
    y = y.to(x.dtype).reshape(*x.shape[:-1], y.shape[-1])
    return y if bias is None else y + bias


def _two_terms(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`int8_activations` before the cast: hi rows then lo rows as (integer-valued) floats."""
    x = x.float()
    s = torch.linalg.vector_norm(x, float("inf"), dim=-1, keepdim=True).div_(127).clamp_(min=_TINY)
    t = x / s
    hi = t.round()
    return torch.cat((hi, t.sub_(hi).mul_(254).round_())), s


def int8_activations(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(M, K) float -> int8 (2M, K) and float32 scale s (M, 1) with ``x ~ s * (hi + lo / 254)``:
    hi = round(x / s) with s = absmax / 127 per row, lo = round(254 * (x / s - hi)), so |lo| <= 127 and
    the error is at most s / 508 (a row's absmax / 64,516): as fine as bfloat16 on a row's largest
    values and finer on the others, whatever outlier channels a row has. Rows [0, M) are hi, [M, 2M)
    lo. Each step rounds to nearest, ties to even; an all-zero row gets a tiny scale and zeros."""
    q, s = _two_terms(x)
    return q.to(torch.int8), s


class Int8Linear(nn.Module):
    """``x @ (scale[:, None] * q).T + bias`` with int8 q (N, K) per output row, in integer arithmetic.

    Each input row is written as two int8 terms (:func:`int8_activations`: ``x ~ s (hi + lo / 254)``)
    and both are multiplied by q in one exact int32 product (``torch._int_mm``, VNNI where the CPU
    has it), then ``y = s * (q_hi + q_lo / 254) * scale``. Why, measured on SmolLM2-135M (2 threads):
    against ATen's ``_weight_int8pack_mm`` (bfloat16 input and output) the compiled decode step is as
    fast, a 512-token prefill 1.5x faster, and the model closer to float32 (perplexity 25.52 against
    25.55, float32 25.35; greedy answer tokens equal to float32's 0.94 against 0.69: the kernel's
    bfloat16 output rounds every layer's result). One int8 term, as llama.cpp's Q8_0 product rounds
    its input per block of 32, costs too much with one scale per row where a row has an outlier
    channel (perplexity 26.0). Per row, so a sequence's result does not depend on the rows batched
    with it (compiled, below, up to float32 summation order). When autograd needs the input's
    gradient, the float32 product on the dequantized weight runs instead.

    Under ``torch.compile``, products of one or two rows (a decode step) take the same two terms as
    floats, ``sum_k (hi + lo / 254) q[n, k]`` (the integer product, up to float32 summation order),
    which inductor makes one vectorized reduction per weight row, converting the int8 bytes in
    registers. On SmolLM2's 106 MB of int8 rows (2 threads) that reads them at ~20 GB/s against
    ~10 GB/s for ``_int_mm`` or ``_weight_int8pack_mm``; from four rows on ``_int_mm`` is as fast
    or faster, so more rows keep it."""

    def __init__(self, q: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None = None) -> None:
        super().__init__()
        self.out_features, self.in_features = q.shape
        self.register_buffer("weight_int8", q.to(torch.int8).contiguous())
        self.register_buffer("scales", scale.float().contiguous())  # (N,)
        self.fused: FusedLinear | None = None  # set by FusedLinear when its rows live in a fused layer
        self.bias = None if bias is None else nn.Parameter(bias.detach().float(), requires_grad=False)

    @classmethod
    def fits(cls, in_features: int, out_features: int) -> bool:
        return in_features % 16 == 0

    @classmethod
    def from_float(cls, w: torch.Tensor, bias: torch.Tensor | None = None) -> Int8Linear:
        return cls(*int8_rows(w), bias)

    def dequantized(self) -> torch.Tensor:
        """The (N, K) float32 weight this layer multiplies by."""
        return self.weight_int8.float() * self.scales[:, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features)
        if x.requires_grad and torch.is_grad_enabled():
            y = rows.float() @ self.dequantized().t()
        elif rows.shape[0] <= _GEMV_ROWS and torch.compiler.is_compiling():
            q, s = _two_terms(rows)  # the eager rounding, multiplied in float (see the class doc)
            t = q[: s.shape[0]] + q[s.shape[0] :] * (1 / 254)
            y = (t[:, None, :] * self.weight_int8.float()).sum(-1) * s * self.scales
        else:
            q, s = int8_activations(rows)
            y = torch._int_mm(q, self.weight_int8.t()).float()  # (2M, N): hi rows, then lo rows
            y = y[: s.shape[0]].add_(y[s.shape[0] :], alpha=1 / 254).mul_(s).mul_(self.scales)
        return _linear_out(y, x, self.bias)


class FusedLinear:
    """Sibling quantized layers that read the same input (a decoder's q/k/v, its gate/up) as one
    product: their integer rows stored once, contiguous, each member's weight a view of its rows (no
    copy). :func:`cove.models._shared.projections.project` runs it: the weight is streamed in one
    call where each member paid a call (and, for int8, the rounding of the input) of its own.
    Members are all :class:`Int8Linear` or all :class:`Int4Linear` (the int4 layout packs blocks of
    64 rows, so each member's width must be a multiple of 64; its scales stay its own, a few KB).
    Kept off the module tree (members hold it as ``fused``), so weights are counted once."""

    def __init__(self, members: Sequence[nn.Module]) -> None:
        self.members = tuple(members)
        self.sizes = [m.out_features for m in members]
        biases = [m.bias for m in members]
        bias = None if all(b is None for b in biases) else torch.cat(
            [b.detach() if b is not None else torch.zeros(m.out_features) for b, m in zip(biases, members)]
        )
        if type(members[0]) is Int8Linear:
            self.layer: nn.Module = Int8Linear(
                torch.cat([m.weight_int8 for m in members]), torch.cat([m.scales for m in members]), bias
            )
            weights, name = self.layer.weight_int8, "weight_int8"
        else:
            self.layer = Int4Linear.from_packed(
                torch.cat([m.weight_int4 for m in members]),
                torch.cat([m.scales_zeros for m in members], dim=1),
                members[0].in_features, members[0].group, bias,
            )
            weights, name = self.layer.weight_int4, "weight_int4"
        start = 0
        for m, n in zip(members, self.sizes):  # the members read the fused storage: one copy in memory
            setattr(m, name, weights[start : start + n])
            if name == "weight_int8":
                m.scales = self.layer.scales[start : start + n]
            m.fused = self
            start += n

    @staticmethod
    def fits(members: Sequence[nn.Module]) -> bool:
        first = members[0]
        if type(first) is Int8Linear:
            return all(type(m) is Int8Linear and m.in_features == first.in_features for m in members)
        return type(first) is Int4Linear and all(
            type(m) is Int4Linear and m.in_features == first.in_features and m.group == first.group
            and m.out_features % 64 == 0
            for m in members
        )


def fuse_siblings(model: nn.Module, groups: Sequence[Sequence[str]]) -> int:
    """Fuse each group of quantized layers (names relative to ``model``) that all exist and fit
    (:meth:`FusedLinear.fits`); returns how many groups were fused."""
    done = 0
    for names in groups:
        try:
            members = [model.get_submodule(n) for n in names]
        except AttributeError:
            continue
        if FusedLinear.fits(members):
            FusedLinear(members)
            done += 1
    return done


class Int4Linear(nn.Module):
    """``x @ W.T + bias`` with ``W = scale * q + offset`` per group of ``group`` inputs (q in 0..15),
    on ``aten._weight_int4pack_mm_for_cpu`` (which computes ``(q - 8) * s + z``; see the module doc)."""

    def __init__(
        self,
        q: torch.Tensor,
        scale: torch.Tensor,
        offset: torch.Tensor,
        bias: torch.Tensor | None = None,
        group: int = GROUP,
        *,
        split: Any = None,
    ) -> None:
        """``q`` (N, K) in 0..15, or any integers that ``split`` maps to 0..15 a chunk of rows at a time."""
        super().__init__()
        self.out_features, self.in_features = q.shape
        self.group = group
        self.register_buffer("weight_int4", pack_int4(q, split))  # (N, K / 2) uint8, the kernel's layout
        zero = offset.float() + 8 * scale.float()  # the kernel's zero for (q - 8)
        self.register_buffer(
            "scales_zeros", torch.stack((scale.float(), zero), -1).transpose(0, 1).to(_ACT).contiguous()
        )
        self.bias = None if bias is None else nn.Parameter(bias.detach().float(), requires_grad=False)
        self.fused: FusedLinear | None = None  # set by FusedLinear when its rows live in a fused layer

    @classmethod
    def from_packed(cls, weight_int4: torch.Tensor, scales_zeros: torch.Tensor, in_features: int, group: int,
                    bias: torch.Tensor | None = None) -> Int4Linear:
        """A layer over rows already in the kernel's layout (``weight_int4`` (N, K / 2), ``scales_zeros``
        (K / group, N, 2)), as :class:`FusedLinear` concatenates them."""
        layer = cls.__new__(cls)
        nn.Module.__init__(layer)
        layer.out_features, layer.in_features, layer.group = weight_int4.shape[0], in_features, group
        layer.register_buffer("weight_int4", weight_int4.contiguous())
        layer.register_buffer("scales_zeros", scales_zeros.contiguous())
        layer.bias = None if bias is None else nn.Parameter(bias.detach().float(), requires_grad=False)
        layer.fused = None
        return layer

    @classmethod
    def fits(cls, in_features: int, out_features: int, group: int = GROUP) -> bool:
        return in_features % group == 0 and out_features % 16 == 0

    @classmethod
    def from_float(cls, w: torch.Tensor, bias: torch.Tensor | None = None, group: int = GROUP) -> Int4Linear:
        return cls(*int4_groups(w, group), bias, group)

    def dequantized(self) -> torch.Tensor:
        """The (N, K) float32 weight this layer multiplies by (from the kernel's own scales and zeros)."""
        eye = torch.eye(self.in_features, dtype=_ACT)
        return (
            torch.ops.aten._weight_int4pack_mm_for_cpu(eye, self.weight_int4, self.group, self.scales_zeros)
            .float()
            .t()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.ops.aten._weight_int4pack_mm_for_cpu(
            x.reshape(-1, self.in_features).to(_ACT), self.weight_int4, self.group, self.scales_zeros
        )
        return _linear_out(y, x, self.bias)


class Int8GroupLinear(nn.Module):
    """GGUF Q8_0 (``W = d * q`` per group of 32, int8 q) as two int4 layers: ``q + 128 = 16 h + l``,
    ``W = 16d (h - 8) + d l``; exact maps of the stored integers (see the module doc)."""

    def __init__(self, q: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None = None) -> None:
        super().__init__()
        self.out_features, self.in_features = q.shape
        d = scale.float()
        self.high = Int4Linear(q, 16 * d, -128 * d, split=_high)  # 16d * h - 128d
        self.low = Int4Linear(q, d, torch.zeros_like(d), bias, split=_low)  # d * l

    fits = Int4Linear.fits

    def dequantized(self) -> torch.Tensor:
        return self.high.dequantized() + self.low.dequantized()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.high(x) + self.low(x)


class QuantizedEmbedding(nn.Module):
    """A token table kept as integers ``q`` (V, H) with ``scale`` (and ``offset``) per row group
    (V, H / group; one group per row for int8 rows); a lookup dequantizes its rows in float32."""

    def __init__(self, q: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor | None = None) -> None:
        super().__init__()
        self.num_embeddings, self.embedding_dim = q.shape
        self.padding_idx = None
        scale = scale.float().reshape(q.shape[0], -1)
        self.group = self.embedding_dim // scale.shape[1]
        self.register_buffer("weight_q", q.contiguous())
        self.register_buffer("scale", scale.contiguous())
        self.register_buffer(
            "offset", None if offset is None else offset.float().reshape(scale.shape).contiguous()
        )

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        rows = self.weight_q[ids].float().unflatten(-1, (-1, self.group))  # (..., H / group, group)
        rows = rows * self.scale[ids][..., None]
        if self.offset is not None:
            rows = rows + self.offset[ids][..., None]
        return rows.flatten(-2)

    def head(self) -> nn.Module:
        """An output layer multiplying by this very table: int8 rows share its integers."""
        if self.offset is None and self.group == self.embedding_dim and self.weight_q.dtype == torch.int8:
            return Int8Linear(self.weight_q, self.scale[:, 0])  # the same int8 storage, not a copy
        if self.offset is None:
            return Int8GroupLinear(self.weight_q, self.scale)
        return Int4Linear(self.weight_q, self.scale, self.offset)


# --- the transform ------------------------------------------------------------------------------


@dataclasses.dataclass
class QuantizedModel:
    """What :class:`Quantizer` did: the scheme, the layers it quantized (name -> layer class) and
    those it left in float32 (name -> why)."""

    scheme: str
    quantized: dict[str, str] = dataclasses.field(default_factory=dict)
    kept: dict[str, str] = dataclasses.field(default_factory=dict)


def linear_weight(module: nn.Module) -> torch.Tensor | None:
    """The (out, in) weight of a linear layer: ``nn.Linear``'s, or the transpose of one that stores
    it (in, out) and says so with ``stores_transposed`` (GPT-2's ``Conv1D``); None for other modules."""
    if isinstance(module, nn.Linear):
        return module.weight
    if getattr(module, "stores_transposed", False):
        return module.weight.t()
    return None


class Quantizer:
    """Replaces a model's linear layers (and its token embedding, and a tied output layer) by
    quantized ones, one module at a time, as loading fills them: each module's float32 weight is
    read, quantized and dropped before the next is read, so the float32 copy of all weights is never
    resident at once.

    ``scheme``: ``"int8"`` (every linear int8 per row), ``"int4"`` (linears int4 in groups of 32;
    the embedding and output layer int8 per row, where 4 bits cost most quality), ``"gguf"`` (a GGUF
    file's own blocks where they map onto a kernel, see :mod:`cove.formats.gguf`; others float32).

    Call :meth:`take` for every parameter name in loading order: it returns True when it loaded the
    parameter itself (into a quantized module); call :meth:`finish` instead of ``tie_weights``.
    """

    def __init__(self, model: nn.Module, scheme: str, *, embedding: str, head: str, tied: bool) -> None:
        self.model, self.scheme = model, scheme
        self.embedding, self.head, self.tied = embedding, head, tied
        self.targets = {
            name for name, m in model.named_modules() if linear_weight(m) is not None or name == embedding
        }
        if tied:
            self.targets.discard(head)
        self.report = QuantizedModel(scheme)
        self._done: set[str] = set()

    def take(self, name: str, load: LoadFn) -> bool:
        """Load and quantize the module owning parameter ``name`` (if it is a target): True when
        ``name`` is handled here. ``load(param_name)`` returns the checkpoint tensor as float32 (a
        copy) or None when it is missing, and ``load.affine(param_name)`` a GGUF tensor's blocks."""
        module_name, _, attr = name.rpartition(".")
        if module_name in self._done:
            return True
        if module_name not in self.targets or attr != "weight":
            return False
        old = self.model.get_submodule(module_name)
        new = self._quantized(module_name, old, load)
        if new is None:
            return False
        self._swap(module_name, new)
        self._done.add(module_name)
        give_back_freed_memory()
        return True

    def _quantized(self, name: str, old: nn.Module, load: LoadFn) -> nn.Module | None:
        key = f"{name}.weight"
        blocks = load.affine(key) if self.scheme == "gguf" else None
        if name == self.embedding:
            return self._embedding(name, key, blocks, load)
        out_f, in_f = linear_weight(old).shape
        has_bias = getattr(old, "bias", None) is not None
        bias = load(f"{name}.bias") if has_bias else None
        if has_bias and bias is None:
            self.report.kept[name] = "its bias is missing from the checkpoint"
            return None
        if blocks is not None and blocks.offset is None and Int8GroupLinear.fits(in_f, out_f):
            return self._note(name, Int8GroupLinear(blocks.q, blocks.scale, bias))
        if blocks is not None and blocks.offset is not None and Int4Linear.fits(in_f, out_f):
            return self._note(name, Int4Linear(blocks.q, blocks.scale, blocks.offset, bias))
        if self.scheme == "gguf":
            self.report.kept[name] = (
                "its GGUF type has no kernel" if blocks is None else "its shape fits no kernel"
            )
            return None
        w = load(key)
        if w is None:
            return None
        if getattr(old, "stores_transposed", False):
            w = w.t()
        four = self.scheme == "int4" and name != self.head
        if four and Int4Linear.fits(in_f, out_f):
            return self._note(name, Int4Linear.from_float(w, bias))
        if Int8Linear.fits(in_f, out_f):
            return self._note(name, Int8Linear.from_float(w, bias))
        self.report.kept[name] = f"in_features {in_f} is not a multiple of 16"
        return None

    def _embedding(self, name: str, key: str, blocks: AffineBlocks | None, load: LoadFn) -> nn.Module | None:
        if blocks is not None:
            return self._note(name, QuantizedEmbedding(blocks.q, blocks.scale, blocks.offset))
        if self.scheme == "gguf":
            self.report.kept[name] = "its GGUF type has no kernel"
            return None
        w = load(key)
        return None if w is None else self._note(name, QuantizedEmbedding(*int8_rows(w)))

    def _note(self, name: str, module: nn.Module) -> nn.Module:
        self.report.quantized[name] = type(module).__name__
        return module

    def _swap(self, name: str, module: nn.Module) -> None:
        parent, _, attr = name.rpartition(".")
        setattr(self.model.get_submodule(parent), attr, module)

    def finish(self) -> QuantizedModel:
        """Tie the output layer to the (quantized) token embedding, or tie float weights as usual."""
        emb = self.model.get_submodule(self.embedding) if self.embedding else None
        if self.tied and isinstance(emb, QuantizedEmbedding):
            head = self.model.get_submodule(self.head)
            try:
                new = emb.head()
            except RuntimeError as e:  # a shape the kernel refuses: multiply by the dequantized table
                self.report.kept[self.head] = f"tied to the embedding, no kernel fits ({e})"
                new = nn.Linear(head.in_features, head.out_features, bias=False)
                new.weight = nn.Parameter(emb(torch.arange(emb.num_embeddings)), requires_grad=False)
            else:
                self._note(self.head, new)
            self._swap(self.head, new)
        else:
            self.model.tie_weights()
        fuse_siblings(self.model, [
            [f"{name}.{p}" for p in group]
            for name, module in self.model.named_modules()
            for group in (("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj"))
            if all(hasattr(module, p) for p in group)
        ])
        give_back_freed_memory()
        return self.report


def give_back_freed_memory() -> None:
    """Return the pages of freed temporaries to the OS (glibc ``malloc_trim``; a no-op elsewhere).

    Why: quantizing a layer makes temporaries of a few MB (unpacked integers, int32 copies for
    packing) between the small tensors that are kept. glibc serves them from its heap once a freed
    one has raised its mmap threshold, and the holes they leave between kept tensors stay resident:
    loading the SmolLM2 Q4_1 GGUF peaked ~260 MB above its 128 MB of tensors without this, ~30 MB
    with it (the cost: ~1 ms per layer)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.cache
def _libc() -> Any:
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim  # noqa: B018 (glibc only)
    except (OSError, AttributeError):
        return None
    return libc


class LoadFn:
    """Reads checkpoint tensors for :meth:`Quantizer.take` by model parameter name: a float32 copy
    (safetensors read from the file in chunks, so no mapped page stays resident), or a GGUF
    tensor's blocks as stored (``affine``, when the checkpoint offers them)."""

    def __init__(self, weights: Mapping[str, torch.Tensor], names: Mapping[str, str]) -> None:
        self.weights, self.names = weights, names

    def __call__(self, name: str) -> torch.Tensor | None:
        from cove.formats import safetensors as st
        from cove.models.modeling import read_into

        key = self.names.get(name)
        if key is None:
            return None
        if isinstance(self.weights, st.ShardedCheckpoint):
            shape = tuple(self.weights.info(key).shape)
            out = torch.empty(shape, dtype=torch.float32)
            read_into(self.weights, key, out)
            return out
        return self.weights[key].float()

    def affine(self, name: str) -> AffineBlocks | None:
        key = self.names.get(name)
        affine = getattr(self.weights, "affine", None)
        return None if key is None or affine is None else affine(key)
