"""GGUF, llama.cpp's file format: read the metadata and tensors, dequantize to float32 or keep blocks.

A file is ``"GGUF" | u32 version | u64 tensor count | u64 metadata count | metadata key/values |
tensor infos (name, dims, ggml type, offset) | padding to ``general.alignment`` | tensor data``
(spec: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md). Dimensions are listed fastest
first, so a torch shape is their reverse. The file is mapped copy-on-write (it is never written);
header reads are bounds checked and raise :class:`GGUFError` on a malformed file.

Dequantization (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K) follows ggml's reference
``dequantize_row_*`` functions, vectorised with torch over blocks; tests compare it with the
``gguf`` package's ``gguf.quants.dequantize``.

Block formats whose values are an affine map of small integers over groups of 32 (Q8_0, Q4_0, Q4_1,
Q4_K) can also be read *without* dequantizing: :meth:`GGUFFile.affine` returns the integers, one
scale and one offset per group of 32 (``w = scale * q + offset``), which quantized layers
(:mod:`cove.models.quantized`) use as they are. Those reads go through the file, not the mapping,
so the bytes they read do not stay resident.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cove.errors import CoveError

if TYPE_CHECKING:
    import torch

#: ggml type id -> (name, elements per block, bytes per block).
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    30: ("BF16", 1, 2),
}

# metadata value type id -> struct format (scalars); 8 string, 9 array
_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9


class GGUFError(CoveError, ValueError):
    """A GGUF file is malformed or uses a tensor type Cove cannot dequantize.

    Example: ``GGUFError: model.gguf: tensor 'blk.0.attn_q.weight' runs past the end of the file``
    """

    status = 422
    code = "Unprocessable"


@dataclass(frozen=True)
class GGUFTensor:
    """One tensor's place: ``shape`` in torch order, ``offset`` from the file start."""

    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int
    nbytes: int

    @property
    def type_name(self) -> str:
        return GGML_TYPES[self.ggml_type][0]


GROUP = 32  # values per scale in every format of AFFINE


@dataclass(frozen=True)
class AffineBlocks:
    """A block-quantized 2-d tensor as stored: ``w[r, c] = scale[r, c // 32] * q[r, c] + offset[r, c // 32]``.

    ``q`` (rows, cols) is int8 (Q8_0: -128..127, no offset) or uint8 (4-bit formats: 0..15);
    ``scale`` and ``offset`` (rows, cols / 32) are float32, computed exactly from the file's float16
    fields (Q4_0's offset is ``-8 * d``; Q4_1's its min ``m``; Q4_K's ``-dmin * min``).
    """

    q: torch.Tensor
    scale: torch.Tensor
    offset: torch.Tensor | None

    def dequantize(self) -> torch.Tensor:
        """The float32 tensor (as :meth:`GGUFFile.dequantize` gives it, up to float32 rounding)."""
        rows, cols = self.q.shape
        w = self.q.float().reshape(rows, -1, GROUP) * self.scale[..., None]
        if self.offset is not None:
            w += self.offset[..., None]
        return w.reshape(rows, cols)


class _Reader:
    """Bounds-checked little-endian reads from a buffer."""

    def __init__(self, buf: mmap.mmap | bytes, where: str) -> None:
        self.buf, self.pos, self.where = buf, 0, where

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.buf):
            raise GGUFError(f"{self.where}: header runs past the end of the file (at byte {self.pos})")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def scalar(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        raw = self.take(self.scalar("<Q"))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("utf-8", errors="surrogateescape")

    def value(self, kind: int) -> Any:
        if kind in _SCALARS:
            return self.scalar(_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            item, count = self.scalar("<I"), self.scalar("<Q")
            if count > len(self.buf):
                raise GGUFError(f"{self.where}: array of {count} items cannot fit in the file")
            if item in _SCALARS:  # one unpack for the whole array
                fmt = _SCALARS[item]
                size = struct.calcsize(fmt)
                return list(struct.unpack(f"<{count}{fmt[1]}", self.take(size * count)))
            return [self.value(item) for _ in range(count)]
        raise GGUFError(f"{self.where}: unknown metadata value type {kind}")


class GGUFFile:
    """A GGUF file opened read-only: ``metadata`` (key -> value), ``tensors`` (name -> GGUFTensor).

    Example::

        f = GGUFFile("SmolLM2-135M-Instruct.Q4_1.gguf")
        f.metadata["general.architecture"]     # "llama"
        w = f.dequantize("blk.0.attn_q.weight")   # float32 (576, 576)
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        with open(self.path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size == 0:
                raise GGUFError(f"{self.path}: empty file")
            # copy-on-write private pages: torch can view them without a copy; the file never changes
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)
        r = _Reader(self._map, str(self.path))
        if r.take(4) != b"GGUF":
            raise GGUFError(f"{self.path}: not a GGUF file (bad magic)")
        self.version = r.scalar("<I")
        if self.version not in (2, 3):
            raise GGUFError(f"{self.path}: GGUF version {self.version} is not supported (2 and 3 are)")
        n_tensors, n_kv = r.scalar("<Q"), r.scalar("<Q")
        if n_tensors > len(self._map) or n_kv > len(self._map):
            raise GGUFError(f"{self.path}: counts exceed the file size")
        self.metadata: dict[str, Any] = {}
        for _ in range(n_kv):
            key = r.string()
            self.metadata[key] = r.value(r.scalar("<I"))
        infos = []
        for _ in range(n_tensors):
            name = r.string()
            n_dims = r.scalar("<I")
            if n_dims > 8:
                raise GGUFError(f"{self.path}: tensor {name!r} has {n_dims} dimensions")
            dims = [r.scalar("<Q") for _ in range(n_dims)]
            infos.append((name, dims, r.scalar("<I"), r.scalar("<Q")))
        alignment = self.metadata.get("general.alignment", 32)
        if type(alignment) is not int or not 0 < alignment <= 1 << 20:
            raise GGUFError(f"{self.path}: general.alignment {alignment!r} is not a positive integer")
        data_start = -(-r.pos // alignment) * alignment
        self.tensors: dict[str, GGUFTensor] = {}
        for name, dims, kind, offset in infos:
            if kind not in GGML_TYPES:
                raise GGUFError(f"{self.path}: tensor {name!r} has unknown ggml type {kind}")
            _, block, size = GGML_TYPES[kind]
            count = 1
            for d in dims:
                count *= d
            if dims and dims[0] % block:
                raise GGUFError(
                    f"{self.path}: tensor {name!r} rows of {dims[0]} are not whole blocks of {block}"
                )
            nbytes = count // block * size
            start = data_start + offset
            if start + nbytes > len(self._map):
                raise GGUFError(f"{self.path}: tensor {name!r} runs past the end of the file")
            self.tensors[name] = GGUFTensor(name, tuple(reversed(dims)), kind, start, nbytes)

    def raw(self, name: str) -> torch.Tensor:
        """The tensor's bytes: a uint8 view on the mapped file (no copy)."""
        import torch

        t = self.tensors[name]
        if t.nbytes == 0:
            return torch.empty(0, dtype=torch.uint8)
        return torch.frombuffer(self._map, dtype=torch.uint8, offset=t.offset, count=t.nbytes)

    def read(self, name: str) -> torch.Tensor:
        """The tensor's bytes, read from the file into a new uint8 tensor (no mapped page is touched,
        so nothing of the file stays in this process's resident memory)."""
        import torch

        t = self.tensors[name]
        out = torch.empty(t.nbytes, dtype=torch.uint8)
        with open(self.path, "rb", buffering=0) as fh:
            fh.seek(t.offset)
            if fh.readinto(memoryview(out.numpy())) != t.nbytes:
                raise GGUFError(f"{self.path}: tensor {name!r} is truncated")
        return out

    def affine(self, name: str) -> AffineBlocks | None:
        """The tensor as integers and per-group scale and offset, exactly as stored, when its block
        format is one of :data:`AFFINE` (else None). Only 2-d tensors (weights) are offered."""
        t = self.tensors[name]
        fn = AFFINE.get(t.type_name)
        if fn is None or len(t.shape) != 2:
            return None
        q, scale, offset = fn(self.read(name))
        rows, cols = t.shape
        return AffineBlocks(
            q.reshape(rows, cols),
            scale.reshape(rows, cols // GROUP),
            None if offset is None else offset.reshape(rows, cols // GROUP),
        )

    def dequantize(self, name: str) -> torch.Tensor:
        """The tensor as float32 in torch order (integer tensors keep their integer dtype); its bytes
        are read from the file (:meth:`read`), so the mapped pages never become resident."""
        t = self.tensors[name]
        fn = DEQUANTIZERS.get(t.type_name)
        if fn is None:
            raise GGUFError(
                f"{self.path}: tensor {name!r} is {t.type_name}, which Cove cannot dequantize yet"
            )
        return fn(self.read(name)).reshape(t.shape)


# --- dequantization: raw uint8 bytes (n_blocks * block bytes) -> flat float32 ------------------


def _f16(b: torch.Tensor) -> torch.Tensor:
    """(n, 2) uint8 -> (n, 1) float32."""
    import torch

    return b.contiguous().view(torch.float16).float()


def _plain(dtype_name: str):
    def fn(raw: torch.Tensor) -> torch.Tensor:
        import torch

        t = raw.view(getattr(torch, dtype_name))
        return t.float() if t.is_floating_point() else t

    return fn


def _q8_0(raw: torch.Tensor) -> torch.Tensor:
    import torch

    b = raw.view(-1, 34)
    # in place: the output is the only full-size float allocation (matters for embedding tables)
    return b[:, 2:].contiguous().view(torch.int8).float().mul_(_f16(b[:, :2])).reshape(-1)


def _nibbles(qs: torch.Tensor) -> torch.Tensor:
    """(..., k) bytes -> (..., 2k) uint8: all low nibbles, then all high (ggml's order within a block)."""
    import torch

    return torch.cat((qs & 0x0F, qs >> 4), dim=-1)


def _nibbles_float(qs: torch.Tensor) -> torch.Tensor:
    """As :func:`_nibbles`, written straight into float32 (saves a pass over the biggest tensors)."""
    import torch

    k = qs.shape[-1]
    out = torch.empty((*qs.shape[:-1], 2 * k), dtype=torch.float32)
    out[..., :k] = qs & 0x0F
    out[..., k:] = qs >> 4
    return out


def _q4_0(raw: torch.Tensor) -> torch.Tensor:
    b = raw.view(-1, 18)
    return _nibbles_float(b[:, 2:]).sub_(8).mul_(_f16(b[:, :2])).reshape(-1)


def _q4_1(raw: torch.Tensor) -> torch.Tensor:
    b = raw.view(-1, 20)
    return _nibbles_float(b[:, 4:]).mul_(_f16(b[:, :2])).add_(_f16(b[:, 2:4])).reshape(-1)


def _k_scales(s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """12 packed bytes -> 8 six-bit scales and 8 six-bit mins per block (ggml's get_scale_min_k4)."""
    import torch

    d, m, md = s[:, 0:4], s[:, 4:8], s[:, 8:12]
    scales = torch.cat((d & 0x3F, (md & 0x0F) | ((d >> 2) & 0x30)), dim=-1)
    mins = torch.cat((m & 0x3F, (md >> 4) | ((m >> 2) & 0x30)), dim=-1)
    return scales.float(), mins.float()


def _q4_k(raw: torch.Tensor) -> torch.Tensor:
    b = raw.view(-1, 144)
    d, dmin = _f16(b[:, 0:2]), _f16(b[:, 2:4])
    sc, mn = _k_scales(b[:, 4:16])
    qs = b[:, 16:].reshape(-1, 4, 32)  # 4 chunks of 32 bytes = 8 sub-blocks of 32 values
    q = _nibbles_float(qs).reshape(-1, 8, 32)
    return q.mul_((d * sc)[:, :, None]).sub_((dmin * mn)[:, :, None]).reshape(-1)


def _q5_k(raw: torch.Tensor) -> torch.Tensor:
    import torch

    b = raw.view(-1, 176)
    d, dmin = _f16(b[:, 0:2]), _f16(b[:, 2:4])
    sc, mn = _k_scales(b[:, 4:16])
    qh = b[:, 16:48]  # bit s of byte l: the fifth bit of value l in sub-block s
    low = _nibbles(b[:, 48:].reshape(-1, 4, 32)).reshape(-1, 8, 32)
    high = torch.stack([(qh >> s) & 1 for s in range(8)], dim=1)  # (n, 8, 32)
    q = (low | (high << 4)).float()
    return (d[:, :, None] * sc[:, :, None] * q - dmin[:, :, None] * mn[:, :, None]).reshape(-1)


def _q6_k(raw: torch.Tensor) -> torch.Tensor:
    import torch

    b = raw.view(-1, 210)
    ql, qh = b[:, :128].reshape(-1, 2, 64), b[:, 128:192].reshape(-1, 2, 32)
    scales = b[:, 192:208].contiguous().view(torch.int8).float()  # one per 16 values
    d = _f16(b[:, 208:210])
    low = _nibbles(ql)  # (n, 2, 128): per half, values 0..127 in order
    high = torch.cat([(qh >> s) & 3 for s in (0, 2, 4, 6)], dim=-1)  # (n, 2, 128)
    q = ((low | (high << 4)).float() - 32).reshape(-1, 16, 16)
    return (d[:, :, None] * scales[:, :, None] * q).reshape(-1)


DEQUANTIZERS = {
    "F32": _plain("float32"),
    "F16": _plain("float16"),
    "BF16": _plain("bfloat16"),
    "F64": _plain("float64"),
    "I8": _plain("int8"),
    "I16": _plain("int16"),
    "I32": _plain("int32"),
    "I64": _plain("int64"),
    "Q8_0": _q8_0,
    "Q4_0": _q4_0,
    "Q4_1": _q4_1,
    "Q4_K": _q4_k,
    "Q5_K": _q5_k,
    "Q6_K": _q6_k,
}


# --- affine blocks: raw bytes -> (integers, scale, offset) per group of 32 (see AffineBlocks) ------


def _q8_0_affine(raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
    import torch

    b = raw.view(-1, 34)
    return b[:, 2:].contiguous().view(torch.int8), _f16(b[:, :2]), None


def _q4_0_affine(raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    b = raw.view(-1, 18)
    d = _f16(b[:, :2])
    return _nibbles(b[:, 2:]), d, d * -8


def _q4_1_affine(raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    b = raw.view(-1, 20)
    return _nibbles(b[:, 4:]), _f16(b[:, :2]), _f16(b[:, 2:4])


def _q4_k_affine(raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    b = raw.view(-1, 144)
    d, dmin = _f16(b[:, 0:2]), _f16(b[:, 2:4])
    sc, mn = _k_scales(b[:, 4:16])
    q = _nibbles(b[:, 16:].reshape(-1, 4, 32))  # (n, 4, 64): sub-blocks 2j, 2j+1 of 32 values
    return q.reshape(-1, 8, 32), d * sc, -(dmin * mn)


#: block formats that are integers times a scale plus an offset per group of 32
AFFINE = {"Q8_0": _q8_0_affine, "Q4_0": _q4_0_affine, "Q4_1": _q4_1_affine, "Q4_K": _q4_k_affine}
