"""Normalizers: the first stage of the pipeline, text -> normalized text with alignments.

Matches `tokenizers/src/normalizers/*.rs` in Hugging Face `tokenizers`: NFC, NFD, NFKC, NFKD,
Lowercase, StripAccents, Strip, Replace, Prepend, BertNormalizer, Precompiled (the SentencePiece
charsmap of converted tokenizers), ByteLevel and Sequence. Each class reads and writes its
tokenizer.json object (`from_dict` / `to_dict`).

Two fast paths give the same strings and alignments as the stage-by-stage edits they keep as
fallback (tests/tokenizers/test_fast_paths.py compares both, and both with `tokenizers`):
BertNormalizer through per-char `str.translate` tables (`_BertCharMaps`), where an ASCII line or a
line changed char for char keeps the identity alignment; Precompiled through a memo of each
changeable region's result, where a region replaced char for char leaves the alignments alone.
"""

from __future__ import annotations

import base64
import bisect
import functools
import re
import struct
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import accumulate, chain, repeat
from typing import Any, Protocol

import regex

from cove.tokenizers.normalized import Change, NormalizedString


class Normalizer(Protocol):
    def normalize(self, ns: NormalizedString) -> None: ...
    def to_dict(self) -> dict[str, Any]: ...


def pattern_from_dict(d: dict[str, Any]) -> regex.Pattern[str]:
    """A tokenizer.json pattern: {"String": s} (literal) or {"Regex": r}."""
    if "String" in d:
        return regex.compile(regex.escape(d["String"]))
    return regex.compile(d["Regex"])


# -- Unicode normal forms ------------------------------------------------------------------------
# A non-ASCII run and the char before it (which a combining mark may compose with).
_NON_ASCII_REGION = regex.compile(r"(?s:.)?[^\x00-\x7f]+")


def _decomposition_changes(text: str, form: str) -> list[Change] | None:
    """NFD / NFKD as the Rust library computes it (`unicode-normalization-alignments`): each char's
    decomposition (its first char replaces it, the others are inserted), then the canonical
    ordering stably sorts each run of nonzero combining classes, the changes moving with their
    chars. None if that is not the normal form (never expected)."""
    items: list[Change] = []
    for c in text:
        items.extend((x, int(k > 0)) for k, x in enumerate(unicodedata.normalize(form, c)))
    out: list[Change] = []
    i = 0
    n = len(items)
    while i < n:
        j = i
        while j < n and unicodedata.combining(items[j][0]):
            j += 1
        if j == i:
            out.append(items[i])
            i += 1
        else:
            out.extend(sorted(items[i:j], key=lambda item: unicodedata.combining(item[0])))
            i = j
    return out if "".join(c for c, _ in out) == unicodedata.normalize(form, text) else None


def _unicode_changes(text: str, form: str) -> list[Change]:
    """Per-char alignment changes for a normal form, cluster by cluster (starter + its marks):
    a char's decomposition keeps its alignment; composed chars align with the cluster's first char."""
    if form in ("NFD", "NFKD"):
        decomposed = _decomposition_changes(text, form)
        if decomposed is not None:
            return decomposed
    whole = unicodedata.normalize(form, text)
    changes: list[Change] = []
    compose = form in ("NFC", "NFKC")
    i = 0
    n = len(text)
    produced: list[str] = []
    while i < n:
        j = i + 1
        while j < n and unicodedata.combining(text[j]):
            j += 1
        cluster = text[i:j]
        i = j
        if not compose:
            per_char = [unicodedata.normalize(form, c) for c in cluster]
            if "".join(per_char) == unicodedata.normalize(form, cluster):
                for piece in per_char:
                    changes.extend((c, int(k > 0)) for k, c in enumerate(piece))
                produced.extend(per_char)
                continue
        out = unicodedata.normalize(form, cluster)
        produced.append(out)
        _cluster_changes(changes, len(cluster), out)
    if "".join(produced) != whole:  # composition across clusters (e.g. conjoining jamo): one cluster
        changes = []
        _cluster_changes(changes, n, whole)
    return changes


def _cluster_changes(changes: list[Change], k: int, out: str) -> None:
    m = len(out)
    if m >= k:
        changes.extend((c, 0 if idx < k else 1) for idx, c in enumerate(out))
    elif out:
        changes.extend((c, 0) for c in out[:-1])
        changes.append((out[-1], m - k))


def unicode_normalize(ns: NormalizedString, form: str) -> None:
    text = ns.normalized
    if text.isascii() or unicodedata.is_normalized(form, text):
        return
    edits = []
    for m in _NON_ASCII_REGION.finditer(text):
        region = m.group()
        if not unicodedata.is_normalized(form, region):
            edits.append((m.start(), m.end(), _cached_unicode_changes(region, form), 0))
    ns.apply_edits(edits)


@functools.lru_cache(maxsize=65536)
def _cached_unicode_changes(region: str, form: str) -> list[Change]:
    return _unicode_changes(region, form)


@dataclass
class UnicodeNormalizer:
    form: str  # "NFC", "NFD", "NFKC" or "NFKD"

    def normalize(self, ns: NormalizedString) -> None:
        unicode_normalize(ns, self.form)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.form}


@dataclass
class Lowercase:
    def normalize(self, ns: NormalizedString) -> None:
        ns.lowercase()

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Lowercase"}


_MN = regex.compile(r"\p{Mn}+")


def _strip_accents(ns: NormalizedString) -> None:
    ns.apply_edits([(m.start(), m.end(), [], m.end() - m.start()) for m in _MN.finditer(ns.normalized)])


@dataclass
class StripAccents:
    def normalize(self, ns: NormalizedString) -> None:
        _strip_accents(ns)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "StripAccents"}


@dataclass
class Strip:
    strip_left: bool = True
    strip_right: bool = True

    def normalize(self, ns: NormalizedString) -> None:
        ns.strip(self.strip_left, self.strip_right)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Strip", "strip_left": self.strip_left, "strip_right": self.strip_right}


@dataclass
class Replace:
    pattern: dict[str, str]
    content: str
    _re: regex.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._re = pattern_from_dict(self.pattern)

    def normalize(self, ns: NormalizedString) -> None:
        ns.replace(self._re, self.content)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Replace", "pattern": dict(self.pattern), "content": self.content}


@dataclass
class Prepend:
    prepend: str

    def normalize(self, ns: NormalizedString) -> None:
        ns.prepend(self.prepend)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Prepend", "prepend": self.prepend}


def is_whitespace(c: str) -> bool:
    """Rust's `char::is_whitespace` (the White_Space property)."""
    return c in _WHITE_SPACE


_WHITE_SPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)


# BERT's clean_text removes NUL, U+FFFD and "control" chars (Cc, Cf, Cn, Co but not \t \n \r) ...
_BERT_REMOVED = regex.compile(r"(?:(?![\t\n\r])[\x00\ufffd\p{Cc}\p{Cf}\p{Cn}\p{Co}])+")
# ... and maps every other White_Space char to a space.
_OTHER_WHITESPACE = regex.compile("[\t\n\x0b\x0c\r\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")
_CHINESE = regex.compile("[\u4e00-\u9fff\u3400-\u4dbf\U00020000-\U0002a6df\U0002a700-\U0002b73f"
                         "\U0002b740-\U0002b81f\U0002b920-\U0002ceaf\uf900-\ufaff\U0002f800-\U0002fa1f]")


@dataclass
class BertNormalizer:
    clean_text: bool = True
    handle_chinese_chars: bool = True
    strip_accents: bool | None = None
    lowercase: bool = True
    use_char_map: bool = field(default=True, compare=False, repr=False)  # False: the stage-by-stage path
    _maps: _BertCharMaps | None = field(default=None, init=False, compare=False, repr=False)

    def normalize(self, ns: NormalizedString) -> None:
        if not self.use_char_map:
            self._normalize_general(ns)
            return
        strip = self.lowercase if self.strip_accents is None else self.strip_accents
        key = (self.clean_text, self.handle_chinese_chars, bool(strip), self.lowercase)
        maps = self._maps
        if maps is None or maps.key != key:  # built on first use, rebuilt if an option was changed
            maps = self._maps = _BertCharMaps(*key)
        mid = maps.apply(ns)
        if mid is not None:
            self._normalize_by_chunk(ns, maps, mid)

    def _normalize_by_chunk(self, ns: NormalizedString, maps: _BertCharMaps, mid: str) -> None:
        """The per-char result, with the space-separated chunks where NFD may reorder marks that
        survive StripAccents redone stage by stage (see `_reordered_marks_survive`; `mid` is the
        per-char result up to NFD). A space starts a new combining cluster and maps to itself."""
        text = ns.normalized
        mid_end = list(accumulate(map(ord, text.translate(maps.before_strip_lengths))))
        bad: set[tuple[int, int]] = set()
        for m in _MARK_RUN.finditer(mid):
            if not _NON_MN.search(m.group()):
                continue  # stripped: its order does not matter
            i = bisect.bisect_right(mid_end, m.start())  # the input char it comes from
            e = text.find(" ", i)
            bad.add((text.rfind(" ", 0, i) + 1, len(text) if e < 0 else e))
        old = ns.alignments()
        out = text.translate(maps.full)
        lens = text.translate(maps.lengths)
        align = _spread(old, lens)
        out_pos = list(accumulate(map(ord, lens), initial=0))  # where each input char's output starts
        for s, e in sorted(bad, reverse=True):  # from the right: earlier output positions stay valid
            sub = NormalizedString(text[s:e], ns.ostart, ns.oend, old[s:e])
            self._normalize_general(sub)
            a, b = out_pos[s], out_pos[e]
            out = out[:a] + sub.normalized + out[b:]
            align[a:b] = sub.alignments()
        ns.normalized = out
        ns.align = align

    def _normalize_general(self, ns: NormalizedString) -> None:
        """Stage by stage, each one editing the alignments (the reference for `_BertCharMaps`)."""
        if self.clean_text:
            ns.apply_edits([(m.start(), m.end(), [], m.end() - m.start())
                            for m in _BERT_REMOVED.finditer(ns.normalized)])
            if _OTHER_WHITESPACE.search(ns.normalized):
                ns.normalized = _OTHER_WHITESPACE.sub(" ", ns.normalized)
        if self.handle_chinese_chars and not ns.normalized.isascii():
            ns.apply_edits([(m.start(), m.end(), [(" ", 0), (m.group(), 1), (" ", 1)], 0)
                            for m in _CHINESE.finditer(ns.normalized)])
        strip = self.lowercase if self.strip_accents is None else self.strip_accents
        if strip and not ns.normalized.isascii():
            unicode_normalize(ns, "NFD")
            _strip_accents(ns)
        if self.lowercase:
            ns.lowercase()

    def to_dict(self) -> dict[str, Any]:
        return {"type": "BertNormalizer", "clean_text": self.clean_text,
                "handle_chinese_chars": self.handle_chinese_chars,
                "strip_accents": self.strip_accents, "lowercase": self.lowercase}


_NOT_ONE = regex.compile("[^\x01]+")
_MARK_RUN = regex.compile(r"\p{M}{2,}")
_NON_MN = regex.compile(r"\P{Mn}")


def _reordered_marks_survive(mid: str) -> bool:
    """Whether a run of marks that NFD may reorder has a mark StripAccents keeps. Marks of a
    nonzero combining class are all \\p{M}, so reordering needs a run of two; a run of \\p{Mn}
    only is removed whatever its order, and with it the only chars whose alignment moves."""
    return any(_NON_MN.search(m.group()) for m in _MARK_RUN.finditer(mid))


def _spread(old: list[tuple[int, int]], lens: str) -> list[tuple[int, int]]:
    """Alignments when input char i became `ord(lens[i])` chars, each aligned like it."""
    out: list[tuple[int, int]] = []
    last = 0
    for m in _NOT_ONE.finditer(lens):
        s, e = m.span()
        out.extend(old[last:s])
        out.extend(chain.from_iterable(map(repeat, old[s:e], map(ord, m.group()))))
        last = e
    out.extend(old[last:])
    return out


class _BertCharMaps:
    """Per-char `str.translate` tables of a BertNormalizer, filled on first sight of each char.

    Every BertNormalizer stage maps one char to zero or more chars that all take its alignment,
    except the canonical reordering of combining marks inside NFD. So when the NFD stage does not
    reorder (the per-char result up to NFD, `before_strip`, is already in NFD), or reorders only
    marks that StripAccents then removes, the output is `text.translate(full)` and input char i
    yields `ord(text.translate(lengths)[i])` chars.
    """

    def __init__(self, clean: bool, chinese: bool, strip: bool, lower: bool) -> None:
        self.key = (clean, chinese, strip, lower)
        self.clean, self.chinese, self.strip, self.lower = clean, chinese, strip, lower
        self.full: dict[int, str] = {}
        self.lengths: dict[int, str] = {}
        self.before_strip: dict[int, str] = {}
        self.before_strip_lengths: dict[int, str] = {}
        self.known: set[str] = set()
        self._learn(map(chr, range(128)))

    def _learn(self, chars: Iterable[str]) -> None:
        for c in chars:
            mid = self._before_strip(c)
            out = _MN.sub("", mid) if self.strip else mid
            if self.lower:
                out = "".join(_rust_lower(x) for x in out)
            self.before_strip[ord(c)] = mid
            self.before_strip_lengths[ord(c)] = chr(len(mid))
            self.full[ord(c)] = out
            self.lengths[ord(c)] = chr(len(out))
            self.known.add(c)

    def _before_strip(self, c: str) -> str:
        if self.clean:
            if _BERT_REMOVED.fullmatch(c):
                return ""
            if _OTHER_WHITESPACE.fullmatch(c):
                return " "
        if self.chinese and _CHINESE.fullmatch(c):
            c = f" {c} "
        return unicodedata.normalize("NFD", c) if self.strip else c

    def apply(self, ns: NormalizedString) -> str | None:
        """Normalize `ns` in place and return None; or, when NFD may reorder marks, do nothing
        and return the per-char result up to NFD."""
        text = ns.normalized
        n = len(text)
        if text.isascii():
            out = text.translate(self.full)
            if len(out) == n:  # no ASCII char expands: the same length means nothing was removed
                ns.normalized = out
                return None
        else:
            new = set(text).difference(self.known)
            if new:
                self._learn(new)
            if self.strip:
                mid = text.translate(self.before_strip)
                if not unicodedata.is_normalized("NFD", mid) and _reordered_marks_survive(mid):
                    return mid
            out = text.translate(self.full)
        lens = text.translate(self.lengths)
        if len(out) == n and lens.count("\x01") == n:
            ns.normalized = out
            return None
        ns.align = _spread(ns.alignments(), lens)
        ns.normalized = out
        return None


def _rust_lower(c: str) -> str:
    """Rust's `char::to_lowercase` as `NormalizedString.lowercase` applies it to one char."""
    if c == "\u0130":
        return "i\u0307"
    if c == "\u03a3":
        return "\u03c3"
    return c.lower()


# -- Precompiled: SentencePiece's normalization charsmap --------------------------------------------
_GRAPHEME = regex.compile(r"\X")


_UNCHANGED = object()
_COMPLEX = object()


class Precompiled:
    """SentencePiece's precompiled charsmap: a darts-clone double-array trie over UTF-8 keys.

    Matches the `spm_precompiled` crate and `tokenizers/src/normalizers/precompiled.rs`,
    including its per-grapheme lookup (graphemes under 6 bytes first, then char by char).
    """

    def __init__(self, precompiled_charsmap: str) -> None:
        self.charsmap_b64 = precompiled_charsmap
        raw = base64.b64decode(precompiled_charsmap) if precompiled_charsmap else b""
        if raw:
            (trie_size,) = struct.unpack_from("<I", raw, 0)
            n_units = trie_size // 4
            self._array = struct.unpack_from(f"<{n_units}I", raw, 4)
            self._normalized = raw[4 + trie_size:]
        else:
            self._array, self._normalized = (), b""
        self._memo: dict[str, str | None] = {}
        self._region_re: regex.Pattern[str] | None = None  # runs that may change (built on first use)
        self._run_re: re.Pattern[str] | None = None
        self._changes_memo: dict[str, list[Change] | None] = {}
        self._region_memo: dict[str, object] = {}

    def _lookup(self, key: str) -> str | None:
        """Replacement for the shortest trie key that is a prefix of `key`, or None."""
        hit = self._memo.get(key, False)
        if hit is not False:
            return hit  # type: ignore[return-value]
        result: str | None = None
        array = self._array
        if array:
            unit = array[0]
            pos = (unit >> 10) << ((unit & (1 << 9)) >> 6)
            for byte in key.encode("utf-8"):
                if byte == 0:
                    break
                pos ^= byte
                unit = array[pos]
                if (unit & ((1 << 31) | 0xFF)) != byte:
                    break
                pos ^= (unit >> 10) << ((unit & (1 << 9)) >> 6)
                if (unit >> 8) & 1:
                    index = array[pos] & ((1 << 31) - 1)
                    end = self._normalized.index(b"\0", index) if b"\0" in self._normalized[index:] else len(self._normalized)
                    result = self._normalized[index:end].decode("utf-8")
                    break
        self._memo[key] = result
        return result

    def _regions(self) -> regex.Pattern[str]:
        """Runs of chars the charsmap may change, each with the char before (a grapheme start)."""
        if self._region_re is None:
            clean = [chr(c) for c in range(128) if chr(c) not in "\r\n" and self._lookup(chr(c)) is None]
            self._region_re = regex.compile(f"(?s:.)?[^{''.join(map(regex.escape, clean))}]+")
            # The same regions, faster: maximal runs found by `re`, each extended by one char to the left.
            self._run_re = re.compile(f"[^{''.join(map(re.escape, clean))}]+")
        return self._region_re

    def normalize(self, ns: NormalizedString) -> None:
        """Region by region, each region's result memoized as (new text, alignment sources): a
        region whose chars are replaced one for one leaves the alignments as they are."""
        if not self._array:
            return
        text = ns.normalized
        memo = self._region_memo
        parts: list[str] = []
        moved: list[tuple[int, int, tuple[int, ...]]] = []  # regions whose alignments change
        last = 0
        self._regions()
        for m in self._run_re.finditer(text):  # type: ignore[union-attr]
            s, e = m.span()
            if s:
                s -= 1
            region = text[s:e]
            hit = memo.get(region)
            if hit is None:
                hit = self._region_result(region)
                if len(memo) > 100_000:
                    memo.clear()
                memo[region] = hit
            if hit is _UNCHANGED:
                continue
            if hit is _COMPLEX:
                self._normalize_edits(ns)
                return
            new, sources = hit  # type: ignore[misc]
            parts.append(text[last:s])
            parts.append(new)
            last = e
            if sources is not None:
                moved.append((s, e, sources))
        if not parts:
            return
        parts.append(text[last:])
        if moved:
            old = ns.alignments()
            align: list[tuple[int, int]] = []
            prev = 0
            for s, e, sources in moved:
                align.extend(old[prev:s])
                align.extend([old[s + k] for k in sources])
                prev = e
            align.extend(old[prev:])
            ns.align = align
        ns.normalized = "".join(parts)

    def _region_result(self, region: str) -> object:
        """`_UNCHANGED`, `_COMPLEX` (an insertion before the region's first char: the edit path
        handles it) or (new text, None when char i stays aligned like input char i, else the
        input index each new char is aligned with), as `apply_edits` would align them."""
        changes = self._changes(region)
        if changes is None:
            return _UNCHANGED
        sources: list[int] = []
        idx = 0
        for _, change in changes:
            if change > 0:
                if idx == 0:
                    return _COMPLEX
                sources.append(idx - 1)
            else:
                sources.append(idx)
                idx += 1 - change
        new = "".join(c for c, _ in changes)
        if len(new) == len(region) and sources == list(range(len(region))):
            return new, None
        return new, tuple(sources)

    def _normalize_edits(self, ns: NormalizedString) -> None:
        """The edit-list path: the changes of every region applied by `apply_edits`."""
        edits = []
        memo = self._changes_memo
        for m in self._regions().finditer(ns.normalized):
            region = m.group()
            changes = memo.get(region, False)
            if changes is False:
                changes = self._changes(region)
                if len(memo) > 100_000:
                    memo.clear()
                memo[region] = changes
            if changes is not None:
                edits.append((m.start(), m.end(), changes, 0))
        ns.apply_edits(edits)

    def _changes(self, text: str) -> list[Change] | None:
        """The Rust per-grapheme transformation of `text`, or None when nothing changes."""
        changes: list[Change] = []
        modified = False
        for grapheme in _GRAPHEME.findall(text):
            if len(grapheme.encode("utf-8")) < 6:
                norm = self._lookup(grapheme)
                if norm is not None:
                    modified = True
                    _replace(changes, grapheme, norm)
                    continue
            for c in grapheme:
                norm = self._lookup(c)
                if norm is not None:
                    modified = True
                    _replace(changes, c, norm)
                else:
                    changes.append((c, 0))
        return changes if modified else None

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Precompiled", "precompiled_charsmap": self.charsmap_b64}


def _replace(changes: list[Change], old: str, new: str) -> None:
    diff = len(new) - len(old)
    changes.extend((c, 0) for c in new)
    if diff > 0:
        for k in range(len(changes) - diff, len(changes)):
            changes[k] = (changes[k][0], 1)
    elif diff < 0 and changes:
        c, cs = changes[-1]
        changes[-1] = (c, cs + diff)


@dataclass
class ByteLevelNormalizer:
    def normalize(self, ns: NormalizedString) -> None:
        from cove.tokenizers.pre_tokenizers import BYTES_TO_CHARS

        changes: list[Change] = []
        for c in ns.normalized:
            changes.extend((BYTES_TO_CHARS[b], int(k > 0)) for k, b in enumerate(c.encode("utf-8")))
        ns.transform(changes)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "ByteLevel"}


@dataclass
class NormalizerSequence:
    normalizers: list[Any]

    def normalize(self, ns: NormalizedString) -> None:
        for n in self.normalizers:
            n.normalize(ns)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Sequence", "normalizers": [n.to_dict() for n in self.normalizers]}


def normalizer_from_dict(d: dict[str, Any] | None) -> Any:
    """Build a normalizer from its tokenizer.json object (None stays None)."""
    if d is None:
        return None
    kind = d["type"]
    if kind in ("NFC", "NFD", "NFKC", "NFKD"):
        return UnicodeNormalizer(kind)
    if kind == "Lowercase":
        return Lowercase()
    if kind == "StripAccents":
        return StripAccents()
    if kind == "Strip":
        return Strip(d.get("strip_left", True), d.get("strip_right", True))
    if kind == "Replace":
        return Replace(d["pattern"], d["content"])
    if kind == "Prepend":
        return Prepend(d["prepend"])
    if kind == "BertNormalizer":
        return BertNormalizer(d.get("clean_text", True), d.get("handle_chinese_chars", True),
                              d.get("strip_accents"), d.get("lowercase", True))
    if kind == "Precompiled":
        return Precompiled(d.get("precompiled_charsmap") or "")
    if kind == "ByteLevel":
        return ByteLevelNormalizer()
    if kind == "Sequence":
        return NormalizerSequence([normalizer_from_dict(x) for x in d["normalizers"]])
    raise ValueError(f"unsupported normalizer type {kind!r}")
