"""Compiled decode steps for the inference API: a text-generation model serves requests eagerly while
one background thread (:class:`cove.generation.background.BackgroundCompiler`, shared by all models)
compiles the steps those requests ask for; each compiled step is swapped in when ready, and no request
waits on a compile. Compiled steps are kept under ``<data_dir>/compile-cache`` (see
:mod:`cove.generation.compile_cache`), so after a restart a step takes seconds to come back.
``COVE_INFERENCE_COMPILE=0`` turns it off. torch and generation are imported only once a model loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def compiled_steps(pipeline: Any) -> list[str]:
    """The decode steps of a loaded model that run compiled (``next_hidden-b1-t128`` ...)."""
    state = getattr(getattr(pipeline, "model", None), "decode_state", None)
    ready = sorted(getattr(state, "ready", ()), key=lambda k: (k.fn, k.batch, k.length))
    return [f"{k.fn}-b{k.batch}-t{k.length}" for k in ready]


def compile_in_background(model: Any, compiler: Any, cache_dir: Path) -> None:
    """Have ``model``'s decode steps compiled by ``compiler`` (a background thread) as requests ask
    for them, into ``cache_dir``: its default options get ``compile="auto"`` unless they name one."""
    import dataclasses

    from cove.generation.compile_cache import CompileCache
    from cove.generation.generate import default_config, state_of

    if not hasattr(model, "make_cache") or getattr(model.config, "is_encoder_decoder", False):
        return  # decoder-only models compile their steps
    state = state_of(model)
    state.cache = CompileCache(cache_dir)
    state.background = compiler
    config = default_config(model)
    if config.compile is False:
        state.config = dataclasses.replace(config, compile="auto")


def stop_compiling(model: Any) -> None:
    """Run ``model`` eagerly from now on (a PEFT adapter was attached: its modules changed, and the
    compiled steps were traced without them)."""
    state = getattr(model, "decode_state", None)
    if state is None or state.background is None:
        return
    import dataclasses

    state.background = None
    state.ready.clear()
    if state.config is not None and state.config.compile == "auto":
        state.config = dataclasses.replace(state.config, compile=False)
