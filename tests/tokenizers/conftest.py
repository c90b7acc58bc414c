"""Fixtures for the tokenizer tests: the generated corpus and the reference tokenizer.json files.

`tokenizers`, `transformers` and `sentencepiece` are test-only oracles; Cove never imports them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ["RUST_BACKTRACE"] = "0"  # the oracle panics on purpose in some truncation tests

from corpus import make_corpus  # noqa: E402
from families import build_family  # noqa: E402


@pytest.fixture(scope="session")
def family_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tokenizer-families")


@pytest.fixture(scope="session")
def family_path(family_dir: Path):
    """A function: family name -> path of its tokenizer.json (trained or fetched once per session)."""
    built: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in built:
            built[name] = build_family(name, family_dir)
        return built[name]

    return get


@pytest.fixture(scope="session")
def corpus_for():
    """A function: special tokens -> the 20,000-line corpus with those tokens inside (cached)."""
    cache: dict[tuple[str, ...], list[str]] = {}

    def get(specials: tuple[str, ...]) -> list[str]:
        if specials not in cache:
            cache[specials] = make_corpus(20_000, seed=0, specials=specials)
        return cache[specials]

    return get
