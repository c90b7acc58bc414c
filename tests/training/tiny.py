"""Tiny random models and synthetic datasets for the training tests (2 layers, hidden 32)."""

from __future__ import annotations

import torch

from cove.models import auto
from tests.models.reference import TINY

NO_DROPOUT = {
    "bert": {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0},
    "gpt2": {"resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0},
}
TASKS = {"bert": "sequence-classification", "gpt2": "causal-lm"}


def hf_config(model_type: str, *, dropout: bool = False, num_labels: int = 2):
    config = TINY[model_type]()
    config.num_labels = num_labels
    if not dropout:
        for key, value in NO_DROPOUT[model_type].items():
            setattr(config, key, value)
    return config


def cove_model(model_type: str, *, seed: int = 0, dropout: bool = False):
    """A freshly initialized Cove model: BertForSequenceClassification or GPT2LMHeadModel."""
    config = auto.AutoConfig.from_dict(hf_config(model_type, dropout=dropout).to_dict())
    torch.manual_seed(seed)
    return auto.model_class(model_type, TASKS[model_type])(config)


def rows(model_type: str, n: int = 16, length: int = 9, seed: int = 0) -> list[dict]:
    """Learnable synthetic examples: for BERT the label is whether token 5 appears; GPT-2 gets
    repeating sequences (next token = previous + 1)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        if model_type == "gpt2":
            start = int(torch.randint(3, 60, (1,), generator=g))
            ids = list(range(start, start + length))
            out.append({"input_ids": ids, "attention_mask": [1] * length, "labels": ids})
        else:
            ids = torch.randint(6, 99, (length,), generator=g).tolist()
            label = int(torch.rand(1, generator=g) < 0.5)
            if label:
                ids[int(torch.randint(1, length, (1,), generator=g))] = 5
            out.append({"input_ids": ids, "attention_mask": [1] * length, "labels": label})
    return out


class ListDataset(torch.utils.data.Dataset):
    """A map-style torch dataset of dict rows (what the Trainer takes besides a Cove Dataset)."""

    def __init__(self, data: list[dict]) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> dict:
        return self.data[i]
