"""Pre-tokenizers: split normalized text into the pieces ("words") the model sees.

Matches `tokenizers/src/pre_tokenizers/*.rs`: ByteLevel (GPT-2 regex + byte-to-unicode map),
Whitespace, WhitespaceSplit, BertPreTokenizer, Metaspace, Split (string or regex, every
behaviour, invert), Punctuation, Digits, CharDelimiterSplit, UnicodeScripts is not supported,
Sequence. A pre-tokenizer maps a list of pieces to a list of pieces: `pre_tokenize(pieces)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import methodcaller
from typing import Any

import regex

from cove.tokenizers.normalized import Behavior, NormalizedString, regex_matches, split_spans
from cove.tokenizers.normalizers import pattern_from_dict


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable char map."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


BYTES_TO_CHARS: dict[int, str] = _bytes_to_unicode()
CHARS_TO_BYTES: dict[str, int] = {c: b for b, c in BYTES_TO_CHARS.items()}
# str.translate table for chars < 256 whose UTF-8 is one byte (ASCII): a fast 1:1 map.
ASCII_TO_BYTE_CHARS: dict[int, str] = {b: BYTES_TO_CHARS[b] for b in range(128)}

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
# Oniguruma's \s in the Rust library is White_Space; spell it out so `regex` agrees exactly.
_WS = r"[\t\n\x0b\x0c\r\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
GPT2_RE = regex.compile(GPT2_PATTERN.replace(r"[^\s\p{L}\p{N}]", r"[^\t\n\x0b\x0c\r\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\p{L}\p{N}]")
                        .replace(r"\s", _WS).replace(r"\S", _WS.replace("[", "[^", 1)))
# Rust regex's \w (Unicode): Alphabetic, Mark, Decimal_Number, Connector_Punctuation, Join_Control.
_W = r"[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]"
WHITESPACE_RE = regex.compile(rf"{_W}+|[^{_W[1:-1]}\t\n\x0b\x0c\r\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")


_WS_CHARS = r"\t\n\x0b\x0c\r\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# BERT punctuation: Rust's `is_ascii_punctuation() || is_punctuation()` (categories P*).
_PUNCT = r"\p{P}!-/:-@\[-`{-~"
NON_WS_RE = regex.compile(rf"[^{_WS_CHARS}]+")
BERT_RE = regex.compile(rf"[^{_WS_CHARS}{_PUNCT}]+|[{_PUNCT}]")
PUNCT_RE = regex.compile(rf"[{_PUNCT}]")
NUMERIC_RE = regex.compile(r"\p{N}")  # Rust's char::is_numeric: Nd, Nl, No


_SPAN = methodcaller("span")


def _non_empty(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return [(s, e) for s, e in spans if e > s]


def to_byte_chars(word: str) -> str:
    if word.isascii():
        return word.translate(ASCII_TO_BYTE_CHARS)
    return "".join([BYTES_TO_CHARS[b] for b in word.encode("utf-8")])


def byte_level_transform(ns: NormalizedString) -> None:
    """Replace each char by the byte-chars of its UTF-8 bytes; all of them map to that char."""
    text = ns.normalized
    if text.isascii():
        ns.normalized = text.translate(ASCII_TO_BYTE_CHARS)
        return
    old = ns.alignments()
    align: list[tuple[int, int]] = []
    for c, a in zip(text, old):
        align.extend([a] * len(c.encode("utf-8")))
    ns.normalized = "".join([BYTES_TO_CHARS[b] for b in text.encode("utf-8")])
    ns.align = align


def _split_each(pieces: list[NormalizedString], fn: Any) -> list[NormalizedString]:
    out: list[NormalizedString] = []
    for p in pieces:
        out.extend(s for s in fn(p) if s.normalized)
    return out


class Splitter:
    """A pre-tokenizer that only splits: `spans(text)` gives the non-empty (start, end) pieces.

    `char_local` splitters decide each cut from the chars around it, so splitting a whole text and
    then cutting at the edges of earlier pieces equals splitting each piece on its own.
    """

    char_local = True

    def spans(self, text: str) -> list[tuple[int, int]]:
        raise NotImplementedError

    def pre_tokenize(self, pieces: list[NormalizedString]) -> list[NormalizedString]:
        return [p.slice(s, e) for p in pieces for s, e in self.spans(p.normalized)]


@dataclass
class ByteLevel:
    add_prefix_space: bool = True
    trim_offsets: bool = True
    use_regex: bool = True

    def split(self, p: NormalizedString) -> list[NormalizedString]:
        if self.add_prefix_space and not p.normalized.startswith(" "):
            p.prepend(" ")
        if not self.use_regex:
            return [p]
        return p.split(regex_matches(GPT2_RE, p.normalized), "isolated")

    def pre_tokenize(self, pieces: list[NormalizedString]) -> list[NormalizedString]:
        out = _split_each(pieces, self.split)
        for p in out:
            byte_level_transform(p)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"type": "ByteLevel", "add_prefix_space": self.add_prefix_space,
                "trim_offsets": self.trim_offsets, "use_regex": self.use_regex}


@dataclass
class Whitespace(Splitter):
    def spans(self, text: str) -> list[tuple[int, int]]:
        return list(map(_SPAN, WHITESPACE_RE.finditer(text)))

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Whitespace"}


@dataclass
class WhitespaceSplit(Splitter):
    def spans(self, text: str) -> list[tuple[int, int]]:
        return list(map(_SPAN, NON_WS_RE.finditer(text)))

    def to_dict(self) -> dict[str, Any]:
        return {"type": "WhitespaceSplit"}


@dataclass
class BertPreTokenizer(Splitter):
    def spans(self, text: str) -> list[tuple[int, int]]:
        return list(map(_SPAN, BERT_RE.finditer(text)))

    def to_dict(self) -> dict[str, Any]:
        return {"type": "BertPreTokenizer"}


@dataclass
class Metaspace:
    replacement: str = "\u2581"
    prepend_scheme: str = "always"  # "always" | "first" | "never"
    split: bool = True
    _space: regex.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._space = regex.compile(" ")
        self._delim = regex.compile(regex.escape(self.replacement))

    def _one(self, p: NormalizedString) -> list[NormalizedString]:
        p.replace(self._space, self.replacement)
        if self.prepend_scheme == "always" or (self.prepend_scheme == "first" and p.ostart == 0):
            if not p.normalized.startswith(self.replacement):
                p.prepend(self.replacement)
        if self.split:
            return p.split(regex_matches(self._delim, p.normalized), "merged_with_next")
        return [p]

    def pre_tokenize(self, pieces: list[NormalizedString]) -> list[NormalizedString]:
        return _split_each(pieces, self._one)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Metaspace", "replacement": self.replacement,
                "prepend_scheme": self.prepend_scheme, "split": self.split}


_BEHAVIORS: dict[str, Behavior] = {
    "Removed": "removed", "Isolated": "isolated", "MergedWithPrevious": "merged_with_previous",
    "MergedWithNext": "merged_with_next", "Contiguous": "contiguous",
}
_BEHAVIOR_NAMES = {v: k for k, v in _BEHAVIORS.items()}


@dataclass
class Split(Splitter):
    pattern: dict[str, str]
    behavior: Behavior = "removed"
    invert: bool = False
    _re: regex.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._re = pattern_from_dict(self.pattern)

    char_local = False

    def spans(self, text: str) -> list[tuple[int, int]]:
        return _non_empty(split_spans(regex_matches(self._re, text, self.invert), self.behavior))

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Split", "pattern": dict(self.pattern), "behavior": _BEHAVIOR_NAMES[self.behavior],
                "invert": self.invert}


@dataclass
class Punctuation(Splitter):
    behavior: Behavior = "isolated"

    def spans(self, text: str) -> list[tuple[int, int]]:
        return _non_empty(split_spans(regex_matches(PUNCT_RE, text), self.behavior))

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Punctuation", "behavior": _BEHAVIOR_NAMES[self.behavior]}


@dataclass
class Digits(Splitter):
    individual_digits: bool = False

    def spans(self, text: str) -> list[tuple[int, int]]:
        behavior: Behavior = "isolated" if self.individual_digits else "contiguous"
        return _non_empty(split_spans(regex_matches(NUMERIC_RE, text), behavior))

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Digits", "individual_digits": self.individual_digits}


@dataclass
class CharDelimiterSplit(Splitter):
    delimiter: str

    def spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in regex.finditer(f"[^{regex.escape(self.delimiter)}]+", text)]

    def to_dict(self) -> dict[str, Any]:
        return {"type": "CharDelimiterSplit", "delimiter": self.delimiter}


@dataclass
class PreTokenizerSequence:
    pretokenizers: list[Any]

    def pre_tokenize(self, pieces: list[NormalizedString]) -> list[NormalizedString]:
        for p in self.pretokenizers:
            pieces = p.pre_tokenize(pieces)
        return pieces

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Sequence", "pretokenizers": [p.to_dict() for p in self.pretokenizers]}


def pre_tokenizer_from_dict(d: dict[str, Any] | None) -> Any:
    """Build a pre-tokenizer from its tokenizer.json object (None stays None)."""
    if d is None:
        return None
    kind = d["type"]
    if kind == "ByteLevel":
        return ByteLevel(d.get("add_prefix_space", True), d.get("trim_offsets", True), d.get("use_regex", True))
    if kind == "Whitespace":
        return Whitespace()
    if kind == "WhitespaceSplit":
        return WhitespaceSplit()
    if kind == "BertPreTokenizer":
        return BertPreTokenizer()
    if kind == "Metaspace":
        scheme = d.get("prepend_scheme")
        if scheme is None:  # files older than tokenizers 0.14 carry add_prefix_space instead
            scheme = "always" if d.get("add_prefix_space", True) else "never"
        return Metaspace(d.get("replacement", "\u2581"), scheme, d.get("split", True))
    if kind == "Split":
        return Split(d["pattern"], _BEHAVIORS[d.get("behavior", "Removed")], d.get("invert", False))
    if kind == "Punctuation":
        return Punctuation(_BEHAVIORS[d.get("behavior", "Isolated")])
    if kind == "Digits":
        return Digits(d.get("individual_digits", False))
    if kind == "CharDelimiterSplit":
        return CharDelimiterSplit(d["delimiter"])
    if kind == "Sequence":
        return PreTokenizerSequence([pre_tokenizer_from_dict(x) for x in d["pretokenizers"]])
    raise ValueError(f"unsupported pre-tokenizer type {kind!r}")
