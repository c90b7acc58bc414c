"""Tiny random models and synthetic datasets for the training tests (2 layers, hidden 32)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from cove.models import auto
from cove.training import TrainingArguments
from tests.models.reference import TINY

ROOT = Path(__file__).resolve().parents[2]

NO_DROPOUT = {
    "bert": {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0},
    "gpt2": {"resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0},
}
TASKS = {"bert": "sequence-classification", "gpt2": "causal-lm"}
# The run that the torchrun tests (DDP, FSDP, distributed eval) compare with one process.
DIST_HYPER = dict(
    num_train_epochs=2,
    learning_rate=2e-3,
    weight_decay=0.01,
    max_grad_norm=0.5,
    lr_scheduler_type="linear",
    warmup_steps=1,
    logging_steps=1,
    save_strategy="no",
    disable_tqdm=True,
    seed=5,
)


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


def train_args(tmp_path, **overrides) -> TrainingArguments:
    """Arguments for a short run on the tiny models: batch 4, a high learning rate, a log every step."""
    base = dict(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        learning_rate=3e-3,
        logging_steps=1,
        save_strategy="no",
        disable_tqdm=True,
        seed=7,
    )
    return TrainingArguments(**{**base, **overrides})


def run_torchrun(script: str, folder: Path, *, timeout: int) -> None:
    """``torchrun --standalone --nproc_per_node 2 tests/training/<script> <folder>``, one thread each."""
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}", "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [
            torchrun,
            "--standalone",
            "--nproc_per_node",
            "2",
            str(ROOT / "tests/training" / script),
            str(folder),
        ],
        check=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
    )
