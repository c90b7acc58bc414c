"""LoRA on real weights and real data (marker ``peft_full``, deselected by default: minutes of CPU;
``make test-peft-full``). The held-out metric improves over the base model in both:

- MiniLM (all-MiniLM-L6-v2) + LoRA (all linear layers; the new classifier trained in full) for sentiment
  on VADER's Amazon review sentences: held-out accuracy from chance to well above the majority class.
- SmolLM2-135M-Instruct + LoRA (all linear layers) on one-turn chats built from VADER movie-review
  sentences ("positive or negative?"): the held-out answer loss falls and the answer the model prefers
  (the likelier of "positive." / "negative.") is right more often than the base model's.
"""

from __future__ import annotations

import random

import pytest
import torch

from cove.models import AutoModelForCausalLM, AutoModelForSequenceClassification
from cove.peft import LoraConfig, PeftModel, get_peft_model
from cove.tokenizers import AutoTokenizer
from cove.training import Trainer, TrainingArguments, default_data_collator
from tests.formats.assets import minilm_folder  # noqa: F401  (fixture)
from tests.peft.realdata import chat_rows, smollm2_folder
from tests.training.realdata import fetched_or_skip, sentence_rows, vader_sentences

pytestmark = [pytest.mark.peft_full, pytest.mark.timeout(1800)]


def test_minilm_lora_sentiment(tmp_path, minilm_folder):  # noqa: F811
    pairs = fetched_or_skip(vader_sentences, "amazonReviewSnippets", min_abs_rating=2.0)
    random.Random(0).shuffle(pairs)
    tokenizer = AutoTokenizer.from_pretrained(minilm_folder)

    train, test = sentence_rows(tokenizer, pairs[:320], max_tokens=32), sentence_rows(tokenizer, pairs[-120:], max_tokens=32)
    majority = max(sum(r["labels"] for r in test), sum(1 - r["labels"] for r in test)) / len(test)
    torch.manual_seed(0)
    base = AutoModelForSequenceClassification.from_pretrained(minilm_folder, num_labels=2)
    model = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.1, target_modules="all-linear",
                                            task_type="SEQ_CLS"))

    def accuracy(p):
        return {"accuracy": float((p.predictions.argmax(-1) == p.label_ids).mean())}

    args = TrainingArguments(str(tmp_path), per_device_train_batch_size=16, per_device_eval_batch_size=80,
                             learning_rate=2e-3, num_train_epochs=3, save_strategy="no", disable_tqdm=True, seed=0)
    trainer = Trainer(model, args, train_dataset=train, eval_dataset=test, processing_class=tokenizer,
                      compute_metrics=accuracy)
    with model.disable_adapter():
        before = trainer.evaluate()["eval_accuracy"]
    trainer.train()
    after = trainer.evaluate()["eval_accuracy"]
    assert before < majority + 0.05 < 0.8 < after, (before, majority, after)
    model.save_pretrained(tmp_path / "adapter")
    again = PeftModel.from_pretrained(
        AutoModelForSequenceClassification.from_pretrained(minilm_folder, num_labels=2), tmp_path / "adapter"
    )
    again_trainer = Trainer(again, args, eval_dataset=test, processing_class=tokenizer, compute_metrics=accuracy)
    assert again_trainer.evaluate()["eval_accuracy"] == pytest.approx(after)


def _pad(rows: list[dict], pad_id: int) -> list[dict]:
    width = max(len(r["input_ids"]) for r in rows)
    return [{"input_ids": r["input_ids"] + [pad_id] * (width - len(r["input_ids"])),
             "attention_mask": r["attention_mask"] + [0] * (width - len(r["input_ids"])),
             "labels": r["labels"] + [-100] * (width - len(r["input_ids"]))} for r in rows]


def _scores(model, tokenizer, rows: list[dict]) -> tuple[float, float]:
    """(mean loss per token of the right answer, how often the likelier answer is the right one) over
    held-out chats."""
    model.eval()
    answers = [tokenizer(a, add_special_tokens=False)["input_ids"] for a in ("negative.", "positive.")]
    losses, right = [], 0
    with torch.no_grad():
        for row in rows:
            prompt = row["input_ids"][: row["prompt_length"]]
            logp = []
            for tail in answers:
                logits = model(input_ids=torch.tensor([prompt + tail])).logits[0, len(prompt) - 1 : -1]
                logp.append(torch.log_softmax(logits.float(), -1).gather(-1, torch.tensor(tail)[:, None]).sum())
            losses.append(-float(logp[row["label"]]) / len(answers[row["label"]]))
            right += int(logp[1] > logp[0]) == row["label"]
    return sum(losses) / len(losses), right / len(rows)


def test_smollm2_lora_chat(tmp_path):
    folder = fetched_or_skip(smollm2_folder)
    pairs = fetched_or_skip(vader_sentences, "movieReviewSnippets", min_abs_rating=2.0)
    random.Random(1).shuffle(pairs)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    train, test = chat_rows(tokenizer, pairs[:96], max_words=20), chat_rows(tokenizer, pairs[-30:], max_words=20)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(folder)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM"))
    with model.disable_adapter():
        base_loss, base_accuracy = _scores(model, tokenizer, test)
    args = TrainingArguments(str(tmp_path), per_device_train_batch_size=8, learning_rate=1e-3, num_train_epochs=1,
                             warmup_steps=2, save_strategy="no", disable_tqdm=True, seed=0)
    Trainer(model, args, train_dataset=_pad(train, tokenizer.pad_token_id), data_collator=default_data_collator).train()
    loss, accuracy = _scores(model, tokenizer, test)
    print(f"SmolLM2 chat: answer loss {base_loss:.3f} -> {loss:.3f}, accuracy {base_accuracy:.3f} -> {accuracy:.3f}")
    assert loss < 0.5 * base_loss
    assert accuracy > base_accuracy + 0.1 and accuracy > 0.75
