"""The Trainer on tiny random models: it learns, resumes exactly, checkpoints, evaluates, calls back."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cove.datasets import Dataset
from cove.training import (
    DataCollatorWithPadding,
    EarlyStoppingCallback,
    Trainer,
    TrainerCallback,
)
from tests.training.tiny import ListDataset, cove_model, rows, train_args


def _losses(trainer: Trainer) -> list[float]:
    return [e["loss"] for e in trainer.state.log_history if "loss" in e]


def accuracy(p) -> dict[str, float]:
    return {"accuracy": float((p.predictions.argmax(-1) == p.label_ids).mean())}


@pytest.mark.parametrize("model_type", ["bert", "gpt2"])
def test_training_reduces_loss(tmp_path, model_type):
    data = ListDataset(rows(model_type, n=16))
    epochs = 6 if model_type == "bert" else 12  # GPT-2 starts at ln(vocab), as transformers initialises it
    trainer = Trainer(
        cove_model(model_type), train_args(tmp_path, num_train_epochs=epochs), train_dataset=data, eval_dataset=data
    )
    before = trainer.evaluate()["eval_loss"]
    out = trainer.train()
    after = trainer.evaluate()["eval_loss"]
    assert out.global_step == 4 * epochs and len(_losses(trainer)) == 4 * epochs
    assert after < 0.7 * before


def test_evaluate_and_predict_with_cove_dataset(tmp_path):
    data = Dataset.from_list(rows("bert", n=10)).with_format("torch")
    trainer = Trainer(
        cove_model("bert"),
        train_args(tmp_path, per_device_eval_batch_size=4),
        eval_dataset=data,
        compute_metrics=accuracy,
    )
    metrics = trainer.evaluate()
    assert set(metrics) == {"eval_loss", "eval_accuracy", "eval_runtime"}
    model = trainer.model.eval()
    with torch.no_grad():
        logits = model(data[:]["input_ids"], data[:]["attention_mask"]).logits
    expected = torch.nn.functional.cross_entropy(logits, data[:]["labels"]).item()
    assert metrics["eval_loss"] == pytest.approx(expected, abs=1e-5)
    assert metrics["eval_accuracy"] == pytest.approx(
        (logits.argmax(-1) == data[:]["labels"]).double().mean().item()
    )
    out = trainer.predict(data)
    assert out.predictions.shape == (10, 2) and out.label_ids.tolist() == data[:]["labels"].tolist()
    assert "test_loss" in out.metrics


def test_resume_equals_uninterrupted(tmp_path):
    """Stop after step 3 of 8 (mid-epoch, dropout on), resume: same losses and same final weights."""
    data = ListDataset(rows("bert", n=10))  # 3 batches per epoch, the last one short
    common = dict(
        max_steps=8,
        save_strategy="steps",
        save_steps=3,
        weight_decay=0.01,
        lr_scheduler_type="cosine",
        warmup_steps=2,
    )
    full = Trainer(cove_model("bert", dropout=True), train_args(tmp_path / "full", **common), train_dataset=data)
    full.train()

    class StopAt3(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:
                control.should_training_stop = True
            return control

    first = Trainer(
        cove_model("bert", dropout=True),
        train_args(tmp_path / "run", **common),
        train_dataset=data,
        callbacks=[StopAt3],
    )
    first.train()
    assert (tmp_path / "run" / "checkpoint-3" / "trainer_state.json").exists()
    resumed = Trainer(
        cove_model("bert", seed=99, dropout=True), train_args(tmp_path / "run", **common), train_dataset=data
    )
    resumed.train(resume_from_checkpoint=True)
    assert resumed.state.global_step == 8
    np.testing.assert_allclose(_losses(resumed), _losses(full), rtol=0, atol=1e-6)
    for (name, a), (_, b) in zip(full.model.state_dict().items(), resumed.model.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6, msg=name)


def test_checkpoint_contents_and_rotation(tmp_path):
    args = train_args(tmp_path, max_steps=6, save_strategy="steps", save_steps=2, save_total_limit=2)
    Trainer(cove_model("gpt2"), args, train_dataset=ListDataset(rows("gpt2", n=8))).train()
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-4", "checkpoint-6"]
    names = {p.name for p in (tmp_path / "checkpoint-6").iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "optimizer.pt",
        "scheduler.pt",
        "rng_state.pth",
        "trainer_state.json",
        "training_args.json",
    } <= names
    state = json.loads((tmp_path / "checkpoint-6" / "trainer_state.json").read_text())
    assert state["global_step"] == 6 and len([e for e in state["log_history"] if "loss" in e]) == 6


def test_only_declared_columns_reach_the_model(tmp_path):
    seen: list[set[str]] = []

    model = cove_model("bert")
    original = model.forward

    def forward(input_ids, attention_mask=None, token_type_ids=None, position_ids=None):
        seen.append(
            {
                k
                for k, v in dict(
                    attention_mask=attention_mask, token_type_ids=token_type_ids, position_ids=position_ids
                ).items()
                if v is not None
            }
        )
        return original(input_ids, attention_mask, token_type_ids, position_ids)

    model.forward = forward
    data = [
        {**r, "text": "a string the model cannot take", "idx": i} for i, r in enumerate(rows("bert", n=8))
    ]
    ds = Dataset.from_list(data)
    trainer = Trainer(
        model, train_args(tmp_path, max_steps=2), train_dataset=ds, data_collator=DataCollatorWithPadding()
    )
    trainer.train()
    assert seen == [{"attention_mask"}] * 2
    with pytest.raises((TypeError, ValueError)):
        Trainer(
            model,
            train_args(tmp_path, max_steps=1, remove_unused_columns=False),
            train_dataset=ds,
            data_collator=DataCollatorWithPadding(),
        ).train()


def test_callback_events_and_jsonl(tmp_path):
    events: list[tuple[str, int]] = []

    class Recorder(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            events.append(("train_begin", state.global_step))

        def on_step_end(self, args, state, control, **kwargs):
            events.append(("step_end", state.global_step))

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            events.append(("evaluate", state.global_step))
            assert "eval_loss" in metrics

        def on_epoch_end(self, args, state, control, **kwargs):
            events.append(("epoch_end", state.global_step))

    data = ListDataset(rows("bert", n=8))
    args = train_args(tmp_path, num_train_epochs=2, eval_strategy="epoch", logging_steps=2, report_to="jsonl")
    Trainer(cove_model("bert"), args, train_dataset=data, eval_dataset=data, callbacks=[Recorder]).train()
    assert events == [
        ("train_begin", 0),
        ("step_end", 1),
        ("step_end", 2),
        ("epoch_end", 2),
        ("evaluate", 2),
        ("step_end", 3),
        ("step_end", 4),
        ("epoch_end", 4),
        ("evaluate", 4),
    ]
    lines = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines if "loss" in line] == [2, 4]
    assert [line["step"] for line in lines if "eval_loss" in line] == [2, 4]


def test_early_stopping(tmp_path):
    """With learning rate 0 the eval loss never improves: stop after 1 + patience evaluations."""
    data = ListDataset(rows("bert", n=8))
    args = train_args(tmp_path, max_steps=20, learning_rate=0.0, eval_strategy="steps", eval_steps=2)
    trainer = Trainer(
        cove_model("bert"),
        args,
        train_dataset=data,
        eval_dataset=data,
        callbacks=[EarlyStoppingCallback(early_stopping_patience=2)],
    )
    trainer.train()
    assert trainer.state.global_step == 6


def test_progress_bar(tmp_path, capsys):
    args = train_args(tmp_path, max_steps=3, disable_tqdm=False)
    Trainer(cove_model("bert"), args, train_dataset=ListDataset(rows("bert", n=8))).train()
    assert "3/3" in capsys.readouterr().err


def test_save_model_round_trip(tmp_path):
    from cove.models import BertForSequenceClassification

    trainer = Trainer(
        cove_model("bert"), train_args(tmp_path, max_steps=1), train_dataset=ListDataset(rows("bert"))
    )
    trainer.train()
    trainer.save_model(str(tmp_path / "final"))
    loaded = BertForSequenceClassification.from_pretrained(tmp_path / "final")
    for (name, a), (_, b) in zip(trainer.model.state_dict().items(), loaded.state_dict().items()):
        torch.testing.assert_close(a, b, msg=name)


def test_epoch_strategies_save_once_per_epoch(tmp_path):
    saved: list[int] = []

    class OnSave(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            saved.append(state.global_step)

    data = ListDataset(rows("bert", n=8))
    args = train_args(
        tmp_path,
        num_train_epochs=2,
        save_strategy="epoch",
        eval_strategy="epoch",
        metric_for_best_model="eval_loss",
    )
    trainer = Trainer(cove_model("bert"), args, train_dataset=data, eval_dataset=data, callbacks=[OnSave])
    trainer.train()
    assert saved == [2, 4]
    evals = [e["eval_loss"] for e in trainer.state.log_history if "eval_loss" in e]
    assert trainer.state.best_metric == min(evals)
    assert trainer.state.best_model_checkpoint == str(
        tmp_path / f"checkpoint-{2 + 2 * int(evals[1] < evals[0])}"
    )
