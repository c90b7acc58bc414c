"""Run under ``torchrun --nproc_per_node 2`` (gloo, CPU); used by test_dist_features.py.

1. distributed evaluation with the Trainer (DDP): metrics and predictions of the whole eval set;
2. FSDP (``fsdp="full_shard"``): training from ``<folder>/init`` with batch 2 per rank, then evaluation
   and ``save_model``;
3. ``Accelerator`` in a hand-written loop: sharded loader, backward, gather, main_process_first.
Rank 0 writes what it saw as JSON (and the trained weights) under ``<folder>``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

from cove.models import BertForSequenceClassification
from cove.training import Accelerator, Trainer, TrainingArguments, default_data_collator
from tests.training.test_dist_features import EVAL_ROWS, HYPER, accuracy
from tests.training.tiny import ListDataset, rows

folder = Path(sys.argv[1])
out: dict = {}

# 1. evaluation, gathered across ranks
model = BertForSequenceClassification.from_pretrained(folder / "init")
trainer = Trainer(
    model,
    TrainingArguments(str(folder / "eval"), per_device_eval_batch_size=2, disable_tqdm=True),
    eval_dataset=ListDataset(rows("bert", n=EVAL_ROWS, seed=1)),
    compute_metrics=accuracy,
)
out["eval"] = trainer.evaluate()
out["predictions"] = trainer.predict(ListDataset(rows("bert", n=EVAL_ROWS, seed=1))).predictions.tolist()

# 2. FSDP
model = BertForSequenceClassification.from_pretrained(folder / "init")
args = TrainingArguments(
    str(folder / "fsdp"), per_device_train_batch_size=2, fsdp="full_shard auto_wrap", **HYPER
)
trainer = Trainer(
    model,
    args,
    train_dataset=ListDataset(rows("bert", n=10)),
    eval_dataset=ListDataset(rows("bert", n=EVAL_ROWS, seed=1)),
)
trainer.train()
out["fsdp_losses"] = [e["loss"] for e in trainer.state.log_history if "loss" in e]
out["fsdp_eval"] = trainer.evaluate()["eval_loss"]
trainer.save_model()

# 3. Accelerator
accelerator = Accelerator()
order: list[int] = []
with accelerator.main_process_first():
    marker = folder / "first.txt"
    order.append(int(marker.exists()))
    if accelerator.is_main_process:
        marker.write_text("rank 0 was here")
model = BertForSequenceClassification.from_pretrained(folder / "init")
optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
loader = torch.utils.data.DataLoader(
    ListDataset(rows("bert", n=8)), batch_size=2, collate_fn=default_data_collator
)
model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
seen, losses = [], []
for batch in loader:
    with accelerator.autocast():
        logits = model(batch["input_ids"], batch["attention_mask"]).logits
    loss = torch.nn.functional.cross_entropy(logits, batch["labels"])
    accelerator.backward(loss)
    optimizer.step()
    optimizer.zero_grad()
    seen.append(accelerator.gather(batch["labels"]).tolist())
    losses.append(accelerator.reduce(loss.detach(), "mean").item())
accelerator.wait_for_everyone()
out["accelerate"] = {
    "seen": seen,
    "losses": losses,
    "batches": len(loader),
    "first": order,
    "gathered_rank": accelerator.gather(torch.tensor([accelerator.process_index] * 2)).tolist(),
}
if accelerator.is_main_process:
    accelerator.unwrap_model(model).save_pretrained(folder / "accelerate")
    (folder / "out.json").write_text(json.dumps(out))
    accelerator.print("done")
# Leave the process group before the interpreter exits: a rank that exits with gloo's threads still
# running can abort ("terminate called without an active exception") and fail the run after the work.
accelerator.wait_for_everyone()
torch.distributed.destroy_process_group()
# Even then a C++ destructor at interpreter exit has aborted a rank once the results were written
# ("terminate called without an active exception", exit -6, seen in a fresh-clone CI run): the work is
# done and flushed, so skip the interpreter's teardown.
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)
