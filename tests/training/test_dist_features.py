"""Under torchrun (2 processes, gloo, CPU): evaluation gathered across ranks, FSDP training, and the
``Accelerator`` in a hand-written loop, each against the same work done in one process."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cove.models import BertForSequenceClassification
from cove.training import Accelerator, Trainer, TrainingArguments, default_data_collator
from cove.training.accelerator import ShardedLoader
from tests.training.tiny import DIST_HYPER as HYPER
from tests.training.tiny import ListDataset, cove_model, rows, run_torchrun

EVAL_ROWS = 7  # odd: the second rank's share is padded, and the padding must not count


def accuracy(p) -> dict[str, float]:
    return {"accuracy": float((p.predictions.argmax(-1) == p.label_ids).mean()), "n": float(len(p.label_ids))}


def _close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float) -> None:
    for (name, x), (_, y) in zip(a.items(), b.items()):
        if name.endswith("key.bias"):  # its true gradient is 0 (softmax ignores it): Adam amplifies noise
            continue
        torch.testing.assert_close(x, y, rtol=0, atol=atol, msg=name)


@pytest.fixture(scope="module")
def torchrun_out(tmp_path_factory) -> Path:
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    if shutil.which(torchrun) is None:
        pytest.skip("torchrun not installed")
    folder = tmp_path_factory.mktemp("dist")
    cove_model("bert").save_pretrained(folder / "init")
    run_torchrun("dist_run.py", folder, timeout=300)
    return folder


def test_distributed_eval_equals_one_process(torchrun_out):
    out = json.loads((torchrun_out / "out.json").read_text())
    model = BertForSequenceClassification.from_pretrained(torchrun_out / "init")
    data = ListDataset(rows("bert", n=EVAL_ROWS, seed=1))
    single = Trainer(
        model,
        TrainingArguments(str(torchrun_out / "one"), disable_tqdm=True),
        eval_dataset=data,
        compute_metrics=accuracy,
    )
    expected = single.evaluate()
    assert out["eval"]["eval_n"] == EVAL_ROWS  # no duplicated padding rows
    assert out["eval"]["eval_accuracy"] == expected["eval_accuracy"]
    assert out["eval"]["eval_loss"] == pytest.approx(expected["eval_loss"], abs=1e-6)
    np.testing.assert_allclose(out["predictions"], single.predict(data).predictions, atol=1e-6)


def test_fsdp_equals_one_process_with_doubled_batch(torchrun_out):
    out = json.loads((torchrun_out / "out.json").read_text())
    model = BertForSequenceClassification.from_pretrained(torchrun_out / "init")
    single = Trainer(
        model,
        TrainingArguments(str(torchrun_out / "one"), per_device_train_batch_size=4, **HYPER),
        train_dataset=ListDataset(rows("bert", n=10)),
        eval_dataset=ListDataset(rows("bert", n=EVAL_ROWS, seed=1)),
    )
    single.train()
    expected = [e["loss"] for e in single.state.log_history if "loss" in e]
    assert len(out["fsdp_losses"]) == len(expected) == 6
    np.testing.assert_allclose(out["fsdp_losses"], expected, rtol=0, atol=1e-5)
    assert out["fsdp_eval"] == pytest.approx(single.evaluate()["eval_loss"], abs=1e-5)
    trained = BertForSequenceClassification.from_pretrained(torchrun_out / "fsdp")  # gathered by save_model
    _close(single.model.state_dict(), trained.state_dict(), atol=1e-5)


def test_accelerator_under_torchrun_equals_one_process(torchrun_out):
    out = json.loads((torchrun_out / "out.json").read_text())["accelerate"]
    assert out["first"] == [0]  # rank 0 ran the block first (it wrote the marker the others then saw)
    assert out["gathered_rank"] == [0, 0, 1, 1] and out["batches"] == 2
    labels = [r["labels"] for r in rows("bert", n=8)]
    assert out["seen"] == [labels[0:4], labels[4:8]]  # each step: rank 0's batch, then rank 1's

    model = BertForSequenceClassification.from_pretrained(torchrun_out / "init")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    loader = torch.utils.data.DataLoader(
        ListDataset(rows("bert", n=8)), batch_size=4, collate_fn=default_data_collator
    )
    losses = []
    for batch in loader:
        loss = torch.nn.functional.cross_entropy(
            model(batch["input_ids"], batch["attention_mask"]).logits, batch["labels"]
        )
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    np.testing.assert_allclose(out["losses"], losses, atol=1e-6)
    _close(
        model.state_dict(),
        BertForSequenceClassification.from_pretrained(torchrun_out / "accelerate").state_dict(),
        atol=1e-6,
    )


def test_accelerator_single_process(capsys):
    accelerator = Accelerator(mixed_precision="bf16")
    assert accelerator.is_main_process and accelerator.num_processes == 1
    model = torch.nn.Linear(4, 2)
    loader = torch.utils.data.DataLoader(torch.arange(12.0).reshape(6, 2), batch_size=2)
    model, loader = accelerator.prepare(model, loader)
    assert isinstance(model, torch.nn.Linear) and len(loader) == 3
    with accelerator.autocast():
        assert model(torch.ones(3, 4)).dtype == torch.bfloat16
    loss = model(torch.ones(3, 4)).sum()
    accelerator.backward(loss)
    assert model.weight.grad is not None
    assert torch.equal(accelerator.gather(torch.arange(3)), torch.arange(3))
    with accelerator.main_process_first():
        accelerator.print("printed once")
    assert capsys.readouterr().out == "printed once\n"
    with pytest.raises(ValueError, match="mixed_precision"):
        Accelerator(mixed_precision="fp8")
    with pytest.raises(ValueError, match="fp16 mixed precision requires a CUDA device"):
        Accelerator(mixed_precision="fp16")


def test_sharded_loader_evens_out_the_last_round():
    loader = torch.utils.data.DataLoader(list(range(10)), batch_size=2)  # 5 batches over 2 ranks
    cpu = torch.device("cpu")
    shares = [[b.tolist() for b in ShardedLoader(loader, rank=r, world_size=2, device=cpu)] for r in (0, 1)]
    assert shares[0] == [[0, 1], [4, 5], [8, 9]]
    assert shares[1] == [[2, 3], [6, 7], [0, 1]]  # rank 1 repeats the first batch to keep in step
