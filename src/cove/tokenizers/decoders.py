"""Decoders: tokens -> text, as `tokenizers/src/decoders/*.rs` computes it.

Each decoder maps a list of token strings to a list of strings (`decode_chain`); the tokenizer
joins the final list. ByteLevel, WordPiece, Metaspace, BPEDecoder, ByteFallback, Fuse, Strip,
Replace, CTC and Sequence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import regex

from cove.tokenizers.normalizers import pattern_from_dict
from cove.tokenizers.pre_tokenizers import CHARS_TO_BYTES

# byte-char -> the char whose code is that byte, so that .encode("latin-1") yields the bytes
_BYTE_CHARS_TO_LATIN1 = {ord(c): chr(b) for c, b in CHARS_TO_BYTES.items()}


@dataclass
class ByteLevelDecoder:
    add_prefix_space: bool = True
    trim_offsets: bool = True
    use_regex: bool = True

    def decode_chain(self, tokens: list[str]) -> list[str]:
        try:  # fast path: every char is a byte-char
            raw = "".join(tokens).translate(_BYTE_CHARS_TO_LATIN1).encode("latin-1")
        except UnicodeEncodeError:  # a token with other chars (an added token) contributes its UTF-8 bytes
            out = bytearray()
            for t in tokens:
                try:
                    out.extend(bytes(CHARS_TO_BYTES[c] for c in t))
                except KeyError:
                    out.extend(t.encode("utf-8"))
            raw = bytes(out)
        return [raw.decode("utf-8", errors="replace")]

    def to_dict(self) -> dict[str, Any]:
        return {"type": "ByteLevel", "add_prefix_space": self.add_prefix_space,
                "trim_offsets": self.trim_offsets, "use_regex": self.use_regex}


def wordpiece_cleanup(s: str) -> str:
    return (s.replace(" .", ".").replace(" ?", "?").replace(" !", "!").replace(" ,", ",").replace(" ' ", "'")
            .replace(" n't", "n't").replace(" 'm", "'m").replace(" do not", " don't").replace(" 's", "'s")
            .replace(" 've", "'ve").replace(" 're", "'re"))


@dataclass
class WordPieceDecoder:
    prefix: str = "##"
    cleanup: bool = True

    def decode_chain(self, tokens: list[str]) -> list[str]:
        out: list[str] = []
        for i, t in enumerate(tokens):
            if i != 0:
                t = t.replace(self.prefix, "", 1) if t.startswith(self.prefix) else " " + t
            out.append(wordpiece_cleanup(t) if self.cleanup else t)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"type": "WordPiece", "prefix": self.prefix, "cleanup": self.cleanup}


@dataclass
class MetaspaceDecoder:
    replacement: str = "\u2581"
    prepend_scheme: str = "always"
    split: bool = True

    def decode_chain(self, tokens: list[str]) -> list[str]:
        out: list[str] = []
        for i, t in enumerate(tokens):
            t = t.replace(self.replacement, " ")
            if self.prepend_scheme != "never" and i == 0 and t.startswith(" "):
                t = t[1:]
            out.append(t)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Metaspace", "replacement": self.replacement, "prepend_scheme": self.prepend_scheme,
                "split": self.split}


@dataclass
class BPEDecoder:
    suffix: str = "</w>"

    def decode_chain(self, tokens: list[str]) -> list[str]:
        n = len(tokens)
        return [t.replace(self.suffix, "" if i == n - 1 else " ") for i, t in enumerate(tokens)]

    def to_dict(self) -> dict[str, Any]:
        return {"type": "BPEDecoder", "suffix": self.suffix}


def _fallback_byte(t: str) -> int | None:
    if len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
        try:
            return int(t[3:5], 16)
        except ValueError:
            return None
    return None


@dataclass
class ByteFallback:
    def decode_chain(self, tokens: list[str]) -> list[str]:
        out: list[str] = []
        pending = bytearray()

        def flush() -> None:
            if pending:
                try:
                    out.append(pending.decode("utf-8"))
                except UnicodeDecodeError:
                    out.extend(["\ufffd"] * len(pending))
                pending.clear()

        for t in tokens:
            b = _fallback_byte(t)
            if b is not None:
                pending.append(b)
            else:
                flush()
                out.append(t)
        flush()
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"type": "ByteFallback"}


@dataclass
class Fuse:
    def decode_chain(self, tokens: list[str]) -> list[str]:
        return ["".join(tokens)]

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Fuse"}


@dataclass
class StripDecoder:
    content: str = " "
    start: int = 0
    stop: int = 0

    def decode_chain(self, tokens: list[str]) -> list[str]:
        out: list[str] = []
        for t in tokens:
            a = 0
            while a < min(self.start, len(t)) and t[a] == self.content:
                a += 1
            b = 0
            while b < min(self.stop, len(t)) and t[len(t) - 1 - b] == self.content:
                b += 1
            out.append(t[a:len(t) - b] if a + b < len(t) else "")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Strip", "content": self.content, "start": self.start, "stop": self.stop}


@dataclass
class ReplaceDecoder:
    pattern: dict[str, str]
    content: str
    _re: regex.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._re = pattern_from_dict(self.pattern)

    def decode_chain(self, tokens: list[str]) -> list[str]:
        return [self._re.sub(lambda _m: self.content, t) for t in tokens]

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Replace", "pattern": dict(self.pattern), "content": self.content}


@dataclass
class CTC:
    pad_token: str = "<pad>"
    word_delimiter_token: str = "|"
    cleanup: bool = True

    def decode_chain(self, tokens: list[str]) -> list[str]:
        out: list[str] = []
        prev: str | None = None
        for t in tokens:
            if t != prev:
                s = t.replace(self.pad_token, "")
                if self.cleanup:
                    s = wordpiece_cleanup(s).replace(self.word_delimiter_token, " ")
                if s:
                    out.append(s)
            prev = t
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"type": "CTC", "pad_token": self.pad_token, "word_delimiter_token": self.word_delimiter_token,
                "cleanup": self.cleanup}


@dataclass
class DecoderSequence:
    decoders: list[Any]

    def decode_chain(self, tokens: list[str]) -> list[str]:
        for d in self.decoders:
            tokens = d.decode_chain(tokens)
        return tokens

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Sequence", "decoders": [d.to_dict() for d in self.decoders]}


def decoder_from_dict(d: dict[str, Any] | None) -> Any:
    if d is None:
        return None
    kind = d["type"]
    if kind == "ByteLevel":
        return ByteLevelDecoder(d.get("add_prefix_space", True), d.get("trim_offsets", True), d.get("use_regex", True))
    if kind == "WordPiece":
        return WordPieceDecoder(d.get("prefix", "##"), d.get("cleanup", True))
    if kind == "Metaspace":
        scheme = d.get("prepend_scheme")
        if scheme is None:
            scheme = "always" if d.get("add_prefix_space", True) else "never"
        return MetaspaceDecoder(d.get("replacement", "\u2581"), scheme, d.get("split", True))
    if kind == "BPEDecoder":
        return BPEDecoder(d.get("suffix", "</w>"))
    if kind == "ByteFallback":
        return ByteFallback()
    if kind == "Fuse":
        return Fuse()
    if kind == "Strip":
        return StripDecoder(d.get("content", " "), d.get("start", 0), d.get("stop", 0))
    if kind == "Replace":
        return ReplaceDecoder(d["pattern"], d["content"])
    if kind == "CTC":
        return CTC(d.get("pad_token", "<pad>"), d.get("word_delimiter_token", "|"), d.get("cleanup", True))
    if kind == "Sequence":
        return DecoderSequence([decoder_from_dict(x) for x in d["decoders"]])
    raise ValueError(f"unsupported decoder type {kind!r}")
