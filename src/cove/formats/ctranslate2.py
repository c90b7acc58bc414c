"""CTranslate2 ``model.bin`` (binary versions 3-6) and its Whisper import to the transformers layout.

The file: ``uint32 version``, the spec name and revision, ``uint32 count``, then per variable a
``uint16``-prefixed name, ``uint8 rank``, ``uint32`` dims, ``uint8 dtype`` and ``uint32 nbytes`` before
its raw little-endian data; then ``uint32`` aliases (name -> variable). Every length is bounds checked.

:func:`convert_whisper` writes what transformers' ``WhisperForConditionalGeneration`` loads: the fused
self-attention ``linear_0`` (q, k, v rows stacked; CTranslate2 stores zeros for Whisper's absent k bias)
and cross-attention ``linear_1`` (k, v) split back, ``gamma``/``beta`` renamed ``weight``/``bias``, the
tied ``decoder/projection`` left to ``tie_word_embeddings``; weights upcast to float32 (exact), plus
config.json, generation_config.json, preprocessor_config.json and the tokenizer files.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
from pathlib import Path
from typing import Any

import numpy as np

from cove.errors import CoveError

#: CTranslate2's DataType enum -> numpy
DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: np.uint16}  # 5: bfloat16 bits


class CTranslate2Error(CoveError, ValueError):
    """A ``model.bin`` that cannot be read or is not the model expected.

    What the user sees: ``CTranslate2Error: model.bin: variable 'encoder/conv1/weight' runs past the end of the file``.
    """

    status = 422
    code = "Unprocessable"


class _Reader:
    def __init__(self, data: bytes, name: str) -> None:
        self.data, self.pos, self.name = data, 0, name

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise CTranslate2Error(f"{self.name}: {what} runs past the end of the file")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, what: str) -> tuple[Any, ...]:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))

    def string(self, what: str) -> str:
        (n,) = self.unpack("<H", what)
        return self.take(n, what).rstrip(b"\0").decode("utf-8", "replace")


def read_model_bin(path: str | Path) -> tuple[str, dict[str, np.ndarray]]:
    """(spec name, variables by name with aliases resolved) of a CTranslate2 ``model.bin``."""
    path = Path(path)
    r = _Reader(path.read_bytes(), path.name)
    (version,) = r.unpack("<I", "the header")
    if not 3 <= version <= 6:
        raise CTranslate2Error(f"{path.name}: binary version {version} is not supported (3 to 6 are)")
    spec = r.string("the spec name")
    r.unpack("<I", "the spec revision")
    (count,) = r.unpack("<I", "the variable count")
    variables: dict[str, np.ndarray] = {}
    for _ in range(count):
        name = r.string("a variable name")
        (rank,) = r.unpack("<B", f"variable {name!r}")
        dims = r.unpack(f"<{rank}I", f"variable {name!r}")
        dtype_id, nbytes = r.unpack("<BI", f"variable {name!r}")
        if dtype_id not in DTYPES:
            raise CTranslate2Error(f"{path.name}: variable {name!r} has unknown dtype {dtype_id}")
        raw = r.take(nbytes, f"variable {name!r}")
        dtype = np.dtype(DTYPES[dtype_id]).newbyteorder("<")
        if nbytes != int(np.prod(dims, dtype=np.int64)) * dtype.itemsize:
            raise CTranslate2Error(f"{path.name}: variable {name!r} holds {nbytes} bytes, not {dims} of {dtype}")
        variables[name] = np.frombuffer(raw, dtype=dtype).reshape(dims)
    (aliases,) = r.unpack("<I", "the alias count")
    for _ in range(aliases):
        alias, target = r.string("an alias"), r.string("an alias target")
        if target not in variables:
            raise CTranslate2Error(f"{path.name}: alias {alias!r} names no variable {target!r}")
        variables[alias] = variables[target]
    return spec, variables


# --- Whisper ------------------------------------------------------------------------------------

_NORM = {"gamma": "weight", "beta": "bias"}


def _layers(variables: dict[str, np.ndarray], stack: str) -> int:
    return len({k.split("/")[1] for k in variables if re.match(rf"{stack}/layer_\d+/", k)})


def whisper_state_dict(variables: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """transformers' Whisper keys -> float32 arrays from CTranslate2's ``WhisperSpec`` variables."""
    v = {k: np.asarray(a, dtype=np.float32) for k, a in variables.items() if a.dtype.kind == "f"}
    out: dict[str, np.ndarray] = {}

    def norm(src: str, dst: str) -> None:
        for ct, hf in _NORM.items():
            out[f"{dst}.{hf}"] = v[f"{src}/{ct}"]

    def linear(src: str, dst: str) -> None:
        out[f"{dst}.weight"], out[f"{dst}.bias"] = v[f"{src}/weight"], v[f"{src}/bias"]

    def split(src: str, dst: str, names: tuple[str, ...]) -> None:
        weights = np.split(v[f"{src}/weight"], len(names))
        biases = np.split(v[f"{src}/bias"], len(names))
        for name, w, b in zip(names, weights, biases, strict=True):
            out[f"{dst}.{name}.weight"] = w
            if name == "k_proj":
                if np.abs(b).max() > 0:
                    raise CTranslate2Error(f"{src}: a non-zero key bias, which Whisper does not have")
            else:
                out[f"{dst}.{name}.bias"] = b

    for stack in ("encoder", "decoder"):
        for i in range(_layers(variables, stack)):
            src, dst = f"{stack}/layer_{i}", f"model.{stack}.layers.{i}"
            norm(f"{src}/self_attention/layer_norm", f"{dst}.self_attn_layer_norm")
            split(f"{src}/self_attention/linear_0", f"{dst}.self_attn", ("q_proj", "k_proj", "v_proj"))
            linear(f"{src}/self_attention/linear_1", f"{dst}.self_attn.out_proj")
            if stack == "decoder":
                norm(f"{src}/attention/layer_norm", f"{dst}.encoder_attn_layer_norm")
                linear(f"{src}/attention/linear_0", f"{dst}.encoder_attn.q_proj")
                split(f"{src}/attention/linear_1", f"{dst}.encoder_attn", ("k_proj", "v_proj"))
                linear(f"{src}/attention/linear_2", f"{dst}.encoder_attn.out_proj")
            norm(f"{src}/ffn/layer_norm", f"{dst}.final_layer_norm")
            linear(f"{src}/ffn/linear_0", f"{dst}.fc1")
            linear(f"{src}/ffn/linear_1", f"{dst}.fc2")
        norm(f"{stack}/layer_norm", f"model.{stack}.layer_norm")
        out[f"model.{stack}.embed_positions.weight"] = v[f"{stack}/position_encodings/encodings"]
    for conv in ("conv1", "conv2"):
        linear(f"encoder/{conv}", f"model.encoder.{conv}")
    out["model.decoder.embed_tokens.weight"] = v["decoder/embeddings/weight"]
    return out


def whisper_configs(
    variables: dict[str, np.ndarray], ct2_config: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config.json, generation_config.json) of the transformers layout for these weights."""
    vocab, dim = variables["decoder/embeddings/weight"].shape
    heads = int(variables["encoder/num_heads"]) if "encoder/num_heads" in variables else dim // 64
    multilingual = vocab >= 51865
    eot, sot = 50256, 50257
    no_timestamps = 50363 if multilingual else 50362
    tokens = dict(bos_token_id=sot, decoder_start_token_id=sot, eos_token_id=eot, pad_token_id=eot)
    suppress = [int(t) for t in ct2_config.get("suppress_ids", [])]
    begin_suppress = [int(t) for t in ct2_config.get("suppress_ids_begin", [220, eot])]
    config = {
        "architectures": ["WhisperForConditionalGeneration"],
        "model_type": "whisper",
        "vocab_size": int(vocab),
        "num_mel_bins": int(variables["encoder/conv1/weight"].shape[1]),
        "d_model": int(dim),
        "encoder_layers": _layers(variables, "encoder"),
        "decoder_layers": _layers(variables, "decoder"),
        "encoder_attention_heads": heads,
        "decoder_attention_heads": heads,
        "encoder_ffn_dim": int(variables["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
        "decoder_ffn_dim": int(variables["decoder/layer_0/ffn/linear_0/weight"].shape[0]),
        "max_source_positions": int(variables["encoder/position_encodings/encodings"].shape[0]),
        "max_target_positions": int(variables["decoder/position_encodings/encodings"].shape[0]),
        "activation_function": "gelu",
        "suppress_tokens": suppress,
        "begin_suppress_tokens": begin_suppress,
        "tie_word_embeddings": True,
        "dtype": "float32",
        **tokens,
    }
    generation = {
        **tokens,
        "max_length": config["max_target_positions"],
        "no_timestamps_token_id": no_timestamps,
        "suppress_tokens": suppress,
        "begin_suppress_tokens": begin_suppress,
        "is_multilingual": multilingual,
        "max_initial_timestamp_index": 50,
        "return_timestamps": False,
        "alignment_heads": ct2_config.get("alignment_heads", []),
    }
    if multilingual:
        langs = ct2_config.get("lang_ids", [])
        generation["task_to_id"] = {"transcribe": no_timestamps - 4, "translate": no_timestamps - 5}
        generation["lang_ids"] = langs  # token names come from the tokenizer (see convert_whisper)
    return config, generation


def convert_whisper(source: str | Path, target: str | Path) -> Path:
    """Write a transformers-layout Whisper into ``target`` from a CTranslate2 folder (model.bin,
    config.json, tokenizer.json): model.safetensors (float32), config.json, generation_config.json,
    preprocessor_config.json, tokenizer.json and tokenizer_config.json. Returns ``target``."""
    import torch

    from cove.formats.safetensors import save_file

    source, target = Path(source), Path(target)
    spec, variables = read_model_bin(source / "model.bin")
    if spec != "WhisperSpec":
        raise CTranslate2Error(f"{source / 'model.bin'} holds a {spec}, not a Whisper model")
    ct2_config = json.loads((source / "config.json").read_text()) if (source / "config.json").is_file() else {}
    config, generation = whisper_configs(variables, ct2_config)
    lang_ids = generation.pop("lang_ids", None)
    tokenizer = json.loads((source / "tokenizer.json").read_text())
    if lang_ids:
        names = {t["id"]: t["content"] for t in tokenizer.get("added_tokens", [])}
        generation["lang_to_id"] = {names[i]: i for i in lang_ids if i in names}
    target.mkdir(parents=True, exist_ok=True)
    state = {k: torch.from_numpy(np.ascontiguousarray(a)) for k, a in whisper_state_dict(variables).items()}
    save_file(state, target / "model.safetensors", metadata={"format": "pt"})
    (target / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (target / "generation_config.json").write_text(json.dumps(generation, indent=2) + "\n")
    preprocessor = {
        "feature_extractor_type": "WhisperFeatureExtractor",
        "processor_class": "WhisperProcessor",
        "feature_size": config["num_mel_bins"],
        "sampling_rate": 16000,
        "hop_length": 160,
        "chunk_length": 30,
        "n_fft": 400,
        "n_samples": 480000,
        "nb_max_frames": 3000,
        "padding_side": "right",
        "padding_value": 0.0,
        "return_attention_mask": False,
    }
    (target / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2) + "\n")
    shutil.copyfile(source / "tokenizer.json", target / "tokenizer.json")
    eot = "<|endoftext|>"
    tokenizer_config = {
        "tokenizer_class": "WhisperTokenizer",
        "processor_class": "WhisperProcessor",
        "bos_token": eot,
        "eos_token": eot,
        "unk_token": eot,
        "pad_token": eot,
        "model_max_length": 1024,
        "add_prefix_space": False,
        "errors": "replace",
    }
    (target / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2) + "\n")
    return target
