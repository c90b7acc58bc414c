"""A compiled core for byte-level BPE (the GPT-2 family): `tiktoken` does the merges, numpy the offsets.

It fits a tokenizer.json with no normalizer, the pre-tokenizer `ByteLevel(add_prefix_space=False,
use_regex=True)` and a BPE model without dropout, affixes or `ignore_merges` whose vocabulary has
all 256 byte chars. `ByteLevelCore.build` returns None for anything else, and the caller keeps the
pure-Python path.

A batch is encoded in one tiktoken call: added tokens are split out first (as the Python path does),
the GPT-2 regex cuts each line into words in Python (the word ids need them), and the words of the
whole batch, joined by NUL, go to a tiktoken `Encoding` whose own pattern only splits at NUL. The
token byte lengths then give every offset with a few vectorised numpy passes.

tiktoken merges the adjacent pair whose *concatenation* has the lowest rank, and returns a word that
is itself a token as that token; `tokenizers` merges the adjacent *pair* with the lowest merge rank
and has no such shortcut. Why they still agree here:

- Lemma: within any word, the merges `tokenizers` has applied inside the span of a token present at
  some step are, in order, the first merges it applies to that token's bytes alone (it always takes the
  lowest (rank, position) pair, and no merge ever crosses the span's edges). So a token t is made
  in some word only if the model encodes t's own bytes as [t]: "consistent".
- The table given to tiktoken holds the 256 bytes and the consistent tokens, each ranked by the
  merge that makes it from two consistent tokens. A token made that way by two merges is "tainted"
  (ranked by the first), and so is every token with a split into two tokens one of which is tainted.
- Take the first step where the two differ, from a common state. If tiktoken merged a split
  (u, v) of t that is not a merge, the lemma applied to t's bytes would end at [u, v], so t would
  not be consistent. Otherwise both candidate sets hold the same untainted pairs at the same
  ranks, and only a tainted token can make them choose differently. A whole word returned by the
  shortcut is consistent, hence what the model gives.

So any difference leaves a tainted token in tiktoken's output; lines with one are encoded again by
the Python path (none on the GPT-2 and Whisper files). The analysis runs once, on first use.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import regex

from cove.tokenizers.encoding import Encoding
from cove.tokenizers.models.bpe import BPE
from cove.tokenizers.post_processors import SingleParts, wrap_single
from cove.tokenizers.pre_tokenizers import BYTES_TO_CHARS, CHARS_TO_BYTES, GPT2_RE, ByteLevel

SEP = "\x00"  # joins the texts of a batch; texts containing it take the Python path
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


class ByteLevelCore:
    """tiktoken ranks for a BPE model, the map back to its ids, and the tainted tokens."""

    def __init__(self, model: BPE) -> None:
        import tiktoken

        self.model = model
        vocab = model.vocab
        pair_rank: dict[tuple[str, str], int] = {}
        for rank, pair in enumerate(model.merges):
            pair_rank[pair] = rank  # a repeated pair: the last rank wins, as in the model
        producers: dict[str, list[tuple[str, str]]] = {}
        for a, b in pair_rank:
            producers.setdefault(a + b, []).append((a, b))
        ranks: dict[bytes, int] = {bytes([b]): b for b in range(256)}
        by_rank: dict[int, str] = {b: BYTES_TO_CHARS[b] for b in range(256)}
        # A token the model does not make from its own bytes, it never makes in any word (see above):
        # leave it out, so tiktoken cannot make it either.
        consistent: set[str] = set(BYTES_TO_CHARS.values())
        for token in sorted(producers, key=len):
            tb = _token_bytes(token)
            if tb is None or len(tb) < 2:
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
            rank = 256 + min(pair_rank[p] for p in (made or pairs))
            ranks[_token_bytes(token)] = rank  # type: ignore[index]
            by_rank[rank] = token
        if tainted:  # and every token tiktoken could build from a tainted one
            str_of = {tb: by_rank[r] for tb, r in ranks.items()}
            for tb in sorted(ranks, key=len):
                if str_of[tb] not in tainted and any(
                    str_of.get(tb[:k]) in tainted or str_of.get(tb[k:]) in tainted for k in range(1, len(tb))
                ):
                    tainted.add(str_of[tb])
        size = max(ranks.values()) + 1
        self.rank_to_id = np.zeros(size, dtype=np.int64)
        self.rank_len = np.zeros(size, dtype=np.int64)
        self.rank_tainted = np.zeros(size, dtype=bool)
        strings = np.empty(size, dtype=object)
        for tb, r in ranks.items():
            token = by_rank[r]
            self.rank_to_id[r] = vocab[token]
            self.rank_len[r] = len(tb)
            self.rank_tainted[r] = token in tainted
            strings[r] = token
        self.rank_str = strings
        self.n_tainted = len(tainted)
        self.encoding = tiktoken.Encoding(
            "cove-bytelevel", pat_str=_SEP_PATTERN, mergeable_ranks=ranks, special_tokens={}
        )

    @classmethod
    def build(cls, normalizer: Any, pre_tokenizer: Any, model: Any) -> ByteLevelCore | None:
        """The core for this pipeline, or None when it does not fit (see the module docstring)."""
        if normalizer is not None or not isinstance(model, BPE) or type(pre_tokenizer) is not ByteLevel:
            return None
        if pre_tokenizer.add_prefix_space or not pre_tokenizer.use_regex:
            return None
        if (
            model.dropout
            or model.continuing_subword_prefix
            or model.end_of_word_suffix
            or model.ignore_merges
        ):
            return None
        if any(c not in model.vocab for c in CHARS_TO_BYTES):
            return None
        try:
            return cls(model)
        except ImportError:  # tiktoken missing: the Python path
            return None

    def encode_texts(
        self, texts: list[str], type_id: int, added: Any, parts: SingleParts | None = None
    ) -> list[Encoding | None]:
        """One `Encoding` per text (before post-processing); None where the Python path must run.
        With `parts`, the common lines come out already post-processed (`wrap_single`).

        The texts are cut into *segments*: a whole line without added tokens, else the pieces
        between them. All segments go through one regex pass and one tiktoken call."""
        out: list[Encoding | None] = [None] * len(texts)
        if not texts:
            return out
        big = SEP.join(texts)
        if big.count(SEP) != len(texts) - 1:  # some text holds SEP: those take the Python path
            keep = [i for i, t in enumerate(texts) if SEP not in t]
            for i, enc in zip(keep, self.encode_texts([texts[i] for i in keep], type_id, added, parts)):
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
            cols = self._encode_segments(segments, seg_base)
        except UnicodeEncodeError:  # lone surrogates: the Python path decides
            return out
        ids_c, tokens_c, starts_c, ends_c, words_c, seg_tok, seg_words = cols[:7]
        bad = {seg_line[s] for s in cols[7]}
        for li, plan in enumerate(plans):
            if li in bad:
                continue
            if len(plan) == 1 and type(plan[0]) is int:  # the common case: one segment
                a, b = seg_tok[plan[0]], seg_tok[plan[0] + 1]
                n = b - a
                if parts is None:
                    out[li] = Encoding(
                        ids_c[a:b],
                        [type_id] * n,
                        tokens_c[a:b],
                        list(zip(starts_c[a:b], ends_c[a:b])),
                        words_c[a:b],
                        [0] * n,
                        [1] * n,
                    )
                    continue
                b_ids, b_toks, b_types, seq_type, a_ids, a_toks, a_types = parts
                nb, na = len(b_ids), len(a_ids)
                out[li] = Encoding(
                    b_ids + ids_c[a:b] + a_ids,
                    b_types + [seq_type] * n + a_types,
                    b_toks + tokens_c[a:b] + a_toks,
                    [(0, 0)] * nb + list(zip(starts_c[a:b], ends_c[a:b])) + [(0, 0)] * na,
                    [None] * nb + words_c[a:b] + [None] * na,
                    [1] * nb + [0] * n + [1] * na,
                    [1] * (nb + n + na),
                    [],
                    {0: (nb, nb + n)},
                )
                continue
            ids: list[int] = []
            tokens: list[str] = []
            offsets: list[tuple[int, int]] = []
            wids: list[int | None] = []
            w = 0  # word ids go on across the line: an added token is one word
            for item in plan:
                if type(item) is int:
                    a, b = seg_tok[item], seg_tok[item + 1]
                    ids += ids_c[a:b]
                    tokens += tokens_c[a:b]
                    offsets += zip(starts_c[a:b], ends_c[a:b])
                    wids += [w + x for x in words_c[a:b]]
                    w += seg_words[item]
                else:
                    ids.append(item[0])
                    tokens.append(item[1])
                    offsets.append(item[2])
                    wids.append(w)
                    w += 1
            n = len(ids)
            enc = Encoding(ids, [type_id] * n, tokens, offsets, wids, [0] * n, [1] * n)
            out[li] = enc if parts is None else wrap_single(enc, parts)
        return out

    def _encode_segments(self, segments: list[str], seg_base: list[int]) -> tuple[Any, ...]:
        """Token columns of all segments: ids, tokens, starts, ends (chars in the segment's line), word ids
        (in the segment), the first token of each segment (plus the end), the number of words of each
        segment, and the segments holding a tainted token."""
        n_seg = len(segments)
        found = WORDS_RE.findall(SEP.join(segments))  # the GPT-2 words, and SEP between segments
        ranks = np.asarray(self.encoding.encode_ordinary(SEP.join(found)), dtype=np.int64)
        is_sep = np.fromiter(map(SEP.__eq__, found), dtype=bool, count=len(found))
        seg_of_word = np.cumsum(is_sep)[~is_sep]  # (W,)
        w_chars = np.fromiter(map(len, found), dtype=np.int64, count=len(found))[~is_sep]
        w_char_start = np.cumsum(w_chars) - w_chars  # (W,) first char of each word in `cat`
        cat = "".join(segments)
        tok_len = self.rank_len[ranks]
        tok_end = np.cumsum(tok_len)  # (T,) byte ends in `cat`
        tok_start = tok_end - tok_len
        if cat.isascii():
            w_byte_start = w_char_start
            c_start, c_end = tok_start, tok_end
        else:
            cp = np.frombuffer(cat.encode("utf-32-le"), dtype=np.uint32)
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
            self.rank_to_id[ranks].tolist(),
            self.rank_str[ranks].tolist(),
            (c_start + shift).tolist(),
            (c_end + shift).tolist(),
            word_ids.tolist(),
            seg_first_tok.tolist(),
            np.diff(seg_first_word).tolist(),
            bad,
        )
