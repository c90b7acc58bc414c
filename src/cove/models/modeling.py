"""PreTrainedModel: build a model from config.json and weights, save it, push it.

Loading builds the module tree on the ``meta`` device (no memory, no random init), then assigns
every parameter from the checkpoint. With safetensors and a matching dtype on CPU, a parameter *is*
a view on the mapped file, so peak memory stays near one copy of the weights (pages load lazily).
Names are a strict match with the checkpoint's keys; the only adaptation is the base-model prefix
(``bert.`` ...) that transformers adds or drops when a head model meets a base checkpoint, as it does.

Decoders that generate (``transposed_linears``) store float32 CPU ``nn.Linear`` weights column-major
(see :func:`transpose_linears`); those copies are read from the file in chunks, not through the
mapping, so the mapped pages of the weights they replace never become resident.

Missing keys are initialised (as a new head is) and, with unexpected keys, reported by name in
``model.loading_info`` and the log. Pickled ``.bin`` weights load only with ``allow_pickle=True``,
and then through ``torch.load(weights_only=True)``: no code in a download runs.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

import torch
from torch import nn

from cove.errors import CoveError
from cove.formats import safetensors as st
from cove.formats.config import config_path, read_json
from cove.models._shared.init import SkipInit
from cove.models.configuration import PretrainedConfig

logger = logging.getLogger(__name__)

PICKLE_FILE = "pytorch_model.bin"
READ_CHUNK = 8 << 20  # bytes per read when a checkpoint tensor is copied from its file
PICKLE_INDEX = "pytorch_model.bin.index.json"


class ModelLoadError(CoveError, ValueError):
    """Weights cannot be loaded into the model as asked.

    Example: ``ModelLoadError: bert.pooler.dense.weight has shape (32, 32) in the checkpoint but
    (64, 64) in the model`` or ``ModelLoadError: /m has only pytorch_model.bin; pass allow_pickle=True``
    """

    status = 422
    code = "Unprocessable"


@dataclass
class LoadingInfo:
    """What ``from_pretrained`` did not match: model parameters the checkpoint lacked (initialised
    anew) and checkpoint tensors the model has no place for (ignored)."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


def resolve_dtype(torch_dtype: str | torch.dtype | None) -> torch.dtype | None:
    """``"bfloat16"`` / ``torch.bfloat16`` -> ``torch.bfloat16``; ``"auto"`` and None -> None."""
    if torch_dtype is None or torch_dtype == "auto":
        return None
    if isinstance(torch_dtype, torch.dtype):
        return torch_dtype
    dtype = getattr(torch, str(torch_dtype).removeprefix("torch."), None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"unknown dtype {torch_dtype!r}")
    return dtype


def model_files(*, allow_pickle: bool = False, gguf_file: str | None = None) -> list[str]:
    """The file patterns a model needs from a Hub repo (tokenizer files and others are left out)."""
    if gguf_file is not None:
        return [gguf_file, "*.json"]
    return ["*.json", "*.safetensors", *(["*.bin"] if allow_pickle else [])]


def resolve_folder(
    path_or_repo: str | os.PathLike[str],
    *,
    revision: str | None,
    token: str | None,
    endpoint: str | None,
    allow_patterns: list[str] | None = None,
) -> Path:
    """A local folder as is; anything else is a Hub repo id whose files matching ``allow_patterns``
    are downloaded (or found in the cache) through ``cove.hub.snapshot_download``."""
    if os.path.isdir(path_or_repo):
        return Path(path_or_repo)
    from cove.hub import snapshot_download  # the Hub client is only needed for repo ids

    folder = snapshot_download(
        str(path_or_repo), revision=revision, token=token, endpoint=endpoint, allow_patterns=allow_patterns
    )
    return Path(folder)


def open_weights(folder: Path, *, allow_pickle: bool) -> Mapping[str, torch.Tensor]:
    """The checkpoint tensors in ``folder``: safetensors (lazy, mapped), else opt-in weights-only pickles."""
    ckpt = st.open_checkpoint(folder)
    if ckpt is not None:
        return ckpt
    pickles = [folder / PICKLE_FILE] if (folder / PICKLE_FILE).is_file() else []
    if (folder / PICKLE_INDEX).is_file():
        names = sorted(set(json.loads((folder / PICKLE_INDEX).read_text())["weight_map"].values()))
        pickles = [folder / n for n in names]
    if not pickles:
        raise ModelLoadError(f"{folder}: no model.safetensors, index, or {PICKLE_FILE}")
    if not allow_pickle:
        raise ModelLoadError(
            f"{folder} has only pickled weights ({pickles[0].name}); pass allow_pickle=True to load them"
            " weights-only, or convert them to safetensors"
        )
    state: dict[str, torch.Tensor] = {}
    for path in pickles:
        state.update(torch.load(path, map_location="cpu", weights_only=True, mmap=True))
    return state


def read_into(weights: st.ShardedCheckpoint, key: str, out: torch.Tensor) -> None:
    """Copy checkpoint tensor ``key`` into ``out`` (same shape; any dtype and strides) by reading its
    file in chunks of rows: the copy never faults in the mapped pages, so they do not count in RSS."""
    f = weights.file(key)
    info = f.info(key)
    rows = out.shape[0] if out.ndim else 1
    row_bytes = info.nbytes // rows if rows else 0
    if row_bytes == 0:
        return
    step = max(1, READ_CHUNK // row_bytes)
    buf = torch.empty(min(step, rows) * row_bytes, dtype=torch.uint8)
    view = memoryview(buf.numpy())
    src_dtype = st.torch_dtype(info.dtype)
    flat = out.view(1) if out.ndim == 0 else out
    with open(f.path, "rb", buffering=0) as fh:
        fh.seek(f.header.data_start + info.start)
        for r in range(0, rows, step):
            n = min(step, rows - r)
            got = fh.readinto(view[: n * row_bytes])
            if got != n * row_bytes:
                raise ModelLoadError(f"{f.path}: {key} is truncated")
            flat[r : r + n].copy_(buf[: n * row_bytes].view(src_dtype).view(n, *out.shape[1:]))


def transposed_linear_names(model: nn.Module) -> set[str]:
    """Parameter names of every ``nn.Linear`` weight, and of the parameters such weights are tied to."""
    names = {
        f"{m}.weight" if m else "weight" for m, mod in model.named_modules() if isinstance(mod, nn.Linear)
    }
    if getattr(model.config, "tie_word_embeddings", False):
        names |= {source for target, source in model.tied_weights.items() if target in names}
    return names


def transpose_linears(model: PreTrainedModel) -> PreTrainedModel:
    """Store every float32 CPU ``nn.Linear`` weight (out, in) as the transposed view of a contiguous
    (in, out) buffer, in place; ``from_pretrained`` does this while loading for ``transposed_linears``
    models. Values, shapes, names, ``state_dict`` and tied parameters are unchanged (a tied embedding
    gets the same strides); the old storage is freed when nothing else holds it.

    Why: ``linear`` then multiplies by a contiguous (in, out) matrix, which MKL's small-batch GEMM runs
    much faster than the (out, in) one (a Llama-100M decode step at batch 8, one thread: 1.4x less
    time). Matrix-vector products (batch 1) run at the same speed either way; bfloat16 gains nothing.
    """
    names = transposed_linear_names(model)
    with torch.no_grad():
        for name, p in model.named_parameters():  # tied parameters are listed once
            if name in names and _wants_transpose(p):
                p.data = p.data.t().contiguous().t()
    return model


def _wants_transpose(t: torch.Tensor) -> bool:
    return t.ndim == 2 and t.dtype == torch.float32 and t.device.type == "cpu" and t.is_contiguous()


def resolve_device_map(
    device: str | torch.device | None, device_map: str | int | torch.device | dict[str, Any] | None
) -> str | torch.device | None:
    """The one device a ``device_map`` names (see ``PreTrainedModel.from_pretrained``)."""
    if device_map is None:
        return device
    if device is not None:
        raise TypeError("pass device or device_map, not both")
    if isinstance(device_map, dict):
        if set(device_map) != {""}:
            raise ValueError(
                "Cove places a whole model on one device: pass device_map='cpu', 'auto', a device or"
                f" {{'': device}}, not a map of modules ({', '.join(map(repr, list(device_map)[:3]))} ...)"
            )
        device_map = device_map[""]
    if device_map == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if isinstance(device_map, int) and not isinstance(device_map, bool):
        return torch.device("cuda", device_map)
    if isinstance(device_map, str) and device_map in ("balanced", "balanced_low_0", "sequential"):
        raise ValueError(f"device_map={device_map!r} splits a model over devices; Cove loads it on one")
    return torch.device(device_map)


def _resize_rows(weight: nn.Parameter, rows: int, mean_resizing: bool, std: float) -> None:
    """Give ``weight`` (vocab, dim) ``rows`` rows in place (the Parameter object stays, so ties hold)."""
    old = weight.shape[0]
    if rows == old:
        return
    new = torch.empty(rows, weight.shape[1], dtype=weight.dtype, device=weight.device)
    keep = min(old, rows)
    new[:keep] = weight[:keep]
    if rows > old:
        new[old:] = _mean_rows(weight, rows - old) if mean_resizing else torch.randn_like(new[old:]) * std
    weight.data = new


def _mean_rows(weight: torch.Tensor, added: int) -> torch.Tensor:
    """transformers' mean resizing: samples of N(mean, 1e-9 * covariance) of the old rows (the mean
    itself when that covariance is not positive definite)."""
    from torch.distributions import MultivariateNormal, constraints

    old = weight.float()
    mean = old.mean(0)
    centered = old - mean
    covariance = 1e-9 * (centered.T @ centered / old.shape[0])
    if bool(constraints.positive_definite.check(covariance).all()):
        return MultivariateNormal(mean, covariance_matrix=covariance).sample((added,)).to(weight.dtype)
    return mean[None].repeat(added, 1).to(weight.dtype)


def _resize_bias(bias: nn.Parameter, rows: int, mean_resizing: bool) -> None:
    """Give a vocab-sized bias ``rows`` entries in place; new ones near the old mean (or zero)."""
    old = bias.shape[0]
    if rows == old:
        return
    new = torch.zeros(rows, dtype=bias.dtype, device=bias.device)
    new[: min(old, rows)] = bias[: min(old, rows)]
    if rows > old and mean_resizing:
        mean, std = bias.float().mean(), bias.float().std()
        new[old:] = torch.empty(rows - old, device=bias.device).normal_(float(mean), 1e-9 * float(std))
    bias.data = new


class _InitWhenBuilt(type(nn.Module)):
    """``Model(config)`` comes out initialised as transformers' ``post_init`` leaves it (normal(0,
    initializer_range) matrices, zero biases, unit norms), once, after the outermost constructor; a
    model built on the meta device (loading) is left alone."""

    _depth = threading.local()

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        depth = getattr(_InitWhenBuilt._depth, "n", 0)
        _InitWhenBuilt._depth.n = depth + 1
        try:
            model = super().__call__(*args, **kwargs)
        finally:
            _InitWhenBuilt._depth.n = depth
        if depth == 0:
            first = next(model.parameters(), None)
            if first is not None and first.device.type != "meta":
                model.init_weights()
        return model


class PreTrainedModel(nn.Module, metaclass=_InitWhenBuilt):
    """Base of every model: loading, saving, pushing, weight tying.

    Subclasses set:
        config_class: the config dataclass.
        base_model_prefix: attribute holding the base model in head classes (``"bert"``).
        tied_weights: parameter -> the parameter it shares when ``config.tie_word_embeddings``.
        ignored_keys: regexes of checkpoint keys dropped silently (old buffers such as position_ids).
        transposed_linears: load float32 CPU ``nn.Linear`` weights column-major (decoders that generate).
        input_embeddings: the token ``nn.Embedding``, relative to the base model (``"embeddings.word_embeddings"``).
        output_embeddings: LM heads: the vocab-sized output ``nn.Linear`` (``"lm_head"``).
        vocab_biases: LM heads: vocab-sized bias parameters outside that linear (``"cls.predictions.bias"``).

    Attributes:
        gradient_checkpointing: the base model's layers run under ``torch.utils.checkpoint`` in training
            (set by :meth:`gradient_checkpointing_enable` on every model of the tree).
        decode_state: what generation keeps for this model between calls (compiled decode steps, the
            greedy head, the default generation options): a ``cove.generation.state.DecodeState``,
            made by the first ``generate``; None before.
    """

    config_class: ClassVar[type[PretrainedConfig]] = PretrainedConfig
    base_model_prefix: ClassVar[str] = ""
    tied_weights: ClassVar[dict[str, str]] = {}
    ignored_keys: ClassVar[tuple[str, ...]] = ()
    transposed_linears: ClassVar[bool] = False
    input_embeddings: ClassVar[str] = ""
    output_embeddings: ClassVar[str] = ""
    vocab_biases: ClassVar[tuple[str, ...]] = ()
    supports_gradient_checkpointing: ClassVar[bool] = True
    main_input_name: ClassVar[str] = "input_ids"

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.config = config
        self.loading_info = LoadingInfo()
        self.gradient_checkpointing = False
        self._checkpoint_options: dict[str, Any] = {}
        self.decode_state: Any = None

    # --- weights ----------------------------------------------------------------------------

    def tie_weights(self) -> None:
        """Make each tied parameter the very same tensor as its source."""
        if not self.config.tie_word_embeddings:
            return
        for target, source in self.tied_weights.items():
            module_name, _, attr = target.rpartition(".")
            setattr(self.get_submodule(module_name), attr, self.get_parameter(source))

    def init_missing(self, name: str, tensor: torch.Tensor) -> None:
        """Initialise a parameter the checkpoint lacked: matrices normal(0, initializer_range),
        biases zero, 1-d weights (norms) one; as transformers initialises a new head."""
        with torch.no_grad():
            if name.endswith("bias"):
                tensor.zero_()
            elif tensor.ndim == 1:
                tensor.fill_(1.0)
            else:
                tensor.normal_(0.0, self.config.initializer_range)

    def init_weights(self) -> Self:
        """Initialise every parameter as :meth:`init_missing` does (a model to train from scratch)."""
        for name, param in self.named_parameters():
            self.init_missing(name, param.data)
        return self

    @property
    def dtype(self) -> torch.dtype:
        return next(p.dtype for p in self.parameters() if p.is_floating_point())

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def num_parameters(self, only_trainable: bool = False, exclude_embeddings: bool = False) -> int:
        """Parameters in the model (tied ones once), as transformers counts them.

        Args:
            only_trainable: count only parameters that require grad.
            exclude_embeddings: leave out every ``nn.Embedding`` weight (tokens, positions, token types).
        """
        embeddings = (
            {f"{name}.weight" for name, m in self.named_modules() if isinstance(m, nn.Embedding)}
            if exclude_embeddings
            else set()
        )
        return sum(
            p.numel()
            for name, p in self.named_parameters()
            if name not in embeddings and (p.requires_grad or not only_trainable)
        )

    # --- embeddings -------------------------------------------------------------------------

    @property
    def base_model(self) -> nn.Module:
        """The base model of a head (``model.bert``), or the model itself."""
        return getattr(self, self.base_model_prefix) if self._is_head() else self

    def get_input_embeddings(self) -> nn.Embedding:
        return self.base_model.get_submodule(self.input_embeddings)

    def get_output_embeddings(self) -> nn.Linear | None:
        """The vocab-sized output layer of an LM head, None for other models."""
        return self.get_submodule(self.output_embeddings) if self.output_embeddings else None

    def resize_token_embeddings(
        self,
        new_num_tokens: int | None = None,
        pad_to_multiple_of: int | None = None,
        mean_resizing: bool = True,
    ) -> nn.Embedding:
        """Give the token embedding (and an LM head's output layer and vocab biases) ``new_num_tokens``
        rows, as transformers does: old rows kept, rows past the end dropped, new rows drawn around the
        old rows' mean (``mean_resizing``: covariance scaled by 1e-9, so in effect the mean) or
        normal(0, initializer_range). Tied weights stay one tensor; ``config.vocab_size`` follows.

        Args:
            new_num_tokens: rows wanted; None with no ``pad_to_multiple_of`` changes nothing.
            pad_to_multiple_of: round the row count up to a multiple of this.
        Returns:
            The token embedding module.
        """
        embedding = self.get_input_embeddings()
        if pad_to_multiple_of is not None:
            if not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of < 1:
                raise ValueError(f"pad_to_multiple_of must be a positive int, not {pad_to_multiple_of!r}")
            wanted = embedding.num_embeddings if new_num_tokens is None else new_num_tokens
            new_num_tokens = -(-wanted // pad_to_multiple_of) * pad_to_multiple_of
        if new_num_tokens is None:
            return embedding
        if not isinstance(new_num_tokens, int) or new_num_tokens < 1:
            raise ValueError(f"new_num_tokens must be a positive int, not {new_num_tokens!r}")
        head = self.get_output_embeddings()
        with torch.no_grad():
            _resize_rows(embedding.weight, new_num_tokens, mean_resizing, self.config.initializer_range)
            embedding.num_embeddings = new_num_tokens
            if embedding.padding_idx is not None and embedding.padding_idx >= new_num_tokens:
                embedding.padding_idx = None
            if head is not None:
                if head.weight is not embedding.weight:
                    _resize_rows(head.weight, new_num_tokens, mean_resizing, self.config.initializer_range)
                head.out_features = new_num_tokens
                biases = [self.get_parameter(n) for n in self.vocab_biases]
                for bias in [*biases, *([head.bias] if head.bias is not None else [])]:
                    _resize_bias(bias, new_num_tokens, mean_resizing)
        self.config.vocab_size = new_num_tokens
        self.tie_weights()
        return embedding

    # --- gradient checkpointing -------------------------------------------------------------

    def gradient_checkpointing_enable(
        self, gradient_checkpointing_kwargs: dict[str, Any] | None = None
    ) -> None:
        """Recompute each layer's activations in the backward pass instead of keeping them (training
        only, and no cache is made meanwhile). ``gradient_checkpointing_kwargs`` go to
        ``torch.utils.checkpoint.checkpoint``; default ``use_reentrant=False``, as transformers 5."""
        options = {"use_reentrant": False, **(gradient_checkpointing_kwargs or {})}
        for module in self.modules():
            if isinstance(module, PreTrainedModel):
                module.gradient_checkpointing = True
                module._checkpoint_options = options

    def gradient_checkpointing_disable(self) -> None:
        for module in self.modules():
            if isinstance(module, PreTrainedModel):
                module.gradient_checkpointing = False

    activation_checkpointing_enable = gradient_checkpointing_enable  # transformers 5's newer names
    activation_checkpointing_disable = gradient_checkpointing_disable

    @property
    def is_gradient_checkpointing(self) -> bool:
        return any(m.gradient_checkpointing for m in self.modules() if isinstance(m, PreTrainedModel))

    def checkpoint_options(self) -> dict[str, Any] | None:
        """The options for ``torch.utils.checkpoint.checkpoint`` when this model's layers run
        checkpointed now (enabled, training, gradients on), else None."""
        if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
            return self._checkpoint_options
        return None

    # --- loading ----------------------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls,
        path_or_repo: str | os.PathLike[str],
        *,
        config: PretrainedConfig | None = None,
        revision: str | None = None,
        dtype: str | torch.dtype | None = None,
        torch_dtype: str | torch.dtype | None = None,
        device: str | torch.device | None = None,
        device_map: str | int | torch.device | dict[str, Any] | None = None,
        attn_implementation: str | None = None,
        token: str | None = None,
        endpoint: str | None = None,
        allow_pickle: bool = False,
        gguf_file: str | None = None,
        quantization: str | None = None,
        strict: bool = False,
        **config_overrides: Any,
    ) -> Self:
        """Load a model from a local folder or a Hub repo id.

        Args:
            path_or_repo: a folder with config.json and weights, or ``"namespace/name"``.
            config: use this config instead of the folder's config.json.
            revision: branch, tag or commit on the Hub.
            dtype: ``"auto"`` (default) keeps the checkpoint's dtype (no copy); a dtype casts floats.
                ``torch_dtype`` is its older name (transformers 4); pass one of the two.
            device: where parameters live (``"cpu"`` default).
            device_map: transformers' spelling of ``device`` for a whole model: ``"cpu"``, ``"auto"``
                (the first CUDA device when there is one, else the CPU; Cove never splits a model),
                a device string, ``torch.device`` or CUDA index, or ``{"": device}``. Maps that place
                modules on different devices are refused.
            attn_implementation: ``"sdpa"`` or ``"eager"``, accepted for transformers code: Cove always
                runs SDPA and computes attention probabilities only for ``output_attentions=True``.
            allow_pickle: accept ``pytorch_model.bin`` (loaded with ``weights_only=True``).
            gguf_file: name of a GGUF file in the folder to load instead (dequantized unless
                ``quantization="gguf"``).
            quantization: weight-only quantized linear layers on torch's CPU kernels
                (:mod:`cove.models.quantized`): ``"int8"`` (per row), ``"int4"`` (groups of 32;
                embedding and output layer int8), or ``"gguf"`` (a GGUF file's Q8_0 / Q4_0 / Q4_1 /
                Q4_K blocks as stored, other tensors dequantized). Each layer is quantized as it is
                read, so the float32 weights are never all in memory. None (default): float weights.
            strict: raise on any missing or unexpected key instead of reporting it.
            config_overrides: config fields to replace, e.g. ``num_labels=3``, ``output_hidden_states=True``.
        """
        if dtype is not None and torch_dtype is not None:
            raise TypeError("pass dtype or torch_dtype (its older name), not both")
        dtype = dtype if dtype is not None else torch_dtype if torch_dtype is not None else "auto"
        device = resolve_device_map(device, device_map)
        if quantization is not None:
            _check_quantization(quantization, device, gguf_file)
        if attn_implementation not in (None, "sdpa", "eager"):
            raise ValueError(
                f"attn_implementation {attn_implementation!r} is not available: Cove runs SDPA ('sdpa'; 'eager'"
                " is accepted and gives the same results, with attention probabilities on output_attentions=True)"
            )
        patterns = model_files(allow_pickle=allow_pickle, gguf_file=gguf_file)
        folder = resolve_folder(
            path_or_repo, revision=revision, token=token, endpoint=endpoint, allow_patterns=patterns
        )
        if gguf_file is not None:
            config, weights = cls._open_gguf(folder / gguf_file, config)
        else:
            config = config or cls._read_config(folder)
            weights = open_weights(folder, allow_pickle=allow_pickle)
        if config_overrides:
            config = config.with_overrides(config_overrides)
        model = cls.from_weights(
            config, weights, torch_dtype=dtype, device=device, strict=strict, quantization=quantization
        )
        model.name_or_path = folder  # where generate() finds generation_config.json
        return model

    @classmethod
    def _read_config(cls, folder: Path) -> PretrainedConfig:
        """config.json read with the config class of its model_type (a Llama file serves Mistral too)."""
        data = read_json(config_path(folder))
        configs = getattr(sys.modules[cls.__module__], "CONFIGS", {})
        return configs.get(data.get("model_type"), cls.config_class).from_dict(data)

    @classmethod
    def _open_gguf(
        cls, path: Path, config: PretrainedConfig | None
    ) -> tuple[PretrainedConfig, Mapping[str, torch.Tensor]]:
        from cove.formats.gguf import GGUFFile

        arch = sys.modules[cls.__module__]
        if not hasattr(arch, "config_from_gguf"):
            raise ModelLoadError(f"{cls.__name__} cannot be loaded from GGUF")
        gguf = GGUFFile(path)
        config = config or arch.config_from_gguf(gguf)
        return config, arch.weights_from_gguf(gguf, config)

    @classmethod
    def from_weights(
        cls,
        config: PretrainedConfig,
        weights: Mapping[str, torch.Tensor],
        *,
        torch_dtype: str | torch.dtype | None = "auto",
        device: str | torch.device | None = None,
        strict: bool = False,
        quantization: str | None = None,
    ) -> Self:
        """Build on the meta device and assign every parameter from ``weights`` (any name -> tensor map);
        ``quantization`` as in :meth:`from_pretrained`."""
        dtype = resolve_dtype(torch_dtype) or cls._checkpoint_dtype(config, weights)
        with torch.device("meta"), SkipInit():
            model = cls(config)
        names = model._checkpoint_names(list(weights))
        info = LoadingInfo()
        tied = set(model.tied_weights) if config.tie_word_embeddings else set()
        transposed = transposed_linear_names(model) if cls.transposed_linears else set()
        state = model.state_dict(keep_vars=True)
        quantizer, load = model._quantizer(quantization, weights, names) if quantization else (None, None)
        for name, current in state.items():
            if name in tied or (quantizer is not None and quantizer.take(name, load)):
                continue
            key = names.get(name)
            if key is None:
                info.missing.append(name)
                tensor = torch.empty(current.shape, dtype=dtype, device=device)
                model.init_missing(name, tensor)
            else:
                tensor = weights[key]
                if tuple(tensor.shape) != tuple(current.shape):
                    raise ModelLoadError(
                        f"{key} has shape {tuple(tensor.shape)} in the checkpoint but {tuple(current.shape)}"
                        f" in the model ({name})"
                    )
                target = dtype if tensor.is_floating_point() else tensor.dtype
                tensor = model._load(weights, key, tensor, target, device, name in transposed)
            model._assign(name, tensor)
        used = set(names.values())
        info.unexpected = [
            k
            for k in weights
            if k not in used
            and not any(re.search(p, k) for p in model.ignored_keys)
            and model._unprefixed(k) not in tied
        ]
        if quantizer is not None:
            model.quantization_info = quantizer.finish()
        else:
            model.tie_weights()
        model.loading_info = info
        if info.missing or info.unexpected:
            message = f"{cls.__name__}: initialised {info.missing or 'nothing'}; ignored {info.unexpected or 'nothing'}"
            if strict:
                raise ModelLoadError(message)
            logger.warning(message)
        return model.eval()

    def _quantizer(self, scheme: str, weights: Mapping[str, torch.Tensor], names: dict[str, str]) -> Any:
        """A :class:`cove.models.quantized.Quantizer` for this model and its loader."""
        from cove.models import quantized

        base = f"{self.base_model_prefix}." if self._is_head() else ""
        embedding = base + self.input_embeddings if self.input_embeddings else ""
        tied = bool(self.config.tie_word_embeddings) and f"{self.output_embeddings}.weight" in self.tied_weights
        quantizer = quantized.Quantizer(self, scheme, embedding=embedding, head=self.output_embeddings, tied=tied)
        return quantizer, quantized.LoadFn(weights, names)

    @classmethod
    def _checkpoint_dtype(cls, config: PretrainedConfig, weights: Mapping[str, torch.Tensor]) -> torch.dtype:
        """``"auto"``: the dtype of the checkpoint's first float tensor, else the config's, else float32
        (a mapping that declares its ``dtype``, as GGUF's does, is not read for it)."""
        if isinstance(getattr(weights, "dtype", None), torch.dtype):
            return weights.dtype
        for key in weights:
            info = weights.info(key) if isinstance(weights, st.ShardedCheckpoint) else None
            dtype = st.torch_dtype(info.dtype) if info else weights[key].dtype
            if dtype.is_floating_point:
                return dtype
        return resolve_dtype(config.dtype or config.torch_dtype) or torch.float32

    @staticmethod
    def _load(
        weights: Mapping[str, torch.Tensor],
        key: str,
        tensor: torch.Tensor,
        dtype: torch.dtype,
        device: str | torch.device | None,
        transpose: bool,
    ) -> torch.Tensor:
        """The checkpoint tensor as the model keeps it: a view on the file when nothing changes, else a
        copy (cast, moved, or column-major for ``transposed_linears``) read from the file in chunks."""
        on_cpu = device is None or torch.device(device).type == "cpu"
        transpose = transpose and on_cpu and dtype == torch.float32 and tensor.ndim == 2
        if not transpose and (tensor.dtype == dtype or not on_cpu):
            return tensor.to(device=device, dtype=dtype)  # zero-copy when dtype and device match
        out = (
            torch.empty(tensor.shape[::-1], dtype=dtype).t()
            if transpose
            else torch.empty_like(tensor, dtype=dtype)
        )
        if isinstance(weights, st.ShardedCheckpoint):
            read_into(weights, key, out)
        else:
            out.copy_(tensor)
        return out

    def _unprefixed(self, key: str) -> str:
        prefix = self.base_model_prefix + "."
        return key.removeprefix(prefix) if self.base_model_prefix and not self._is_head() else key

    def _is_head(self) -> bool:
        return bool(self.base_model_prefix) and hasattr(self, self.base_model_prefix)

    def _checkpoint_names(self, keys: list[str]) -> dict[str, str]:
        """Model name -> checkpoint key, adding or dropping the base-model prefix as transformers does."""
        prefix = self.base_model_prefix + "."
        available = set(keys)
        ckpt_has_prefix = bool(self.base_model_prefix) and any(k.startswith(prefix) for k in keys)
        out = {}
        for name in self.state_dict(keep_vars=True):
            if self._is_head() and not ckpt_has_prefix:
                candidate = name.removeprefix(prefix)  # a head model from a base checkpoint
            elif not self._is_head() and ckpt_has_prefix:
                candidate = prefix + name  # a base model from a head checkpoint
            else:
                candidate = name
            if candidate in available:
                out[name] = candidate
        return out

    def _assign(self, name: str, tensor: torch.Tensor) -> None:
        module_name, _, attr = name.rpartition(".")
        module = self.get_submodule(module_name)
        if attr in module._parameters:
            module._parameters[attr] = nn.Parameter(tensor, requires_grad=tensor.is_floating_point())
        else:
            module._buffers[attr] = tensor

    # --- generation -------------------------------------------------------------------------

    def generate(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        generation_config: Any = None,
        streamer: Any = None,
        assistant_model: Any = None,
        **options: Any,
    ) -> torch.Tensor:
        """Prompt + new ids, as transformers' ``generate``; see :func:`cove.generation.generate`
        (``assistant_model``: a draft model for assisted greedy decoding)."""
        # generation sits above models (ARCHITECTURE.md); this entry point is the one declared exception
        # (ignore_imports in .importlinter), imported on use so loading a model never loads generation
        from cove.generation import generate

        return generate(self, input_ids, attention_mask, generation_config, streamer,
                        assistant_model=assistant_model, **options)

    @property
    def generation_config(self) -> Any:
        """The default options of :meth:`generate` (transformers' attribute): generation_config.json of
        the folder the model came from, else the token ids of config.json; kept in ``decode_state``."""
        from cove.generation.generate import default_config

        return default_config(self)

    @generation_config.setter
    def generation_config(self, config: Any) -> None:
        from cove.generation.generate import state_of

        state_of(self).config = config

    # --- saving -----------------------------------------------------------------------------

    def save_pretrained(
        self, folder: str | os.PathLike[str], *, max_shard_size: int | str = "5GB"
    ) -> list[str]:
        """Write config.json and safetensors weights (sharded past ``max_shard_size``) that
        transformers loads as well. Tied copies are not written. Returns the file names."""
        if getattr(self, "quantization_info", None) is not None:
            raise ValueError("a model loaded with quantization= has no float weights to save: save the float model")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tied = set(self.tied_weights) if self.config.tie_word_embeddings else set()
        state = {k: v.detach() for k, v in self.state_dict().items() if k not in tied}
        config = self.config.with_overrides({"architectures": [type(self).__name__]})
        config = config.with_overrides({"dtype": str(self.dtype).removeprefix("torch.")})
        for stale in folder.glob("model*.safetensors*"):
            stale.unlink()
        names = st.save_sharded(state, folder, max_shard_size=max_shard_size, metadata={"format": "pt"})
        config.save_pretrained(folder)
        return [config_path(folder).name, *names]

    def push_to_hub(
        self,
        repo_id: str,
        *,
        token: str | None = None,
        endpoint: str | None = None,
        private: bool = False,
        commit_message: str = "Upload model",
        max_shard_size: int | str = "5GB",
    ) -> None:
        """Save to a temporary folder and upload it as one commit to ``repo_id`` (created if absent)."""
        push_saved(lambda tmp: self.save_pretrained(tmp, max_shard_size=max_shard_size), repo_id, token=token,
                   endpoint=endpoint, private=private, commit_message=commit_message)


def _check_quantization(quantization: str, device: Any, gguf_file: str | None) -> None:
    from cove.models.quantized import check_scheme

    check_scheme(quantization)
    if device is not None and torch.device(device).type != "cpu":
        raise ValueError(f"quantization={quantization!r} runs on torch's CPU kernels: load the model on the CPU")
    if quantization == "gguf" and gguf_file is None:
        raise ValueError("quantization='gguf' keeps a GGUF file's blocks: pass gguf_file= too")


def push_saved(
    save: Callable[[str], Any],
    repo_id: str,
    *,
    token: str | None,
    endpoint: str | None,
    private: bool,
    commit_message: str,
) -> Any:
    """``save(folder)`` into a temporary folder, then upload that folder as one commit to ``repo_id``
    (created if absent). Returns the ``CommitInfo``."""
    from cove.hub import HubApi  # the Hub client is only needed here

    with HubApi(endpoint=endpoint, token=token) as api, tempfile.TemporaryDirectory() as tmp:
        api.create_repo(repo_id, private=private, exist_ok=True)
        save(tmp)
        return api.upload_folder(repo_id=repo_id, folder_path=tmp, commit_message=commit_message)
