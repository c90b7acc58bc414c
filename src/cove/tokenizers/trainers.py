"""Trainers: learn a vocabulary from an iterator of texts, as `tokenizers/src/models/*/trainer.rs` do.

- `BpeTrainer`: word counts from the tokenizer's own normalizer and pre-tokenizer, an alphabet
  (plus `initial_alphabet`, cut to `limit_alphabet` most frequent chars), then repeatedly the most
  frequent pair (ties: the smallest pair of ids) is merged, with the same lazily-updated priority
  queue as the Rust trainer, until `vocab_size` or `min_frequency` stops it.
- `WordPieceTrainer`: the BPE trainer with `continuing_subword_prefix="##"`, the vocabulary given to
  WordPiece (as `WordPiece::from_bpe`).
- `WordLevelTrainer`: the most frequent words.

- `UnigramTrainer`: SentencePiece's EM (see `cove.tokenizers.unigram_trainer`).
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cove.tokenizers.added_vocabulary import AddedToken
from cove.tokenizers.models import BPE, Unigram, WordLevel, WordPiece
from cove.tokenizers.normalized import NormalizedString
from cove.tokenizers.unigram_trainer import UnigramTrainer

__all__ = ["BpeTrainer", "UnigramTrainer", "WordLevelTrainer", "WordPieceTrainer", "count_words", "train_tokenizer"]

Pair = tuple[int, int]


def count_words(tokenizer: Any, texts: Iterable[str]) -> Counter[str]:
    """Pre-tokenized words and their counts, through the tokenizer's normalizer and pre-tokenizer."""
    counts: Counter[str] = Counter()
    for text in texts:
        ns = NormalizedString(text)
        if tokenizer.normalizer is not None:
            tokenizer.normalizer.normalize(ns)
        pieces = tokenizer.pre_tokenizer.pre_tokenize([ns]) if tokenizer.pre_tokenizer is not None else [ns]
        counts.update(p.normalized for p in pieces if p.normalized)
    return counts


@dataclass
class BpeTrainer:
    vocab_size: int = 30000
    min_frequency: int = 0
    special_tokens: list[str] = field(default_factory=list)
    limit_alphabet: int | None = None
    initial_alphabet: list[str] = field(default_factory=list)
    continuing_subword_prefix: str | None = None
    end_of_word_suffix: str | None = None
    max_token_length: int | None = None
    show_progress: bool = False

    def train_words(self, word_counts: dict[str, int]) -> tuple[dict[str, int], list[tuple[str, str]]]:
        """(vocabulary, merges) learned from `word_counts`."""
        word_to_id: dict[str, int] = {}
        id_to_word: list[str] = []

        def add(token: str) -> int:
            if token not in word_to_id:
                word_to_id[token] = len(id_to_word)
                id_to_word.append(token)
            return word_to_id[token]

        for t in self.special_tokens:
            add(t)
        for c in self._alphabet(word_counts):
            add(c)
        prefix, suffix = self.continuing_subword_prefix, self.end_of_word_suffix
        words: list[list[int]] = []
        counts: list[int] = []
        for word, count in word_counts.items():
            symbols: list[int] = []
            last = len(word) - 1
            for i, c in enumerate(word):
                if c not in word_to_id:
                    continue  # outside the alphabet: dropped, as in Rust
                s = c
                if i > 0 and prefix:
                    s = prefix + s
                if i == last and suffix:
                    s = s + suffix
                symbols.append(add(s))
            words.append(symbols)
            counts.append(count)
        max_len = self.max_token_length
        lengths = dict.fromkeys(range(len(id_to_word)), 1)  # base chars per symbol (Rust `Symbol::len`)

        pair_counts: dict[Pair, int] = {}
        where: dict[Pair, set[int]] = {}
        for wi, symbols in enumerate(words):
            for a, b in zip(symbols, symbols[1:]):
                pair_counts[(a, b)] = pair_counts.get((a, b), 0) + counts[wi]
                where.setdefault((a, b), set()).add(wi)
        heap: list[tuple[int, Pair, int, set[int]]] = []
        seq = 0
        for pair, pos in where.items():
            if pair_counts[pair] > 0:
                heap.append((-pair_counts[pair], pair, seq, pos))
                seq += 1
        heapq.heapify(heap)

        merges: list[tuple[Pair, int]] = []
        while len(word_to_id) < self.vocab_size and heap:
            neg, pair, _, pos = heapq.heappop(heap)
            if -neg != pair_counts[pair]:
                heapq.heappush(heap, (-pair_counts[pair], pair, seq, pos))
                seq += 1
                continue
            if -neg < 1 or self.min_frequency > -neg:
                break
            part_a, part_b = id_to_word[pair[0]], id_to_word[pair[1]]
            if prefix and part_b.startswith(prefix):
                part_b = part_b[len(prefix):]
            new_token = part_a + part_b
            if max_len is not None and len(new_token) > max_len:
                continue
            new_id = add(new_token)
            lengths[new_id] = lengths[pair[0]] + lengths[pair[1]]
            merges.append((pair, new_id))
            changes: dict[Pair, int] = {}
            new_where: dict[Pair, set[int]] = {}
            for wi in pos:
                for p, change in _merge_word(words[wi], pair, new_id, lengths, max_len):
                    changes[p] = changes.get(p, 0) + change * counts[wi]
                    if change > 0:
                        new_where.setdefault(p, set()).add(wi)
            for p, c in changes.items():
                pair_counts[p] = pair_counts.get(p, 0) + c
            for p, wpos in new_where.items():
                if pair_counts[p] > 0:
                    heapq.heappush(heap, (-pair_counts[p], p, seq, wpos))
                    seq += 1
        # As the Rust model's merge map: a pair merged twice keeps its last rank.
        last_rank = {pair: rank for rank, (pair, _) in enumerate(merges)}
        ordered = sorted(last_rank.items(), key=lambda kv: kv[1])
        return word_to_id, [(id_to_word[a], id_to_word[b]) for (a, b), _ in ordered]

    def _alphabet(self, word_counts: dict[str, int]) -> list[str]:
        alphabet: dict[str, int] = {}
        for word, count in word_counts.items():
            for c in word:
                alphabet[c] = alphabet.get(c, 0) + count
        for c in self.initial_alphabet:
            alphabet[c] = 2**63  # always kept
        kept = list(alphabet.items())
        if self.limit_alphabet is not None and len(kept) > self.limit_alphabet:
            kept.sort(key=lambda kv: kv[1])
            kept = kept[len(kept) - self.limit_alphabet:]
        return sorted((c for c, _ in kept), key=ord)

    def train(self, tokenizer: Any, texts: Iterable[str]) -> None:
        vocab, merges = self.train_words(count_words(tokenizer, texts))
        old = tokenizer.model
        tokenizer.model = BPE(vocab, merges, unk_token=getattr(old, "unk_token", None),
                              continuing_subword_prefix=self.continuing_subword_prefix,
                              end_of_word_suffix=self.end_of_word_suffix, fuse_unk=getattr(old, "fuse_unk", False),
                              byte_fallback=getattr(old, "byte_fallback", False),
                              ignore_merges=getattr(old, "ignore_merges", False))
        tokenizer.add_special_tokens([AddedToken(t, special=True) for t in self.special_tokens])


def _merge_word(symbols: list[int], pair: Pair, new_id: int, lengths: dict[int, int],
                max_len: int | None) -> list[tuple[Pair, int]]:
    """Merge every `pair` in `symbols` in place, left to right; return the pair count changes (Rust `Word::merge`)."""
    a, b = pair
    changes: list[tuple[Pair, int]] = []
    limit = max_len if max_len is not None else 1 << 62
    i = 0
    while i < len(symbols):
        if symbols[i] == a and i + 1 < len(symbols) and symbols[i + 1] == b:
            new_len = lengths[a] + lengths[b]
            if i > 0:
                changes.append(((symbols[i - 1], a), -1))
                if lengths[symbols[i - 1]] + new_len < limit:
                    changes.append(((symbols[i - 1], new_id), 1))
            symbols[i:i + 2] = [new_id]
            if i < len(symbols) - 1:
                changes.append(((b, symbols[i + 1]), -1))
                if lengths[symbols[i + 1]] + new_len < limit:
                    changes.append(((new_id, symbols[i + 1]), 1))
        i += 1
    return changes


@dataclass
class WordPieceTrainer:
    vocab_size: int = 30000
    min_frequency: int = 0
    special_tokens: list[str] = field(default_factory=list)
    limit_alphabet: int | None = None
    initial_alphabet: list[str] = field(default_factory=list)
    continuing_subword_prefix: str = "##"
    end_of_word_suffix: str | None = None
    show_progress: bool = False

    def train(self, tokenizer: Any, texts: Iterable[str]) -> None:
        bpe = BpeTrainer(self.vocab_size, self.min_frequency, list(self.special_tokens), self.limit_alphabet,
                         list(self.initial_alphabet), self.continuing_subword_prefix, self.end_of_word_suffix)
        vocab, _ = bpe.train_words(count_words(tokenizer, texts))
        old = tokenizer.model
        tokenizer.model = WordPiece(vocab, unk_token=getattr(old, "unk_token", "[UNK]"),
                                    continuing_subword_prefix=self.continuing_subword_prefix,
                                    max_input_chars_per_word=getattr(old, "max_input_chars_per_word", 100))
        tokenizer.add_special_tokens([AddedToken(t, special=True) for t in self.special_tokens])


@dataclass
class WordLevelTrainer:
    vocab_size: int = 30000
    min_frequency: int = 0
    special_tokens: list[str] = field(default_factory=list)
    show_progress: bool = False

    def train(self, tokenizer: Any, texts: Iterable[str]) -> None:
        counts = count_words(tokenizer, texts)
        vocab: dict[str, int] = {}
        for t in self.special_tokens:
            vocab.setdefault(t, len(vocab))
        for word, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            if len(vocab) >= self.vocab_size:
                break
            if n >= self.min_frequency:
                vocab.setdefault(word, len(vocab))
        old = tokenizer.model
        tokenizer.model = WordLevel(vocab, unk_token=getattr(old, "unk_token", "<unk>"))
        tokenizer.add_special_tokens([AddedToken(t, special=True) for t in self.special_tokens])


def train_tokenizer(tokenizer: Any, texts: Iterable[str], trainer: Any = None) -> None:
    """`Tokenizer.train_from_iterator`: the default trainer follows the tokenizer's model type."""
    if trainer is None:
        model = tokenizer.model
        trainer = (UnigramTrainer() if isinstance(model, Unigram) else WordPieceTrainer() if isinstance(model, WordPiece) else WordLevelTrainer()
                   if isinstance(model, WordLevel) else BpeTrainer())
    trainer.train(tokenizer, texts)
