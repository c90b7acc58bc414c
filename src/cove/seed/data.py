"""The seeded datasets, made from data that registry packages ship.

- ``cove/vader-sentiment``: the four human-rated sentence sets of the VADER paper (Hutto & Gilbert,
  ICWSM 2014; the ``vaderSentiment`` 3.3.2 sdist): ``text``, mean ``rating`` (-4..+4), ``label``
  (POSITIVE above +0.5, NEGATIVE below -0.5, NEUTRAL between) and ``source``; a fixed 90/10 train/test
  split. The sentiment model trains on the polar rows of ``train`` and is scored on those of ``test``.
- ``cove/wikipedia-sample``: the articles of gensim's shortened English Wikipedia dump, markup stripped.

Each builder writes the Hub layout ``datasets`` reads: ``data/<split>-00000-of-00001.parquet`` and a
README.md whose YAML declares ``configs`` and ``dataset_info``.
"""

from __future__ import annotations

import bz2
import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from cove.formats.cards import join_card
from cove.seed import assets

VADER_FILES = {
    "movie_reviews": "movieReviewSnippets_GroundTruth.txt",
    "amazon_reviews": "amazonReviewSnippets_GroundTruth.txt",
    "tweets": "tweets_GroundTruth.txt",
    "nyt_editorials": "nytEditorialSnippets_GroundTruth.txt",
}
#: ids 0 and 1 are the sentiment model's classes, so the polar rows need no relabelling
LABELS = ["NEGATIVE", "POSITIVE", "NEUTRAL"]
THRESHOLD = 0.5
SPLIT_SEED = 0
TEST_FRACTION = 0.1


# -- VADER ------------------------------------------------------------------------------------------


def label_of(rating: float) -> int:
    """The label id of a mean rating: POSITIVE above +0.5, NEGATIVE below -0.5, else NEUTRAL."""
    if rating > THRESHOLD:
        return LABELS.index("POSITIVE")
    if rating < -THRESHOLD:
        return LABELS.index("NEGATIVE")
    return LABELS.index("NEUTRAL")


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # the files of 2013 are not all UTF-8


def vader_rows(folder: Path | None = None) -> dict[str, list]:
    """Every rated sentence of the four sets as columns ``text, rating, label, source``.

    Each line of a ``*_GroundTruth.txt`` file is ``id <TAB> mean rating <TAB> sentence``. A sentence that
    appears again (83 do, e.g. "i love it!") is kept once, so no test sentence is also a training one.
    """
    folder = folder or assets.vader_folder()
    cols: dict[str, list] = {"text": [], "rating": [], "label": [], "source": []}
    seen: set[str] = set()
    for source, name in VADER_FILES.items():
        for line in _read_text(folder / name).splitlines():
            parts = line.strip("\r\n").split("\t")
            text = parts[2].strip() if len(parts) >= 3 else ""
            if not text or text in seen:
                continue
            seen.add(text)
            rating = float(parts[1])
            cols["text"].append(text)
            cols["rating"].append(rating)
            cols["label"].append(label_of(rating))
            cols["source"].append(source)
    if not cols["text"]:
        raise assets.AssetError(f"no rated sentences found in {folder}")
    return cols


def vader_splits(folder: Path | None = None):
    """``DatasetDict(train, test)``: all rows, split 90/10 by a fixed seed."""
    from cove.datasets import ClassLabel, Dataset, Features, Value

    features = Features(
        {
            "text": Value("string"),
            "rating": Value("float32"),
            "label": ClassLabel(names=LABELS),
            "source": Value("string"),
        }
    )
    ds = Dataset.from_dict(vader_rows(folder), features=features)
    return ds.train_test_split(test_size=TEST_FRACTION, seed=SPLIT_SEED)


# -- Wikipedia --------------------------------------------------------------------------------------

_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_REF = re.compile(r"<ref[^>/]*/>|<ref[^>]*>.*?</ref>", re.DOTALL | re.IGNORECASE)
_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")
_TABLE = re.compile(r"\{\|(?:(?!\{\|).)*?\|\}", re.DOTALL)
_MEDIA = re.compile(r"\[\[(?:File|Image|Category|Media):[^\[\]]*\]\]", re.IGNORECASE)
_INTERWIKI = re.compile(r"\[\[[a-z][a-z-]{1,11}:[^\[\]]*\]\]")
_LINK = re.compile(r"\[\[(?!(?:File|Image|Category|Media):)(?:[^\[\]|]*\|)?([^\[\]|]*)\]\]", re.IGNORECASE)
_EXTERNAL = re.compile(r"\[(?:https?:)?//[^\s\]]+(?: ([^\]]*))?\]")
_TAG = re.compile(r"<[^>]+>")
_HEADING = re.compile(r"^=+\s*(.*?)\s*=+\s*$", re.MULTILINE)
_LIST = re.compile(r"^[*#:;]+\s*", re.MULTILINE)


def _until_stable(pattern: re.Pattern, repl: str, text: str) -> str:
    """Apply ``pattern`` until nothing matches (innermost first, so nested constructs go too)."""
    while True:
        text, n = pattern.subn(repl, text)
        if not n:
            return text


def strip_wikitext(text: str) -> str:
    """Plain text from MediaWiki markup: templates, tables, references, files and categories dropped;
    links and external links replaced by their text; bold/italic quotes, tags and list markers removed."""
    text = _COMMENT.sub("", text)
    text = _REF.sub("", text)
    text = _until_stable(_TEMPLATE, "", text)
    text = _until_stable(_TABLE, "", text)
    text = _INTERWIKI.sub("", text)
    while True:  # innermost first: a link inside a file's caption, then the file
        before = text
        text = _LINK.sub(r"\1", _MEDIA.sub("", text))
        if text == before:
            break
    text = _EXTERNAL.sub(lambda m: m.group(1) or "", text)
    text = text.replace("'''", "").replace("''", "")
    text = _TAG.sub("", html.unescape(text))
    text = _HEADING.sub(r"\1", text)
    text = _LIST.sub("", text)
    lines = [line.strip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def wikipedia_articles(dump: Path | None = None) -> Iterator[tuple[str, str]]:
    """``(title, plain text)`` of each article (namespace 0, not a redirect) in a MediaWiki XML dump."""
    dump = dump or assets.wikipedia_dump()
    with bz2.open(dump, "rb") as f:
        title = ns = text = None
        redirect = False
        for _, el in ET.iterparse(f, events=("end",)):
            tag = el.tag.rsplit("}", 1)[-1]
            if tag == "title":
                title = el.text
            elif tag == "ns":
                ns = el.text
            elif tag == "redirect":
                redirect = True
            elif tag == "text":
                text = el.text or ""
            elif tag == "page":
                if ns == "0" and not redirect and text and not text.lstrip().upper().startswith("#REDIRECT"):
                    plain = strip_wikitext(text)
                    if plain:
                        yield title, plain
                title = ns = text = None
                redirect = False
                el.clear()


# -- builders (called by the build cache with an empty folder) --------------------------------------


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return name
    return "100K<n<1M"


def _write_splits(folder: Path, splits: dict) -> dict:
    """Write each split as one Parquet file; return the card's ``configs`` and ``dataset_info``."""
    (folder / "data").mkdir()
    infos = []
    for name, ds in splits.items():
        path = folder / "data" / f"{name}-00000-of-00001.parquet"
        ds.to_parquet(path)
        infos.append({"name": name, "num_bytes": path.stat().st_size, "num_examples": ds.num_rows})
    features = next(iter(splits.values())).features
    return {
        "configs": [
            {"config_name": "default", "data_files": [{"split": s, "path": f"data/{s}-*"} for s in splits]}
        ],
        "dataset_info": {
            "features": features.to_yaml_list(),
            "splits": infos,
            "dataset_size": sum(i["num_bytes"] for i in infos),
        },
    }


def build_vader(folder: Path) -> None:
    splits = dict(vader_splits())
    layout = _write_splits(folder, splits)
    n = sum(ds.num_rows for ds in splits.values())
    counts = {s: {label: 0 for label in LABELS} for s in splits}
    per_source = {source: 0 for source in VADER_FILES}
    for s, ds in splits.items():
        for label in ds["label"]:
            counts[s][LABELS[label]] += 1
        for source in ds["source"]:
            per_source[source] += s == "train"
    meta = {
        "license": "mit",
        "language": ["en"],
        "pretty_name": "VADER human-rated sentiment sentences",
        "task_categories": ["text-classification"],
        "task_ids": ["sentiment-classification"],
        "size_categories": [_size_category(n)],
        "source_datasets": ["original"],
        "tags": ["sentiment", "vader"],
        **layout,
    }
    rows = "\n".join(
        f"| {s} | {ds.num_rows} | " + " | ".join(str(counts[s][x]) for x in LABELS) + " |"
        for s, ds in splits.items()
    )
    body = f"""
# VADER sentiment sentences

{n} English sentences, each rated for sentiment by about ten human judges on a scale from -4
(extremely negative) to +4 (extremely positive): the ground-truth sets of the VADER paper, each
distinct sentence once (83 sentences that appear twice or more in the files are kept once).

| column | meaning |
| --- | --- |
| `text` | the sentence |
| `rating` | the mean human rating, -4..+4 |
| `label` | `POSITIVE` (rating > {THRESHOLD}), `NEGATIVE` (rating < -{THRESHOLD}), else `NEUTRAL` |
| `source` | `movie_reviews`, `amazon_reviews`, `tweets` or `nyt_editorials` |

| split | rows | NEGATIVE | POSITIVE | NEUTRAL |
| --- | --- | --- | --- | --- |
{rows}

The test split is a fixed {TEST_FRACTION:.0%} of the rows (`train_test_split(test_size={TEST_FRACTION},
seed={SPLIT_SEED})` over the four files in the order above). The label ids 0 and 1 are those of
`cove/minilm-sentiment`, which was trained on the polar rows of `train`.

## Source

The `additional_resources/hutto_ICWSM_2014.tar.gz` archive of the `vaderSentiment==3.3.2` source
distribution on PyPI (MIT license): `*_GroundTruth.txt` files, tab-separated id, mean rating and text.

C.J. Hutto and E.E. Gilbert. *VADER: A Parsimonious Rule-based Model for Sentiment Analysis of Social
Media Text*. ICWSM 2014.
"""
    (folder / "README.md").write_text(join_card(meta, body), encoding="utf-8")


def build_wikipedia(folder: Path) -> None:
    from cove.datasets import Dataset, Features, Value

    titles, texts = [], []
    for title, text in wikipedia_articles():
        titles.append(title)
        texts.append(text)
    features = Features({"title": Value("string"), "text": Value("string")})
    ds = Dataset.from_dict({"title": titles, "text": texts}, features=features)
    layout = _write_splits(folder, {"train": ds})
    words = sum(len(t.split()) for t in texts)
    meta = {
        "license": "cc-by-sa-3.0",
        "language": ["en"],
        "pretty_name": "English Wikipedia sample",
        "task_categories": ["text-generation"],
        "task_ids": ["language-modeling"],
        "size_categories": [_size_category(len(texts))],
        "source_datasets": ["original"],
        "tags": ["wikipedia"],
        **layout,
    }
    body = f"""
# English Wikipedia sample

{len(texts)} English Wikipedia articles ({words:,} words) as plain text: `title` and `text`. Redirects and
pages outside the article namespace are left out.

## Source

gensim's test file `enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2` (the
`gensim==4.4.0` wheel on PyPI): a shortened 2016 dump of English Wikipedia in MediaWiki XML. Cove
stripped the markup: templates, tables, references, files and categories are dropped; links and
external links keep their text; headings and list items are kept as plain lines. Some markup the simple
rules miss may remain.

Wikipedia text is licensed under CC BY-SA 3.0; the authors are the Wikipedia contributors (see each
article's history on en.wikipedia.org).
"""
    (folder / "README.md").write_text(join_card(meta, body), encoding="utf-8")
