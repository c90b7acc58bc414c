"""WordPiece, as `tokenizers/src/models/wordpiece/mod.rs` computes it.

Greedy longest-match-first from the left; pieces after the first carry `continuing_subword_prefix`.
A word longer than `max_input_chars_per_word` chars, or one with any unmatched rest, becomes the
single unknown token over the whole word.
"""

from __future__ import annotations

from typing import Any

from cove.tokenizers.models.bpe import CACHE_CAPACITY, Token
from cove.tokenizers.models.unigram import step_trie


class WordPiece:
    """The WordPiece model of a tokenizer.json."""

    def __init__(self, vocab: dict[str, int], *, unk_token: str = "[UNK]", continuing_subword_prefix: str = "##",
                 max_input_chars_per_word: int = 100) -> None:
        self.vocab = vocab
        self.vocab_r = {i: t for t, i in vocab.items()}
        self.unk_token = unk_token
        self.continuing_subword_prefix = continuing_subword_prefix
        self.max_input_chars_per_word = max_input_chars_per_word
        self.max_token_chars = max((len(t) for t in vocab), default=1)
        self.cache: dict[str, tuple[Token, ...]] = {}
        self._tries: tuple[dict[str, Any], dict[str, Any]] | None = None  # built on first use

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WordPiece:
        return cls(dict(d["vocab"]), unk_token=d.get("unk_token", "[UNK]"),
                   continuing_subword_prefix=d.get("continuing_subword_prefix", "##"),
                   max_input_chars_per_word=d.get("max_input_chars_per_word", 100))

    def to_dict(self) -> dict[str, Any]:
        return {"type": "WordPiece", "unk_token": self.unk_token,
                "continuing_subword_prefix": self.continuing_subword_prefix,
                "max_input_chars_per_word": self.max_input_chars_per_word,
                "vocab": dict(sorted(self.vocab.items(), key=lambda kv: kv[1]))}

    def token_to_id(self, token: str) -> int | None:
        return self.vocab.get(token)

    def id_to_token(self, i: int) -> str | None:
        return self.vocab_r.get(i)

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab)

    def _unk(self, word: str) -> tuple[Token, ...]:
        unk_id = self.vocab.get(self.unk_token)
        if unk_id is None:
            raise ValueError(f"unk_token {self.unk_token!r} is not in the vocabulary")
        return ((unk_id, self.unk_token, 0, len(word)),)

    def tokenize(self, word: str) -> tuple[Token, ...]:
        hit = self.cache.get(word)
        if hit is not None:
            return hit
        out = self._tokenize(word)
        if len(self.cache) >= CACHE_CAPACITY:
            self.cache.clear()
        self.cache[word] = out
        return out

    def _tokenize(self, word: str) -> tuple[Token, ...]:
        """The longest piece in the vocabulary at each position, found by walking a char trie:
        the whole vocabulary for the first piece, the `##` pieces (without `##`) for the others."""
        n = len(word)
        if n > self.max_input_chars_per_word:
            return self._unk(word)
        if self._tries is None:
            prefix = self.continuing_subword_prefix
            k = len(prefix)
            self._tries = (step_trie(self.vocab),
                           step_trie({t[k:]: i for t, i in self.vocab.items() if t.startswith(prefix)}))
        first, rest = self._tries
        tokens: list[Token] = []
        start = 0
        while start < n:
            hit = (first if start == 0 else rest).get(word[start])
            pos = start
            end = -1
            tid = -1
            while hit is not None:
                pos += 1
                if hit[0] >= 0:
                    end, tid = pos, hit[0]
                if hit[1] is None or pos == n:
                    break
                hit = hit[1].get(word[pos])
            if end < 0:
                return self._unk(word)
            sub = word[start:end] if start == 0 else self.continuing_subword_prefix + word[start:end]
            tokens.append((tid, sub, start, end))
            start = end
        return tuple(tokens)

    def _tokenize_by_slices(self, word: str) -> tuple[Token, ...]:
        """The reference: try every end from the longest down (`_tokenize` gives the same)."""
        n = len(word)
        if n > self.max_input_chars_per_word:
            return self._unk(word)
        vocab = self.vocab
        prefix = self.continuing_subword_prefix
        limit = self.max_token_chars
        tokens: list[Token] = []
        start = 0
        while start < n:
            end = min(n, start + limit)
            found = None
            while start < end:
                sub = word[start:end] if start == 0 else prefix + word[start:end]
                tid = vocab.get(sub)
                if tid is not None:
                    found = (tid, sub, start, end)
                    break
                end -= 1
            if found is None:
                return self._unk(word)
            tokens.append(found)
            start = end
        return tuple(tokens)
