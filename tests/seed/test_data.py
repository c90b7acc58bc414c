"""The seed's building blocks without a Hub: asset fetching, the VADER sets, Wikipedia markup, choices."""

from __future__ import annotations

import pytest

from cove.errors import BadRequest
from cove.seed import SentimentRecipe, artefacts
from cove.seed import assets as seed_assets
from cove.seed.data import LABELS, label_of, strip_wikitext, vader_rows, vader_splits, wikipedia_articles
from cove.seed.publish import select


def test_fetch_names_the_package_when_pip_cannot_reach_it(tmp_path, monkeypatch):
    monkeypatch.setenv("COVE_ASSETS", str(tmp_path / "assets"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip finds nothing, without touching the network
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    with pytest.raises(seed_assets.AssetError, match=r"cannot fetch vaderSentiment==3\.3\.2 with pip"):
        seed_assets.fetch(seed_assets.VADER)
    assert not (tmp_path / "assets" / "vaderSentiment-3.3.2").exists()


def test_labels_follow_the_rating_thresholds():
    assert [LABELS[label_of(r)] for r in (2.0, 0.51, 0.5, 0.0, -0.5, -0.51, -3.0)] == [
        "POSITIVE",
        "POSITIVE",
        "NEUTRAL",
        "NEUTRAL",
        "NEUTRAL",
        "NEGATIVE",
        "NEGATIVE",
    ]


def test_vader_sets_are_read_whole(seed_env):
    rows = vader_rows()
    # the four ground-truth files of the paper (10,605 + 3,708 + 4,200 + 5,190 lines), each sentence once
    counts = {s: rows["source"].count(s) for s in set(rows["source"])}
    assert counts == {"movie_reviews": 10603, "amazon_reviews": 3697, "tweets": 4200, "nyt_editorials": 5119}
    assert len(set(rows["text"])) == len(rows["text"])
    assert all(-4 <= r <= 4 for r in rows["rating"]) and all(t.strip() for t in rows["text"])
    splits = vader_splits()
    assert splits["train"].num_rows == 21257 and splits["test"].num_rows == 2362
    assert splits["train"].features["label"].names == LABELS
    again = vader_splits()  # the split is fixed by its seed
    assert again["test"]["text"][:20] == splits["test"]["text"][:20]
    assert not set(splits["test"]["text"]) & set(splits["train"]["text"])


def test_strip_wikitext():
    text = (
        "{{Infobox|name=x|{{nested|y}}}}'''Paris''' is the [[capital city|capital]] of [[France]]."
        "<ref>Some source</ref><ref name=a/> See [http://example.org the site].\n"
        "[[File:Paris.jpg|thumb|The [[Eiffel Tower]]]]\n== History ==\n* a list item\n"
        "{| class=wikitable\n|-\n| cell\n|}\n[[Category:Capitals]][[de:Paris]]<!-- hidden -->"
    )
    assert strip_wikitext(text) == "Paris is the capital of France. See the site.\n\nHistory\na list item"


def test_wikipedia_articles_are_plain_text(seed_env):
    articles = list(wikipedia_articles())
    assert len(articles) > 100
    titles = [t for t, _ in articles]
    assert "Anarchism" in titles and "AccessibleComputing" not in titles  # a redirect
    text = dict(articles)["Anarchism"]
    assert text.startswith("Anarchism is a political philosophy")
    assert "{{" not in text and "[[" not in text and "<ref" not in text


def test_select():
    items = artefacts(SentimentRecipe(max_train_samples=10))
    assert [a.repo_id for a in select(items, "datasets")] == ["cove/vader-sentiment", "cove/wikipedia-sample"]
    assert len(select(items, "models")) == 5  # MiniLM, SmolLM2, EfficientNet-Lite0, Whisper, the sentiment model
    assert [a.repo_id for a in select(items, "spaces")] == ["cove/welcome", "cove/sentiment-demo"]
    assert [a.name for a in select(items, "cove/minilm-sentiment")] == ["minilm-sentiment"]
    assert select(items, None) == items
    with pytest.raises(BadRequest, match="Nothing to seed is called 'nope'.*minilm-sentiment"):
        select(items, "nope")


def test_recipe_key_names_the_run():
    assert SentimentRecipe().key() != SentimentRecipe(max_train_samples=10).key()
    assert SentimentRecipe(epochs=2).key() == SentimentRecipe(epochs=2.0).key()
