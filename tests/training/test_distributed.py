"""Two processes under torchrun (gloo, CPU) with batch 2 each equal one process with batch 4."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cove.distributed import read_env
from cove.models import BertForSequenceClassification
from cove.training import Trainer, TrainingArguments
from tests.training.tiny import DIST_HYPER as HYPER
from tests.training.tiny import ListDataset, cove_model, rows, run_torchrun

ROOT = Path(__file__).resolve().parents[2]


def test_read_env():
    env = read_env({"RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2"})
    assert env.is_distributed and not env.is_main_process and env.world_size == 2
    assert not read_env({}).is_distributed


@pytest.mark.skipif(
    shutil.which("torchrun", path=os.path.dirname(sys.executable)) is None, reason="torchrun not installed"
)
def test_two_processes_equal_one_with_doubled_batch(tmp_path):
    cove_model("bert").save_pretrained(tmp_path / "init")
    run_torchrun("ddp_run.py", tmp_path, timeout=120)

    model = BertForSequenceClassification.from_pretrained(tmp_path / "init")
    single = Trainer(
        model,
        TrainingArguments(str(tmp_path / "one"), per_device_train_batch_size=4, **HYPER),
        train_dataset=ListDataset(rows("bert", n=10)),
    )
    single.train()
    expected = [e["loss"] for e in single.state.log_history if "loss" in e]
    got = json.loads((tmp_path / "ddp" / "losses.json").read_text())
    assert len(got) == len(expected) == 6  # 10 rows, global batch 4: 3 steps per epoch
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    trained = BertForSequenceClassification.from_pretrained(tmp_path / "ddp")
    for (name, a), (_, b) in zip(single.model.state_dict().items(), trained.state_dict().items()):
        if name.endswith("key.bias"):  # its true gradient is 0 (softmax ignores it): Adam amplifies noise
            continue
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5, msg=name)


def test_import_cove_and_dist_env_stay_torch_free():
    code = "import sys, cove, cove.distributed; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
