"""Tiny GPT-2 and Llama checkpoints saved by transformers (the test-only oracle), loaded in both."""

from __future__ import annotations

import pytest
import torch
import transformers as T

from cove.models import AutoModelForCausalLM
from cove.tokenizers import Tokenizer
from tests.models.reference import TINY

TEXT = (
    "Größenwahn café naïve — 東京タワー 🤗🚀 über ℝ∞; "
    "tokenization streaming “quotes” déjà vu, Ωmega, 한국어 텍스트, emoji 👩‍👩‍👧 end."
)


@pytest.fixture(scope="module")
def byte_bpe_file(tmp_path_factory):
    """tokenizer.json of a byte-level BPE (GPT-2 style) trained by the `tokenizers` oracle."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers, trainers

    tok = HFTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=["<eos>"]
    )
    tok.train_from_iterator([TEXT, "streaming tokens over words"] * 5, trainer)
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    tok.save(str(path))
    return path


@pytest.fixture(scope="module")
def byte_bpe(byte_bpe_file) -> Tokenizer:
    """That BPE read by Cove."""
    return Tokenizer.from_file(byte_bpe_file)


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def pair(request, tmp_path_factory):
    """(transformers model, Cove model) with the same random weights."""
    torch.manual_seed(0)
    ref = T.AutoModelForCausalLM.from_config(TINY[request.param]()).eval()
    folder = tmp_path_factory.mktemp(request.param)
    ref.save_pretrained(folder)
    return ref, AutoModelForCausalLM.from_pretrained(folder)


@pytest.fixture
def padded():
    """Three prompts of 9, 5 and 7 real tokens, left-padded with 0."""
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, 99, (3, 9), generator=g)
    mask = torch.ones_like(ids)
    for row, pad in ((1, 4), (2, 2)):
        mask[row, :pad] = 0
        ids[row, :pad] = 0
    return ids, mask
