"""Training on real data with real weights (slow: each ~60-100 s of CPU on 2 cores).

- Fine-tune the pretrained MiniLM (all-MiniLM-L6-v2) for sentence sentiment on VADER's human-rated
  Amazon review sentences: held-out accuracy far above chance.
- Train a tiny GPT-2 from scratch (byte-level BPE trained here with Cove's trainer) on news text:
  evaluation perplexity falls at every evaluation.
"""

from __future__ import annotations

import math
import random

import pytest
import torch

from cove.models import AutoModelForSequenceClassification, auto
from cove.tokenizers import AutoTokenizer, Tokenizer, models, pre_tokenizers
from cove.tokenizers.trainers import BpeTrainer
from cove.training import DataCollatorForLanguageModeling, DataCollatorWithPadding, Trainer, TrainingArguments
from tests.formats.assets import minilm_folder  # noqa: F401  (fixture)
from tests.training.realdata import fetched_or_skip, lee_documents, sentence_rows, vader_sentences

pytestmark = pytest.mark.slow


def test_minilm_sentiment_fine_tune(tmp_path, minilm_folder):  # noqa: F811
    pairs = fetched_or_skip(vader_sentences, "amazonReviewSnippets", min_abs_rating=2.0)
    random.Random(0).shuffle(pairs)
    tokenizer = AutoTokenizer.from_pretrained(minilm_folder)

    train, test = sentence_rows(tokenizer, pairs[:480]), sentence_rows(tokenizer, pairs[-160:])
    majority = max(sum(r["labels"] for r in test), sum(1 - r["labels"] for r in test)) / len(test)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(minilm_folder, num_labels=2)
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)  # half the weights; saves CPU

    def accuracy(p):
        return {"accuracy": float((p.predictions.argmax(-1) == p.label_ids).mean())}

    args = TrainingArguments(
        str(tmp_path),
        per_device_train_batch_size=16,
        per_device_eval_batch_size=80,
        learning_rate=2e-4,
        max_steps=30,
        warmup_ratio=0.1,
        logging_steps=10,
        save_strategy="no",
        disable_tqdm=True,
        seed=0,
    )
    trainer = Trainer(
        model,
        args,
        train_dataset=train,
        eval_dataset=test,
        data_collator=DataCollatorWithPadding(),
        compute_metrics=accuracy,
    )
    trainer.train()
    metrics = trainer.evaluate()
    assert metrics["eval_accuracy"] >= 0.85 and metrics["eval_accuracy"] > majority + 0.1, (metrics, majority)


def test_tiny_gpt2_from_scratch_on_news_text(tmp_path):
    docs = fetched_or_skip(lee_documents)
    tokenizer = Tokenizer(models.BPE({}, []))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    alphabet = sorted(pre_tokenizers._bytes_to_unicode().values())
    tokenizer.train_from_iterator(
        docs[:250], BpeTrainer(vocab_size=512, initial_alphabet=alphabet, special_tokens=["<|endoftext|>"])
    )
    ids = [i for doc in docs for i in [*tokenizer.encode(doc).ids, 0]]  # documents joined by <|endoftext|>
    length = 64
    blocks = [ids[i : i + length] for i in range(0, len(ids) - length, length)]
    rows = [{"input_ids": b, "attention_mask": [1] * length} for b in blocks]
    train, test = rows[:-40], rows[-40:]  # the held-out blocks come from the last documents
    config = auto.AutoConfig.from_dict(
        {
            "model_type": "gpt2",
            "vocab_size": 512,
            "n_positions": length,
            "n_embd": 64,
            "n_layer": 2,
            "n_head": 4,
            "n_inner": 256,
            "bos_token_id": 0,
            "eos_token_id": 0,
        }
    )
    torch.manual_seed(0)
    model = auto.model_class("gpt2", "causal-lm")(config).init_weights()
    args = TrainingArguments(
        str(tmp_path),
        per_device_train_batch_size=16,
        per_device_eval_batch_size=40,
        learning_rate=3e-3,
        max_steps=120,
        warmup_steps=10,
        logging_steps=20,
        eval_strategy="steps",
        eval_steps=40,
        save_strategy="no",
        disable_tqdm=True,
    )
    trainer = Trainer(
        model,
        args,
        train_dataset=train,
        eval_dataset=test,
        data_collator=DataCollatorForLanguageModeling(mlm=False),
    )
    start = math.exp(trainer.evaluate()["eval_loss"])
    trainer.train()
    perplexities = [math.exp(e["eval_loss"]) for e in trainer.state.log_history if "eval_loss" in e]
    assert start > 400  # about the vocabulary size: an untrained model guesses
    assert len(perplexities) == 3 and all(b < a for a, b in zip([start, *perplexities], perplexities))
    # 120 steps of 1,024 tokens: from chance (~the vocabulary size) to below half of it (~205 measured).
    assert perplexities[-1] < 0.45 * start, perplexities
