"""Schedules equal transformers' get_scheduler step by step; AdamW's decay groups equal transformers'."""

from __future__ import annotations

import pytest
import torch
import transformers as T

from cove.training import TrainingArguments, create_optimizer, decay_parameter_names, get_scheduler
from tests.training.tiny import cove_model


def _optimizer() -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)


@pytest.mark.parametrize("name", ["linear", "cosine", "constant", "constant_with_warmup"])
@pytest.mark.parametrize("warmup", [0, 3])
def test_schedules_match_transformers(name, warmup):
    ours_opt, ref_opt = _optimizer(), _optimizer()
    ours = get_scheduler(name, ours_opt, num_warmup_steps=warmup, num_training_steps=20)
    ref = T.get_scheduler(name, ref_opt, num_warmup_steps=warmup, num_training_steps=20)
    for _ in range(25):
        assert ours.get_last_lr()[0] == pytest.approx(ref.get_last_lr()[0], abs=1e-12)
        ours_opt.step(), ref_opt.step()
        ours.step(), ref.step()


def test_unknown_scheduler():
    with pytest.raises(ValueError, match="polynomial"):
        get_scheduler("polynomial", _optimizer(), num_training_steps=3)
    with pytest.raises(ValueError, match="lr_scheduler_type"):
        TrainingArguments(lr_scheduler_type="polynomial")


def test_warmup_ratio():
    assert TrainingArguments(warmup_ratio=0.1).num_warmup_steps(95) == 10
    assert TrainingArguments(warmup_ratio=0.1, warmup_steps=3).num_warmup_steps(95) == 3


@pytest.mark.parametrize("model_type", ["bert", "gpt2"])
def test_decay_groups_match_transformers(tmp_path, model_type):
    model = cove_model(model_type)
    ref = T.Trainer(model=torch.nn.Linear(1, 1), args=T.TrainingArguments(str(tmp_path), report_to="none"))
    names = {n for n, _ in model.named_parameters()}  # a tied lm_head.weight is listed once, as wte
    expected = set(ref.get_decay_parameter_names(model)) & names
    got = decay_parameter_names(model)
    assert got == expected
    assert not any(n.endswith("bias") for n in got)
    optimizer = create_optimizer(model, TrainingArguments(weight_decay=0.1, learning_rate=1e-3))
    decays = [g["weight_decay"] for g in optimizer.param_groups]
    assert decays == [0.1, 0.0]
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(list(model.parameters()))
