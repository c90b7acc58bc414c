"""``push_to_hub``: a real ``cove serve`` receives the model, tokenizer, logs, card and loss plot;
``huggingface_hub`` (test-only oracle) lists the files and parses the card's metadata."""

from __future__ import annotations

import json

import huggingface_hub as hf
import numpy as np
import pytest
from PIL import Image

from cove.hub import HubApi
from cove.models import BertForSequenceClassification
from cove.tokenizers import AutoTokenizer
from cove.training import Trainer, TrainingArguments
from cove.training.card import PLOT_FILE, results_table
from cove.training.plot import BACKGROUND, COLORS, LossPlot, nice_ticks
from tests.formats.assets import minilm_folder  # noqa: F401  (fixture)
from tests.training.tiny import ListDataset, cove_model, rows


def accuracy(p) -> dict[str, float]:
    return {"accuracy": float((p.predictions.argmax(-1) == p.label_ids).mean())}


def test_push_to_hub_uploads_model_card_and_plot(tmp_path, hub, alice, minilm_folder):  # noqa: F811
    tokenizer = AutoTokenizer.from_pretrained(minilm_folder)
    data = ListDataset(rows("bert", n=8))
    args = TrainingArguments(
        str(tmp_path / "tiny-sentiment"),
        max_steps=6,
        per_device_train_batch_size=4,
        learning_rate=3e-3,
        logging_steps=1,
        eval_strategy="steps",
        eval_steps=2,
        save_strategy="steps",
        save_steps=3,
        disable_tqdm=True,
        push_to_hub=True,
        hub_token=alice,
        hub_endpoint=hub.url,
        hub_private_repo=True,
    )
    trainer = Trainer(
        cove_model("bert"),
        args,
        train_dataset=data,
        eval_dataset=data,
        compute_metrics=accuracy,
        processing_class=tokenizer,
    )
    trainer.train()  # pushes at the end, to alice/tiny-sentiment (the output folder's name)
    commit = trainer.push_to_hub(
        "Second push",
        finetuned_from="sentence-transformers/all-MiniLM-L6-v2",
        dataset="cove/vader-sentences",
        license="mit",
    )
    assert commit is not None

    theirs = hf.HfApi(endpoint=hub.url, token=alice)
    files = set(theirs.list_repo_files("alice/tiny-sentiment"))
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "training_args.json",
        "trainer_state.json",
        "README.md",
        PLOT_FILE,
    } <= files
    assert not any(f.startswith("checkpoint-") for f in files)
    assert [c.title for c in theirs.list_repo_commits("alice/tiny-sentiment")][:2] == [
        "Second push",
        "End of training",
    ]
    with pytest.raises(hf.errors.RepositoryNotFoundError):  # hub_private_repo
        hf.HfApi(endpoint=hub.url, token=False).model_info("alice/tiny-sentiment")

    with HubApi(endpoint=hub.url, token=alice) as api:
        readme = api.download("alice/tiny-sentiment", "README.md", cache_dir=tmp_path / "cache")
        png = api.download("alice/tiny-sentiment", PLOT_FILE, cache_dir=tmp_path / "cache")
        state = json.loads(
            api.download(
                "alice/tiny-sentiment", "trainer_state.json", cache_dir=tmp_path / "cache"
            ).read_text()
        )
        weights = api.snapshot_download("alice/tiny-sentiment", cache_dir=tmp_path / "cache")
    card = hf.ModelCard.load(readme)
    assert card.data.library_name == "transformers"
    assert card.data.pipeline_tag == "text-classification"
    assert card.data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert card.data.datasets == ["cove/vader-sentences"] and card.data.license == "mit"
    results = {r.metric_type: r.metric_value for r in card.data.eval_results}
    last_eval = [e for e in trainer.state.log_history if "eval_loss" in e][-1]
    assert results == {
        "loss": pytest.approx(last_eval["eval_loss"]),
        "accuracy": pytest.approx(last_eval["eval_accuracy"]),
    }
    assert "| Training Loss | Epoch | Step | Validation Loss | Accuracy |" in card.text
    assert f"![Training and evaluation loss]({PLOT_FILE})" in card.text
    assert state["global_step"] == 6
    with HubApi(endpoint=hub.url, token=alice) as api:
        saved_args = json.loads(
            api.download("alice/tiny-sentiment", "training_args.json", cache_dir=tmp_path / "c").read_text()
        )
    assert (
        saved_args["hub_token"] is None and saved_args["hub_model_id"] is None
    )  # the token is never uploaded

    loaded = BertForSequenceClassification.from_pretrained(weights)
    for (name, a), (_, b) in zip(trainer.model.state_dict().items(), loaded.state_dict().items()):
        assert np.array_equal(a.numpy(), b.numpy()), name

    image = Image.open(png)
    image.load()
    assert image.format == "PNG" and image.size == (720, 420)
    plot = LossPlot.from_log_history(state["log_history"])
    pixels = image.convert("RGB")
    evals = [(e["step"], e["eval_loss"]) for e in state["log_history"] if "eval_loss" in e]
    trains = [(e["step"], e["loss"]) for e in state["log_history"] if "loss" in e]
    assert all(pixels.getpixel(plot.pixel(*p)) == COLORS["eval loss"] for p in evals)  # drawn last, on top
    assert sum(pixels.getpixel(plot.pixel(*p)) == COLORS["train loss"] for p in trains) >= len(trains) - len(
        evals
    )
    # Between two train points the polyline is drawn: its midpoint carries the series colour.
    (x0, y0), (x1, y1) = plot.pixel(*trains[0]), plot.pixel(*trains[1])
    mx, my = (x0 + x1) // 2, (y0 + y1) // 2  # rounding may put it a pixel beside a 2-pixel line
    near = {pixels.getpixel((mx + dx, my + dy)) for dx in (-1, 0, 1) for dy in (-1, 0, 1)}
    assert near & {COLORS["train loss"], COLORS["eval loss"]}
    assert pixels.getpixel((5, 5)) == BACKGROUND


def test_push_to_hub_without_token_is_refused(tmp_path, hub):
    args = TrainingArguments(
        str(tmp_path / "anon"),
        max_steps=1,
        disable_tqdm=True,
        save_strategy="no",
        hub_endpoint=hub.url,
        hub_model_id="alice/anon",
    )
    trainer = Trainer(cove_model("bert"), args, train_dataset=ListDataset(rows("bert", n=4)))
    trainer.train()
    with pytest.raises(Exception, match="(?i)token|unauthor|log ?in|401"):
        trainer.push_to_hub(token=None)


def test_plot_and_table_pieces():
    assert nice_ticks(0.13, 0.71) == [0.0, 0.2, 0.4, 0.6, 0.8]
    assert nice_ticks(0, 6) == [0, 2, 4, 6]
    with pytest.raises(ValueError, match="Nothing to plot"):
        LossPlot.from_log_history([{"eval_accuracy": 1.0, "step": 1}])
    history = [
        {"loss": 0.7, "epoch": 0.5, "step": 1},
        {"loss": 0.5, "epoch": 1.0, "step": 2},
        {"eval_loss": 0.4, "eval_accuracy": 0.75, "eval_runtime": 0.1, "epoch": 1.0, "step": 2},
    ]
    assert results_table(history).splitlines() == [
        "| Training Loss | Epoch | Step | Validation Loss | Accuracy |",
        "|:---:|:---:|:---:|:---:|:---:|",
        "| 0.5000 | 1.0000 | 2 | 0.4000 | 0.7500 |",
    ]
