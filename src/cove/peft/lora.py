"""LoRA layers: a ``nn.Linear`` wrapped with low-rank updates, and a trainable copy of a whole module.

``LoraLinear`` holds the original layer as ``base_layer`` and, per adapter name, ``lora_A[name]``
(r x in) and ``lora_B[name]`` (out x r): the module paths peft uses, so a state dict's names are
peft's (``q_proj.base_layer.weight``, ``q_proj.lora_A.default.weight``). The output is

    base(x) + sum over active adapters of  B(A(dropout(x))) * scaling       (Hu et al., 2021)

``merge`` adds ``B @ A * scaling`` into the base weight (the forward then skips the branch);
``unmerge`` subtracts it again; :func:`unwrap` gives back the plain base ``nn.Linear``.

``ModulesToSave`` keeps the ``original_module`` untouched and trains a copy per adapter
(``modules_to_save[name]``), as peft's wrapper of the same name.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


class LoraLinear(nn.Module):
    """An ``nn.Linear`` plus named LoRA adapters (see the module docstring).

    Attributes:
        active_adapters: the adapters the forward adds (in order).
        disabled: the forward is the base layer's alone (``PeftModel.disable_adapter``).
        merged: the adapters currently merged into ``base_layer.weight``.
    """

    def __init__(self, base_layer: nn.Linear) -> None:
        super().__init__()
        self.base_layer = base_layer
        self.lora_dropout = nn.ModuleDict()
        self.lora_A = nn.ModuleDict()
        self.lora_B = nn.ModuleDict()
        self.scaling: dict[str, float] = {}
        self.active_adapters: list[str] = []
        self.disabled = False
        self.merged: list[str] = []

    @property
    def in_features(self) -> int:
        return self.base_layer.in_features

    @property
    def out_features(self) -> int:
        return self.base_layer.out_features

    @property
    def weight(self) -> torch.Tensor:
        return self.base_layer.weight

    @property
    def bias(self) -> torch.Tensor | None:
        return self.base_layer.bias

    def add(self, name: str, *, r: int, scaling: float, dropout: float, init: bool | str) -> None:
        """Add adapter ``name`` (float32 unless the base layer is a float32 or float64 one)."""
        base = self.base_layer.weight
        dtype = base.dtype if base.dtype in (torch.float32, torch.float64) else torch.float32
        a = nn.Linear(self.in_features, r, bias=False, device=base.device, dtype=dtype)
        b = nn.Linear(r, self.out_features, bias=False, device=base.device, dtype=dtype)
        with torch.no_grad():
            if init is True:  # nn.Linear's own init for A, as peft: kaiming-uniform with a=sqrt(5)
                nn.init.kaiming_uniform_(a.weight, a=math.sqrt(5))
                nn.init.zeros_(b.weight)
            elif init == "gaussian":
                nn.init.normal_(a.weight, std=1 / r)
                nn.init.zeros_(b.weight)
        self.lora_A[name], self.lora_B[name] = a, b
        self.lora_dropout[name] = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.scaling[name] = scaling

    def delta_weight(self, name: str) -> torch.Tensor:
        """``B @ A * scaling`` (out, in), in the base weight's dtype."""
        delta = self.lora_B[name].weight @ self.lora_A[name].weight * self.scaling[name]
        return delta.to(self.base_layer.weight.dtype)

    def merge(self, names: list[str] | None = None) -> None:
        """Add the update of ``names`` (default: the active adapters) into the base weight."""
        if not isinstance(self.base_layer, nn.Linear):
            raise TypeError(f"cannot merge into a {type(self.base_layer).__name__} base layer")
        with torch.no_grad():
            for name in names if names is not None else self.active_adapters:
                if name in self.lora_A and name not in self.merged:
                    self.base_layer.weight.data += self.delta_weight(name)
                    self.merged.append(name)

    def unmerge(self) -> None:
        """Subtract every merged update from the base weight again."""
        with torch.no_grad():
            while self.merged:
                self.base_layer.weight.data -= self.delta_weight(self.merged.pop())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.disabled:
            if self.merged:
                self.unmerge()
            return self.base_layer(x)
        result = self.base_layer(x)
        for name in self.active_adapters:
            if name not in self.lora_A or name in self.merged:
                continue
            a, b = self.lora_A[name], self.lora_B[name]
            h = self.lora_dropout[name](x.to(a.weight.dtype))  # (..., in)
            result = result + (b(a(h)) * self.scaling[name]).to(result.dtype)  # (..., out)
        return result

    def extra_repr(self) -> str:
        return f"adapters={list(self.lora_A)}, active={self.active_adapters}, merged={self.merged}"


class ModulesToSave(nn.Module):
    """A module trained in full by an adapter: ``original_module`` stays frozen, each adapter trains
    its own copy ``modules_to_save[name]``; the forward runs the active adapter's copy (the original
    when disabled or when no adapter of this wrapper is active)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.original_module = module
        self.modules_to_save = nn.ModuleDict()
        self.active_adapter: str | None = None
        self.disabled = False

    def add(self, name: str) -> None:
        copy_ = copy.deepcopy(self.original_module)
        for p in copy_.parameters():
            p.requires_grad_(True)
        self.modules_to_save[name] = copy_

    def current(self) -> nn.Module:
        if self.disabled or self.active_adapter not in self.modules_to_save:
            return self.original_module
        return self.modules_to_save[self.active_adapter]

    def forward(self, *args, **kwargs):  # noqa: ANN002, ANN003 - the wrapped module's signature
        return self.current()(*args, **kwargs)

    def __getattr__(self, name: str):  # noqa: ANN204 - attributes of the module in use (weight, ...)
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.current(), name)


def unwrap(module: nn.Module) -> nn.Module:
    """The plain module again: a ``LoraLinear``'s base layer (with its merges kept), a
    ``ModulesToSave``'s active copy (or the original)."""
    if isinstance(module, LoraLinear):
        return module.base_layer
    if isinstance(module, ModulesToSave):
        return module.current()
    return module

