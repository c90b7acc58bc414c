"""Fixtures for cove.datasets: a private cache per test, and Hugging Face ``datasets`` as a
test-only oracle with its own cache (set before it is first imported)."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest

os.environ.setdefault("HF_DATASETS_CACHE", tempfile.mkdtemp(prefix="hf-datasets-"))
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")


@pytest.fixture(autouse=True)
def cove_cache(tmp_path, monkeypatch):
    path = tmp_path / "cove-cache"
    monkeypatch.setenv("COVE_DATASETS_CACHE", str(path))
    return path


@pytest.fixture
def hf():
    import datasets

    datasets.disable_progress_bars()
    return datasets


def make_columns(n: int = 200, seed: int = 0) -> dict:
    """Generated rows: text (~20 chars, some repeated), an int label, a float, a list, a nested dict."""
    rng = np.random.default_rng(seed)
    words = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
    return {
        "text": [" ".join(rng.choice(words, size=int(rng.integers(1, 5)))) for _ in range(n)],
        "label": [int(x) for x in rng.integers(0, 3, size=n)],
        "score": [float(x) for x in rng.normal(size=n).round(4)],
        "ids": [[int(x) for x in rng.integers(0, 100, size=int(rng.integers(0, 4)))] for _ in range(n)],
        "meta": [{"a": int(rng.integers(0, 5)), "b": str(rng.choice(words))} for _ in range(n)],
    }
