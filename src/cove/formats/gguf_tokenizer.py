"""The tokenizer inside a GGUF file, as the two files a Hugging Face folder holds instead.

llama.cpp stores the vocabulary in ``tokenizer.ggml.*`` metadata. :func:`tokenizer_json` rebuilds the
``tokenizer.json`` object (the format of huggingface/tokenizers) and :func:`tokenizer_config` the
``tokenizer_config.json`` object (special tokens, ``chat_template``), so any tokenizer.json reader,
Cove's or the reference one, can load a GGUF's tokenizer. Supported: byte-level BPE vocabularies
(``tokenizer.ggml.model == "gpt2"``) with the pre-tokenizers named in :data:`PRE_TOKENIZERS`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cove.formats.config import write_json
from cove.formats.gguf import GGUFError

# llama.cpp token types (llama_token_type): 1 normal, 2 unknown, 3 control, 4 user defined, 5 unused, 6 byte
CONTROL, USER_DEFINED = 3, 4

_BYTE_LEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}

#: ``tokenizer.ggml.pre`` -> the tokenizer.json pre-tokenizer of the model family it names.
PRE_TOKENIZERS: dict[str, dict[str, Any]] = {
    "default": _BYTE_LEVEL,
    "gpt2": _BYTE_LEVEL,
    # SmolLM: digits one by one, then GPT-2's byte-level split (HuggingFaceTB/SmolLM2 tokenizer.json)
    "smollm": {
        "type": "Sequence",
        "pretokenizers": [{"type": "Digits", "individual_digits": True}, _BYTE_LEVEL],
    },
}


def _bpe_metadata(metadata: dict[str, Any]) -> tuple[list[str], list[int], list[str]]:
    kind = metadata.get("tokenizer.ggml.model")
    if kind != "gpt2":
        raise GGUFError(f"GGUF tokenizer model {kind!r} is not supported yet (byte-level BPE 'gpt2' is)")
    tokens = metadata["tokenizer.ggml.tokens"]
    types = metadata.get("tokenizer.ggml.token_type", [1] * len(tokens))
    return tokens, types, metadata.get("tokenizer.ggml.merges", [])


def tokenizer_json(metadata: dict[str, Any]) -> dict[str, Any]:
    """The tokenizer.json object for a GGUF file's ``metadata``.

    Raises:
        GGUFError: for a tokenizer model or pre-tokenizer this module does not know.
    """
    tokens, types, merges = _bpe_metadata(metadata)
    pre = metadata.get("tokenizer.ggml.pre", "default")
    if pre not in PRE_TOKENIZERS:
        raise GGUFError(f"GGUF pre-tokenizer {pre!r} is not supported yet ({', '.join(PRE_TOKENIZERS)} are)")
    added = [
        {
            "id": i,
            "content": token,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": kind == CONTROL,
        }
        for i, (token, kind) in enumerate(zip(tokens, types))
        if kind in (CONTROL, USER_DEFINED)
    ]
    bos = metadata.get("tokenizer.ggml.bos_token_id")
    if metadata.get("tokenizer.ggml.add_bos_token") and bos is not None:
        post: dict[str, Any] = {
            "type": "TemplateProcessing",
            "single": [
                {"SpecialToken": {"id": tokens[bos], "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
            ],
            "pair": [
                {"SpecialToken": {"id": tokens[bos], "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"Sequence": {"id": "B", "type_id": 1}},
            ],
            "special_tokens": {tokens[bos]: {"id": tokens[bos], "ids": [bos], "tokens": [tokens[bos]]}},
        }
    else:
        post = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": PRE_TOKENIZERS[pre],
        "post_processor": post,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "",
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": {token: i for i, token in enumerate(tokens)},
            "merges": list(merges),
        },
    }


def tokenizer_config(metadata: dict[str, Any]) -> dict[str, Any]:
    """The tokenizer_config.json object: special tokens, ``chat_template``, maximum length."""
    tokens, _, _ = _bpe_metadata(metadata)
    arch = metadata.get("general.architecture", "")
    config: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "add_bos_token": bool(metadata.get("tokenizer.ggml.add_bos_token", False)),
        "add_eos_token": bool(metadata.get("tokenizer.ggml.add_eos_token", False)),
        "clean_up_tokenization_spaces": False,
    }
    for name in ("bos", "eos", "unknown", "padding"):
        index = metadata.get(f"tokenizer.ggml.{name}_token_id")
        if index is not None and 0 <= index < len(tokens):
            key = {"unknown": "unk_token", "padding": "pad_token"}.get(name, f"{name}_token")
            config[key] = tokens[index]
    if "tokenizer.chat_template" in metadata:
        config["chat_template"] = metadata["tokenizer.chat_template"]
    if f"{arch}.context_length" in metadata:
        config["model_max_length"] = metadata[f"{arch}.context_length"]
    return config


def write_tokenizer_files(metadata: dict[str, Any], folder: str | os.PathLike[str]) -> list[str]:
    """Write tokenizer.json and tokenizer_config.json for a GGUF's tokenizer into ``folder``, so any
    tokenizer.json reader (and a chat template renderer) can use it. Returns the file names."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tokenizer.json").write_text(
        json.dumps(tokenizer_json(metadata), ensure_ascii=False), encoding="utf-8"
    )
    write_json(tokenizer_config(metadata), folder / "tokenizer_config.json")
    return ["tokenizer.json", "tokenizer_config.json"]
