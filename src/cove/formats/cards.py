"""Repo cards: a README.md whose YAML front matter (between ``---`` lines) holds the metadata the Hub
indexes (license, tags, pipeline_tag, library_name, datasets, language, configs, ...)."""

from __future__ import annotations

import re

import yaml

_FRONT = re.compile(r"\A\ufeff?---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)


def split_card(text: str) -> tuple[dict, str]:
    """``(metadata, body)`` of a card. A card without front matter has ``{}``; front matter that is
    not a YAML mapping raises ``ValueError`` with the parser's message."""
    m = _FRONT.match(text)
    if not m:
        return {}, text
    try:
        data = yaml.safe_load(m.group(1))
    except yaml.YAMLError as e:
        raise ValueError(f"Invalid YAML in the card's front matter: {e}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError("The card's front matter must be a YAML mapping (key: value lines)")
    return data, text[m.end():]


def join_card(metadata: dict, body: str) -> str:
    """The card text for ``metadata`` and ``body`` (no front matter when metadata is empty)."""
    if not metadata:
        return body
    return "---\n" + yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True) + "---\n" + body
