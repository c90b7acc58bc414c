"""Put LoRA into a built model and take its adapter state in and out, with peft's names.

Injection replaces, in place, each targeted ``nn.Linear`` by a :class:`~cove.peft.lora.LoraLinear`
holding it, and each module of ``modules_to_save`` by a :class:`~cove.peft.lora.ModulesToSave`; the
architecture files are untouched. Targets follow peft's rules: a list of names matches a module whose
path equals a name or ends with ``"." + name``; a string is a regex that must match the whole path;
``"all-linear"`` is every ``nn.Linear`` but the output head (the ``lm_head``, or for ``SEQ_CLS`` the
``score`` / ``classifier``).

The saved adapter state (``adapter_model.safetensors``) holds the LoRA matrices, the biases ``bias``
asks for, and the ``modules_to_save`` copies, with the adapter name dropped from the keys:
``base_model.model.<path>.lora_A.weight``, ``base_model.model.<path>.weight`` for a saved module.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from cove.peft.config import ALL_LINEAR, LoraConfig
from cove.peft.lora import LoraLinear, ModulesToSave

PREFIX = "base_model.model."  # peft's path from the PeftModel to the wrapped model
SEQ_CLS_HEADS = ("score", "classifier")

#: peft's default targets per model_type (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING)
DEFAULT_TARGETS = {
    "bert": ["query", "value"],
    "roberta": ["query", "value"],
    "distilbert": ["q_lin", "v_lin"],
    "llama": ["q_proj", "v_proj"],
    "mistral": ["q_proj", "v_proj"],
    "qwen2": ["q_proj", "v_proj"],
    "bart": ["q_proj", "v_proj"],
    "marian": ["q_proj", "v_proj"],
    "t5": ["q", "v"],
}


def name_matches(path: str, names: list[str] | str) -> bool:
    """peft's rule: a regex matching the whole path, or a name the path equals or ends with."""
    if isinstance(names, str):
        return re.fullmatch(names, path) is not None
    return any(path == n or path.endswith("." + n) for n in names)


def resolve_targets(model: nn.Module, config: LoraConfig) -> list[str] | str:
    """``config.target_modules`` made concrete: ``"all-linear"`` becomes the sorted list of paths
    (peft writes that list into the saved config), None the architecture's default."""
    targets = config.target_modules
    if targets is None:
        model_type = getattr(getattr(model, "config", None), "model_type", None)
        if model_type not in DEFAULT_TARGETS:
            raise ValueError(f"LoraConfig.target_modules is None and {model_type!r} has no default: name them")
        return list(DEFAULT_TARGETS[model_type])
    if not (isinstance(targets, str) and targets.lower() == ALL_LINEAR):
        return targets
    excluded = set()
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is None and config.task_type == "SEQ_CLS":
        head = next((getattr(model, n) for n in SEQ_CLS_HEADS if isinstance(getattr(model, n, None), nn.Module)), None)
    if head is not None:
        excluded = {name for name, m in model.named_modules() if m is head}
    linears = {name for name, m in model.named_modules() if isinstance(m, (nn.Linear, LoraLinear))}
    inner = {f"{name}.{sub}" for name, m in model.named_modules() if isinstance(m, (LoraLinear, ModulesToSave))
             for sub, _ in m.named_modules() if sub}
    return sorted(linears - excluded - inner)


def inject(model: nn.Module, config: LoraConfig, adapter: str) -> list[str]:
    """Add adapter ``adapter`` to ``model`` in place (see the module docstring); returns the adapted
    module paths. Every parameter but the adapter's (and ``bias``'s, ``modules_to_save``'s) is frozen."""
    config.check_supported()
    targets = resolve_targets(model, config)
    config.target_modules = targets
    saved = config.modules_to_save or []
    adapted, wrapped = [], []
    for path, module in list(model.named_modules()):
        if not path or _inside_wrapper(model, path):
            continue
        if saved and name_matches(path, saved) and not isinstance(module, LoraLinear):
            wrapper = module if isinstance(module, ModulesToSave) else ModulesToSave(module)
            wrapper.add(adapter)
            _replace(model, path, wrapper)
            wrapped.append(path)
        elif name_matches(path, targets):
            if isinstance(module, nn.Linear):
                module = LoraLinear(module)
                _replace(model, path, module)
            elif not isinstance(module, LoraLinear):
                raise ValueError(
                    f"LoRA target {path} is a {type(module).__name__}; Cove adapts nn.Linear layers only"
                )
            module.add(adapter, r=config.r, scaling=config.scaling, dropout=float(config.lora_dropout),
                       init=config.init_lora_weights)
            adapted.append(path)
    if not adapted:
        raise ValueError(f"LoraConfig.target_modules {targets!r} matched no nn.Linear in {type(model).__name__}")
    return adapted


def _inside_wrapper(model: nn.Module, path: str) -> bool:
    """True for the modules that belong to a wrapper already (a LoRA layer's parts, saved copies)."""
    parts = path.split(".")
    for i in range(1, len(parts)):
        if isinstance(model.get_submodule(".".join(parts[:i])), (LoraLinear, ModulesToSave)):
            return True
    return False


def _replace(model: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, attr = path.rpartition(".")
    setattr(model.get_submodule(parent), attr, module)


def activate(model: nn.Module, adapter: str | None) -> None:
    """Make ``adapter`` the one every LoRA layer and saved module of ``model`` uses (None: none,
    the model computes as its base)."""
    for module in model.modules():
        if isinstance(module, LoraLinear):
            module.active_adapters = [] if adapter is None else [adapter]
        elif isinstance(module, ModulesToSave):
            module.active_adapter = adapter


def set_trainable(model: nn.Module, config: LoraConfig, adapter: str) -> None:
    """Freeze everything, then let the active adapter's LoRA matrices, copies and biases train."""
    for p in model.parameters():
        p.requires_grad_(False)
    for module in model.modules():
        if isinstance(module, LoraLinear) and adapter in module.lora_A:
            module.lora_A[adapter].weight.requires_grad_(True)
            module.lora_B[adapter].weight.requires_grad_(True)
            if config.bias == "lora_only" and module.base_layer.bias is not None:
                module.base_layer.bias.requires_grad_(True)
        elif isinstance(module, ModulesToSave) and adapter in module.modules_to_save:
            for p in module.modules_to_save[adapter].parameters():
                p.requires_grad_(True)
    if config.bias == "all":
        for name, p in model.named_parameters():
            if name.endswith("bias") and not _is_original(name):
                p.requires_grad_(True)


def _is_original(name: str) -> bool:
    return ".original_module." in name or ".modules_to_save." in name


def adapter_state(model: nn.Module, config: LoraConfig, adapter: str) -> dict[str, torch.Tensor]:
    """The tensors ``adapter_model.safetensors`` holds for ``adapter``, under peft's keys."""
    out: dict[str, torch.Tensor] = {}
    lora_paths = set()
    for path, module in model.named_modules():
        if isinstance(module, LoraLinear) and adapter in module.lora_A:
            lora_paths.add(path)
            out[f"{path}.lora_A.weight"] = module.lora_A[adapter].weight
            out[f"{path}.lora_B.weight"] = module.lora_B[adapter].weight
            if config.bias == "lora_only" and module.base_layer.bias is not None:
                out[f"{path}.base_layer.bias"] = module.base_layer.bias
        elif isinstance(module, ModulesToSave) and adapter in module.modules_to_save:
            for name, t in module.modules_to_save[adapter].state_dict(keep_vars=True).items():
                out[f"{path}.{name}"] = t
    if config.bias == "all":
        for name, p in model.named_parameters():
            if name.endswith("bias") and not _is_original(name):
                out[name] = p
    return {PREFIX + k: v.detach().contiguous() for k, v in out.items()}


def load_adapter_state(
    model: nn.Module, state: dict[str, torch.Tensor], adapter: str
) -> None:
    """Copy a saved adapter state (peft's keys, see :func:`adapter_state`) into ``adapter``'s
    parameters; a key without a place, or an adapter parameter without a key, is an error."""
    places: dict[str, torch.Tensor] = {}
    for path, module in model.named_modules():
        if isinstance(module, LoraLinear) and adapter in module.lora_A:
            places[f"{path}.lora_A.weight"] = module.lora_A[adapter].weight
            places[f"{path}.lora_B.weight"] = module.lora_B[adapter].weight
        elif isinstance(module, ModulesToSave) and adapter in module.modules_to_save:
            for name, t in module.modules_to_save[adapter].state_dict(keep_vars=True).items():
                places[f"{path}.{name}"] = t
    params = dict(model.named_parameters())
    lora_needed = {k for k in places if ".lora_" in k}
    for key, tensor in state.items():
        name = key.removeprefix(PREFIX)
        target = places.get(name, params.get(name))
        if target is None:
            raise ValueError(f"adapter weight {key} has no place in {type(model).__name__}")
        if tuple(target.shape) != tuple(tensor.shape):
            raise ValueError(f"adapter weight {key} has shape {tuple(tensor.shape)}, the model {tuple(target.shape)}")
        with torch.no_grad():
            target.copy_(tensor.to(target.dtype))
        lora_needed.discard(name)
    if lora_needed:
        raise ValueError(f"the adapter file lacks {sorted(lora_needed)[:3]} ...")
