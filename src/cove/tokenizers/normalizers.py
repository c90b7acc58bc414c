"""Normalizers: the first stage of the pipeline, text -> normalized text with alignments.

Matches `tokenizers/src/normalizers/*.rs` in Hugging Face `tokenizers`: NFC, NFD, NFKC, NFKD,
Lowercase, StripAccents, Strip, Replace, Prepend, BertNormalizer, Precompiled (the SentencePiece
charsmap of converted tokenizers), ByteLevel and Sequence. Each class reads and writes its
tokenizer.json object (`from_dict` / `to_dict`).
"""

from __future__ import annotations

import base64
import functools
import struct
import unicodedata
from dataclasses import dataclass, field
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


def _unicode_changes(text: str, form: str) -> list[Change]:
    """Per-char alignment changes for a normal form, cluster by cluster (starter + its marks):
    a char's decomposition keeps its alignment; composed chars align with the cluster's first char."""
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

    def normalize(self, ns: NormalizedString) -> None:
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


# -- Precompiled: SentencePiece's normalization charsmap --------------------------------------------
_GRAPHEME = regex.compile(r"\X")


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
        self._changes_memo: dict[str, list[Change] | None] = {}

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

    def normalize(self, ns: NormalizedString) -> None:
        if not self._array:
            return
        if self._region_re is None:
            clean = "".join(regex.escape(chr(c)) for c in range(128)
                            if chr(c) not in "\r\n" and self._lookup(chr(c)) is None)
            self._region_re = regex.compile(rf"(?s:.)?[^{clean}]+")
        edits = []
        memo = self._changes_memo
        for m in self._region_re.finditer(ns.normalized):
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
