"""Fingerprints: a short hash naming a dataset's content, so a transform's result can be cached.

A dataset read from files gets the hash of their paths, sizes and modification times; each transform
derives the next fingerprint from the previous one, its name and its arguments. A function argument
is hashed by what it does (its bytecode, constants, defaults, closure and the plain values it reads
from its globals), so the same call on the same data finds its result on disk. When an argument
cannot be hashed the fingerprint is random: the result is recomputed, never wrongly reused.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import types
from pathlib import Path

import numpy as np

CACHE_PREFIX = "cache-"


class Unhashable(Exception):
    """An argument whose content cannot be hashed deterministically."""


def default_cache_dir() -> Path:
    """Where loaded files are converted to Arrow: ``COVE_DATASETS_CACHE``, else ``~/.cache/cove/datasets``."""
    env = os.environ.get("COVE_DATASETS_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "cove" / "datasets"


def random_fingerprint() -> str:
    return secrets.token_hex(8)


def _code_parts(code: types.CodeType, seen: set) -> list:
    consts = [_code_parts(c, seen) if isinstance(c, types.CodeType) else _parts(c, seen) for c in code.co_consts]
    return ["code", code.co_code, consts, code.co_names, code.co_varnames, code.co_freevars]


def _function_parts(fn: types.FunctionType, seen: set) -> list:
    if id(fn) in seen:
        return ["recursive", fn.__qualname__]
    seen.add(id(fn))
    cells = [_parts(c.cell_contents, seen) for c in fn.__closure__ or ()]
    used = {}
    for name in fn.__code__.co_names:
        if name in fn.__globals__:
            value = fn.__globals__[name]
            used[name] = value.__name__ if isinstance(value, types.ModuleType) else _parts(value, seen)
    return ["fn", fn.__module__, fn.__qualname__, _code_parts(fn.__code__, seen),
            _parts(fn.__defaults__, seen), _parts(fn.__kwdefaults__, seen), cells, sorted(used.items())]


def _parts(obj, seen: set):
    """A nested structure of plain values standing for ``obj``; raises :class:`Unhashable`."""
    if obj is None or isinstance(obj, bool | int | float | str | bytes | complex):
        return obj
    if isinstance(obj, list | tuple):
        return [type(obj).__name__, [_parts(x, seen) for x in obj]]
    if isinstance(obj, set | frozenset):
        return ["set", sorted(repr(_parts(x, seen)) for x in obj)]
    if isinstance(obj, dict):
        return ["dict", [(_parts(k, seen), _parts(v, seen)) for k, v in obj.items()]]
    if isinstance(obj, np.ndarray):
        return ["ndarray", str(obj.dtype), obj.shape, hashlib.blake2b(np.ascontiguousarray(obj).tobytes()).hexdigest()]
    if isinstance(obj, np.generic):
        return ["np", str(obj.dtype), obj.item()]
    if isinstance(obj, types.FunctionType):
        return _function_parts(obj, seen)
    if isinstance(obj, types.BuiltinFunctionType | type | types.ModuleType):
        return ["named", getattr(obj, "__module__", None), getattr(obj, "__qualname__", obj.__name__)]
    if isinstance(obj, types.MethodType):
        return ["method", _parts(obj.__func__, seen), _parts(obj.__self__, seen)]
    if isinstance(obj, range | slice):
        return [type(obj).__name__, repr(obj)]
    if hasattr(obj, "to_dict") and type(obj).__name__ == "Features":
        return ["features", _parts(obj.to_dict(), seen)]
    if hasattr(obj, "__dataclass_fields__"):
        return [type(obj).__qualname__, _parts(vars(obj), seen)]
    fingerprint = getattr(obj, "_fingerprint", None)
    if isinstance(fingerprint, str):  # a Dataset passed as an argument
        return ["dataset", fingerprint]
    raise Unhashable(f"cannot hash {type(obj).__name__}")


def hash_object(obj) -> str:
    """A stable hex digest of ``obj`` (raises :class:`Unhashable`)."""
    return hashlib.blake2b(repr(_parts(obj, set())).encode(), digest_size=8).hexdigest()


def update_fingerprint(previous: str, transform: str, args: dict) -> str:
    """The fingerprint after ``transform(**args)`` on a dataset fingerprinted ``previous``."""
    try:
        return hash_object([previous, transform, args])
    except Unhashable:
        return random_fingerprint()


def files_fingerprint(paths: list[str | os.PathLike], options: dict | None = None) -> str:
    """The fingerprint of data read from ``paths``: their absolute paths, sizes and mtimes, plus options."""
    stats = []
    for p in paths:
        st = os.stat(p)
        stats.append((str(Path(p).resolve()), st.st_size, st.st_mtime_ns))
    try:
        return hash_object(["files", stats, options or {}])
    except Unhashable:
        return random_fingerprint()


def cache_path(cache_dir: str | os.PathLike, fingerprint: str) -> Path:
    return Path(cache_dir) / f"{CACHE_PREFIX}{fingerprint}.arrow"


def cleanup_cache_files(cache_dir: str | os.PathLike, keep: set[str]) -> int:
    """Delete ``cache-*.arrow`` files in ``cache_dir`` except ``keep`` (absolute paths); return how many."""
    removed = 0
    for path in Path(cache_dir).glob(f"{CACHE_PREFIX}*.arrow"):
        if str(path.resolve()) not in keep:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
