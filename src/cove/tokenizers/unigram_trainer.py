"""Unigram training: SentencePiece's EM, as `tokenizers/src/models/unigram/trainer.rs` runs it.

1. Seeds: every char (scored by its count), then the substrings of the distinct words that a
   suffix tree would hold as internal nodes (they occur at least twice, followed by two different
   chars or the end of a word), 2 to `max_piece_length` chars, scored occurrences x length, best
   first, up to `seed_size` pieces; scores become log probabilities.
2. Loop: `n_sub_iterations` of EM (E: expected piece counts by forward-backward over each word's
   lattice, weighted by the word's count; M: drop pieces expected less than 0.5 times, score the
   rest digamma(count) - digamma(total), the Bayesian EM of the reference); stop once at most
   1.1 x `vocab_size` pieces are left; else prune to max(1.1 x `vocab_size`, `shrinking_factor` x
   pieces) by the loss in likelihood of replacing each piece by its second-best segmentation.
3. Finalize: every char of the corpus and of `initial_alphabet` (missing ones scored just above the
   lowest score), then the best pieces up to `vocab_size` in all, sorted by score; the special
   tokens (and `unk_token` unless it is one of them) come first.

Where the reference leaves order to a hash map (the sentences, the chars missing at the end), Cove
takes the corpus order and sorted chars, so results are deterministic; tokens tied in score can
come out in another order than one `tokenizers` run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cove.tokenizers.added_vocabulary import AddedToken

UNK_PENALTY = 10.0
Piece = tuple[str, float]


def digamma(x: float) -> float:
    """The digamma function by its asymptotic series (the reference's own approximation)."""
    result = 0.0
    while x < 7.0:
        result -= 1.0 / x
        x += 1.0
    x -= 0.5
    xx = 1.0 / x
    xx2 = xx * xx
    xx4 = xx2 * xx2
    return (
        result
        + math.log(x)
        + xx2 / 24.0
        - 7.0 / 960.0 * xx4
        + 31.0 / 8064.0 * xx4 * xx2
        - 127.0 / 30720.0 * xx4 * xx4
    )


def _logaddexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    if a < b:
        a, b = b, a
    return a + math.log1p(math.exp(b - a))


class _Lattice:
    """The candidate pieces of one word under a vocabulary: (begin, end, id, score) nodes."""

    __slots__ = ("n", "ends_at")

    def __init__(
        self, word: str, ids: dict[str, int], scores: list[float], unk_score: float, max_len: int
    ) -> None:
        n = self.n = len(word)
        self.ends_at: list[list[tuple[int, int, float]]] = [[] for _ in range(n + 1)]  # (begin, id, score)
        for b in range(n):
            single = False
            for e in range(b + 1, min(n, b + max_len) + 1):
                tid = ids.get(word[b:e])
                if tid is not None:
                    self.ends_at[e].append((b, tid, scores[tid]))
                    single = single or e == b + 1
            if not single:  # the unknown piece (id 0 while training)
                self.ends_at[b + 1].append((b, 0, unk_score))
        for lst in self.ends_at:
            lst.sort(key=lambda node: node[0])  # ties go to the earliest begin, as nodes are inserted in Rust

    def viterbi(self) -> list[int]:
        n = self.n
        best = [0.0] * (n + 1)
        back: list[tuple[int, int] | None] = [None] * (n + 1)
        for e in range(1, n + 1):
            chosen: tuple[int, int] | None = None
            score = 0.0
            for b, tid, s in self.ends_at[e]:
                if b and back[b] is None:
                    continue
                cand = best[b] + s
                if chosen is None or cand > score:
                    chosen, score = (b, tid), cand
            best[e], back[e] = score, chosen
        out: list[int] = []
        e = n
        while e > 0:
            b, tid = back[e]  # type: ignore[misc]
            out.append(tid)
            e = b
        out.reverse()
        return out

    def two_best(self) -> list[list[int]]:
        """The best and second-best segmentations (fewer when there are fewer)."""
        n = self.n
        kbest: list[list[tuple[float, tuple[int, ...]]]] = [[] for _ in range(n + 1)]
        kbest[0] = [(0.0, ())]
        for e in range(1, n + 1):
            cands: list[tuple[float, tuple[int, ...]]] = []
            for b, tid, s in self.ends_at[e]:
                for sc, path in kbest[b]:
                    cands.append((sc + s, (*path, tid)))
            cands.sort(key=lambda c: -c[0])  # stable: earlier begins first among ties
            kbest[e] = cands[:2]
        return [list(p) for _, p in kbest[n]]

    def add_marginals(self, freq: float, expected: list[float]) -> float:
        """Add `freq` x each node's posterior to `expected[id]`; return `freq` x log Z."""
        n = self.n
        alpha = [-math.inf] * (n + 1)
        alpha[0] = 0.0
        for e in range(1, n + 1):
            acc = -math.inf
            for b, _, s in self.ends_at[e]:
                acc = _logaddexp(acc, alpha[b] + s)
            alpha[e] = acc
        beta = [-math.inf] * (n + 1)
        beta[n] = 0.0
        starts: list[list[tuple[int, float]]] = [[] for _ in range(n + 1)]
        for e in range(1, n + 1):
            for b, _, s in self.ends_at[e]:
                starts[b].append((e, s))
        for b in range(n - 1, -1, -1):
            acc = -math.inf
            for e, s in starts[b]:
                acc = _logaddexp(acc, beta[e] + s)
            beta[b] = acc
        z = alpha[n]
        for e in range(1, n + 1):
            be = beta[e]
            for b, tid, s in self.ends_at[e]:
                expected[tid] += freq * math.exp(alpha[b] + s + be - z)
        return freq * z


@dataclass
class UnigramTrainer:
    vocab_size: int = 8000
    show_progress: bool = False
    special_tokens: list[str] = field(default_factory=list)
    initial_alphabet: list[str] = field(default_factory=list)
    shrinking_factor: float = 0.75
    unk_token: str | None = None
    max_piece_length: int = 16
    n_sub_iterations: int = 2
    seed_size: int = 1_000_000

    def __post_init__(self) -> None:
        if self.vocab_size < 1:
            raise ValueError("vocab_size must be at least 1")
        if not 0.0 < self.shrinking_factor < 1.0:
            raise ValueError("shrinking_factor must be in (0, 1)")
        if self.max_piece_length < 1 or self.n_sub_iterations < 1:
            raise ValueError("max_piece_length and n_sub_iterations must be at least 1")

    # -- the algorithm -------------------------------------------------------------------------
    def train_words(self, word_counts: dict[str, int]) -> tuple[list[Piece], int | None]:
        """(pieces with scores, unk id) learned from `word_counts`."""
        sentences = [(w, c) for w, c in word_counts.items() if w]
        pieces: list[Piece] = [("<UNK>", math.nan), *self._seeds(sentences)]
        desired = self.vocab_size * 11 // 10
        while True:
            for _ in range(self.n_sub_iterations):
                expected = self._e_step(pieces, sentences)
                pieces = self._m_step(pieces, expected)
            if len(pieces) <= desired:
                break
            pieces = self._prune(pieces, sentences, desired)
        return self._finalize(pieces, sentences)

    def _seeds(self, sentences: list[tuple[str, int]]) -> list[Piece]:
        chars: dict[str, int] = {}
        for word, count in sentences:
            for c in word:
                if c != "\0":
                    chars[c] = chars.get(c, 0) + count
        # substring -> [occurrences, the char after its first occurrence, followed by two different chars]
        subs: dict[str, list[Any]] = {}
        max_len = self.max_piece_length
        for word, _ in sentences:
            n = len(word)
            for b in range(n):
                for e in range(b + 2, min(n, b + max_len) + 1):
                    s = word[b:e]
                    nxt = word[e] if e < n else "\0"
                    entry = subs.get(s)
                    if entry is None:
                        subs[s] = [1, nxt, False]
                    else:
                        entry[0] += 1
                        if not entry[2] and entry[1] != nxt:
                            entry[2] = True
        seeds: list[tuple[float, str]] = [(float(c), ch) for ch, c in chars.items()]
        seeds.sort(key=lambda x: (x[0], x[1]), reverse=True)
        # Suffix-tree internal nodes of the words joined by NUL: substrings followed by two different
        # chars (NUL, the end of a word, being one of them).
        found = [(occ * len(s), s) for s, (occ, _, branching) in subs.items() if branching and "\0" not in s]
        found.sort(reverse=True)
        out = list(seeds)
        for score, s in found:
            out.append((float(score), s))
            if len(out) >= self.seed_size:
                break
        total = math.log(sum(score for score, _ in out))
        return [(s, math.log(score) - total) for score, s in out]

    def _model(self, pieces: list[Piece]) -> tuple[dict[str, int], list[float], float]:
        ids = {p: i for i, (p, _) in enumerate(pieces)}
        scores = [s for _, s in pieces]
        finite = [s for s in scores if not math.isnan(s)]
        return ids, scores, (min(finite) if finite else 0.0) - UNK_PENALTY

    def _e_step(self, pieces: list[Piece], sentences: list[tuple[str, int]]) -> list[float]:
        ids, scores, unk = self._model(pieces)
        expected = [0.0] * len(pieces)
        for word, count in sentences:
            z = _Lattice(word, ids, scores, unk, self.max_piece_length).add_marginals(float(count), expected)
            if math.isnan(z):
                raise ValueError("likelihood is NaN: a training sentence may be too long")
        return expected

    def _m_step(self, pieces: list[Piece], expected: list[float]) -> list[Piece]:
        kept: list[tuple[str, float]] = [(pieces[0][0], math.nan)]
        total = 0.0
        for (piece, _), freq in zip(pieces[1:], expected[1:]):
            if freq < 0.5:
                continue
            kept.append((piece, freq))
            total += freq
        logsum = digamma(total)
        return [kept[0]] + [(p, digamma(f) - logsum) for p, f in kept[1:]]

    def _prune(self, pieces: list[Piece], sentences: list[tuple[str, int]], desired: int) -> list[Piece]:
        ids, scores, unk = self._model(pieces)
        max_len = self.max_piece_length
        always_keep = [True] * len(pieces)
        alternatives: list[list[int]] = [[] for _ in pieces]
        always_keep[0] = False
        for i, (piece, _) in enumerate(pieces[1:], 1):
            nbest = _Lattice(piece, ids, scores, unk, max_len).two_best()
            if len(nbest) == 1:
                always_keep[i] = True
            elif len(nbest[0]) >= 2:
                always_keep[i] = False
            elif len(nbest[0]) == 1:
                always_keep[i] = True
                alternatives[i] = nbest[1]
        vsum = 0.0
        freq = [0.0] * len(pieces)
        inverted: list[list[int]] = [[] for _ in pieces]
        for si, (word, count) in enumerate(sentences):
            vsum += count
            for tid in _Lattice(word, ids, scores, unk, max_len).viterbi():
                freq[tid] += count
                inverted[tid].append(si)
        total = sum(freq)
        logsum = math.log(total)
        # As the reference: the alternatives' count in the new total is that of *all* pieces.
        logsum_alt_base = len(alternatives) - 1
        kept: list[Piece] = [pieces[0]]
        candidates: list[tuple[int, float]] = []
        for i, (piece, score) in enumerate(pieces[1:], 1):
            if freq[i] == 0.0 and not always_keep[i]:
                continue
            if not alternatives[i]:
                kept.append((piece, score))
                continue
            f = sum(sentences[s][1] for s in inverted[i])
            if f == 0.0:
                continue
            f /= vsum
            logprob_sp = math.log(freq[i]) - logsum
            logsum_alt = math.log(total + freq[i] * logsum_alt_base)
            logprob_alt = sum(math.log(freq[a] + freq[i]) - logsum_alt for a in alternatives[i])
            candidates.append((i, f * (logprob_sp - logprob_alt)))
        size = max(desired, int(len(pieces) * self.shrinking_factor))
        candidates.sort(key=lambda c: -c[1])
        for i, _ in candidates:
            if len(kept) == size:
                break
            kept.append(pieces[i])
        return kept

    def _finalize(
        self, pieces: list[Piece], sentences: list[tuple[str, int]]
    ) -> tuple[list[Piece], int | None]:
        required = sorted(
            {c for word, _ in sentences for c in word} | {a[0] for a in self.initial_alphabet if a}
        )
        existing = dict(pieces)
        finite = [s for _, s in pieces if not math.isnan(s)]
        min_score = min(finite) if finite else 0.0
        add_unk = self.unk_token is not None and self.unk_token not in self.special_tokens
        room = self.vocab_size - len(self.special_tokens) - add_unk  # the vocabulary counts the specials
        out: list[Piece] = []
        inserted = {"<UNK>"}
        penalty = 0.0
        for c in required:
            if c in existing and not math.isnan(existing[c]):
                out.append((c, existing[c]))
            else:
                out.append((c, min_score + penalty))
                penalty += 0.0001
            inserted.add(c)
        for piece, score in pieces:
            if piece in inserted:
                continue
            inserted.add(piece)
            out.append((piece, 0.0 if math.isnan(score) else score))
            if len(out) == room:
                break
        out.sort(key=lambda p: -p[1])
        specials: list[Piece] = [(t, 0.0) for t in self.special_tokens]
        unk_id: int | None = None
        if self.unk_token is not None:
            if self.unk_token in self.special_tokens:
                unk_id = self.special_tokens.index(self.unk_token)
            else:
                specials.insert(0, (self.unk_token, 0.0))
                unk_id = 0
        return specials + out, unk_id

    # -- the trainer interface -----------------------------------------------------------------
    def train(self, tokenizer: Any, texts: Iterable[str]) -> None:
        from cove.tokenizers.models import Unigram
        from cove.tokenizers.trainers import count_words

        pieces, unk_id = self.train_words(count_words(tokenizer, texts))
        tokenizer.model = Unigram(pieces, unk_id=unk_id)  # a new model, as the reference makes
        tokenizer.add_special_tokens([AddedToken(t, special=True) for t in self.special_tokens])
