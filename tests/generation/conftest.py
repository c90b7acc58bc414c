"""Tiny GPT-2 and Llama checkpoints saved by transformers (the test-only oracle), loaded in both."""

from __future__ import annotations

import pytest
import torch
import transformers as T

from cove.models import AutoModelForCausalLM
from tests.models.reference import TINY


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
