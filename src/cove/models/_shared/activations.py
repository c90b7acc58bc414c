"""The activation functions config.json files name (``hidden_act``, ``activation_function``)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": F.gelu,  # exact (erf)
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_fast": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
    "tanh": torch.tanh,
    "quick_gelu": lambda x: x * torch.sigmoid(1.702 * x),  # CLIP
    "relu6": F.relu6,  # EfficientNet-Lite
}


def activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The function for a config's activation name; a clear error for one Cove lacks."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise NotImplementedError(
            f"activation {name!r} is not supported ({', '.join(ACTIVATIONS)} are)"
        ) from None
