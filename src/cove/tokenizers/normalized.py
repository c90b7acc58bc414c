"""A string being normalized, with the map from each of its characters back to the original text.

This is the Python counterpart of `NormalizedString` in Hugging Face `tokenizers`
(tokenizers/src/tokenizer/normalizer.rs), kept in *character* units: `align[i]` is the
`(start, end)` character range of the original input that normalized character `i` came from.
The Rust library keeps byte units, but every alignment it builds covers whole original characters,
so both give the same character offsets once the Rust side converts bytes to characters.

Ranges are absolute in the original input (the Rust `original_shift` is folded in), so a slice
needs no bookkeeping. `align is None` means "unchanged so far": character `i` maps to
`(ostart + i, ostart + i + 1)`, which keeps the common no-normalizer path allocation free.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

import regex

Behavior = Literal["removed", "isolated", "merged_with_previous", "merged_with_next", "contiguous"]
Change = tuple[str, int]
_LOWER_SPECIAL = regex.compile("[\u0130\u03a3]")  # (new char, change): 0 replaces one char, 1 inserts, -n also removes n chars


class NormalizedString:
    """A piece of text: its normalized form and, per normalized char, the original char range."""

    __slots__ = ("normalized", "align", "ostart", "oend")

    def __init__(self, normalized: str, ostart: int = 0, oend: int | None = None,
                 align: list[tuple[int, int]] | None = None) -> None:
        self.normalized = normalized
        self.ostart = ostart
        self.oend = ostart + len(normalized) if oend is None else oend
        self.align = align

    def __repr__(self) -> str:
        return f"NormalizedString({self.normalized!r}, {self.ostart}, {self.oend})"

    # -- alignment ------------------------------------------------------------------------------
    def alignments(self) -> list[tuple[int, int]]:
        if self.align is None:
            return identity_alignment(self.ostart, len(self.normalized))
        return self.align

    def original_range(self, start: int, end: int) -> tuple[int, int]:
        """Original char range of normalized chars [start, end) (`convert_offsets` in Rust)."""
        if self.align is None:
            return self.ostart + start, self.ostart + end
        if start >= end:
            if not self.normalized:
                return self.ostart, self.oend
            return start, end  # the Rust code returns an empty target range unchanged
        return self.align[start][0], self.align[end - 1][1]

    def slice(self, start: int, end: int) -> NormalizedString:
        text = self.normalized[start:end]
        if self.align is None:
            return NormalizedString(text, self.ostart + start, self.ostart + end)
        align = self.align[start:end]
        if align:
            return NormalizedString(text, align[0][0], align[-1][1], align)
        return NormalizedString(text, self.ostart, self.ostart, align)

    # -- transformations ------------------------------------------------------------------------
    def transform(self, changes: Iterable[Change], initial_removed: int = 0) -> None:
        """Replace the whole string by `changes` (see `transform_range` in Rust)."""
        self.transform_range(0, len(self.normalized), changes, initial_removed)

    def transform_range(self, start: int, end: int, changes: Iterable[Change], initial_removed: int = 0) -> None:
        old = self.alignments()
        idx = start + initial_removed
        chars: list[str] = []
        new_align: list[tuple[int, int]] = []
        for c, change in changes:
            if change > 0:
                new_align.append(old[idx - 1] if idx >= 1 else (self.ostart, self.ostart))
            else:
                new_align.append(old[idx])
                idx += 1 - change  # consume the replaced char, then skip the removed ones
            chars.append(c)
        self.normalized = self.normalized[:start] + "".join(chars) + self.normalized[end:]
        self.align = old[:start] + new_align + old[end:]

    def apply_edits(self, edits: Iterable[tuple[int, int, list[Change], int]]) -> None:
        """Several `transform_range` calls at once: `(start, end, changes, initial_removed)` sorted,
        non-overlapping; the text between edits is copied as is. Same result as one `transform` whose
        changes are the concatenation (with untouched chars as `(c, 0)`), in O(n) list slicing."""
        if not isinstance(edits, list):
            edits = list(edits)
        if not edits:
            return
        text = self.normalized
        old = self.alignments()
        out_text: list[str] = []
        out_align: list[tuple[int, int]] = []
        last = 0
        empty = (self.ostart, self.ostart)
        for start, end, changes, removed in edits:
            out_text.append(text[last:start])
            out_align.extend(old[last:start])
            idx = start + removed
            for c, change in changes:
                if change > 0:
                    out_align.append(old[idx - 1] if idx >= 1 else empty)
                else:
                    out_align.append(old[idx])
                    idx += 1 - change
                out_text.append(c)
            last = end
        out_text.append(text[last:])
        out_align.extend(old[last:])
        self.normalized = "".join(out_text)
        self.align = out_align

    def map_chars(self, fn: Callable[[str], str]) -> None:
        """One char in, one char out: only the text changes."""
        self.normalized = "".join(fn(c) for c in self.normalized)

    def filter(self, keep: Callable[[str], bool]) -> None:
        if all(keep(c) for c in self.normalized):
            return
        changes: list[Change] = []
        removed = 0
        for c in reversed(self.normalized):  # as in Rust: a removed char extends the change of the kept one before it
            if keep(c):
                changes.append((c, -removed))
                removed = 0
            else:
                removed += 1
        changes.reverse()
        self.transform(changes, removed)

    def prepend(self, s: str) -> None:
        if not self.normalized:
            return
        first = self.normalized[0]
        changes = [(c, int(i != 0)) for i, c in enumerate(s)] + [(first, 1)]
        self.transform_range(0, 1, changes)

    def append(self, s: str) -> None:
        if not self.normalized:
            return
        last = self.normalized[-1]
        n = len(self.normalized)
        self.transform_range(n - 1, n, [(last, 0)] + [(c, 1) for c in s])

    def lowercase(self) -> None:
        """Rust's per-char `to_lowercase`: U+0130 becomes two chars, and a capital sigma is always σ
        (Python's `str.lower` would make a final sigma ς). Everything else maps one char to one."""
        if "\u0130" in self.normalized or "\u03a3" in self.normalized:
            self.apply_edits([(m.start(), m.end(), [("i", 0), ("\u0307", 1)] if m.group() == "\u0130"
                               else [("\u03c3", 0)], 0) for m in _LOWER_SPECIAL.finditer(self.normalized)])
        text = self.normalized
        low = text.lower()
        if len(low) == len(text):
            self.normalized = low
            return
        changes: list[Change] = []
        for c in text:
            changes.extend((x, int(i > 0)) for i, x in enumerate(c.lower()))
        self.transform(changes)

    def replace(self, pattern: regex.Pattern[str], content: str) -> None:
        """Replace every match of `pattern` by `content` (each new char aligned like the match's last char)."""
        matches = [m.span() for m in pattern.finditer(self.normalized) if m.end() > m.start()]
        if not matches:
            return
        old = self.alignments()
        pieces: list[str] = []
        new_align: list[tuple[int, int]] = []
        last = 0
        for s, e in matches:
            pieces.append(self.normalized[last:s])
            new_align.extend(old[last:s])
            pieces.append(content)
            new_align.extend([old[e - 1]] * len(content))
            last = e
        pieces.append(self.normalized[last:])
        new_align.extend(old[last:])
        self.normalized = "".join(pieces)
        self.align = new_align

    def strip(self, left: bool, right: bool) -> None:
        text = self.normalized
        n_left = len(text) - len(text.lstrip()) if left else 0
        stripped = text.lstrip() if left else text
        n_right = len(stripped) - len(stripped.rstrip()) if right else 0
        if n_left == 0 and n_right == 0:
            return
        kept = text[n_left:len(text) - n_right]
        changes: list[Change] = [(c, 0) for c in kept]
        if changes and n_right:
            changes[-1] = (changes[-1][0], -n_right)
        self.transform(changes, n_left)

    # -- splitting ------------------------------------------------------------------------------
    def split(self, matches: list[tuple[int, int, bool]], behavior: Behavior) -> list[NormalizedString]:
        """Split on `matches`, a cover of the string by (start, end, is_match) ranges, as Rust does."""
        return [self.slice(s, e) for s, e in split_spans(matches, behavior)]


# Identity alignments, shared: `_IDENTITY[i] == (i, i + 1)`. A slice of it copies references
# instead of building tuples, which makes `alignments()` of an unchanged piece cheap. A memo
# built on first use and replaced by a longer one when needed (never mutated, so threads may
# share it), up to `_IDENTITY_MAX` chars; never at import.
_IDENTITY: list[tuple[int, int]] = []
_IDENTITY_MAX = 1 << 16


def identity_alignment(start: int, n: int) -> list[tuple[int, int]]:
    """`[(start + i, start + i + 1) for i in range(n)]`."""
    global _IDENTITY
    end = start + n
    table = _IDENTITY
    if end > len(table):
        if end > _IDENTITY_MAX:
            return list(zip(range(start, end), range(start + 1, end + 1)))
        size = min(_IDENTITY_MAX, max(end, 2 * len(table), 4096))
        table = _IDENTITY = list(zip(range(size), range(1, size + 1)))
    return table[start:end]


def split_spans(matches: list[tuple[int, int, bool]], behavior: Behavior) -> list[tuple[int, int]]:
    """The (start, end) pieces `NormalizedString::split` keeps for a cover by (start, end, is_match)."""
    spans: list[list[int]] = []
    if behavior == "isolated":
        return [(s, e) for s, e, _ in matches]
    if behavior == "removed":
        return [(s, e) for s, e, m in matches if not m]
    if behavior == "contiguous":
        prev = False
        for s, e, m in matches:
            if m == prev and spans:
                spans[-1][1] = e
            else:
                spans.append([s, e])
            prev = m
    elif behavior == "merged_with_previous":
        prev = False
        for s, e, m in matches:
            if m and not prev and spans:
                spans[-1][1] = e
            else:
                spans.append([s, e])
            prev = m
    elif behavior == "merged_with_next":
        prev = False
        for s, e, m in reversed(matches):
            if m and not prev and spans:
                spans[-1][0] = s
            else:
                spans.append([s, e])
            prev = m
        spans.reverse()
    else:
        raise ValueError(f"unknown split behavior {behavior!r}")
    return [(s, e) for s, e in spans]


def regex_matches(pattern: regex.Pattern[str], text: str, invert: bool = False) -> list[tuple[int, int, bool]]:
    """Cover `text` with (start, end, is_match) ranges, as `Pattern::find_matches` does for a regex."""
    if not text:
        return [(0, 0, invert)]
    out: list[tuple[int, int, bool]] = []
    prev = 0
    for m in pattern.finditer(text):
        s, e = m.span()
        if prev != s:
            out.append((prev, s, invert))
        out.append((s, e, not invert))
        prev = e
    if prev != len(text):
        out.append((prev, len(text), invert))
    return out


def char_matches(pred: Callable[[str], bool], text: str, invert: bool = False) -> list[tuple[int, int, bool]]:
    """Each char matching `pred` is its own match (the `Fn(char) -> bool` pattern in Rust)."""
    if not text:
        return [(0, 0, invert)]
    out: list[tuple[int, int, bool]] = []
    prev = 0
    for i, c in enumerate(text):
        if pred(c):
            if prev != i:
                out.append((prev, i, invert))
            out.append((i, i + 1, not invert))
            prev = i + 1
    if prev != len(text):
        out.append((prev, len(text), invert))
    return out
