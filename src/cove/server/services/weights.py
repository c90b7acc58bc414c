"""A model's size and parameter count, read from its safetensors headers only.

A safetensors file starts with 8 bytes (little-endian u64 ``n``) and ``n`` bytes of JSON naming each
tensor's dtype and shape; the tensor data is never read. Sharded checkpoints list their files in
``model.safetensors.index.json``. Headers are cached per blob (LFS sha256 or git oid): contents
never change under an id, so entries never go stale.
"""

from __future__ import annotations

import json
import math
import struct
import threading
from collections import OrderedDict
from dataclasses import dataclass

from cove.errors import CoveError
from cove.protocol import TreeEntry
from cove.server.services.content import Content
from cove.server.storage.git import GitRepo

MAX_HEADER = 100 * 1024 * 1024  # what the safetensors format itself allows
MAX_SHARDS = 1000
INDEX = "model.safetensors.index.json"


@dataclass(frozen=True)
class Header:
    params: int
    dtypes: tuple[tuple[str, int], ...]  # (dtype, parameter count), most first


@dataclass(frozen=True)
class WeightSummary:
    files: int
    size: int  # bytes of the safetensors files
    params: int
    dtypes: tuple[tuple[str, int], ...]


def parse_header(head: bytes) -> Header | None:
    """The parameter count of a safetensors JSON header, or None if it is not one."""
    try:
        data = json.loads(head)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    by_dtype: dict[str, int] = {}
    for name, info in data.items():
        if name == "__metadata__":
            continue
        shape = info.get("shape") if isinstance(info, dict) else None
        dtype = info.get("dtype") if isinstance(info, dict) else None
        if not isinstance(shape, list) or not isinstance(dtype, str) or not all(
                isinstance(d, int) and d >= 0 for d in shape):
            return None
        by_dtype[dtype[:16]] = by_dtype.get(dtype[:16], 0) + math.prod(shape)
    dtypes = tuple(sorted(by_dtype.items(), key=lambda kv: -kv[1]))
    return Header(sum(by_dtype.values()), dtypes)


class Weights:
    def __init__(self, content: Content, capacity: int = 10_000) -> None:
        self.content = content
        self._cache: OrderedDict[str, Header | None] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def _header(self, git: GitRepo, sha: str, entry: TreeEntry) -> Header | None:
        key = entry.lfs_oid or entry.oid
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        header = None
        if entry.size >= 8:
            try:
                with self.content.open(self.content.file(git, sha, entry.path)) as f:
                    (n,) = struct.unpack("<Q", f.read(8))
                    if 2 <= n <= min(MAX_HEADER, entry.size - 8):
                        header = parse_header(f.read(n))
            except (CoveError, OSError, struct.error):
                return None  # a missing or unreadable object: nothing to show, and nothing cached
        with self._lock:
            self._cache[key] = header
            if len(self._cache) > self._capacity:
                self._cache.popitem(last=False)
        return header

    def summary(self, git: GitRepo, sha: str) -> WeightSummary | None:
        """Size and parameters of the model at ``sha``: the shards its index names, else the top-level
        ``*.safetensors`` files; None if there are none or no header could be read."""
        top = {e.path: e for e in git.list_tree(sha) if e.type == "file"}
        names = [p for p in top if p.endswith(".safetensors")]
        index = top.get(INDEX)
        if index is not None and index.lfs_oid is None and index.size <= MAX_HEADER:
            try:
                weight_map = json.loads(git.read_blob(index.oid)).get("weight_map", {})
                shards = sorted({v for v in weight_map.values() if isinstance(v, str)})
            except (UnicodeDecodeError, ValueError, AttributeError, RecursionError):
                shards = []
            if shards and len(shards) <= MAX_SHARDS:
                names = shards
        entries = [top.get(n) or git.get_entry(sha, n) for n in names[:MAX_SHARDS]]
        headers = [(e, self._header(git, sha, e)) for e in entries if e is not None and e.type == "file"]
        headers = [(e, h) for e, h in headers if h is not None]
        if not headers:
            return None
        by_dtype: dict[str, int] = {}
        for _, h in headers:
            for dtype, count in h.dtypes:
                by_dtype[dtype] = by_dtype.get(dtype, 0) + count
        return WeightSummary(files=len(headers), size=sum(e.size for e, _ in headers),
                             params=sum(h.params for _, h in headers),
                             dtypes=tuple(sorted(by_dtype.items(), key=lambda kv: -kv[1])))


def human_params(n: int) -> str:
    """``124_439_808`` -> ``"124M"``, ``7_241_732_096`` -> ``"7.24B"`` (as the Hub labels models)."""
    for size, unit in ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "k")):
        if n >= size:
            value = n / size
            return f"{value:.3g}{unit}"
    return str(n)
