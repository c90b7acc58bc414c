"""A thread that compiles decode steps while the model keeps serving eagerly (the inference server's).

With a :class:`BackgroundCompiler` attached to a model's decode state (``state.background``),
``generate(compile="auto")`` never waits on a compile: a step that has not compiled in this process
runs eagerly, and its shape (step function, batch, cache length) is queued here. The thread compiles
it on a batch of its own (:func:`cove.generation.generate.warm_step`, through the disk cache, so a
shape compiled before on this machine takes seconds, not tens of seconds) and marks it ready in the
state; the next call of that shape takes the compiled step. Outputs do not change: compiled and
eager steps give the same tokens (tests/generation).

One thread for all models: compiles are serialised in a process anyway (see
:mod:`cove.generation.compile_cache`), and on a small machine one compile already takes a core.
Models are held weakly: one unloaded before its turn is skipped.
"""

from __future__ import annotations

import logging
import queue
import threading
import weakref
from typing import Any

from cove.generation.compile_cache import StepKey

logger = logging.getLogger(__name__)


class BackgroundCompiler:
    """Compiles queued decode steps on one daemon thread, started on the first :meth:`submit`."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[int, weakref.ref, StepKey] | None] = queue.Queue()
        self._pending: set[tuple[int, StepKey]] = set()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.done: list[StepKey] = []
        self.errors: list[tuple[StepKey, str]] = []

    def submit(self, model: Any, key: StepKey) -> None:
        """Queue ``key`` of ``model`` unless it is queued already."""
        with self._cond:
            if self._closed or (id(model), key) in self._pending:
                return
            self._pending.add((id(model), key))
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="cove-compile", daemon=True)
                self._thread.start()
        self._queue.put((id(model), weakref.ref(model), key))

    def _work(self) -> None:
        from cove.generation.generate import warm_step
        from cove.generation.state import state_of

        while (item := self._queue.get()) is not None:
            pid, ref, key = item
            model = ref()
            try:
                if model is not None and key not in state_of(model).ready:
                    warm_step(model, key)
                    self.done.append(key)
            except Exception as e:  # a step that does not compile keeps running eagerly
                logger.warning("compiling the decode step %s failed: %s", key, e)
                state_of(model).failed.add(key)
                self.errors.append((key, repr(e)))
            finally:
                model = None
                with self._cond:
                    self._pending.discard((pid, key))
                    self._cond.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until nothing is queued or compiling; False if ``timeout`` seconds passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending, timeout)

    def close(self) -> None:
        """Stop after the compile in progress (queued ones are dropped)."""
        with self._cond:
            self._closed = True
        self._queue.put(None)
