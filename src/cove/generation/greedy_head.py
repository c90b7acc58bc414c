"""Greedy decoding without reading the whole float32 output layer: a certified argmax.

At batch 1 a decode step is bound by memory bandwidth, and the output projection (``lm_head``,
vocab x hidden) is a large part of what it reads: 154 MB of GPT-2's 494 MB per token in float32.
Greedy decoding needs only the argmax of those logits, so :class:`CertifiedArgmax` finds it from an
int8 copy of the weight (a quarter of the bytes, multiplied by torch's weight-only int8 kernel,
``torch._weight_int8pack_mm``, with bfloat16 activations) and then computes in float32, from the
real weight, only the rows that could still be the maximum:

- Row i's int8 copy w'_i = s_i q_i (a per-row scale, rounded to bfloat16 as the kernel uses it) and
  the bfloat16 hidden state x' give a_i, the kernel's bfloat16 result. It differs from the exact
  z_i = x.w_i by at most ``||x|| ||w_i - w'_i|| + ||x - x'|| ||w'_i|| + 2^-7 |a_i|``
  (Cauchy-Schwarz twice, and the final rounding to bfloat16, a whole unit in the last place), plus
  a small float32 slack. The row norms are computed once; ``||x - x'||`` every step.
- Every row whose upper bound ``a_i + m_i`` reaches the best lower bound ``max_j (a_j - m_j)`` is a
  candidate; the true maximum is always among them. Their exact logits are computed in float32 and
  the first maximum wins, as ``argmax`` over the full logits picks it.

``test_greedy_head`` checks the bound on many hidden states, outliers included. So the token is the
one the full float32 product gives (up to the rounding-order differences any two float32 kernels
have). When many rows tie within the bound (more than ``MAX_CANDIDATES`` of the vocabulary), or x
is not finite, the full product runs instead. Tokens that a constraint bans (``min_new_tokens``
masks eos) are left out before the bounds are compared.

A bfloat16 output layer works the same way, against the bfloat16 logits the full product gives:
there the bound also spans their final rounding (ties are common with 8 significant bits), so every
row that may round to the maximum stays a candidate and the first one wins; torch's bfloat16
product of a subset of rows gives the same bits as the full one (tested). The int8 kernel also
runs natively where this CPU emulates bfloat16 GEMM, so batch 8 gains most there.

The int8 copy costs vocab x hidden bytes (38 MB for GPT-2) and is rebuilt when the weight changes
(its version counter moves, e.g. after a training step; an inference tensor, which has no counter,
is watched through a sample of its rows). Building it takes about as long as 50
GPT-2 decode steps save, so ``generate`` builds it only for a call of at least ``BUILD_AFTER`` new
tokens; once built it serves every greedy call.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

MIN_VOCAB = 4096  # below this the float32 product is cheap enough
BUILD_AFTER = 48  # new tokens a call must ask for to pay the one-time build (GPT-2: ~0.35 CPU s)
MAX_CANDIDATES = 0.125  # fraction of the vocabulary: more candidates and the full product runs
_CHUNK_ROWS = 1024  # the weight is quantized this many rows at a time (temporaries of a few MB)
_OUT_ROUNDING = 2.0**-7  # the kernel's bfloat16 output: within one unit in the last place
_REL_SLACK = 1e-5  # float32 rounding in both products, relative to ||x|| ||w_i||


def supported(weight: torch.Tensor) -> bool:
    """Whether ``weight`` (vocab, hidden) can have a certified argmax on this machine."""
    return (
        weight.dtype in (torch.float32, torch.bfloat16)
        and weight.device.type == "cpu"
        and weight.ndim == 2
        and weight.shape[0] >= MIN_VOCAB
        and hasattr(torch, "_weight_int8pack_mm")
    )


class CertifiedArgmax:
    """``argmax(linear(x, weight, bias), -1)`` for (B, H) x, reading an int8 copy of ``weight``.

    Args:
        weight: (V, H) float32 or bfloat16 on the CPU (any strides; it is read in row chunks). With
            bfloat16 the logits are bfloat16 too, as the full product gives them: the bound then also
            covers their rounding, so rows that may round to the same value as the maximum stay
            candidates and the first one wins, as in the full product.
        bias: (V,) or None.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None) -> None:
        w = weight.detach()
        v, h = w.shape
        self.q = torch.empty(v, h, dtype=torch.int8)
        self.scales = torch.empty(v, dtype=torch.bfloat16)
        self.err = torch.empty(v)  # ||w_i - w'_i||
        self.qnorm = torch.empty(v)  # ||w'_i||
        self.norm = torch.empty(v)  # ||w_i||
        for a in range(0, v, _CHUNK_ROWS):
            chunk = w[a : a + _CHUNK_ROWS].float().contiguous()
            b = a + len(chunk)
            s = (chunk.abs().amax(1) / 127).clamp_min(1e-30).bfloat16().float()  # as the kernel has it
            qc = chunk.div(s[:, None]).round_().clamp_(-127, 127)
            self.q[a:b] = qc
            deq = qc.mul_(s[:, None])
            self.scales[a:b] = s
            self.qnorm[a:b] = deq.norm(dim=1)
            self.norm[a:b] = chunk.norm(dim=1)
            self.err[a:b] = (chunk - deq).norm(dim=1).mul_(1 + 1e-5)  # (`chunk` may be the weight itself)
        self.weight = weight
        self.bias = bias
        self.dtype = weight.dtype
        self.version = _version(weight)
        self.full_products = 0  # rows that fell back to the full float32 product

    def stale(self, weight: torch.Tensor, bias: torch.Tensor | None) -> bool:
        return weight is not self.weight or bias is not self.bias or _version(weight) != self.version

    def bounds(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, V) approximate logits and (B, V) bounds on their distance to the exact ones."""
        xb = x.bfloat16()
        approx = torch._weight_int8pack_mm(xb, self.q, self.scales).float()
        xnorm = x.norm(dim=1, keepdim=True)
        xerr = (x - xb.float()).norm(dim=1, keepdim=True)
        rounding = _OUT_ROUNDING if self.dtype == torch.float32 else 3 * _OUT_ROUNDING  # and the logits'
        margin = xnorm * self.err + xerr * self.qnorm + rounding * approx.abs()
        margin += _REL_SLACK * xnorm * self.norm + 1e-6
        if self.bias is not None:
            approx += self.bias
            margin += _REL_SLACK * self.bias.abs()
        return approx, margin

    def __call__(self, x: torch.Tensor, banned: Sequence[int] = ()) -> torch.Tensor:
        """(B,) argmax token ids for (B, H) hidden states; ``banned`` ids are never chosen."""
        x = x.to(self.dtype).contiguous()
        if not bool(torch.isfinite(x).all()):
            return self._full(x, banned)
        approx, margin = self.bounds(x.float())
        if banned:
            approx[:, list(banned)] = -math.inf
        lower = (approx - margin).amax(1, keepdim=True)  # the best row's exact logit is at least this
        cand = approx + margin >= lower  # (B, V)
        rows = cand.any(0).nonzero().squeeze(1)  # the union over the batch, ascending
        if rows.numel() > MAX_CANDIDATES * approx.shape[1] or not bool(torch.isfinite(lower).all()):
            return self._full(x, banned)
        bias = None if self.bias is None else self.bias[rows]
        exact = torch.nn.functional.linear(x, self.weight.index_select(0, rows), bias).float()  # (B, K)
        exact = exact.masked_fill(~cand[:, rows], -math.inf)
        return rows[exact.argmax(1)]

    def _full(self, x: torch.Tensor, banned: Sequence[int]) -> torch.Tensor:
        self.full_products += x.shape[0]
        logits = torch.nn.functional.linear(x, self.weight, self.bias).float()
        if banned:
            logits[:, list(banned)] = -math.inf
        return logits.argmax(1)


def _version(weight: torch.Tensor) -> Any:
    """What tells that ``weight`` changed in place: its version counter, or for an inference tensor
    (made under ``torch.inference_mode``, which keeps no counter) a copy of every 1024th row."""
    try:
        return weight._version
    except RuntimeError:
        return _Sample(weight[::_SAMPLE_STEP].detach().clone())


_SAMPLE_STEP = 1024


class _Sample:
    def __init__(self, rows: torch.Tensor) -> None:
        self.rows = rows

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Sample) and torch.equal(self.rows, other.rows)


def for_head(module: torch.nn.Module, build: bool = True) -> CertifiedArgmax | None:
    """The certified argmax of an ``nn.Linear`` output layer, kept on it once built (and rebuilt when
    its weight changes); None when it does not apply (not a float32/bfloat16 CPU ``nn.Linear``, a
    small vocabulary, no int8 kernel) or when it is not built yet and ``build`` is False."""
    if type(module) is not torch.nn.Linear or not supported(module.weight):
        return None
    head = module.__dict__.get("_certified_argmax")
    if head is None or head.stale(module.weight, module.bias):
        if not build:
            return None
        with torch.no_grad():
            head = CertifiedArgmax(module.weight, module.bias)
        module.__dict__["_certified_argmax"] = head
    return head
