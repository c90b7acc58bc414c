"""Compiled cores for BPE: `tiktoken` does the merges, numpy the offsets.

`TiktokenCore` holds what the cores share: the merge table given to tiktoken (below), and
`encode_texts`, which cuts a batch of lines at their added tokens and builds the encodings. A core
turns the *segments* (lines, or the pieces between added tokens) into token columns in one tiktoken
call. `ByteLevelCore` (here) fits the GPT-2 family; `MetaspaceCore` (fast_metaspace.py) fits
Llama-style BPE with byte fallback. Their `build` returns None for any other pipeline, and the
caller keeps the pure-Python path.

ByteLevelCore fits a tokenizer.json with no normalizer, the pre-tokenizer `ByteLevel(add_prefix_space=False,
use_regex=True)` and a BPE model without dropout, affixes or `ignore_merges` whose vocabulary has
all 256 byte chars. Where the GPT-2 regex would cut each line into words is found with numpy from
a class per char (`gpt2_word_starts`: the word ids need the words, and the regex itself was the
slowest step), and the words of the whole batch, NUL between them, go to a tiktoken `Encoding` whose
own pattern only splits at NUL. The token byte lengths then give every offset with a few vectorised
numpy passes; the ByteLevel post-processor's offset trimming is applied the same way (`trim`), and
the post-processor's special tokens are laid out around each line at once (`parts`). A word longer
than MAX_PIECE chars sends its line to the Python path (tiktoken's merge loop is quadratic).

tiktoken merges the adjacent pair whose *concatenation* has the lowest rank, and returns a word that
is itself a token as that token; `tokenizers` merges the adjacent *pair* with the lowest merge rank
and has no such shortcut. Why they still agree here:

- Lemma: within any word, the merges `tokenizers` has applied inside the span of a token present at
  some step are, in order, the first merges it applies to that token's bytes alone (it always takes the
  lowest (rank, position) pair, and no merge ever crosses the span's edges). So a token t is made
  in some word only if the model encodes t's own bytes as [t]: "consistent".
- The table given to tiktoken holds the units (the 256 bytes here) and the consistent tokens, each
  ranked by the merge that makes it from two consistent tokens. A token made that way by two merges
  is "tainted" (ranked by the first), and so is every token with a split into two tokens one of
  which is tainted.
- Take the first step where the two differ, from a common state. If tiktoken merged a split
  (u, v) of t that is not a merge, the lemma applied to t's bytes would end at [u, v], so t would
  not be consistent. Otherwise both candidate sets hold the same untainted pairs at the same
  ranks, and only a tainted token can make them choose differently. A whole word returned by the
  shortcut is consistent, hence what the model gives.

So any difference leaves a tainted token in tiktoken's output; lines with one are encoded again by
the Python path (none on the GPT-2 and Whisper files). The analysis runs once, on first use.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import regex

from cove.tokenizers.encoding import Encoding
from cove.tokenizers.models.bpe import BPE
from cove.tokenizers.post_processors import SingleParts, space_counts, trim_token_offsets, wrap_single
from cove.tokenizers.pre_tokenizers import _WS as WS_CLASS
from cove.tokenizers.pre_tokenizers import BYTES_TO_CHARS, CHARS_TO_BYTES, GPT2_RE, ByteLevel

SEP = "\x00"  # joins the texts of a batch; texts containing it take the Python path
# Longest piece (chars) sent to tiktoken, whose merge loop is quadratic in the piece: a line holding a
# longer one (a long run of CJK text, say) is faster on the Python path.
MAX_PIECE = 4000
_SEP_PATTERN = r"[^\x00]+"  # tiktoken's split: Cove's `regex` has already found the words
# The GPT-2 pattern over texts joined by SEP: SEP is its own match, no other alternative takes it, and
# trailing spaces before it end as at the end of a text (`(?!\S)` would see SEP as a non-space).
WORDS_RE = regex.compile(
    r"\x00|" + GPT2_RE.pattern.replace(r"[^\t", r"[^\x00\t").replace(r"(?![^\t", r"(?![^\x00\t")
)


def _token_bytes(token: str) -> bytes | None:
    try:
        return bytes([CHARS_TO_BYTES[c] for c in token])
    except KeyError:
        return None


def add_merge_ranks(
    model: BPE,
    ranks: dict[bytes, int],
    by_rank: dict[int, str | None],
    units: set[str],
    to_bytes: Callable[[str], bytes | None],
) -> set[str]:
    """Rank the merge products of `model` for tiktoken, above the units already in `ranks` (their
    strings in `units`); return the tainted tokens. `ranks` and `by_rank` are filled in place."""
    base = max(ranks.values()) + 1
    pair_rank: dict[tuple[str, str], int] = {}
    for rank, pair in enumerate(model.merges):
        pair_rank[pair] = rank  # a repeated pair: the last rank wins, as in the model
    producers: dict[str, list[tuple[str, str]]] = {}
    for a, b in pair_rank:
        producers.setdefault(a + b, []).append((a, b))
    # A token the model does not make from its own bytes, it never makes in any word (see above):
    # leave it out, so tiktoken cannot make it either.
    consistent = set(units)
    for token in sorted(producers, key=len):
        tb = to_bytes(token)
        if tb is None or tb in ranks:
            continue
        toks = model._merge_word(token)  # not `tokenize`: keep these out of its cache
        if len(toks) == 1 and toks[0][1] == token:
            consistent.add(token)
    tainted: set[str] = set()
    for token in consistent:
        pairs = producers.get(token)
        if not pairs:
            continue
        made = [p for p in pairs if p[0] in consistent and p[1] in consistent]
        if len(made) != 1:  # more than one way it could be made: let any output holding it fall back
            tainted.add(token)
        rank = base + min(pair_rank[p] for p in (made or pairs))
        ranks[to_bytes(token)] = rank  # type: ignore[index]
        by_rank[rank] = token
    if tainted:  # and every token tiktoken could build from a tainted one
        str_of = {tb: by_rank.get(r) for tb, r in ranks.items()}
        for tb in sorted(ranks, key=len):
            if (
                str_of[tb] is not None
                and str_of[tb] not in tainted
                and any(
                    str_of.get(tb[:k]) in tainted or str_of.get(tb[k:]) in tainted for k in range(1, len(tb))
                )
            ):
                tainted.add(str_of[tb])  # type: ignore[arg-type]
    return tainted


# Char classes of `gpt2_word_starts`, by code point.
_SEP, _L, _N, _P, _SPACE, _WS = 0, 1, 2, 3, 4, 5
_CONTRACTIONS = {"s": 2, "t": 2, "m": 2, "d": 2, "re": 3, "ve": 3, "ll": 3}


@functools.cache
def char_classes() -> np.ndarray:
    """(0x110000,) uint8: the class of every code point for `gpt2_word_starts` (built once, ~0.3 s)."""
    every = "".join(map(chr, range(0x110000)))
    table = np.full(0x110000, _P, dtype=np.uint8)
    for pattern, cls in ((r"\p{L}+", _L), (r"\p{N}+", _N), (WS_CLASS + "+", _WS)):
        for m in regex.finditer(pattern, every):
            table[m.start() : m.end()] = cls
    table[ord(" ")] = _SPACE
    table[ord(SEP)] = _SEP
    return table


def gpt2_word_starts(cp: np.ndarray, classes: np.ndarray) -> np.ndarray:
    r"""(N,) bool: where the matches of WORDS_RE begin in the text of code points `cp`, without running it.

    The pattern `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` (SEP
    its own match) starts a word at: SEP and the char after it; a letter, number or other char whose
    predecessor is of another of those three classes or a whitespace char other than " " (a " " joins
    the word after it); the first char of a whitespace run, and its last char when a letter, number or
    other char follows; after a contraction, and not inside one (one starts at a "'" starting a word).
    test_fast_bpe.py checks this against the regex on random strings and the corpus."""
    cls = classes[cp]
    n = len(cls)
    prev = np.empty(n, dtype=np.uint8)
    nxt = np.empty(n, dtype=np.uint8)
    prev[:1] = _SEP
    prev[1:] = cls[:-1]
    nxt[-1:] = _SEP
    nxt[:-1] = cls[1:]
    solid = (cls >= _L) & (cls <= _P)  # letter, number or other
    solid_next = (nxt >= _L) & (nxt <= _P)
    space = cls >= _SPACE
    space_prev = prev >= _SPACE
    start = (cls == _SEP) | (prev == _SEP)
    start |= solid & ((prev == _WS) | ((prev >= _L) & (prev <= _P) & (prev != cls)))
    start |= space & (~space_prev | solid_next)
    apos = np.flatnonzero(start & (cp == ord("'")))
    if len(apos):
        tail = np.concatenate((cp, np.zeros(3, dtype=cp.dtype)))
        for i in apos.tolist():
            k = _CONTRACTIONS.get(chr(tail[i + 1]) + chr(tail[i + 2]), 0) or _CONTRACTIONS.get(
                chr(tail[i + 1]), 0
            )
            if k:
                start[i + 1 : i + k] = False
                if i + k < n:
                    start[i + k] = True
    return start


def plain_merges(model: BPE) -> bool:
    """Whether `model` merges by its ranks alone: no dropout, word affixes or `ignore_merges`."""
    return not (model.dropout or model.continuing_subword_prefix or model.end_of_word_suffix or model.ignore_merges)


class TiktokenCore:
    """The shared half of a core: `encode_texts` over the segments a subclass's `_encode_segments` encodes.

    A subclass sets `model`, `encoding` (the tiktoken `Encoding`) and `n_tainted`, and calls `_init_ids`.
    """

    model: BPE
    encoding: Any
    n_tainted: int

    def _init_ids(self) -> None:
        vocab = self.model.vocab
        self.id_str = np.empty(max(vocab.values()) + 1, dtype=object)  # the token string of each id
        for token, i in vocab.items():
            self.id_str[i] = token
        self._id_spaces: tuple[Any, Any] | None = None  # (leading, trailing) space counts per id

    def _spaces_of_ids(self) -> tuple[Any, Any]:
        """Per id, the leading and trailing spaces ByteLevel's offset trimming counts (built once)."""
        if self._id_spaces is None:
            lead = np.zeros(len(self.id_str), dtype=np.int64)
            trail = np.zeros(len(self.id_str), dtype=np.int64)
            for i, token in enumerate(self.id_str.tolist()):
                if token:
                    lead[i], trail[i] = space_counts(token)
            self._id_spaces = lead, trail
        return self._id_spaces

    def _encode_segments(self, segments: list[str], seg_base: list[int]) -> tuple[Any, ...]:
        """Token columns of all segments, as numpy arrays: ids, starts, ends (chars in the segment's
        line), word ids (in the segment); the first token of each segment (plus the end), the number
        of words of each segment, and the segments the Python path must encode (a list)."""
        raise NotImplementedError

    def encode_texts(
        self,
        texts: list[str],
        type_id: int,
        added: Any,
        parts: SingleParts | None = None,
        trim: bool | None = None,
    ) -> list[Encoding | None]:
        """One `Encoding` per text (before post-processing); None where the Python path must run.
        With `parts`, the common lines come out already post-processed (`wrap_single`), their offsets
        trimmed as the ByteLevel post-processor does when `trim` is not None (its `add_prefix_space`).

        The texts are cut into *segments*: a whole line without added tokens, else the pieces
        between them. All segments go through one tiktoken call."""
        return self._encode_texts(texts, type_id, added, parts, trim)

    def _encode_texts(
        self, texts: list[str], type_id: int, added: Any, parts: SingleParts | None, trim: bool | None
    ) -> list[Encoding | None]:
        out: list[Encoding | None] = [None] * len(texts)
        if not texts:
            return out
        big = SEP.join(texts)
        if big.count(SEP) != len(texts) - 1:  # some text holds SEP: those take the Python path
            keep = [i for i, t in enumerate(texts) if SEP not in t]
            for i, enc in zip(
                keep, self._encode_texts([texts[i] for i in keep], type_id, added, parts, trim)
            ):
                out[i] = enc
            return out
        line_start = np.cumsum([0] + [len(t) + 1 for t in texts])
        with_added: set[int] = set()
        for matcher in added.matchers(None):
            if matcher is not None:
                hits = [m.start() for m in matcher.finditer(big)]
                with_added.update((np.searchsorted(line_start, hits, side="right") - 1).tolist())
        if not with_added:  # the common case: every line is one segment
            segments = texts
            seg_line: list[int] = list(range(len(texts)))
            seg_base: list[int] = [0] * len(texts)
            plans: list[list[Any]] = [[i] for i in range(len(texts))]
        else:
            segments = []
            seg_line = []  # line of each segment
            seg_base = []  # its first char in its line
            plans = []  # per line: segment numbers and added tokens, in order
            for li, text in enumerate(texts):
                if li not in with_added:
                    plans.append([len(segments)])
                    segments.append(text)
                    seg_line.append(li)
                    seg_base.append(0)
                    continue
                plan: list[Any] = []
                for piece, added_id in added.extract_and_normalize(None, text):
                    if added_id is None:
                        plan.append(len(segments))
                        segments.append(piece.normalized)
                        seg_line.append(li)
                        seg_base.append(piece.ostart)
                    else:
                        plan.append(
                            (added_id, piece.normalized, piece.original_range(0, len(piece.normalized)))
                        )
                plans.append(plan)
        try:
            cols = self._columns(segments, seg_base, trim if parts is not None else None, parts)
        except UnicodeEncodeError:  # lone surrogates: the Python path decides
            return out
        ids_c, tokens_c, offs_c, words_c, types_c, mask_c, seg_tok, seg_words = cols[:8]
        bad = {seg_line[s] for s in cols[8]}
        nb, na = (0, 0) if parts is None else (len(parts[0]), len(parts[4]))
        seq_type = type_id if parts is None else parts[3]
        for li, plan in enumerate(plans):
            if li in bad:
                continue
            if len(plan) == 1 and type(plan[0]) is int:  # the common case: one segment
                a, b = seg_tok[plan[0]], seg_tok[plan[0] + 1]
                n = b - a
                out[li] = Encoding(
                    ids_c[a:b],
                    [seq_type] * n if types_c is None else types_c[a:b],
                    tokens_c[a:b],
                    offs_c[a:b],
                    words_c[a:b],
                    [0] * n if mask_c is None else mask_c[a:b],
                    [1] * n,
                    [],
                    {} if parts is None else {0: (nb, n - na)},
                )
                continue
            ids: list[int] = []
            tokens: list[str] = []
            offsets: list[tuple[int, int]] = []
            wids: list[int | None] = []
            w = 0  # word ids go on across the line: an added token is one word
            for item in plan:
                if type(item) is int:
                    a, b = seg_tok[item] + nb, seg_tok[item + 1] - na  # the segment without special tokens
                    ids += ids_c[a:b]
                    tokens += tokens_c[a:b]
                    offsets += offs_c[a:b]
                    wids += [w + x for x in words_c[a:b]]
                    w += seg_words[item]
                else:
                    ids.append(item[0])
                    tokens.append(item[1])
                    offsets.append(
                        item[2]
                        if trim is None or parts is None
                        else trim_token_offsets(item[1], len(offsets), item[2], trim)
                    )
                    wids.append(w)
                    w += 1
            n = len(ids)
            enc = Encoding(ids, [type_id] * n, tokens, offsets, wids, [0] * n, [1] * n)
            out[li] = enc if parts is None else wrap_single(enc, parts)
        return out

    def _without(self, segments: list[str], seg_base: list[int], drop: Any) -> tuple[Any, ...]:
        """`_encode_segments` with the segments `drop` emptied and marked for the Python path."""
        drop = set(np.asarray(drop).tolist())
        cols = self._encode_segments(["" if k in drop else s for k, s in enumerate(segments)], seg_base)
        return (*cols[:6], sorted(drop.union(cols[6])))

    def _columns(
        self, segments: list[str], seg_base: list[int], trim: bool | None, parts: SingleParts | None
    ) -> tuple[Any, ...]:
        """`_encode_segments` as lists: ids, strings, offsets, word ids, type ids and special-token mask
        (None: all the sequence's, and 0), then per segment its first token (plus the end), number of
        words, and the segments for the Python path. Offsets are trimmed when `trim` is not None, and
        with `parts` every segment comes between its special tokens."""
        ids, starts, ends, word_ids, seg_tok, seg_words, bad = self._encode_segments(segments, seg_base)
        if trim is not None:  # ByteLevel's `process_offsets`, on every token at once
            lead_of, trail_of = self._spaces_of_ids()
            lead, trail = lead_of[ids], trail_of[ids]
            if trim:  # add_prefix_space: one leading space stays on a token at 0 (the first one of a line
                # starts there: no normalizer drops chars)
                lead = np.where((lead == 1) & (starts == 0), 0, lead)
            starts = np.minimum(starts + lead, ends)
            ends = np.where((trail > 0) & (ends >= trail), np.maximum(ends - trail, starts), ends)
        strings = self.id_str[ids]
        types = mask = None
        if parts is not None and (parts[0] or parts[4]):
            b_ids, b_toks, b_types, seq_type, a_ids, a_toks, a_types = parts
            nb, na = len(b_ids), len(a_ids)
            n_seg = len(seg_tok) - 1
            shift = (nb + na) * np.arange(n_seg + 1)  # (S + 1,) special tokens before each segment
            inner = np.arange(len(ids)) + nb + np.repeat(shift[:-1], np.diff(seg_tok))  # (T,) new places
            seg_tok = seg_tok + shift
            around = np.concatenate(  # (S, nb + na) the places of the special tokens
                ((seg_tok[:-1, None] + np.arange(nb)), (seg_tok[1:, None] - na + np.arange(na))), axis=1
            )
            total = len(ids) + (nb + na) * n_seg
            ids, strings, starts, ends, word_ids = (
                _spread(col, inner, total, around, fill)
                for col, fill in (
                    (ids, b_ids + a_ids),
                    (strings, b_toks + a_toks),
                    (starts, 0),
                    (ends, 0),
                    (word_ids, -1),
                )
            )
            types = _spread(np.full(len(inner), seq_type), inner, total, around, b_types + a_types).tolist()
            mask = _spread(np.zeros(len(inner), dtype=np.int64), inner, total, around, 1).tolist()
            words = word_ids.tolist()
            for i in around.ravel().tolist():
                words[i] = None
        else:
            words = word_ids.tolist()
        return (
            ids.tolist(),
            strings.tolist(),
            list(zip(starts.tolist(), ends.tolist())),
            words,
            types,
            mask,
            seg_tok.tolist(),
            np.asarray(seg_words).tolist(),
            bad,
        )


def _spread(col: Any, inner: Any, total: int, around: Any, fill: Any) -> Any:
    """`col` moved to the places `inner` of a new column of `total`, `fill` (per column of `around`) at
    the places `around`."""
    out = np.empty(total, dtype=col.dtype)
    out[inner] = col
    if around.size:
        out[around] = np.asarray(fill, dtype=col.dtype) if not isinstance(fill, int) else fill
    return out


class ByteLevelCore(TiktokenCore):
    """tiktoken ranks for a byte-level BPE model, the map back to its ids, and the tainted tokens."""

    def __init__(self, model: BPE) -> None:
        import tiktoken

        self.model = model
        ranks: dict[bytes, int] = {bytes([b]): b for b in range(256)}
        by_rank: dict[int, str | None] = {b: BYTES_TO_CHARS[b] for b in range(256)}
        tainted = add_merge_ranks(model, ranks, by_rank, set(BYTES_TO_CHARS.values()), _token_bytes)
        size = max(ranks.values()) + 1
        self.rank_to_id = np.zeros(size, dtype=np.int64)
        self.rank_len = np.zeros(size, dtype=np.int64)
        self.rank_tainted = np.zeros(size, dtype=bool)
        for tb, r in ranks.items():
            token = by_rank[r]
            self.rank_to_id[r] = model.vocab[token]  # type: ignore[index]
            self.rank_len[r] = len(tb)
            self.rank_tainted[r] = token in tainted
        self.n_tainted = len(tainted)
        self.encoding = tiktoken.Encoding(
            "cove-bytelevel", pat_str=_SEP_PATTERN, mergeable_ranks=ranks, special_tokens={}
        )
        self._init_ids()
        self.classes = char_classes()

    @classmethod
    def build(cls, normalizer: Any, pre_tokenizer: Any, model: Any) -> ByteLevelCore | None:
        """The core for this pipeline, or None when it does not fit (see the module docstring)."""
        if normalizer is not None or not isinstance(model, BPE) or type(pre_tokenizer) is not ByteLevel:
            return None
        if pre_tokenizer.add_prefix_space or not pre_tokenizer.use_regex:
            return None
        if not plain_merges(model):
            return None
        if any(c not in model.vocab for c in CHARS_TO_BYTES):
            return None
        try:
            return cls(model)
        except ImportError:  # tiktoken missing: the Python path
            return None

    def _encode_segments(self, segments: list[str], seg_base: list[int]) -> tuple[Any, ...]:
        """See `TiktokenCore._encode_segments`; the Python path takes segments holding a tainted token."""
        n_seg = len(segments)
        cp = np.frombuffer(
            SEP.join(segments).encode("utf-32-le"), dtype=np.uint32
        )  # (N,) SEP between segments
        starts = gpt2_word_starts(cp, self.classes)
        sep = cp == 0
        word_at = np.flatnonzero(starts)
        too_long = word_at[np.diff(word_at, append=len(cp)) > MAX_PIECE]
        if len(too_long):  # tiktoken's merge loop is quadratic in a piece: those lines take the Python path
            return self._without(segments, seg_base, np.cumsum(sep)[too_long])
        # tiktoken's pieces: the words, NUL before each (an extra NUL is only skipped)
        cut = np.insert(cp, np.flatnonzero(starts & ~sep), 0)
        ranks = self.encoding.encode_to_numpy(cut.tobytes().decode("utf-32-le"))  # (T,) uint32
        seg_of_char = np.cumsum(sep)[~sep]  # (C,) for the chars of `cat`, the segments end to end
        cp = cp[~sep]
        w_char_start = np.flatnonzero(starts[~sep])  # (W,) first char of each word in `cat`
        seg_of_word = seg_of_char[w_char_start]
        tok_len = self.rank_len[ranks]
        tok_end = np.cumsum(tok_len)  # (T,) byte ends in `cat`
        tok_start = tok_end - tok_len
        if len(cp) == tok_end[-1:].sum():  # all ASCII: bytes are chars
            w_byte_start = w_char_start
            c_start, c_end = tok_start, tok_end
        else:
            u8 = 1 + (cp >= 0x80) + (cp >= 0x800) + (cp >= 0x10000)  # UTF-8 length of each char
            char_byte_start = np.concatenate(([0], np.cumsum(u8)))
            w_byte_start = char_byte_start[w_char_start]
            char_of_byte = np.repeat(np.arange(len(cp), dtype=np.int64), u8)
            # A token inside a multi-byte char covers that whole char, as the Python path reports it.
            c_start = char_of_byte[tok_start]
            c_end = char_of_byte[tok_end - 1] + 1
        seg_len = np.fromiter(map(len, segments), dtype=np.int64, count=n_seg)
        seg_shift = np.asarray(seg_base, dtype=np.int64) - (
            np.cumsum(seg_len) - seg_len
        )  # `cat` -> line chars
        seg_first_word = np.searchsorted(seg_of_word, np.arange(n_seg + 1))
        word_of_tok = np.searchsorted(w_byte_start, tok_start, side="right") - 1
        seg_of_tok = seg_of_word[word_of_tok]
        shift = seg_shift[seg_of_tok]
        word_ids = word_of_tok - seg_first_word[seg_of_tok]
        seg_first_tok = np.searchsorted(word_of_tok, seg_first_word)  # (S + 1,)
        bad = np.unique(seg_of_tok[self.rank_tainted[ranks]]).tolist()
        return (
            self.rank_to_id[ranks],
            c_start + shift,
            c_end + shift,
            word_ids,
            seg_first_tok,
            np.diff(seg_first_word),
            bad,
        )
