"""Greedy decoding without reading the whole float32 output layer: a certified argmax.

At batch 1 a decode step is bound by memory bandwidth, and the output projection (``lm_head``,
vocab x hidden) is a large part of what it reads: 154 MB of GPT-2's 494 MB per token in float32.
Greedy decoding needs only the argmax of those logits, so :class:`CertifiedArgmax` finds it from an
int8 copy of the weight (a quarter of the bytes) and then computes in float32, from the real
weight, only the rows that could still be the maximum:

- Each step the hidden state x is split in two: x_o, its outlier channels (up to ``OUTLIERS`` of
  them, each above 3x the root mean square of x: trained models put a few channels far above the
  rest, and which ones moves from token to token), and x_r, the others. x_r is quantized to int8
  with one scale per row, x'_r = s_x q_x, and multiplied by the int8 rows w'_i = s_i q_i exactly in
  int32 (``torch._int_mm``, VNNI on this CPU: GPT-2's head in 4.6 ms at batch 1, against 15 ms in
  float32); x_o is multiplied in float32 by the weight's own columns for its channels, kept apart
  as contiguous rows (a pool of up to ``POOL`` channels, filled as they show up). The result a_i
  differs from the exact z_i = x.w_i by at most ``||x_r|| ||w_i - w'_i|| + ||x_r - x'_r|| ||w'_i||``
  (Cauchy-Schwarz twice) plus a small float32 slack. The row norms are computed once, two norms
  of x_r every step, and the bound is one (B, 3) x (3, V) product. Without the split, SmolLM2's
  hidden states (a channel at 13x the mean) leave thousands of candidates; with it, 2.5 on
  average over 200 steps (at most 40).
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
product of a subset of rows gives the same bits as the full one (tested). The int8 kernel runs
natively where this CPU emulates bfloat16 GEMM, so batch 8 gains most there.

The int8 copy costs vocab x hidden bytes (38 MB for GPT-2) and is rebuilt when the weight changes
(its version counter moves, e.g. after a training step; an inference tensor, which has no counter,
is watched through a sample of its rows). Building it takes about as long as 50
GPT-2 decode steps save, so ``generate`` builds it only for a call of at least ``BUILD_AFTER`` new
tokens; once built it serves every greedy call. It is kept in the model's decode state
(:meth:`cove.generation.state.DecodeState.greedy_head`), not on the module.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

import torch

MIN_VOCAB = 4096  # below this the float32 product is cheap enough
BUILD_AFTER = 48  # new tokens a call must ask for to pay the one-time build (GPT-2: ~0.35 CPU s)
MAX_CANDIDATES = 0.125  # fraction of the vocabulary: more candidates and the full product runs
OUTLIERS = 8  # channels of the hidden state taken out of the int8 product each step (1/8 at most)
POOL = 32  # channels whose weight columns are kept apart, contiguous (vocab floats each)
_OUTLIER_RMS = 3.0  # a channel is an outlier above this many times the root mean square of x
_CHUNK_ROWS = 1024  # the weight is quantized this many rows at a time (temporaries of a few MB)
_BF16_ROUNDING = 2.0**-7  # bfloat16 logits: a rounding moves z by at most 2^-8 |z|; twice that
_REL_SLACK = 1e-5  # float32 rounding in both products, relative to ||x|| ||w_i||


def supported(weight: torch.Tensor) -> bool:
    """Whether ``weight`` (vocab, hidden) can have a certified argmax on this machine."""
    return (
        weight.dtype in (torch.float32, torch.bfloat16)
        and weight.device.type == "cpu"
        and weight.ndim == 2
        and weight.shape[0] >= MIN_VOCAB
        and hasattr(torch, "_int_mm")
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
        self.scales = torch.empty(v)
        err, qnorm, norm = torch.empty(v), torch.empty(v), torch.empty(v)
        for a in range(0, v, _CHUNK_ROWS):
            chunk = w[a : a + _CHUNK_ROWS].float().contiguous()
            b = a + len(chunk)
            s = (chunk.abs().amax(1) / 127).clamp_min(1e-30)
            qc = chunk.div(s[:, None]).round_().clamp_(-127, 127)
            self.q[a:b] = qc
            deq = qc.mul_(s[:, None])
            self.scales[a:b] = s
            qnorm[a:b] = deq.norm(dim=1)
            norm[a:b] = chunk.norm(dim=1)
            err[a:b] = (chunk - deq).norm(dim=1).mul_(1 + 1e-5)  # (`chunk` may be the weight itself)
        # the bound is (||x_r||, ||x_r - x'_r||, ||x||) @ coeffs: one small product per step
        self.coeffs = torch.stack((err, qnorm, norm.mul_(_REL_SLACK)))  # (3, V)
        self.weight = weight
        self.bias = bias
        self.dtype = weight.dtype
        self.version = _version(weight)
        self.k = min(OUTLIERS, h // 8)
        # the float32 columns of channels that were outliers once, as contiguous rows (a column of a
        # row-major weight is V scattered values): a row is written before its channel is listed
        self.pool = torch.empty(min(POOL, h) if self.k else 0, v)
        self.channels: dict[int, int] = {}  # channel -> its row in ``pool``
        self._pool_lock = threading.Lock()
        self.full_products = 0  # rows that fell back to the full float32 product

    def nbytes(self) -> int:
        """Bytes it holds: the int8 copy, scales, bound coefficients and the outlier pool."""
        return sum(t.numel() * t.element_size() for t in (self.q, self.scales, self.coeffs, self.pool))

    def stale(self, weight: torch.Tensor, bias: torch.Tensor | None) -> bool:
        return weight is not self.weight or bias is not self.bias or _version(weight) != self.version

    def outliers(self, x: torch.Tensor) -> list[tuple[int, int]]:
        """(channel, pool row) of the outlier channels of (B, H) x (the ``k`` largest, those above
        ``_OUTLIER_RMS`` times its root mean square) that have or get a place in the pool; a channel
        past a full pool stays in the int8 product."""
        score = x.abs().amax(0)
        top = score.topk(self.k)
        least = float(x.square().mean().sqrt()) * _OUTLIER_RMS  # below this a channel is no outlier
        chosen = [c for c, s in zip(top.indices.tolist(), top.values.tolist(), strict=True) if s > least]
        if any(c not in self.channels for c in chosen):
            with self._pool_lock:
                for c in chosen:
                    if c not in self.channels and len(self.channels) < len(self.pool):
                        row = len(self.channels)
                        self.pool[row] = self.weight.detach()[:, c]
                        self.channels[c] = row
        return [(c, self.channels[c]) for c in sorted(chosen) if c in self.channels]

    def bounds(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, V) approximate logits and (B, V) bounds on their distance to the exact ones, for (B, H)
        float32 x.

        x = x_o + x_r: x_o on this step's outlier channels, multiplied in float32 by the weight's
        columns there; x_r quantized to int8 on both sides, x'_r = s_x q_x with one scale per row,
        multiplied exactly in int32 (``torch._int_mm``). With w'_i = s_i q_i the int8 row,
        approx_i = x_o.w_i + x'_r.w'_i, and x.w_i - approx_i = x_r.(w_i - w'_i) + (x_r - x'_r).w'_i, so
        |x.w_i - approx_i| <= ||x_r|| ||w_i - w'_i|| + ||x_r - x'_r|| ||w'_i|| + float32 slack."""
        picked = self.outliers(x) if self.k else []
        rest = x
        if picked:
            channels = torch.tensor([c for c, _ in picked])
            rest = x.index_fill(1, channels, 0.0)
        sx = rest.abs().amax(1, keepdim=True).div_(127).clamp_min_(1e-30)  # (B, 1)
        qx = rest.div(sx).round_().clamp_(-127, 127)
        approx = torch._int_mm(qx.to(torch.int8), self.q.t()).float().mul_(self.scales).mul_(sx)
        if picked:
            rows = self.pool.index_select(0, torch.tensor([r for _, r in picked]))  # (k, V) float32
            approx.addmm_(x.index_select(1, channels), rows)  # + x_o.w_i
        xerr = (rest - qx.mul_(sx)).norm(dim=1).mul_(1 + 1e-5)
        norms = torch.stack((rest.norm(dim=1), xerr, x.norm(dim=1)), dim=1)  # (B, 3)
        margin = torch.mm(norms, self.coeffs).add_(1e-6)
        if self.bias is not None:
            approx += self.bias
            margin.add_(self.bias.abs().mul(_REL_SLACK))
        if self.dtype == torch.bfloat16:  # the exact logits are rounded to bfloat16: |z| <= |approx| + margin
            margin.mul_(1 + _BF16_ROUNDING).add_(approx.abs().mul_(_BF16_ROUNDING))
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


def head_bytes(module: Any) -> int:
    """Bytes the certified argmax of ``module`` holds once built (its int8 copy, scales, the bound's
    coefficients, a full pool of outlier columns), or 0 when it does not apply: what a memory budget
    must reserve beside the parameters of a model that decodes greedily."""
    if type(module) is not torch.nn.Linear or not supported(module.weight):
        return 0
    v, h = module.weight.shape
    pool = min(POOL, h) if min(OUTLIERS, h // 8) else 0
    return v * h + 4 * v * (1 + 3 + pool)
