"""Run under ``torchrun --nproc_per_node 2``: train the tiny BERT from ``<folder>/init`` with batch 2 per
rank; rank 0 writes the losses and the final weights (``<folder>/ddp``). Used by test_distributed.py."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

from cove.models import BertForSequenceClassification
from cove.training import Trainer, TrainingArguments
from tests.training.test_distributed import HYPER
from tests.training.tiny import ListDataset, rows

folder = Path(sys.argv[1])
model = BertForSequenceClassification.from_pretrained(folder / "init")
args = TrainingArguments(str(folder / "ddp"), per_device_train_batch_size=2, **HYPER)
trainer = Trainer(model, args, train_dataset=ListDataset(rows("bert", n=10)))
trainer.train()
trainer.save_model()
if trainer.state.is_world_process_zero:
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    (folder / "ddp" / "losses.json").write_text(json.dumps(losses))
# Leave the process group before exiting (see dist_run.py).
torch.distributed.barrier()
torch.distributed.destroy_process_group()
# Even then a C++ destructor at interpreter exit has aborted a rank once the results were written
# ("terminate called without an active exception", exit -6, seen in a fresh-clone CI run): the work is
# done and flushed, so skip the interpreter's teardown.
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)
