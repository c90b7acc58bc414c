"""Cove's Trainer against transformers' Trainer and against a hand-written PyTorch loop (test-only oracles).

Identical init (the transformers model saved and loaded in Cove), no dropout, and one batch per epoch
holding the whole dataset, so both trainers see the same data whatever order their samplers pick.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers as T

from cove.models import auto
from cove.training import Trainer, TrainingArguments
from cove.training.loop import loss_sum
from tests.models.reference import HF_CLASS
from tests.training.tiny import TASKS, ListDataset, hf_config, rows

HYPER = dict(
    per_device_train_batch_size=8,
    num_train_epochs=4,
    learning_rate=1e-3,
    weight_decay=0.01,
    warmup_steps=1,
    lr_scheduler_type="linear",
    logging_steps=1,
    save_strategy="no",
    seed=3,
)


@pytest.mark.parametrize("model_type", ["bert", "gpt2"])
def test_losses_and_weights_match_transformers_trainer(tmp_path, model_type):
    torch.manual_seed(0)
    reference = HF_CLASS[TASKS[model_type]].from_config(hf_config(model_type))
    reference.save_pretrained(tmp_path / "init")
    model = auto.model_class(model_type, TASKS[model_type]).from_pretrained(tmp_path / "init")
    data = ListDataset(rows(model_type, n=8))
    if model_type == "gpt2":
        # Without an explicit loss_type, transformers' Trainer counts the unshifted labels (72, not the
        # 64 predicted tokens) and under-reports the causal-LM loss by 8/9; name the loss it uses.
        reference.loss_type = "ForCausalLM"

    theirs = T.Trainer(
        model=reference,
        train_dataset=data,
        args=T.TrainingArguments(
            str(tmp_path / "hf"), report_to="none", use_cpu=True, disable_tqdm=True, **HYPER
        ),
    )
    theirs.train()
    ours = Trainer(
        model, TrainingArguments(str(tmp_path / "cove"), disable_tqdm=True, **HYPER), train_dataset=data
    )
    ours.train()

    expected = [e["loss"] for e in theirs.state.log_history if "loss" in e]
    got = [e["loss"] for e in ours.state.log_history if "loss" in e]
    assert len(got) == len(expected) == 4
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    assert got[-1] < got[0]
    ref_params = dict(reference.named_parameters())
    for name, p in model.named_parameters():
        torch.testing.assert_close(p, ref_params[name], rtol=0, atol=1e-5, msg=name)


def test_accumulated_steps_match_a_plain_pytorch_loop(tmp_path):
    """Gradient accumulation 2 over batches of 2 == AdamW + transformers' cosine schedule on batches of 4."""
    torch.manual_seed(0)
    config = auto.AutoConfig.from_dict(hf_config("bert").to_dict())
    model = auto.model_class("bert", TASKS["bert"])(config)
    reference = auto.model_class("bert", TASKS["bert"])(config)
    reference.load_state_dict(model.state_dict())
    data = rows("bert", n=12)
    args = TrainingArguments(
        str(tmp_path),
        per_device_train_batch_size=2,
        gradient_accumulation_steps=2,
        num_train_epochs=2,
        learning_rate=2e-3,
        weight_decay=0.1,
        max_grad_norm=0.5,
        lr_scheduler_type="cosine",
        warmup_ratio=0.2,
        logging_steps=1,
        save_strategy="no",
        disable_tqdm=True,
    )
    trainer = Trainer(model, args, train_dataset=ListDataset(data))
    trainer.train()

    decay = [p for n, p in reference.named_parameters() if not n.endswith("bias") and "LayerNorm" not in n]
    rest = [p for n, p in reference.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}], lr=2e-3
    )
    scheduler = T.get_scheduler("cosine", optimizer, num_warmup_steps=2, num_training_steps=6)
    losses = []
    for epoch in range(2):
        order = trainer.epoch_batches(epoch)
        for step in range(3):
            idx = [i for batch in order[2 * step : 2 * step + 2] for i in batch]
            ids = torch.tensor([data[i]["input_ids"] for i in idx])
            labels = torch.tensor([data[i]["labels"] for i in idx])
            loss = loss_sum(reference(ids, torch.ones_like(ids)).logits, labels, causal=False)[0] / len(idx)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(reference.parameters(), 0.5)
            optimizer.step(), scheduler.step(), optimizer.zero_grad()
            losses.append(loss.item())
    got = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    np.testing.assert_allclose(got, losses, rtol=0, atol=1e-5)
    for (name, a), (_, b) in zip(model.named_parameters(), reference.named_parameters()):
        if name.endswith("key.bias"):  # its true gradient is 0 (softmax ignores it): Adam amplifies noise
            continue
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5, msg=name)
