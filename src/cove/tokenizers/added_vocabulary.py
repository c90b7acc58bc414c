"""Added and special tokens: found in the text before the model runs, as
`tokenizers/src/tokenizer/added_vocabulary.rs` does.

Tokens with `normalized=False` are matched in the raw text first; the pieces between them are
normalized, then tokens with `normalized=True` (matched by their normalized form) are found in
those. Matching is leftmost-longest; `single_word` drops a match touching a word char, `lstrip` /
`rstrip` swallow the whitespace on that side into the token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import regex

from cove.tokenizers.normalized import NormalizedString

_WORD_END = regex.compile(r"\w$")
_WORD_START = regex.compile(r"^\w")
_SPACES_AT_END = regex.compile(r"\s*$")
_SPACES_AT_START = regex.compile(r"^\s*")


@dataclass
class AddedToken:
    """A token matched in the text as a whole; `special` ones are skipped by `decode(skip_special_tokens=True)`."""

    content: str
    single_word: bool = False
    lstrip: bool = False
    rstrip: bool = False
    normalized: bool | None = None  # None: `not special`, decided when the token is added
    special: bool = False

    def to_dict(self, token_id: int) -> dict[str, Any]:
        return {"id": token_id, "content": self.content, "single_word": self.single_word, "lstrip": self.lstrip,
                "rstrip": self.rstrip, "normalized": self.normalized, "special": self.special}


Split = tuple[NormalizedString, int | None]  # a piece of text, and the added token id it is (or None)


class AddedVocabulary:
    """The added tokens of a tokenizer and the matchers that find them."""

    def __init__(self) -> None:
        self.tokens: dict[int, AddedToken] = {}
        self.by_content: dict[str, int] = {}
        self.special: set[str] = set()
        self.encode_special_tokens = False
        self._raw_re: regex.Pattern[str] | None = None
        self._norm_re: regex.Pattern[str] | None = None
        self._norm_ids: dict[str, int] = {}
        self._stale = False  # tokens were added since the matchers were built
        self.version = 0  # counts changes, so copies of this vocabulary (worker processes) know they are stale

    def add(self, token: AddedToken, token_id: int) -> None:
        if token.normalized is None:
            token.normalized = not token.special
        self.tokens[token_id] = token
        self.version += 1
        self.by_content[token.content] = token_id
        if token.special:
            self.special.add(token.content)
        else:
            self.special.discard(token.content)
        self._raw_re = None
        self._stale = True

    def __len__(self) -> int:
        return len(self.tokens)

    def token_to_id(self, content: str) -> int | None:
        return self.by_content.get(content)

    def id_to_token(self, token_id: int) -> str | None:
        t = self.tokens.get(token_id)
        return t.content if t is not None else None

    def is_special(self, content: str) -> bool:
        return content in self.special

    def to_list(self) -> list[dict[str, Any]]:
        return [self.tokens[i].to_dict(i) for i in sorted(self.tokens)]

    def refresh(self, normalizer: Any) -> None:
        """Build both matchers (call after adding tokens or changing the normalizer)."""
        raw = [t.content for t in self.tokens.values() if not t.normalized and t.content]
        self._norm_ids = {}
        for tid, t in sorted(self.tokens.items()):
            if t.normalized and t.content:
                ns = NormalizedString(t.content)
                if normalizer is not None:
                    normalizer.normalize(ns)
                self._norm_ids.setdefault(ns.normalized, tid)
        self._raw_re = _alternation(raw)
        self._norm_re = _alternation(list(self._norm_ids))
        self._stale = False

    def matchers(self, normalizer: Any) -> tuple[regex.Pattern[str] | None, regex.Pattern[str] | None]:
        """(raw, normalized) matchers; a text neither finds anything in has no added token."""
        if self._stale:
            self.refresh(normalizer)
        return self._raw_re, self._norm_re

    def _find(self, text: str, pattern: regex.Pattern[str] | None, ids: dict[str, int]) -> list[tuple[int, int, int | None]]:
        if not text:
            return [(0, 0, None)]
        out: list[tuple[int, int, int | None]] = []
        if pattern is None:
            return [(0, len(text), None)]
        start_offset = 0
        for m in pattern.finditer(text):
            start, stop = m.span()
            tid = ids[m.group()]
            tok = self.tokens[tid]
            if self.encode_special_tokens and tok.special:
                continue
            if tok.single_word:
                start_space = start == 0 or not _WORD_END.search(text[:start])
                stop_space = stop == len(text) or not _WORD_START.search(text[stop:])
                if not (start_space and stop_space):
                    continue
            if tok.lstrip:
                m_sp = _SPACES_AT_END.search(text[:start])
                start = max(m_sp.start() if m_sp else start, start_offset)
            if tok.rstrip:
                m_sp = _SPACES_AT_START.match(text[stop:])
                stop += m_sp.end() if m_sp else 0
            if start_offset < start:
                out.append((start_offset, start, None))
            out.append((start, stop, tid))
            start_offset = stop
        if start_offset != len(text):
            out.append((start_offset, len(text), None))
        return out

    def extract_and_normalize(self, normalizer: Any, text: str, offset: int = 0) -> list[Split]:
        """Split `text` around added tokens and normalize the rest; empty pieces are dropped."""
        if self._stale:
            self.refresh(normalizer)
        whole = NormalizedString(text, offset)
        out: list[Split] = []
        raw_ids = self.by_content
        for s, e, tid in self._find(text, self._raw_re, raw_ids):
            piece = whole.slice(s, e)
            if tid is not None:
                if piece.normalized:
                    out.append((piece, tid))
                continue
            if normalizer is not None:
                normalizer.normalize(piece)
            if self._norm_re is None:
                if piece.normalized:
                    out.append((piece, None))
                continue
            for s2, e2, tid2 in self._find(piece.normalized, self._norm_re, self._norm_ids):
                sub = piece.slice(s2, e2)
                if sub.normalized:
                    out.append((sub, tid2))
        return out


def _alternation(contents: list[str]) -> regex.Pattern[str] | None:
    """Leftmost-longest matcher: alternatives longest first."""
    if not contents:
        return None
    ordered = sorted(set(contents), key=lambda c: (-len(c), c))
    return regex.compile("|".join(regex.escape(c) for c in ordered))
