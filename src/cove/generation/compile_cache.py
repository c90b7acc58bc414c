"""Compiled decode steps kept on disk, so a step compiles once per model and shape on a machine,
not once per process (issue 24).

What persists is inductor's own cache (the FX graph and AOT autograd caches and the C++ kernels
they point to), in a folder of Cove's instead of ``/tmp/torchinductor_<user>``::

    <root>/torch-<version>-<cpu>/inductor/           TORCHINDUCTOR_CACHE_DIR while Cove compiles
    <root>/torch-<version>-<cpu>/steps/<key>.json    one per compiled step: "this was compiled here"

``<root>`` is ``COVE_COMPILE_CACHE``, else ``$XDG_CACHE_HOME/cove/compile`` (``~/.cache/cove/compile``);
``COVE_COMPILE_CACHE=0`` turns it off. The folder is named by torch's version and the CPU (model name
and instruction-set flags), so entries another torch or another CPU made are never read; a step's
JSON names both again and a mismatch is ignored, as is a file that does not parse.

Why inductor's folder and not ``torch.compiler.save_cache_artifacts()``: on this CPU the saved
artifacts hold the FX graph but not the compiled C++ kernels, so a second process that loads them
still runs the C++ compiler (a tiny Llama: 31 s against 35 s cold); with inductor's folder kept the
second process takes 5.6 s (mostly Dynamo tracing the step again). See docs/benchmarks.md.

A step's key is a hash of what the compiled code depends on: the model's class, its config, the
layout of its weights and buffers (names, shapes, dtypes, strides: column-major linears compile
to other kernels), the step function and the input shape (batch, cache length). Weight *values*
are not in it: Dynamo lifts parameters to graph inputs, so a fine-tuned revision of the same
architecture reuses the compiled code (tested).

TORCHINDUCTOR_CACHE_DIR is one variable per process, so Cove's compiles take one process-wide lock
and set it only while they run; a ``torch.compile`` of the user's own that runs at the same moment
in another thread would write into Cove's folder (harmless: the entries are content-addressed).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

_LOCK = threading.RLock()  # one compile at a time in a process: they switch a process-wide variable
_OFF = ("0", "false", "no", "off")


def default_root() -> Path | None:
    """``COVE_COMPILE_CACHE``, else ``<cache home>/cove/compile``; None when it is switched off."""
    value = os.environ.get("COVE_COMPILE_CACHE", "").strip()
    if value.lower() in _OFF:
        return None
    if value:
        return Path(value).expanduser()
    # as cove.hub's caches (not imported: the server imports generation and never the hub client)
    home = os.environ.get("XDG_CACHE_HOME", "").strip() or "~/.cache"
    return Path(home).expanduser() / "cove" / "compile"


@cache
def cpu_id() -> str:
    """The CPU's model name and instruction-set flags (what inductor's C++ kernels are built for)."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break  # the first processor is enough
                name, _, value = line.partition(":")
                fields[name.strip()] = value.strip()
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or "unknown"
    flags = fields.get("flags") or fields.get("Features") or ""
    return f"{platform.machine()} {name} [{flags}]"


def machine_tag() -> str:
    """``torch-<version>-<hash of the CPU>``: the folder of this torch on this CPU."""
    import torch

    version = "".join(c if c.isalnum() or c in ".-" else "_" for c in torch.__version__)
    return f"torch-{version}-{hashlib.sha256(cpu_id().encode()).hexdigest()[:12]}"


def model_key(model: Any) -> str:
    """A hash of what compiled code of ``model`` depends on: class, config and weight layout."""
    h = hashlib.sha256()
    h.update(f"{type(model).__module__}.{type(model).__qualname__}\n".encode())
    config = model.config.to_dict() if hasattr(model.config, "to_dict") else vars(model.config)
    h.update(json.dumps(config, sort_keys=True, default=str).encode())
    for name, t in weight_layout(model):
        h.update(f"\n{name} {t}".encode())
    return h.hexdigest()[:24]


def weight_layout(model: Any) -> list[tuple[str, str]]:
    """(name, "shape dtype stride device") of every parameter and buffer: the layout decode reads
    the weights in (``from_pretrained`` stores a generating decoder's linears column-major)."""
    tensors = [*model.named_parameters(), *model.named_buffers()]
    return [(n, f"{tuple(t.shape)} {t.dtype} {t.stride()} {t.device.type}") for n, t in tensors]


@dataclass(frozen=True)
class StepKey:
    """One compiled step: the function (``next_logits`` / ``next_hidden``) and its input shape."""

    fn: str
    batch: int
    length: int  # the static cache's length (a whole bucket)

    def name(self, model: str) -> str:
        return f"{model}-{self.fn}-b{self.batch}-t{self.length}"


class CompileCache:
    """The compiled steps under ``root`` for this torch and this CPU.

    Args:
        root: the cache folder (see the module docstring).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.folder = self.root / machine_tag()

    @property
    def inductor_dir(self) -> Path:
        return self.folder / "inductor"

    def _entry(self, model: str, key: StepKey) -> Path:
        return self.folder / "steps" / f"{key.name(model)}.json"

    def has(self, model: str, key: StepKey) -> bool:
        """Whether this step was compiled into this cache by this torch on this CPU. A file that
        does not parse, or names another torch, CPU, model or shape, is ignored."""
        import torch

        try:
            entry = json.loads(self._entry(model, key).read_text())
        except (OSError, ValueError):
            return False
        expected = {"torch": torch.__version__, "cpu": cpu_id(), "model": model, "fn": key.fn,
                    "batch": key.batch, "length": key.length}
        return isinstance(entry, dict) and all(entry.get(k) == v for k, v in expected.items())

    def record(self, model: str, key: StepKey, seconds: float) -> None:
        """Note that the step is compiled (written after inductor wrote its files; atomic)."""
        import torch

        path = self._entry(model, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        entry = {"torch": torch.__version__, "cpu": cpu_id(), "model": model, "fn": key.fn,
                 "batch": key.batch, "length": key.length, "compile_seconds": round(seconds, 3),
                 "created": time.time()}
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        tmp.write_text(json.dumps(entry, indent=1))
        os.replace(tmp, path)

    def forget(self, model: str, key: StepKey) -> None:
        with contextlib.suppress(OSError):
            self._entry(model, key).unlink()

    def clear_inductor(self) -> None:
        """Drop inductor's files (after a compile failed on them: a corrupt entry)."""
        shutil.rmtree(self.inductor_dir, ignore_errors=True)

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Compile into this cache: inductor's cache folder is ours while the block runs (under the
        process-wide compile lock, which the caller holds through :func:`compile_lock`)."""
        self.inductor_dir.mkdir(parents=True, exist_ok=True)
        with _inductor_dir(str(self.inductor_dir)):
            yield


def compile_lock() -> threading.RLock:
    """The process-wide lock Cove's compiles run under."""
    return _LOCK


@contextlib.contextmanager
def _inductor_dir(path: str) -> Iterator[None]:
    """TORCHINDUCTOR_CACHE_DIR set to ``path`` for the block, inductor's in-memory caches of file
    paths cleared on both sides (what torch's own ``fresh_cache`` does)."""
    from torch._inductor.utils import clear_caches

    before = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = path
    clear_caches()
    try:
        yield
    finally:
        clear_caches()
        if before is None:
            os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
        else:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = before


def default_cache() -> CompileCache | None:
    """The cache at :func:`default_root`, or None when it is switched off."""
    root = default_root()
    return None if root is None else CompileCache(root)
