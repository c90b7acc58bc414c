"""The Trainer with a LoRA model: only the adapter trains (the optimizer holds nothing else),
checkpoints hold adapter files, a resumed run equals an uninterrupted one, and
``load_best_model_at_end`` restores the best adapter."""

from __future__ import annotations

import numpy as np
import torch

from cove.formats import safetensors as st
from cove.peft import LoraConfig, get_peft_model
from cove.training import Trainer, TrainerCallback
from tests.training.tiny import ListDataset, cove_model, rows, train_args

CONFIG = dict(r=4, lora_alpha=16, target_modules=["query", "value"], task_type="SEQ_CLS", lora_dropout=0.1)


def lora_bert(seed: int = 0):
    model = cove_model("bert", seed=0)  # the same frozen base every time
    torch.manual_seed(seed)
    return get_peft_model(model, LoraConfig(**CONFIG))


def _losses(trainer: Trainer) -> list[float]:
    return [e["loss"] for e in trainer.state.log_history if "loss" in e]


def test_only_the_adapter_trains(tmp_path):
    data = ListDataset(rows("bert", n=16))
    model = lora_bert()
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    trainer = Trainer(model, train_args(tmp_path, num_train_epochs=8, learning_rate=2e-2), train_dataset=data, eval_dataset=data)
    before = trainer.evaluate()["eval_loss"]
    trainer.train()
    assert trainer.evaluate()["eval_loss"] < 0.8 * before
    trainable = {id(p): n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or ".modules_to_save." in n for n in trainable.values())
    in_optimizer = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert in_optimizer == set(trainable)
    assert {id(p) for p in trainer.optimizer.state} == set(trainable)  # Adam moments for the adapter only
    for name, p in model.named_parameters():
        if name in frozen:
            torch.testing.assert_close(p, frozen[name], rtol=0, atol=0, msg=name)


def test_adapter_checkpoints_resume_exactly(tmp_path):
    data = ListDataset(rows("bert", n=10))
    common = dict(max_steps=8, save_strategy="steps", save_steps=3, weight_decay=0.01)
    full = Trainer(lora_bert(), train_args(tmp_path / "full", **common), train_dataset=data)
    full.train()

    class StopAt3(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            control.should_training_stop = state.global_step == 3
            return control

    Trainer(lora_bert(), train_args(tmp_path / "run", **common), train_dataset=data, callbacks=[StopAt3]).train()
    names = {p.name for p in (tmp_path / "run/checkpoint-3").iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "optimizer.pt", "trainer_state.json"} <= names
    assert "model.safetensors" not in names and "config.json" not in names
    resumed = Trainer(lora_bert(seed=99), train_args(tmp_path / "run", **common), train_dataset=data)
    resumed.train(resume_from_checkpoint=True)
    np.testing.assert_allclose(_losses(resumed), _losses(full), rtol=0, atol=1e-6)
    ours, theirs = resumed.model.adapter_state_dict(), full.model.adapter_state_dict()
    for name in theirs:
        torch.testing.assert_close(ours[name], theirs[name], rtol=0, atol=1e-6, msg=name)


def test_load_best_adapter_at_end(tmp_path):
    data = ListDataset(rows("bert", n=12))
    args = train_args(
        tmp_path, max_steps=9, eval_strategy="steps", eval_steps=3, save_strategy="steps", save_steps=3,
        load_best_model_at_end=True, metric_for_best_model="loss", greater_is_better=True, save_total_limit=1,
        learning_rate=1e-2,
    )  # greater_is_better on the loss: the best is the *first* evaluation, not the last state
    trainer = Trainer(lora_bert(), args, train_dataset=data, eval_dataset=data)
    trainer.train()
    best = trainer.state.best_model_checkpoint
    assert best is not None and best.endswith("checkpoint-3")
    saved = st.load_file(f"{best}/adapter_model.safetensors")
    state = trainer.model.adapter_state_dict()
    assert sorted(saved) == sorted(state)
    for name in saved:
        torch.testing.assert_close(state[name], saved[name], rtol=0, atol=0, msg=name)
