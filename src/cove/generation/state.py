"""The decode state of one model: what generation builds for a model and keeps between calls, in one
object this package owns and hands to the model (``model.decode_state``), never as attributes
stashed on its modules.

- ``config``: the model's default :class:`GenerationConfig` (``model.generation_config`` reads and
  writes it), resolved once from generation_config.json or config.json.
- ``head``: the certified greedy head of the output layer (:mod:`cove.generation.greedy_head`), an
  int8 copy built once and rebuilt when the weight changes.
- compiled steps: ``torch.compile`` of the decode step functions, and which (function, batch, cache
  length) shapes have compiled in this process (``ready``); each compile goes through the on-disk
  cache of :mod:`cove.generation.compile_cache` (``cache``), so it is paid once per machine.
- the weight layout decode reads (:meth:`DecodeState.weight_layout`: ``from_pretrained`` stores a
  generating decoder's linears column-major), which keys the compiled steps.
- ``background``: a :class:`cove.generation.background.BackgroundCompiler` (the inference server's):
  with it ``compile="auto"`` never compiles in the caller's thread.

:meth:`DecodeState.nbytes` is what a memory budget reserves for it beside the model's parameters.
A copy or a pickle of the model keeps only ``config``: compiled code and the int8 head are rebuilt.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from cove.generation import compile_cache, greedy_head
from cove.generation.compile_cache import CompileCache, StepKey

_DEFAULT: Any = object()
_CREATE = threading.Lock()


@dataclass(frozen=True)
class Compiled:
    """One compile this process ran: the step, its seconds, whether the disk cache had it (``warm``)."""

    key: StepKey
    seconds: float
    warm: bool
    thread: str


class DecodeState:
    """The decode state of one model (see the module docstring).

    Args:
        cache: where compiled steps persist; default ``COVE_COMPILE_CACHE`` (None: nowhere).
    """

    def __init__(self, cache: CompileCache | None = _DEFAULT) -> None:
        self.config: Any = None
        self.head: greedy_head.CertifiedArgmax | None = None
        self.cache = compile_cache.default_cache() if cache is _DEFAULT else cache
        self.background: Any = None
        self.ready: set[StepKey] = set()
        self.failed: set[StepKey] = set()  # steps whose compile failed: "auto" runs them eagerly
        self.compiles: list[Compiled] = []
        self._steps: dict[str, Callable[..., Any]] = {}  # function name -> torch.compile(function)
        self.assistant_tokens: int | None = None  # as a draft model: its guesses per round ("heuristic")
        self.assistant_threshold: float | None = None  # as a draft model: its confidence cut-off, learnt

    # -- copies keep the options only -------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.config}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()
        self.config = state["config"]

    # -- the greedy head, the layout, the memory ---------------------------------------------------

    def greedy_head(self, module: Any, build: bool = True) -> greedy_head.CertifiedArgmax | None:
        """The certified argmax of an ``nn.Linear`` output layer, built once (and again when its weight
        changes); None when it does not apply or when it is not built yet and ``build`` is False."""
        if type(module) is not torch.nn.Linear or not greedy_head.supported(module.weight):
            return None
        head = self.head
        if head is None or head.stale(module.weight, module.bias):
            if not build:
                return None
            with torch.no_grad():
                head = greedy_head.CertifiedArgmax(module.weight, module.bias)
            self.head = head
        return head

    @staticmethod
    def weight_layout(model: Any) -> list[tuple[str, str]]:
        """(name, "shape dtype stride device") of the weights and buffers as decode reads them."""
        return compile_cache.weight_layout(model)

    def nbytes(self, model: Any) -> int:
        """Bytes this state holds beside ``model``'s parameters, or will once greedy decoding builds
        the certified head of its ``lm_head`` (reserved from the start: what a memory budget counts)."""
        reserved = greedy_head.head_bytes(getattr(model, "lm_head", None))
        return max(reserved, self.head.nbytes() if self.head is not None else 0)

    # -- compiled steps ----------------------------------------------------------------------------

    def available(self, model: Any, key: StepKey, mode: bool | str) -> bool:
        """Whether a decode step of shape ``key`` runs compiled under ``compile=mode``: always with
        True; with ``"auto"`` when it compiled in this process, or (without a background compiler)
        when the disk cache has it, so compiling it again costs little."""
        if mode is True:
            return True
        if mode != "auto" or key in self.failed:
            return False
        if key in self.ready:
            return True
        if self.background is not None or self.cache is None:
            return False
        return self.cache.has(compile_cache.model_key(model), key)

    def want(self, model: Any, key: StepKey) -> None:
        """``compile="auto"`` ran ``key`` eagerly: the background compiler (if any) compiles it."""
        if self.background is not None and key not in self.ready and key not in self.failed:
            self.background.submit(model, key)

    def run(self, model: Any, fn: Callable[..., Any], key: StepKey, mode: bool | str, *args: Any) -> Any:
        """``fn(model, *args)`` compiled: compiled now if this shape has not run yet (through the disk
        cache). A compile that fails with ``mode="auto"`` runs eagerly instead (and is not retried)."""
        step = self._step(fn)
        if key in self.ready:
            return step(model, *args)
        with compile_cache.compile_lock():
            if key in self.ready:
                return step(model, *args)
            try:
                return self._compile(model, step, key, args)
            except Exception:
                if mode is True:
                    raise
                self.failed.add(key)
                return fn(model, *args)

    def _step(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        step = self._steps.get(fn.__name__)
        if step is None:
            step = self._steps[fn.__name__] = torch.compile(fn, dynamic=False)
        return step

    def _compile(self, model: Any, step: Callable[..., Any], key: StepKey, args: tuple) -> Any:
        """The first call of ``key``'s shape (which compiles), into the disk cache; a cache that
        fails it (corrupt files) is emptied and the compile runs once more from scratch."""
        cache = self.cache
        name = compile_cache.model_key(model)
        warm = cache is not None and cache.has(name, key)
        start = time.perf_counter()
        try:
            with cache.active() if cache is not None else contextlib.nullcontext():
                out = step(model, *args)
        except Exception:
            if cache is None:
                raise
            cache.forget(name, key)
            cache.clear_inductor()
            warm = False
            with cache.active():
                out = step(model, *args)
        seconds = time.perf_counter() - start
        if cache is not None:
            cache.record(name, key, seconds)
        self.ready.add(key)
        self.compiles.append(Compiled(key, seconds, warm, threading.current_thread().name))
        return out


def state_of(model: Any) -> DecodeState:
    """``model.decode_state``, made on first use."""
    state = getattr(model, "decode_state", None)
    if state is None:
        with _CREATE:
            state = getattr(model, "decode_state", None)
            if state is None:
                state = DecodeState()
                model.decode_state = state
    return state
