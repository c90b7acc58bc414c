"""Unigram language model, as `tokenizers/src/models/unigram/model.rs` (`encode_optimized`) computes it.

Viterbi over the lattice of vocabulary pieces starting at each char (found by walking a char
trie, shortest first); a char with no single-char piece gets the unknown piece scored
`min_score - 10`. Ties keep the first candidate found. Consecutive unknowns are fused when
`fuse_unk` (the default); an unknown piece becomes its `<0xNN>` byte tokens when `byte_fallback`,
each with the offsets of the whole piece, else the unk id with the piece's own text as value.
"""

from __future__ import annotations

import math
from typing import Any

from cove.tokenizers.models.bpe import CACHE_CAPACITY, Token

K_UNK_PENALTY = 10.0
_END = ""  # key of a trie node's terminal entry: the token id


def step_trie(vocab: dict[str, int]) -> dict[str, Any]:
    """A char trie of `vocab` as `{char: [token id or -1, next level or None]}`: walking it takes
    one dict lookup per char."""
    root: dict[str, Any] = {}
    for piece, tid in vocab.items():
        if not piece:
            continue
        level = root
        for c in piece[:-1]:
            hit = level.get(c)
            if hit is None:
                nxt: dict[str, Any] = {}
                level[c] = [-1, nxt]
            else:
                nxt = hit[1]
                if nxt is None:
                    nxt = hit[1] = {}
            level = nxt
        hit = level.get(piece[-1])
        if hit is None:
            level[piece[-1]] = [tid, None]
        else:
            hit[0] = tid
    return root


class Unigram:
    """The Unigram model of a tokenizer.json."""

    def __init__(self, vocab: list[tuple[str, float]], *, unk_id: int | None = None,
                 byte_fallback: bool = False, fuse_unk: bool = True) -> None:
        self.pieces = vocab
        self.unk_id = unk_id
        self.byte_fallback = byte_fallback
        self.fuse_unk = fuse_unk
        self.token_to_ids: dict[str, int] = {}
        self.scores: list[float] = []
        self.trie: dict[str, Any] = {}
        for i, (piece, score) in enumerate(vocab):
            self.token_to_ids[piece] = i
            self.scores.append(score)
            node = self.trie
            for c in piece:
                node = node.setdefault(c, {})
            node[_END] = i
        self.min_score = min(self.scores, default=0.0)
        self.cache: dict[str, tuple[Token, ...]] = {}
        self._step_trie: dict[str, Any] | None = None  # built on first use

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Unigram:
        return cls([(p, float(s)) for p, s in d["vocab"]], unk_id=d.get("unk_id"),
                   byte_fallback=d.get("byte_fallback", False))

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Unigram", "unk_id": self.unk_id, "vocab": [[p, s] for p, s in self.pieces],
                "byte_fallback": self.byte_fallback}

    def token_to_id(self, token: str) -> int | None:
        return self.token_to_ids.get(token)

    def id_to_token(self, i: int) -> str | None:
        return self.pieces[i][0] if 0 <= i < len(self.pieces) else None

    def get_vocab(self) -> dict[str, int]:
        return dict(self.token_to_ids)

    def tokenize(self, word: str) -> tuple[Token, ...]:
        hit = self.cache.get(word)
        if hit is not None:
            return hit
        out = self._tokenize(word)
        if len(self.cache) >= CACHE_CAPACITY:
            self.cache.clear()
        self.cache[word] = out
        return out

    def _steps(self) -> dict[str, Any]:
        if self._step_trie is None:
            self._step_trie = step_trie(self.token_to_ids)
        return self._step_trie

    def encode(self, text: str) -> list[tuple[int, int, bool]]:
        """Best segmentation as (start, end, is_unk) char spans."""
        n = len(text)
        if n == 0:
            return []
        unk_id = self.unk_id
        unk_score = self.min_score - K_UNK_PENALTY
        scores = self.scores
        best = [-math.inf] * (n + 1)  # -inf: no candidate yet, so the first one found wins ties
        best[0] = 0.0
        back = [-1] * (n + 1)  # start of the best piece ending here
        ids = [-1] * (n + 1)
        steps = self._steps()
        for start in range(n):
            base = best[start]
            hit = steps.get(text[start])
            if hit is None or hit[0] < 0:  # no single-char piece: the unknown piece covers this char
                if unk_id is None:
                    raise ValueError("Unigram model has no unk_id but the text needs the unknown piece")
                cand = base + unk_score
                if cand > best[start + 1]:
                    best[start + 1], back[start + 1], ids[start + 1] = cand, start, unk_id
            pos = start
            while hit is not None:
                pos += 1
                tid, level = hit
                if tid >= 0:
                    cand = base + scores[tid]
                    if cand > best[pos]:
                        best[pos], back[pos], ids[pos] = cand, start, tid
                if level is None or pos == n:
                    break
                hit = level.get(text[pos])
        spans: list[tuple[int, int, bool]] = []
        end = n
        while end > 0:
            start = back[end]
            is_unk = ids[end] == unk_id
            if is_unk and self.fuse_unk and spans and spans[-1][2]:
                spans[-1] = (start, spans[-1][1], True)
            else:
                spans.append((start, end, is_unk))
            end = start
        spans.reverse()
        return spans

    def _tokenize(self, word: str) -> tuple[Token, ...]:
        tokens: list[Token] = []
        for start, end, _ in self.encode(word):
            piece = word[start:end]
            tid = self.token_to_ids.get(piece)
            if tid is None:
                if self.byte_fallback:
                    byte_ids = [self.token_to_ids.get(f"<0x{b:02X}>") for b in piece.encode("utf-8")]
                    if all(b is not None for b in byte_ids):
                        tokens.extend((b, f"<0x{b_:02X}>", start, end)  # type: ignore[misc]
                                      for b, b_ in zip(byte_ids, piece.encode("utf-8")))
                        continue
                if self.unk_id is None:
                    raise ValueError("Unigram model has no unk_id")
                tid = self.unk_id
            tokens.append((tid, piece, start, end))
        return tuple(tokens)
