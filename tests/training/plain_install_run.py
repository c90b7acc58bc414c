"""A tiny training run that a fresh venv with only ``pip install cove[torch]`` executes (see
test_plain_install.py): checkpoints with the tokenizer, resume, the best model at the end, and a push to a
Hub with the card and the loss plot. Prints one JSON line of results.

    python plain_install_run.py OUTPUT_DIR HUB_URL TOKEN
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from cove import Trainer, TrainingArguments, set_seed
from cove.models import BertConfig, BertForSequenceClassification
from cove.tokenizers import PreTrainedTokenizer, Tokenizer
from cove.tokenizers.models.wordlevel import WordLevel
from cove.tokenizers.pre_tokenizers import Whitespace

out, hub_url, token = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
words = "the a movie was great good bad awful plot fun boring i loved hated it".split()
vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *words])}
tokenizer = PreTrainedTokenizer(
    Tokenizer(WordLevel(vocab, unk_token="[UNK]"), pre_tokenizer=Whitespace()),
    {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]"},
)
texts = [("i loved it", 1), ("the plot was boring", 0), ("great fun", 1), ("awful", 0), ("a good movie", 1),
         ("i hated the movie", 0), ("it was great", 1), ("bad plot", 0)]  # fmt: skip
rows = [{**tokenizer(t), "label": y} for t, y in texts]  # ragged: the tokenizer pads them


def trainer(folder: Path) -> Trainer:
    set_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=32, id2label={0: "NEGATIVE", 1: "POSITIVE"})  # fmt: skip
    args = TrainingArguments(
        str(folder), max_steps=6, per_device_train_batch_size=4, learning_rate=5e-3, logging_steps=1,
        eval_strategy="steps", eval_steps=2, save_strategy="steps", save_steps=2, load_best_model_at_end=True,
        disable_tqdm=True, hub_endpoint=hub_url, hub_token=token, hub_model_id="alice/plain-install",
    )  # fmt: skip
    return Trainer(BertForSequenceClassification(config), args, train_dataset=rows, eval_dataset=rows,
                   processing_class=tokenizer)  # fmt: skip


def losses(t: Trainer) -> list[float]:
    return [e["loss"] for e in t.state.log_history if "loss" in e]


full = trainer(out / "full")
full.train()
resumed = trainer(out / "resumed")
resumed.train(resume_from_checkpoint=str(out / "full" / "checkpoint-2"))
commit = full.push_to_hub("Plain install")
best = Path(full.state.best_model_checkpoint)
best_weights = {k: v.clone() for k, v in BertForSequenceClassification.from_pretrained(best).state_dict().items()}
print(json.dumps({
    "full": losses(full),
    "resumed": losses(resumed),
    "best_loaded": all(torch.equal(v, best_weights[k]) for k, v in full.model.state_dict().items()),
    "checkpoint_files": sorted(p.name for p in (out / "full" / "checkpoint-2").iterdir()),
    "commit": commit.oid,
    "torch": torch.__version__,
}))
