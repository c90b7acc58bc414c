"""Building a model without initialising it: for loading, where every value is overwritten.

Under ``torch.device("meta")`` tensors have no storage, but ``nn.Linear``/``nn.Embedding`` still call
their init functions, which on the meta device run through torch's Python decompositions (seconds
of first-call cost for a single embedding). :class:`SkipInit` is a scoped ``TorchFunctionMode`` that
turns those in-place init calls into no-ops while it is active; nothing global is patched.
"""

from __future__ import annotations

from typing import Any

from torch.overrides import TorchFunctionMode

_INIT_FUNCTIONS = frozenset(
    {
        "normal_",
        "uniform_",
        "trunc_normal_",
        "kaiming_uniform_",
        "kaiming_normal_",
        "xavier_uniform_",
        "xavier_normal_",
        "zero_",
        "zeros_",
        "ones_",
        "fill_",
        "constant_",
        "orthogonal_",
    }
)


class SkipInit(TorchFunctionMode):
    """``with torch.device("meta"), SkipInit(): model = Model(config)`` builds with no init work."""

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if getattr(func, "__name__", "") in _INIT_FUNCTIONS:
            return args[0] if args else kwargs["tensor"]
        return func(*args, **kwargs)
