"""The tokenizer in a GGUF file, rebuilt as tokenizer.json: read by the reference ``tokenizers``."""

from __future__ import annotations

import json

import pytest
import tokenizers

from cove.formats.gguf import GGUFError, GGUFFile
from cove.formats.gguf_tokenizer import tokenizer_config, tokenizer_json, write_tokenizer_files

TEXTS = [
    "What is the capital of France?",
    "  Hello,   world!\n\tTabs and ünïcödé — and emoji 🙂",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
]


def test_unsupported_tokenizers_are_named():
    with pytest.raises(GGUFError, match="'llama' is not supported"):
        tokenizer_json({"tokenizer.ggml.model": "llama", "tokenizer.ggml.tokens": []})
    with pytest.raises(GGUFError, match="pre-tokenizer 'weird'"):
        tokenizer_json(
            {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.tokens": ["a"], "tokenizer.ggml.pre": "weird"}
        )


@pytest.mark.slow
def test_smollm2_tokenizer_from_gguf(smollm_gguf, tmp_path):
    import transformers

    metadata = GGUFFile(smollm_gguf).metadata
    ours = tokenizers.Tokenizer.from_str(json.dumps(tokenizer_json(metadata)))
    reference = transformers.AutoTokenizer.from_pretrained(smollm_gguf.parent, gguf_file=smollm_gguf.name)
    for text in TEXTS:
        ids = ours.encode(text).ids
        assert ids == reference(text)["input_ids"], text
        assert ours.decode(ids, skip_special_tokens=False) == text
    # SmolLM splits digits one by one (its pre-tokenizer is "smollm")
    digits = ours.encode("In 2024").tokens
    assert digits[-4:] == ["2", "0", "2", "4"]
    config = tokenizer_config(metadata)
    assert config["eos_token"] == "<|im_end|>" and config["bos_token"] == "<|im_start|>"
    assert "<|im_start|>assistant" in config["chat_template"] and config["model_max_length"] == 8192
    specials = [t["content"] for t in tokenizer_json(metadata)["added_tokens"] if t["special"]]
    assert "<|im_start|>" in specials and "<|im_end|>" in specials
    # written as files, transformers reads them as an ordinary tokenizer folder, chat template included
    assert write_tokenizer_files(metadata, tmp_path) == ["tokenizer.json", "tokenizer_config.json"]
    from_files = transformers.AutoTokenizer.from_pretrained(tmp_path)
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    expected = reference.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert from_files.apply_chat_template(messages, add_generation_prompt=True, tokenize=False) == expected
    assert from_files(expected)["input_ids"] == reference(expected)["input_ids"]
    assert from_files.eos_token == "<|im_end|>"
