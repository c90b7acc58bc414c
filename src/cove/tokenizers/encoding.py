"""`Encoding`: the output of the tokenizer for one input (or pair), as `tokenizers` shapes it.

Mirrors `tokenizers/src/tokenizer/encoding.rs`: parallel lists (ids, type_ids, tokens, offsets,
word ids, special-token and attention masks), the overflowing parts left by truncation, the
ranges of each sequence, and the `merge_with`, `truncate` and `pad` operations with the same
semantics (including how overflowing parts of a pair combine). Offsets are in chars;
`to_byte_offsets` turns them into UTF-8 byte offsets (`Tokenizer.encode(..., offset_type="byte")`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

Offsets = tuple[int, int]
OFFSET_TYPES = ("char", "byte")
_UTF8_CHAR = re.compile(rb"[^\x80-\xbf][\x80-\xbf]*")  # one char's UTF-8 bytes


@dataclass
class Encoding:
    ids: list[int] = field(default_factory=list)
    type_ids: list[int] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    offsets: list[Offsets] = field(default_factory=list)
    word_ids: list[int | None] = field(default_factory=list)
    special_tokens_mask: list[int] = field(default_factory=list)
    attention_mask: list[int] = field(default_factory=list)
    overflowing: list[Encoding] = field(default_factory=list)
    sequence_ranges: dict[int, tuple[int, int]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"Encoding(num_tokens={len(self.ids)}, overflowing={len(self.overflowing)})"

    @property
    def words(self) -> list[int | None]:
        return self.word_ids

    @property
    def n_sequences(self) -> int:
        return max(1, len(self.sequence_ranges))

    @property
    def sequence_ids(self) -> list[int | None]:
        out: list[int | None] = [None] * len(self.ids)
        for seq, (s, e) in self.sequence_ranges.items():
            for i in range(s, e):
                out[i] = seq
        return out

    def set_sequence_id(self, seq: int) -> None:
        """All tokens (and those of every overflowing part) belong to sequence `seq`."""
        self.sequence_ranges[seq] = (0, len(self.ids))
        for o in self.overflowing:
            o.set_sequence_id(seq)

    def copy(self) -> Encoding:
        return Encoding(list(self.ids), list(self.type_ids), list(self.tokens), list(self.offsets),
                        list(self.word_ids), list(self.special_tokens_mask), list(self.attention_mask),
                        [o.copy() for o in self.overflowing], dict(self.sequence_ranges))

    def token_to_chars(self, token: int) -> Offsets | None:
        return self.offsets[token] if 0 <= token < len(self.offsets) else None

    def char_to_token(self, pos: int, sequence_index: int = 0) -> int | None:
        seq_ids = self.sequence_ids
        for i, (s, e) in enumerate(self.offsets):
            if s <= pos < e and (seq_ids[i] in (None, sequence_index) or not self.sequence_ranges):
                if self.special_tokens_mask[i] == 0:
                    return i
        return None

    # -- combination ---------------------------------------------------------------------------
    def merge_with(self, pair: Encoding, growing_offsets: bool = False) -> None:
        """Append `pair`, combining overflowing parts as `Encoding::merge_with` does."""
        overflowings: list[Encoding] = []
        for self_o in self.overflowing:
            n = self_o.copy()
            n.merge_with(pair.copy(), growing_offsets)
            overflowings.append(n)
            for other_o in pair.overflowing:
                n = self_o.copy()
                n.merge_with(other_o.copy(), growing_offsets)
                overflowings.append(n)
        for other_o in pair.overflowing:
            n = self.copy()
            n.merge_with(other_o.copy(), growing_offsets)
            overflowings.append(n)
        base = len(self.ids)
        for seq, (s, e) in pair.sequence_ranges.items():
            self.sequence_ranges[seq] = (base + s, base + e)
        shift = self.offsets[-1][1] if growing_offsets and self.offsets else 0
        self.ids.extend(pair.ids)
        self.type_ids.extend(pair.type_ids)
        self.tokens.extend(pair.tokens)
        self.word_ids.extend(pair.word_ids)
        self.offsets.extend((s + shift, e + shift) for s, e in pair.offsets) if shift else self.offsets.extend(pair.offsets)
        self.special_tokens_mask.extend(pair.special_tokens_mask)
        self.attention_mask.extend(pair.attention_mask)
        self.overflowing = overflowings

    @staticmethod
    def merge(encodings: list[Encoding], growing_offsets: bool = False) -> Encoding:
        out = Encoding()
        for e in encodings:
            out.merge_with(e, growing_offsets)
        return out

    def _slice(self, s: int, e: int) -> Encoding:
        return Encoding(self.ids[s:e], self.type_ids[s:e], self.tokens[s:e], self.offsets[s:e], self.word_ids[s:e],
                        self.special_tokens_mask[s:e], self.attention_mask[s:e])

    def truncate(self, max_length: int, stride: int = 0, direction: str = "right") -> None:
        """Keep `max_length` tokens; the rest goes to `overflowing`, windows overlapping by `stride`."""
        n = len(self.ids)
        if max_length >= n:
            return
        if max_length == 0:
            whole = self.copy()
            self.__init__()  # type: ignore[misc]
            self.overflowing.append(whole)
            return
        if stride >= max_length:
            raise ValueError(f"stride ({stride}) must be strictly less than max_length ({max_length}); note that "
                             "max_length may already be reduced by the special tokens")
        self.sequence_ranges.clear()
        step = max_length - stride
        parts: list[tuple[int, int]] = []
        if direction == "right":
            for start in range(0, n, step):
                stop = min(start + max_length, n)
                parts.append((start, stop))
                if stop == n:
                    break
        else:
            for last in range(n - 1, -1, -step):
                stop = last + 1
                start = max(0, stop - max_length)
                parts.append((start, stop))
                if start == 0:
                    break
        first = self._slice(*parts[0])
        first.overflowing = [self._slice(s, e) for s, e in parts[1:]]
        self.__dict__.update(first.__dict__)

    def pad(self, length: int, *, pad_id: int = 0, pad_type_id: int = 0, pad_token: str = "[PAD]",
            direction: str = "right") -> None:
        for o in self.overflowing:
            o.pad(length, pad_id=pad_id, pad_type_id=pad_type_id, pad_token=pad_token, direction=direction)
        k = length - len(self.ids)
        if k <= 0:
            return
        if direction == "left":
            self.ids[:0] = [pad_id] * k
            self.type_ids[:0] = [pad_type_id] * k
            self.tokens[:0] = [pad_token] * k
            self.word_ids[:0] = [None] * k
            self.attention_mask[:0] = [0] * k
            self.special_tokens_mask[:0] = [1] * k
            self.offsets[:0] = [(0, 0)] * k
            self.sequence_ranges = {q: (s + k, e + k) for q, (s, e) in self.sequence_ranges.items()}
        else:
            self.ids.extend([pad_id] * k)
            self.type_ids.extend([pad_type_id] * k)
            self.tokens.extend([pad_token] * k)
            self.word_ids.extend([None] * k)
            self.attention_mask.extend([0] * k)
            self.special_tokens_mask.extend([1] * k)
            self.offsets.extend([(0, 0)] * k)


# -- byte offsets ----------------------------------------------------------------------------------
def check_offset_type(offset_type: str) -> None:
    if offset_type not in OFFSET_TYPES:
        raise ValueError(f"offset_type must be 'char' or 'byte', not {offset_type!r}")


def utf8_prefix_lengths(text: str) -> list[int] | None:
    """`[len(text[:i].encode("utf-8")) for i in range(len(text) + 1)]`, or None for ASCII text
    (where it is `i`)."""
    if text.isascii():
        return None
    data = text.encode("utf-8", "surrogatepass")
    return list(accumulate(map(len, _UTF8_CHAR.findall(data)), initial=0))


def _convert(offsets: list[Offsets], cum: list[int]) -> list[Offsets]:
    return [(cum[s], cum[e]) for s, e in offsets]


def to_byte_offsets(enc: Encoding, sequences: Sequence[Any]) -> None:
    """Turn the char offsets of `enc` (and of its overflowing parts) into UTF-8 byte offsets, in place.

    `sequences[k]` is the input of sequence k: a str, or a list of words (pre-tokenized input).
    The rule, which is what `tokenizers` computes in Rust (`OffsetType::Byte`): a token covering
    chars [s, e) of its input gets (UTF-8 length of `text[:s]`, UTF-8 length of `text[:e]`). Offsets
    always cover whole chars, so a byte-level or byte-fallback token inside a multi-byte char gets
    that char's whole byte range; each sequence of a pair counts in its own text; for pre-tokenized
    input, offsets are within each word (word id -> word), as the char offsets are; tokens outside
    every sequence (those the post-processor adds, padding) keep (0, 0).
    """
    for o in enc.overflowing:
        to_byte_offsets(o, sequences)
    ranges = enc.sequence_ranges or {0: (0, len(enc.ids))}
    for seq, (s, e) in ranges.items():
        source = sequences[seq] if seq < len(sequences) else None
        if isinstance(source, str):
            cum = utf8_prefix_lengths(source)
            if cum is not None:
                enc.offsets[s:e] = _convert(enc.offsets[s:e], cum)
        elif source is not None:  # pre-tokenized: each token's offsets are within its word
            cums = [utf8_prefix_lengths(w) for w in source]
            for i in range(s, e):
                w = enc.word_ids[i]
                cum = None if w is None else cums[w]
                if cum is not None:
                    a, b = enc.offsets[i]
                    enc.offsets[i] = (cum[a], cum[b])


def batch_to_byte_offsets(encodings: list[Encoding], inputs: Sequence[Any], is_pretokenized: bool) -> None:
    """`to_byte_offsets` for each result of `encode_batch(inputs)`."""
    for enc, item in zip(encodings, inputs):
        single = isinstance(item, str) or (is_pretokenized and len(item) > 0 and isinstance(item[0], str))
        to_byte_offsets(enc, (item,) if single else tuple(item))
