"""The safetensors format: read with mmap and zero copy, write aligned files and sharded checkpoints.

A file is ``u64 header length (little endian) | JSON header | data``. The header maps each tensor
name to ``{"dtype", "shape", "data_offsets": [begin, end]}`` (offsets relative to the data section)
and may hold ``"__metadata__"``, a ``str -> str`` map. This module matches the reference
implementation (https://github.com/huggingface/safetensors): the same validation (offsets sorted,
contiguous, covering the data section exactly), the same write order (larger dtypes first, then by
name) and space padding of the header to 8 bytes, so files are readable by either side.

Reading maps the whole file copy-on-write: :meth:`SafetensorsFile.get_tensor` returns a tensor whose
storage *is* the mapped file, so nothing is read from disk until a page is touched and a checkpoint
costs no memory beyond the page cache. Header parsing is pure Python (no torch import), and every
hostile input raises :class:`SafetensorsError` before any byte of data is touched.

A sharded checkpoint is a folder with ``model-00001-of-0000N.safetensors`` files and
``model.safetensors.index.json`` (``{"metadata": {"total_size": n}, "weight_map": {name: file}}``).
"""

from __future__ import annotations

import json
import math
import mmap
import os
import re
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cove.errors import CoveError

if TYPE_CHECKING:
    import torch

#: The reference implementation refuses headers larger than this (100 MB).
MAX_HEADER_SIZE = 100_000_000
#: The file name ``save_pretrained`` uses for one file, and the index of a sharded checkpoint.
SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"

#: Format dtype -> (bytes per element, torch dtype attribute name).
DTYPES: dict[str, tuple[int, str]] = {
    "F64": (8, "float64"),
    "F32": (4, "float32"),
    "F16": (2, "float16"),
    "BF16": (2, "bfloat16"),
    "I64": (8, "int64"),
    "I32": (4, "int32"),
    "I16": (2, "int16"),
    "I8": (1, "int8"),
    "U64": (8, "uint64"),
    "U32": (4, "uint32"),
    "U16": (2, "uint16"),
    "U8": (1, "uint8"),
    "BOOL": (1, "bool"),
    "F8_E4M3": (1, "float8_e4m3fn"),
    "F8_E5M2": (1, "float8_e5m2"),
}


class SafetensorsError(CoveError, ValueError):
    """A safetensors file is malformed or does not match what was asked of it.

    Example: ``SafetensorsError: model.safetensors: tensor 'wte.weight' ends at byte 4096 but the
    data section has 1024 bytes (truncated file?)``
    """

    status = 422
    code = "Unprocessable"


@dataclass(frozen=True)
class TensorInfo:
    """Where one tensor lives in a file: ``start``/``end`` are offsets into the data section."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Header:
    """A parsed and validated header: tensors in file order, metadata, where data begins."""

    tensors: dict[str, TensorInfo]
    metadata: dict[str, str] | None
    data_start: int


def _fail(where: str, message: str) -> SafetensorsError:
    return SafetensorsError(f"{where}: {message}")


def parse_header(prefix: bytes, file_size: int, *, where: str = "safetensors") -> Header:
    """Validate the start of a file (its first ``8 + header length`` bytes or more).

    Args:
        prefix: the first bytes of the file; must hold the whole header.
        file_size: the size of the whole file, to check every tensor lies inside it.
        where: a name for error messages (the file path).

    Raises:
        SafetensorsError: on any inconsistency; no data is ever read past ``file_size``.
    """
    if file_size < 8 or len(prefix) < 8:
        raise _fail(where, f"file of {file_size} bytes is too small to hold a header length")
    (n,) = struct.unpack("<Q", prefix[:8])
    if n > MAX_HEADER_SIZE:
        raise _fail(where, f"header length {n} exceeds the limit of {MAX_HEADER_SIZE} bytes")
    if 8 + n > file_size:
        raise _fail(where, f"header length {n} runs past the end of a file of {file_size} bytes")
    if len(prefix) < 8 + n:
        raise _fail(where, "header is incomplete")
    try:
        raw = json.loads(prefix[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise _fail(where, f"header is not valid JSON ({e})") from None
    if not isinstance(raw, dict):
        raise _fail(where, f"header must be a JSON object, not {type(raw).__name__}")
    metadata = raw.pop("__metadata__", None)
    if metadata is not None and not (
        isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())
    ):
        raise _fail(where, "__metadata__ must map strings to strings")
    infos = [_tensor_info(where, name, entry) for name, entry in raw.items()]
    infos.sort(key=lambda t: (t.start, t.end))
    data_size = file_size - 8 - n
    position = 0
    for info in infos:
        if info.start != position:
            kind = "overlaps the previous tensor" if info.start < position else "leaves a gap"
            raise _fail(
                where, f"tensor {info.name!r} starts at byte {info.start} and {kind} (expected {position})"
            )
        if info.end > data_size:
            raise _fail(
                where,
                f"tensor {info.name!r} ends at byte {info.end} but the data section has {data_size} bytes"
                " (truncated file?)",
            )
        position = info.end
    if position != data_size:
        raise _fail(where, f"tensors cover {position} bytes but the data section has {data_size}")
    return Header({t.name: t for t in infos}, metadata, 8 + n)


def _tensor_info(where: str, name: str, entry: Any) -> TensorInfo:
    if not isinstance(entry, dict):
        raise _fail(where, f"entry for {name!r} must be an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in DTYPES:
        raise _fail(where, f"tensor {name!r} has unknown dtype {dtype!r}")
    if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)):
        raise _fail(where, f"tensor {name!r} has an invalid shape {shape!r}")
    if not (
        isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int and o >= 0 for o in offsets)
    ):
        raise _fail(where, f"tensor {name!r} has invalid data_offsets {offsets!r}")
    start, end = offsets
    if end < start:
        raise _fail(where, f"tensor {name!r} ends (byte {end}) before it starts (byte {start})")
    expected = math.prod(shape) * DTYPES[dtype][0]
    if end - start != expected:
        raise _fail(
            where,
            f"tensor {name!r} of shape {shape} and dtype {dtype} needs {expected} bytes, has {end - start}",
        )
    return TensorInfo(name, dtype, tuple(shape), start, end)


def torch_dtype(name: str) -> torch.dtype:
    """The torch dtype of a format dtype name (``"BF16"`` -> ``torch.bfloat16``)."""
    import torch

    return getattr(torch, DTYPES[name][1])


def format_dtype(dtype: torch.dtype) -> str:
    """The format dtype name of a torch dtype (``torch.bfloat16`` -> ``"BF16"``)."""
    import torch

    for key, (_, attr) in DTYPES.items():
        if getattr(torch, attr, None) == dtype:
            return key
    raise SafetensorsError(f"dtype {dtype} cannot be stored in safetensors")


class SafetensorsFile(Mapping[str, "torch.Tensor"]):
    """One safetensors file opened lazily: a read-only mapping from names to zero-copy tensors.

    Example::

        with SafetensorsFile("model.safetensors") as f:   # or without ``with``, as a mapping
            f.metadata                                    # {"format": "pt"} or None
            w = f["embeddings.word_embeddings.weight"]    # a view on the mapped file
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        with open(self.path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            first = fh.read(8)
            n = struct.unpack("<Q", first)[0] if len(first) == 8 else 0
            body = fh.read(min(n, MAX_HEADER_SIZE + 1, max(size - 8, 0)))
            self.header = parse_header(first + body, size, where=str(self.path))
            # ACCESS_COPY: private, copy-on-write pages; tensors are writable without touching the file.
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY) if size else None
        self._bytes: torch.Tensor | None = None

    @property
    def metadata(self) -> dict[str, str] | None:
        return self.header.metadata

    def info(self, name: str) -> TensorInfo:
        try:
            return self.header.tensors[name]
        except KeyError:
            raise KeyError(f"{name!r} is not in {self.path}") from None

    def _all_bytes(self) -> torch.Tensor:
        import torch

        if self._bytes is None:
            self._bytes = torch.frombuffer(self._map, dtype=torch.uint8)
        return self._bytes

    def get_tensor(self, name: str) -> torch.Tensor:
        """The tensor ``name``: a view on the mapped file (a copy only if its bytes are misaligned)."""
        info = self.info(name)
        dtype = torch_dtype(info.dtype)
        if info.nbytes == 0:
            import torch

            return torch.empty(info.shape, dtype=dtype)
        start = self.header.data_start + info.start
        raw = self._all_bytes()[start : start + info.nbytes]
        if start % DTYPES[info.dtype][0]:
            raw = raw.clone()  # the reference writer never produces this; stay correct anyway
        return raw.view(dtype).view(info.shape)

    def __getitem__(self, name: str) -> torch.Tensor:
        return self.get_tensor(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.header.tensors)

    def __len__(self) -> int:
        return len(self.header.tensors)

    def __repr__(self) -> str:
        return f"SafetensorsFile({str(self.path)!r}, {len(self)} tensors)"

    def __enter__(self) -> SafetensorsFile:
        return self

    def __exit__(self, *exc: object) -> None:
        """Drops this object's reference to the mapping; tensors already taken keep it alive."""
        self._bytes = None


def load_file(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Every tensor of one file, as zero-copy views, in file order."""
    f = SafetensorsFile(path)
    return {name: f.get_tensor(name) for name in f}


def load_metadata(path: str | os.PathLike[str]) -> dict[str, str] | None:
    """Only the ``__metadata__`` of a file (reads the header, maps nothing)."""
    return SafetensorsFile(path).metadata


def _ordered(tensors: Mapping[str, torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
    # The reference order: larger elements first keeps every tensor aligned to its element size.
    return sorted(tensors.items(), key=lambda kv: (-kv[1].element_size(), kv[0]))


def serialize_header(
    tensors: list[tuple[str, torch.Tensor]], metadata: Mapping[str, str] | None = None
) -> bytes:
    """The ``length | JSON`` prefix for ``tensors`` written in this order, padded to 8 bytes."""
    header: dict[str, Any] = {}
    if metadata is not None:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise SafetensorsError("metadata must map strings to strings")
        header["__metadata__"] = dict(metadata)
    offset = 0
    for name, t in tensors:
        nbytes = t.numel() * t.element_size()
        header[name] = {
            "dtype": format_dtype(t.dtype),
            "shape": list(t.shape),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    body = json.dumps(header, separators=(",", ":")).encode("utf-8")
    body += b" " * (-len(body) % 8)
    return struct.pack("<Q", len(body)) + body


def save_file(
    tensors: Mapping[str, torch.Tensor],
    path: str | os.PathLike[str],
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write ``tensors`` to ``path`` (via a temporary file and an atomic rename).

    Tensors sharing memory are each written in full; callers drop tied duplicates first.
    """
    import torch

    ordered = _ordered(tensors)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(serialize_header(ordered, metadata))
        for _, t in ordered:
            if t.numel():
                flat = t.detach().to("cpu").contiguous().reshape(-1)
                fh.write(memoryview(flat.view(torch.uint8).numpy()))
    os.replace(tmp, path)


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(I?)B\s*$", re.IGNORECASE)


def parse_size(size: int | str) -> int:
    """``"5GB"`` -> 5_000_000_000, ``"2MiB"`` -> 2_097_152, ``1000`` -> 1000 (as transformers reads it)."""
    if isinstance(size, int):
        return size
    m = _SIZE.match(size)
    if not m:
        raise ValueError(f"cannot read a size from {size!r} (use e.g. 500MB, 5GB or a number of bytes)")
    power = " KMGT".index(m.group(2).upper() or " ")
    base = 1024 if m.group(3) else 1000
    return int(float(m.group(1)) * base**power)


def save_sharded(
    tensors: Mapping[str, torch.Tensor],
    folder: str | os.PathLike[str],
    *,
    max_shard_size: int | str = "5GB",
    metadata: Mapping[str, str] | None = None,
    prefix: str = "model",
) -> list[str]:
    """Write ``tensors`` into ``folder`` as one file or as shards of at most ``max_shard_size`` bytes.

    One file is named ``{prefix}.safetensors``; shards ``{prefix}-00001-of-0000N.safetensors`` plus
    ``{prefix}.safetensors.index.json``. A tensor larger than the limit gets a shard of its own.
    Returns the file names written.
    """
    limit = parse_size(max_shard_size)
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, t in tensors.items():
        nbytes = t.numel() * t.element_size()
        if shards[-1] and size + nbytes > limit:
            shards.append({})
            size = 0
        shards[-1][name] = t
        size += nbytes
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if len(shards) == 1:
        save_file(shards[0], folder / f"{prefix}.safetensors", metadata)
        return [f"{prefix}.safetensors"]
    names = [f"{prefix}-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    weight_map: dict[str, str] = {}
    for fname, shard in zip(names, shards):
        save_file(shard, folder / fname, metadata)
        weight_map.update(dict.fromkeys(shard, fname))
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    (folder / f"{prefix}.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
    return [*names, f"{prefix}.safetensors.index.json"]


class ShardedCheckpoint(Mapping[str, "torch.Tensor"]):
    """The tensors of a checkpoint folder, one file or sharded, opened lazily (files mapped on first use)."""

    def __init__(self, files: dict[str, Path]) -> None:
        self._where = files  # tensor name -> file
        self._open: dict[Path, SafetensorsFile] = {}

    @classmethod
    def from_index(cls, index_path: str | os.PathLike[str]) -> ShardedCheckpoint:
        index_path = Path(index_path)
        try:
            weight_map = json.loads(index_path.read_text())["weight_map"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise SafetensorsError(f"{index_path}: not a safetensors index ({e})") from None
        files = {}
        for name, fname in weight_map.items():
            # a plain file name next to the index; not resolved, since a Hub cache snapshot holds
            # symlinks into its blob store
            if not isinstance(fname, str) or Path(fname).name != fname or fname in ("", ".", ".."):
                raise SafetensorsError(f"{index_path}: shard {fname!r} is outside the checkpoint folder")
            files[name] = index_path.parent / fname
        return cls(files)

    @classmethod
    def from_files(cls, paths: list[Path]) -> ShardedCheckpoint:
        ckpt = cls({})
        for path in paths:
            f = SafetensorsFile(path)
            ckpt._open[path] = f
            ckpt._where.update(dict.fromkeys(f, path))
        return ckpt

    def file(self, name: str) -> SafetensorsFile:
        path = self._where[name]
        if path not in self._open:
            self._open[path] = SafetensorsFile(path)
        return self._open[path]

    def info(self, name: str) -> TensorInfo:
        return self.file(name).info(name)

    def __getitem__(self, name: str) -> torch.Tensor:
        f = self.file(name)
        if name not in f.header.tensors:
            raise SafetensorsError(f"the index puts {name!r} in {f.path.name}, which does not contain it")
        return f.get_tensor(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)


def open_checkpoint(folder: str | os.PathLike[str], prefix: str = "model") -> ShardedCheckpoint | None:
    """The safetensors checkpoint in ``folder`` (index first, then ``{prefix}.safetensors``), or None."""
    folder = Path(folder)
    if (folder / f"{prefix}.safetensors.index.json").is_file():
        return ShardedCheckpoint.from_index(folder / f"{prefix}.safetensors.index.json")
    if (folder / f"{prefix}.safetensors").is_file():
        return ShardedCheckpoint.from_files([folder / f"{prefix}.safetensors"])
    return None
