"""Mixed precision, best model at end, TensorBoard, iterable train sets: on tiny random models."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
import transformers as T

from cove.datasets import Dataset
from cove.datasets.iterable import IterableDataset as CoveIterableDataset
from cove.models import auto
from cove.training import Trainer, TrainingArguments
from tests.models.reference import HF_CLASS
from tests.training.tiny import TASKS, ListDataset, cove_model, hf_config, rows, train_args


def _losses(trainer: Trainer) -> list[float]:
    return [e["loss"] for e in trainer.state.log_history if "loss" in e]


# --- mixed precision --------------------------------------------------------------------------


def test_bf16_autocasts_forward_on_cpu(tmp_path):
    data = ListDataset(rows("bert", n=8))
    dtypes: list[torch.dtype] = []
    model = cove_model("bert")
    model.classifier.register_forward_hook(lambda m, i, out: dtypes.append(out.dtype))
    bf16 = Trainer(model, train_args(tmp_path, max_steps=3, bf16=True), train_dataset=data, eval_dataset=data)
    bf16.train()
    bf16.evaluate()
    assert dtypes == [torch.bfloat16] * (3 + 1)  # 3 steps, 1 eval batch
    assert all(p.dtype == torch.float32 for p in bf16.model.parameters())  # master weights stay fp32

    fp32 = Trainer(cove_model("bert"), train_args(tmp_path, max_steps=3), train_dataset=data)
    fp32.train()
    got, exact = _losses(bf16), _losses(fp32)
    np.testing.assert_allclose(got, exact, atol=0.03)
    assert got != exact  # bfloat16 rounding shows: the autocast really ran


def test_bf16_losses_match_transformers_trainer(tmp_path):
    torch.manual_seed(0)
    reference = HF_CLASS[TASKS["bert"]].from_config(hf_config("bert"))
    reference.save_pretrained(tmp_path / "init")
    model = auto.model_class("bert", TASKS["bert"]).from_pretrained(tmp_path / "init")
    data = ListDataset(rows("bert", n=8))
    hyper = dict(
        per_device_train_batch_size=8,
        num_train_epochs=3,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="no",
        seed=3,
        bf16=True,
        disable_tqdm=True,
    )
    theirs = T.Trainer(
        model=reference,
        train_dataset=data,
        args=T.TrainingArguments(str(tmp_path / "hf"), report_to="none", use_cpu=True, **hyper),
    )
    theirs.train()
    ours = Trainer(model, TrainingArguments(str(tmp_path / "cove"), **hyper), train_dataset=data)
    ours.train()
    expected = [e["loss"] for e in theirs.state.log_history if "loss" in e]
    np.testing.assert_allclose(_losses(ours), expected, rtol=0, atol=2e-3)


def test_precision_errors(tmp_path):
    with pytest.raises(ValueError, match="fp16 mixed precision requires a CUDA device"):
        Trainer(cove_model("bert"), train_args(tmp_path, fp16=True))
    with pytest.raises(ValueError, match="At most one of fp16 and bf16"):
        train_args(tmp_path, fp16=True, bf16=True)


# --- best model at end ------------------------------------------------------------------------


class Scripted:
    """compute_metrics returning a scripted score per evaluation: the best one is known in advance."""

    def __init__(self, scores: list[float]) -> None:
        self.scores = iter(scores)

    def __call__(self, prediction) -> dict[str, float]:
        return {"score": next(self.scores)}


def test_load_best_model_at_end_keeps_and_loads_the_best(tmp_path):
    data = ListDataset(rows("bert", n=8))
    args = train_args(
        tmp_path,
        max_steps=8,
        eval_strategy="steps",
        eval_steps=2,
        save_strategy="steps",
        save_steps=2,
        save_total_limit=1,
        load_best_model_at_end=True,
        metric_for_best_model="score",
    )
    assert args.greater_is_better  # not a loss
    trainer = Trainer(
        cove_model("bert"),
        args,
        train_dataset=data,
        eval_dataset=data,
        compute_metrics=Scripted([0.2, 0.9, 0.5, 0.4]),
    )
    trainer.train()
    # The best (step 4) survives save_total_limit=1, beside the newest (as transformers keeps them).
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-4", "checkpoint-8"]
    assert trainer.state.best_model_checkpoint == str(tmp_path / "checkpoint-4")
    assert trainer.state.best_metric == 0.9
    best = auto.model_class("bert", TASKS["bert"]).from_pretrained(tmp_path / "checkpoint-4")
    last = auto.model_class("bert", TASKS["bert"]).from_pretrained(tmp_path / "checkpoint-8")
    for (name, a), (_, b) in zip(trainer.model.state_dict().items(), best.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    assert not torch.equal(trainer.model.classifier.weight, last.classifier.weight)


def test_best_model_follows_lowest_eval_loss_per_epoch(tmp_path):
    data = ListDataset(rows("bert", n=8))
    args = train_args(
        tmp_path,
        num_train_epochs=3,
        learning_rate=0.05,
        eval_strategy="epoch",
        save_strategy="epoch",
        load_best_model_at_end=True,
    )
    trainer = Trainer(cove_model("bert"), args, train_dataset=data, eval_dataset=data)
    trainer.train()
    evals = [(e["step"], e["eval_loss"]) for e in trainer.state.log_history if "eval_loss" in e]
    step, best = min(evals, key=lambda e: e[1])
    assert trainer.state.best_model_checkpoint == str(tmp_path / f"checkpoint-{step}")
    assert trainer.evaluate()["eval_loss"] == pytest.approx(best, abs=1e-6)


def test_load_best_model_needs_matching_strategies(tmp_path):
    with pytest.raises(ValueError, match="save and eval strategies to match"):
        train_args(tmp_path, load_best_model_at_end=True, eval_strategy="epoch", save_strategy="steps")
    with pytest.raises(ValueError, match="multiple of eval_steps"):
        train_args(
            tmp_path,
            load_best_model_at_end=True,
            eval_strategy="steps",
            eval_steps=3,
            save_strategy="steps",
            save_steps=4,
        )


# --- tensorboard --------------------------------------------------------------------------------


def test_tensorboard_event_files(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    data = ListDataset(rows("bert", n=8))
    args = train_args(
        tmp_path, max_steps=4, eval_strategy="steps", eval_steps=2, report_to=["tensorboard", "jsonl"]
    )
    trainer = Trainer(cove_model("bert"), args, train_dataset=data, eval_dataset=data)
    trainer.train()
    assert list((tmp_path / "runs").glob("events.out.tfevents.*"))
    events = EventAccumulator(str(tmp_path / "runs"))
    events.Reload()
    loss = [(e.step, e.value) for e in events.Scalars("train/loss")]
    assert [s for s, _ in loss] == [1, 2, 3, 4]
    np.testing.assert_allclose([v for _, v in loss], _losses(trainer), rtol=1e-6)
    eval_loss = [(e.step, e.value) for e in events.Scalars("eval/loss")]
    expected = [(e["step"], e["eval_loss"]) for e in trainer.state.log_history if "eval_loss" in e]
    assert [s for s, _ in eval_loss] == [s for s, _ in expected] == [2, 4]
    assert (tmp_path / "log.jsonl").exists()


def test_tensorboard_missing_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    with pytest.raises(ImportError, match="pip install tensorboard"):
        Trainer(cove_model("bert"), train_args(tmp_path, report_to="tensorboard"))
    with pytest.raises(ValueError, match="report_to must be one of"):
        train_args(tmp_path, report_to="wandb")


# --- iterable train sets ------------------------------------------------------------------------


class Stream(torch.utils.data.IterableDataset):
    def __init__(self, data: list[dict]) -> None:
        self.data = data

    def __iter__(self):
        return iter(self.data)


def _first_tokens(model) -> list[list[int]]:
    seen: list[list[int]] = []
    original = model.forward

    def forward(input_ids, attention_mask=None, token_type_ids=None, position_ids=None):
        seen.append(input_ids[:, 0].tolist())
        return original(input_ids, attention_mask, token_type_ids, position_ids)

    model.forward = forward
    return seen


@pytest.mark.parametrize("kind", ["torch", "cove"])
def test_iterable_train_dataset_with_max_steps(tmp_path, kind):
    data = rows("bert", n=10)
    stream = Stream(data) if kind == "torch" else Dataset.from_list(data).to_iterable_dataset()
    assert kind == "torch" or isinstance(stream, CoveIterableDataset)
    model = cove_model("bert")
    seen = _first_tokens(model)
    trainer = Trainer(model, train_args(tmp_path, max_steps=5), train_dataset=stream)
    trainer.train()
    firsts = [r["input_ids"][0] for r in data]
    # 10 rows, batches of 4: passes of 3 batches (the last one short), then the stream starts again.
    assert seen == [firsts[0:4], firsts[4:8], firsts[8:10], firsts[0:4], firsts[4:8]]
    assert trainer.state.global_step == 5 and len(_losses(trainer)) == 5


def test_iterable_needs_max_steps(tmp_path):
    with pytest.raises(ValueError, match="set max_steps"):
        Trainer(cove_model("bert"), train_args(tmp_path), train_dataset=Stream(rows("bert"))).train()
