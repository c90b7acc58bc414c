"""Post-processors: add special tokens and type ids around the encoded sequence(s).

Matches `tokenizers/src/processors/*.rs`: TemplateProcessing, BertProcessing, RobertaProcessing,
ByteLevel (offset trimming only) and Sequence. `process_encodings(encodings, add_special_tokens)`
maps the list of 1 or 2 encodings to the list `Encoding.merge` then joins, as the Rust trait does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cove.tokenizers.encoding import Encoding


def _special(ids: list[int], tokens: list[str], type_id: int) -> Encoding:
    n = len(ids)
    return Encoding(list(ids), [type_id] * n, list(tokens), [(0, 0)] * n, [None] * n, [1] * n, [1] * n)


_SPACE_STR = ("\u0120\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
              "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_SPACE_CHARS = frozenset("\u0120\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
                         "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


def space_counts(tok: str) -> tuple[int, int]:
    """The leading and trailing spaces ('Ġ' or whitespace chars) of a token, as ByteLevel counts them."""
    lead = len(tok) - len(tok.lstrip(_SPACE_STR))
    trail = len(tok) - len(tok.rstrip(_SPACE_STR)) if lead < len(tok) else lead
    return lead, trail


def trim_token_offsets(tok: str, i: int, offsets: tuple[int, int], add_prefix_space: bool) -> tuple[int, int]:
    """`trim_byte_level_offsets` for one token, `i` its index in the encoding."""
    return _trimmed(space_counts(tok), i, offsets, add_prefix_space)


def _trimmed(counts: tuple[int, int], i: int, offsets: tuple[int, int], add_prefix_space: bool) -> tuple[int, int]:
    lead, trail = counts
    s, e = offsets
    if lead:
        if add_prefix_space and lead == 1 and (i == 0 or s == 0):
            lead = 0
        s = min(s + lead, e)
    if trail and e >= trail:
        e = max(e - trail, s)
    return s, e


def trim_byte_level_offsets(enc: Encoding, add_prefix_space: bool, memo: dict[str, tuple[int, int]]) -> None:
    """ByteLevel's `process_offsets`: drop leading/trailing spaces ('Ġ') from each token's offsets.
    `memo` keeps (leading, trailing) space counts per token string."""
    offsets = enc.offsets
    tokens = enc.tokens
    sp = _SPACE_CHARS
    for i in [i for i, t in enumerate(tokens) if t and (t[0] in sp or t[-1] in sp)]:
        tok = tokens[i]
        counts = memo.get(tok)
        if counts is None:
            counts = memo[tok] = space_counts(tok)
        offsets[i] = _trimmed(counts, i, offsets[i], add_prefix_space)


def _trim_all(encodings: list[Encoding], add_prefix_space: bool, memo: dict[str, tuple[int, int]]) -> None:
    for enc in encodings:
        trim_byte_level_offsets(enc, add_prefix_space, memo)
        for o in enc.overflowing:
            trim_byte_level_offsets(o, add_prefix_space, memo)


@dataclass
class ByteLevelProcessor:
    add_prefix_space: bool = True
    trim_offsets: bool = True
    use_regex: bool = True
    _memo: dict[str, tuple[int, int]] = field(default_factory=dict, repr=False, compare=False)

    def added_tokens(self, is_pair: bool) -> int:
        return 0

    def process_encodings(self, encodings: list[Encoding], add_special_tokens: bool) -> list[Encoding]:
        if self.trim_offsets:
            _trim_all(encodings, self.add_prefix_space, self._memo)
        for i, e in enumerate(encodings):
            e.set_sequence_id(i)
        return encodings

    def to_dict(self) -> dict[str, Any]:
        return {"type": "ByteLevel", "add_prefix_space": self.add_prefix_space,
                "trim_offsets": self.trim_offsets, "use_regex": self.use_regex}


SingleParts = tuple[list[int], list[str], list[int], int, list[int], list[str], list[int]]


def wrap_single(enc: Encoding, parts: SingleParts) -> Encoding:
    """`before + enc + after` for one sequence without overflowing parts: what `process_encodings`
    then `Encoding.merge` give, built at once. `parts` is (before ids, tokens, type ids, the
    sequence's type id, after ids, tokens, type ids)."""
    b_ids, b_toks, b_types, type_id, a_ids, a_toks, a_types = parts
    n, nb, na = len(enc.ids), len(b_ids), len(a_ids)
    return Encoding(b_ids + enc.ids + a_ids, b_types + [type_id] * n + a_types, b_toks + enc.tokens + a_toks,
                    [(0, 0)] * nb + enc.offsets + [(0, 0)] * na, [None] * nb + enc.word_ids + [None] * na,
                    [1] * nb + enc.special_tokens_mask + [1] * na, [1] * nb + enc.attention_mask + [1] * na,
                    [], {0: (nb, nb + n)})


def _wrap(enc: Encoding, before: list[tuple[int, str]], after: list[tuple[int, str]], type_id: int) -> Encoding:
    """`before + enc + after` with every type id set to `type_id`; overflowing parts wrapped alike."""
    out = Encoding()
    for tid, tok in before:
        out.merge_with(_special([tid], [tok], type_id))
    body = Encoding(enc.ids, [type_id] * len(enc.ids), enc.tokens, enc.offsets, enc.word_ids,
                    [0] * len(enc.ids), [1] * len(enc.ids))
    out.merge_with(body)
    for tid, tok in after:
        out.merge_with(_special([tid], [tok], type_id))
    out.overflowing = [_wrap(o, before, after, type_id) for o in enc.overflowing]
    return out


@dataclass
class BertProcessing:
    sep: tuple[str, int]
    cls: tuple[str, int]

    def added_tokens(self, is_pair: bool) -> int:
        return 3 if is_pair else 2

    def single_parts(self, add_special_tokens: bool) -> SingleParts:
        if not add_special_tokens:
            return [], [], [], 0, [], [], []
        return [self.cls[1]], [self.cls[0]], [0], 0, [self.sep[1]], [self.sep[0]], [0]

    def process_encodings(self, encodings: list[Encoding], add_special_tokens: bool) -> list[Encoding]:
        if not add_special_tokens:
            return encodings
        sep, cls = (self.sep[1], self.sep[0]), (self.cls[1], self.cls[0])
        out = [_wrap(encodings[0], [cls], [sep], 0)]
        _set_range(out[0], 0, 1, 1)
        if len(encodings) > 1:
            b = _wrap(encodings[1], [], [sep], 1)
            _set_range(b, 1, 0, 1)
            out.append(b)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"type": "BertProcessing", "sep": list(self.sep), "cls": list(self.cls)}


def _set_range(enc: Encoding, seq: int, before: int, after: int) -> None:
    """Mark the tokens between `before` leading and `after` trailing specials as sequence `seq`, in `enc`
    and in each of its overflowing parts (every window of a pair knows which tokens are which)."""
    for e in (enc, *enc.overflowing):
        e.sequence_ranges = {seq: (before, len(e.ids) - after)}


@dataclass
class RobertaProcessing:
    sep: tuple[str, int]
    cls: tuple[str, int]
    trim_offsets: bool = True
    add_prefix_space: bool = True
    _memo: dict[str, tuple[int, int]] = field(default_factory=dict, repr=False, compare=False)

    def added_tokens(self, is_pair: bool) -> int:
        return 4 if is_pair else 2

    def process_encodings(self, encodings: list[Encoding], add_special_tokens: bool) -> list[Encoding]:
        if self.trim_offsets:
            _trim_all(encodings, self.add_prefix_space, self._memo)
        for e in encodings:  # RoBERTa has no type ids: everything is 0
            e.type_ids = [0] * len(e.ids)
            for o in e.overflowing:
                o.type_ids = [0] * len(o.ids)
        if not add_special_tokens:
            return encodings
        sep, cls = (self.sep[1], self.sep[0]), (self.cls[1], self.cls[0])
        out = [_wrap(encodings[0], [cls], [sep], 0)]
        _set_range(out[0], 0, 1, 1)
        if len(encodings) > 1:
            b = _wrap(encodings[1], [sep], [sep], 0)
            _set_range(b, 1, 1, 1)
            out.append(b)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"type": "RobertaProcessing", "sep": list(self.sep), "cls": list(self.cls),
                "trim_offsets": self.trim_offsets, "add_prefix_space": self.add_prefix_space}


@dataclass
class TemplateProcessing:
    single: list[dict[str, Any]]
    pair: list[dict[str, Any]]
    special_tokens: dict[str, dict[str, Any]]

    def added_tokens(self, is_pair: bool) -> int:
        template = self.pair if is_pair else self.single
        return sum(len(self.special_tokens[p["SpecialToken"]["id"]]["ids"]) for p in template if "SpecialToken" in p)

    def single_parts(self, add_special_tokens: bool) -> SingleParts | None:
        seqs = [i for i, p in enumerate(self.single) if "Sequence" in p]
        if len(seqs) != 1 or self.single[seqs[0]]["Sequence"]["id"] != "A":
            return None
        sides: list[tuple[list[int], list[str], list[int]]] = []
        for pieces in (self.single[:seqs[0]], self.single[seqs[0] + 1:]):
            ids: list[int] = []
            toks: list[str] = []
            types: list[int] = []
            for piece in pieces if add_special_tokens else []:
                sp = piece["SpecialToken"]
                tok = self.special_tokens[sp["id"]]
                ids += tok["ids"]
                toks += tok["tokens"]
                types += [sp["type_id"]] * len(tok["ids"])
            sides.append((ids, toks, types))
        (b_ids, b_toks, b_types), (a_ids, a_toks, a_types) = sides
        return b_ids, b_toks, b_types, self.single[seqs[0]]["Sequence"]["type_id"], a_ids, a_toks, a_types

    def process_encodings(self, encodings: list[Encoding], add_special_tokens: bool) -> list[Encoding]:
        template = self.pair if len(encodings) == 2 else self.single
        out: list[Encoding] = []
        for piece in template:
            if "Sequence" in piece:
                seq = piece["Sequence"]
                i = 0 if seq["id"] == "A" else 1
                enc = encodings[i]
                enc.type_ids = [seq["type_id"]] * len(enc.ids)
                enc.set_sequence_id(i)
                out.append(enc.copy())
            elif add_special_tokens:
                sp = piece["SpecialToken"]
                tok = self.special_tokens[sp["id"]]
                out.append(_special(tok["ids"], tok["tokens"], sp["type_id"]))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"type": "TemplateProcessing", "single": self.single, "pair": self.pair,
                "special_tokens": self.special_tokens}


@dataclass
class ProcessorSequence:
    processors: list[Any]

    def added_tokens(self, is_pair: bool) -> int:
        return sum(p.added_tokens(is_pair) for p in self.processors)

    def process_encodings(self, encodings: list[Encoding], add_special_tokens: bool) -> list[Encoding]:
        for p in self.processors:
            encodings = p.process_encodings(encodings, add_special_tokens)
        return encodings

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Sequence", "processors": [p.to_dict() for p in self.processors]}


def _parse_template(t: Any) -> list[dict[str, Any]]:
    """A template given as a string ("[CLS] $A [SEP]") or as tokenizer.json pieces."""
    if isinstance(t, list) and t and isinstance(t[0], dict):
        return t
    parts = t.split() if isinstance(t, str) else list(t)
    out: list[dict[str, Any]] = []
    for part in parts:
        name, _, type_id = part.partition(":")
        tid = int(type_id) if type_id else 0
        if name in ("$A", "$a", "$"):
            out.append({"Sequence": {"id": "A", "type_id": tid}})
        elif name in ("$B", "$b"):
            out.append({"Sequence": {"id": "B", "type_id": tid}})
        elif name.startswith("$") and name[1:].isdigit():
            out.append({"Sequence": {"id": "A", "type_id": int(name[1:])}})
        else:
            out.append({"SpecialToken": {"id": name, "type_id": tid}})
    return out


def template_processing(single: Any, pair: Any, special_tokens: list[tuple[str, int]]) -> TemplateProcessing:
    """Build a TemplateProcessing the way `tokenizers.processors.TemplateProcessing(...)` is called."""
    specials = {name: {"id": name, "ids": [i], "tokens": [name]} for name, i in special_tokens}
    return TemplateProcessing(_parse_template(single), _parse_template(pair), specials)


def post_processor_from_dict(d: dict[str, Any] | None) -> Any:
    if d is None:
        return None
    kind = d["type"]
    if kind == "ByteLevel":
        return ByteLevelProcessor(d.get("add_prefix_space", True), d.get("trim_offsets", True), d.get("use_regex", True))
    if kind == "BertProcessing":
        return BertProcessing(tuple(d["sep"]), tuple(d["cls"]))  # type: ignore[arg-type]
    if kind == "RobertaProcessing":
        return RobertaProcessing(tuple(d["sep"]), tuple(d["cls"]), d.get("trim_offsets", True),  # type: ignore[arg-type]
                                 d.get("add_prefix_space", True))
    if kind == "TemplateProcessing":
        return TemplateProcessing(_parse_template(d["single"]), _parse_template(d["pair"]), d["special_tokens"])
    if kind == "Sequence":
        return ProcessorSequence([post_processor_from_dict(x) for x in d["processors"]])
    raise ValueError(f"unsupported post-processor type {kind!r}")
