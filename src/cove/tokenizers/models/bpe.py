"""Byte-Pair Encoding, as `tokenizers/src/models/bpe/{model,word}.rs` computes it.

A word starts as one symbol per char (with `continuing_subword_prefix` on every char but the first
and `end_of_word_suffix` on the last); a char missing from the vocabulary becomes its UTF-8 bytes
as `<0xNN>` tokens when `byte_fallback` is set, else the unknown token (fused when `fuse_unk`).
Then the adjacent pair with the lowest merge rank is merged, leftmost first, until none is left —
a heap over (rank, position) as in the Rust `Word::merge_all`. Results are cached per word.

Offsets are in chars of the word; a byte-fallback token covers the whole char it came from,
which is what the Rust byte offsets become once converted to chars.

BPE-dropout (Provilkov et al., 2020): with `dropout` p, each merge about to be applied is skipped
with probability p, and the skipped ones come back after the next merge that is applied (Rust
`Word::merge_all`). Words are then not cached. `seed` makes the draws reproducible (the Rust
library draws from a thread-local generator, so only p = 0 and p = 1 give its exact output).
"""

from __future__ import annotations

import heapq
import random
from typing import Any

Token = tuple[int, str, int, int]  # (id, value, start, end), offsets in chars of the word

CACHE_CAPACITY = 200_000


_NO_MERGE = 1 << 62  # the rank of a pair that no merge joins

class BPE:
    """The BPE model of a tokenizer.json."""

    def __init__(self, vocab: dict[str, int], merges: list[tuple[str, str]], *, unk_token: str | None = None,
                 continuing_subword_prefix: str | None = None, end_of_word_suffix: str | None = None,
                 fuse_unk: bool = False, byte_fallback: bool = False, ignore_merges: bool = False,
                 dropout: float | None = None, seed: int | None = None) -> None:
        if dropout is not None and not 0.0 <= dropout <= 1.0:
            raise ValueError(f"BPE dropout must be between 0 and 1, got {dropout}")
        self.rng = random.Random(seed)
        self.vocab = vocab
        self.vocab_r = {i: t for t, i in vocab.items()}
        self.merges = merges
        self.unk_token = unk_token
        self.continuing_subword_prefix = continuing_subword_prefix or None
        self.end_of_word_suffix = end_of_word_suffix or None
        self._raw_affixes = (continuing_subword_prefix, end_of_word_suffix)  # written back as read
        self.fuse_unk = fuse_unk
        self.byte_fallback = byte_fallback
        self.ignore_merges = ignore_merges
        self.dropout = dropout
        prefix_len = len(self.continuing_subword_prefix or "")
        # (left id, right id) -> (rank, merged id)
        self.merge_map: dict[tuple[int, int], tuple[int, int]] = {}
        for rank, (a, b) in enumerate(merges):
            merged = a + b[prefix_len:]
            try:
                key = (vocab[a], vocab[b])
                new_id = vocab[merged]
            except KeyError as e:
                raise ValueError(f"merge {a!r} {b!r} refers to a token missing from the vocabulary") from e
            self.merge_map[key] = (rank, new_id)  # a repeated pair: the last one wins, as in Rust
        self._byte_ids: list[int | None] = [vocab.get(f"<0x{b:02X}>") for b in range(256)]
        self.cache: dict[str, tuple[Token, ...]] = {}

    # -- tokenizer.json -----------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BPE:
        raw = d.get("merges") or []
        merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else (m[0], m[1]) for m in raw]
        return cls(dict(d["vocab"]), merges, unk_token=d.get("unk_token"),  # type: ignore[arg-type]
                   continuing_subword_prefix=d.get("continuing_subword_prefix"),
                   end_of_word_suffix=d.get("end_of_word_suffix"), fuse_unk=d.get("fuse_unk", False),
                   byte_fallback=d.get("byte_fallback", False), ignore_merges=d.get("ignore_merges", False),
                   dropout=d.get("dropout"))

    def to_dict(self) -> dict[str, Any]:
        merges = [[a, b] for a, b in self.merges]  # the current format; tokenizers reads both
        return {"type": "BPE", "dropout": self.dropout, "unk_token": self.unk_token,
                "continuing_subword_prefix": self._raw_affixes[0], "end_of_word_suffix": self._raw_affixes[1],
                "fuse_unk": self.fuse_unk,
                "byte_fallback": self.byte_fallback, "ignore_merges": self.ignore_merges,
                "vocab": dict(sorted(self.vocab.items(), key=lambda kv: kv[1])), "merges": merges}

    def token_to_id(self, token: str) -> int | None:
        return self.vocab.get(token)

    def id_to_token(self, i: int) -> str | None:
        return self.vocab_r.get(i)

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab)

    # -- encoding ------------------------------------------------------------------------------
    def tokenize(self, word: str) -> tuple[Token, ...]:
        if self.dropout:
            if not word:
                return ()
            if self.ignore_merges and word in self.vocab:
                return ((self.vocab[word], word, 0, len(word)),)
            return self._merge_word(word, self.dropout)
        hit = self.cache.get(word)
        if hit is not None:
            return hit
        if not word:
            return ()
        if self.ignore_merges and word in self.vocab:
            out: tuple[Token, ...] = ((self.vocab[word], word, 0, len(word)),)
        else:
            out = self._merge_word(word)
        if len(word) <= 256:  # as the Rust cache: long words are not kept
            if len(self.cache) >= CACHE_CAPACITY:
                self.cache.clear()
            self.cache[word] = out
        return out

    def _initial_symbols(self, word: str) -> tuple[list[int], list[int], list[int]]:
        """One symbol per char: (ids, starts, ends), char offsets in the word."""
        vocab = self.vocab
        prefix, suffix = self.continuing_subword_prefix, self.end_of_word_suffix
        if not prefix and not suffix:  # the common case: every char is a token, looked up in bulk
            ids = list(map(vocab.get, word))
            if None not in ids:
                return ids, list(range(len(word))), list(range(1, len(word) + 1))  # type: ignore[return-value]
        ids: list[int] = []
        starts: list[int] = []
        ends: list[int] = []
        unk: list[int] | None = None  # [id, start, end] of a pending unknown symbol
        last = len(word) - 1
        for i, c in enumerate(word):
            s = c
            if prefix and i > 0:
                s = prefix + s
            if suffix and i == last:
                s = s + suffix
            tid = vocab.get(s)
            if tid is not None:
                if unk is not None:
                    ids.append(unk[0])
                    starts.append(unk[1])
                    ends.append(unk[2])
                    unk = None
                ids.append(tid)
                starts.append(i)
                ends.append(i + 1)
                continue
            if self.byte_fallback:
                byte_ids = [self._byte_ids[b] for b in s.encode("utf-8")]
                if all(b is not None for b in byte_ids):
                    for b in byte_ids:
                        ids.append(b)  # type: ignore[arg-type]
                        starts.append(i)
                        ends.append(i + 1)
                    continue
            if self.unk_token is not None:
                unk_id = vocab.get(self.unk_token)
                if unk_id is None:
                    raise ValueError(f"unk_token {self.unk_token!r} is not in the vocabulary")
                if unk is not None and self.fuse_unk:
                    unk[2] = i + 1
                else:
                    if unk is not None:
                        ids.append(unk[0])
                        starts.append(unk[1])
                        ends.append(unk[2])
                    unk = [unk_id, i, i + 1]
        if unk is not None:
            ids.append(unk[0])
            starts.append(unk[1])
            ends.append(unk[2])
        return ids, starts, ends

    def _merge_word(self, word: str, dropout: float = 0.0) -> tuple[Token, ...]:
        ids, starts, ends = self._initial_symbols(word)
        n = len(ids)
        merge_map = self.merge_map
        draw = self.rng.random
        if 1 < n <= 24 and not dropout:  # short words: rescan all pairs each step (same choice as the heap: lowest rank, leftmost)
            # The ranks of adjacent pairs in a list; each step takes the lowest (leftmost on ties)
            # with C-level min/index and recomputes only the two pairs next to the merge.
            get = merge_map.get
            pairs = list(map(get, zip(ids, ids[1:])))
            ranks = [_NO_MERGE if m is None else m[0] for m in pairs]
            while True:
                best = min(ranks)
                if best == _NO_MERGE:
                    break
                i = ranks.index(best)
                ids[i:i + 2] = [pairs[i][1]]  # type: ignore[index]
                ends[i] = ends[i + 1]
                del starts[i + 1], ends[i + 1], pairs[i], ranks[i]
                if not ranks:
                    break
                if i > 0:
                    m = pairs[i - 1] = get((ids[i - 1], ids[i]))
                    ranks[i - 1] = _NO_MERGE if m is None else m[0]
                if i < len(ranks):
                    m = pairs[i] = get((ids[i], ids[i + 1]))
                    ranks[i] = _NO_MERGE if m is None else m[0]
            return tuple(zip(ids, map(self.vocab_r.__getitem__, ids), starts, ends))
        elif n > 1:
            nxt = list(range(1, n + 1))
            prv = list(range(-1, n - 1))
            nxt[-1] = -1
            alive = [True] * n
            heap: list[tuple[int, int, int]] = []
            for i in range(n - 1):
                m = merge_map.get((ids[i], ids[i + 1]))
                if m is not None:
                    heap.append((m[0], i, m[1]))
            heapq.heapify(heap)
            skipped: list[tuple[int, int, int]] = []
            while heap:
                top = heapq.heappop(heap)
                if dropout and draw() < dropout:
                    skipped.append(top)
                    continue
                for item in skipped:  # back in the queue once a merge is applied
                    heapq.heappush(heap, item)
                skipped.clear()
                rank, pos, new_id = top
                if not alive[pos]:
                    continue
                right = nxt[pos]
                if right == -1:
                    continue
                m = merge_map.get((ids[pos], ids[right]))
                if m is None or m[1] != new_id:
                    continue  # an expired entry: one side was merged since
                ids[pos] = new_id
                ends[pos] = ends[right]
                alive[right] = False
                nxt[pos] = nxt[right]
                if nxt[pos] != -1:
                    prv[nxt[pos]] = pos
                left = prv[pos]
                if left != -1:
                    m = merge_map.get((ids[left], new_id))
                    if m is not None:
                        heapq.heappush(heap, (m[0], left, m[1]))
                if nxt[pos] != -1:
                    m = merge_map.get((new_id, ids[nxt[pos]]))
                    if m is not None:
                        heapq.heappush(heap, (m[0], pos, m[1]))
            order = [i for i in range(n) if alive[i]]
        else:
            order = list(range(n))
        vocab_r = self.vocab_r
        return tuple((ids[i], vocab_r[ids[i]], starts[i], ends[i]) for i in order)
