"""A compiled core for Llama-style BPE (Metaspace, byte fallback): `tiktoken` merges, numpy offsets.

It fits a tokenizer.json with no normalizer (or an empty Sequence) and the pre-tokenizer `Metaspace`,
or, as older conversions of Llama 2 and Mistral have it, the normalizer `Sequence([Prepend("▁"),
Replace(" ", "▁")])` and no pre-tokenizer (the same transform, with the char prepended to every
non-empty segment, and one word per segment: `Metaspace(split=False)` with a scheme of its own);
and a BPE model with `byte_fallback`, the 256 `<0xNN>` tokens, no dropout, affixes or
`ignore_merges`, and no merge involving a `<0xNN>` token; without `split`, no token may hold the
replacement char after another char either (`words._chunkable`). `MetaspaceCore.build` returns None
for anything else.

tiktoken works on bytes and the model on chars, so the table given to tiktoken starts with *units*:

- the 256 single bytes. A byte left alone is an ASCII char of the vocabulary (its id), or else a byte
  of a char the vocabulary lacks: `<0xNN>`, which is exactly BPE's byte fallback;
- for every multi-byte char of the vocabulary, the char, and each of its proper prefixes of two bytes
  or more (a "prefix" rank, with no id), all ranked below every merge. UTF-8 is prefix-free and two
  chars never concatenate into a prefix of one, so these only ever join inside one char: tiktoken
  builds every known char first. A prefix left in the output is the start of a char the vocabulary
  lacks (a known char would have been completed): it stands for one `<0xNN>` per byte.

Above them, the merge tokens are ranked as in `fast_bpe` (consistent tokens; lines where a tainted
one shows up take the Python path), and the same argument shows tiktoken then gives the model's
tokens. The segments of a batch are transformed as Metaspace does (`▁` for spaces, one `▁` prepended
as `prepend_scheme` says), joined by NUL and cut by tiktoken's pattern before each run of `▁` (no
merge crosses those points, see `words.py`), or before each `▁` with `split` (Metaspace's words). A
prepended `▁` maps to the segment's first char, char j to j - 1, and the `<0xNN>` tokens of one char
all get that char's offsets. With `split=False` a segment is one word.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cove.tokenizers.fast_bpe import MAX_PIECE, SEP, TiktokenCore, add_merge_ranks, plain_merges
from cove.tokenizers.models.bpe import BPE
from cove.tokenizers.normalizers import NormalizerSequence, Prepend, Replace
from cove.tokenizers.pre_tokenizers import Metaspace
from cove.tokenizers.words import _chunkable

BYTE_TOKENS = frozenset(f"<0x{b:02X}>" for b in range(256))


LEGACY_SCHEME = "every segment"  # the prepending of a Prepend normalizer, which Metaspace has no name for


def _legacy_metaspace(normalizer: Any, pre_tokenizer: Any) -> Metaspace | None:
    """The Metaspace transform that `Sequence([Prepend(r), Replace(" ", r)])` without a pre-tokenizer
    amounts to, or None for any other pipeline."""
    if pre_tokenizer is not None or type(normalizer) is not NormalizerSequence or len(normalizer.normalizers) != 2:
        return None
    prepend, replace = normalizer.normalizers
    if type(prepend) is not Prepend or type(replace) is not Replace:
        return None
    rep = prepend.prepend
    if replace.pattern != {"String": " "} or replace.content != rep or len(rep) != 1:
        return None
    return Metaspace(replacement=rep, prepend_scheme=LEGACY_SCHEME, split=False)


def _utf8(token: str) -> bytes | None:
    try:
        return token.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: never in a text tiktoken sees
        return None


class MetaspaceCore(TiktokenCore):
    """tiktoken ranks over UTF-8 bytes for a byte-fallback BPE model, and the map back to its ids."""

    def __init__(self, model: BPE, metaspace: Metaspace) -> None:
        import tiktoken

        self.model = model
        self.replacement = metaspace.replacement
        self.prepend_scheme = metaspace.prepend_scheme
        self.split = metaspace.split
        vocab = model.vocab
        self.byte_ids = np.asarray(model._byte_ids, dtype=np.int64)  # `<0xNN>` ids (all present)
        ranks: dict[bytes, int] = {bytes([b]): b for b in range(256)}
        by_rank: dict[int, str | None] = {b: None for b in range(256)}
        rank_id: dict[int, int] = {b: int(self.byte_ids[b]) for b in range(256)}
        units: set[str] = set()
        for c in sorted(t for t in vocab if len(t) == 1):
            cb = _utf8(c)
            if cb is None or c == SEP:
                continue
            units.add(c)
            if len(cb) == 1:
                by_rank[cb[0]] = c
                rank_id[cb[0]] = vocab[c]
                continue
            for k in range(2, len(cb) + 1):  # the prefixes, then the char
                if cb[:k] not in ranks:
                    ranks[cb[:k]] = len(ranks)
            by_rank[ranks[cb]] = c
            rank_id[ranks[cb]] = vocab[c]
        tainted = add_merge_ranks(model, ranks, by_rank, units, _utf8)
        size = max(ranks.values()) + 1
        self.rank_to_id = np.full(size, -1, dtype=np.int64)
        self.rank_len = np.zeros(size, dtype=np.int64)
        self.rank_count = np.ones(size, dtype=np.int64)  # output tokens: a prefix gives one per byte
        self.rank_tainted = np.zeros(size, dtype=bool)
        for tb, r in ranks.items():
            token = by_rank.get(r)
            self.rank_len[r] = len(tb)
            if token is None and r >= 256:  # a prefix of a char
                self.rank_count[r] = len(tb)
                continue
            self.rank_to_id[r] = rank_id[r] if r in rank_id else vocab[token]  # type: ignore[index]
            self.rank_tainted[r] = token in tainted
        self.n_tainted = len(tainted)
        rep = f"\\x{{{ord(self.replacement):X}}}"
        self.encoding = tiktoken.Encoding(
            "cove-metaspace",
            # the words of Metaspace with `split`, else the chunks of words.py; NUL (between segments) in none
            pat_str=rf"{rep}[^{rep}\x00]*|[^{rep}\x00]+" if self.split else rf"{rep}*[^{rep}\x00]+|{rep}+",
            mergeable_ranks=ranks,
            special_tokens={},
        )
        self._init_ids()

    @classmethod
    def build(cls, normalizer: Any, pre_tokenizer: Any, model: Any) -> MetaspaceCore | None:
        """The core for this pipeline, or None when it does not fit (see the module docstring)."""
        legacy = _legacy_metaspace(normalizer, pre_tokenizer)
        if legacy is not None:
            pre_tokenizer = legacy
        elif type(pre_tokenizer) is not Metaspace:
            return None
        elif normalizer is not None and not (type(normalizer) is NormalizerSequence and not normalizer.normalizers):
            return None
        if not isinstance(model, BPE) or not model.byte_fallback or None in model._byte_ids:
            return None
        if not plain_merges(model):
            return None
        if any(a in BYTE_TOKENS or b in BYTE_TOKENS for a, b in model.merges):
            return None
        rep = pre_tokenizer.replacement
        if len(rep) != 1 or rep in (SEP, " ") or not (pre_tokenizer.split or _chunkable(model, rep)):
            return None
        try:
            return cls(model, pre_tokenizer)
        except ImportError:  # tiktoken missing: the Python path
            return None

    def _prepends(self, segments: list[str], seg_base: list[int]) -> list[bool]:
        """Whether Metaspace prepends its char to each segment (`WordPipeline._prepends`)."""
        skip = ("", " ", self.replacement)
        if self.prepend_scheme == LEGACY_SCHEME:  # the Prepend normalizer: every non-empty segment
            return [s != "" for s in segments]
        if self.prepend_scheme == "always":
            return [s[:1] not in skip for s in segments]
        if self.prepend_scheme == "first":
            return [b == 0 and s[:1] not in skip for s, b in zip(segments, seg_base)]
        return [False] * len(segments)

    def _encode_segments(self, segments: list[str], seg_base: list[int]) -> tuple[Any, ...]:
        """See `TiktokenCore._encode_segments`; the Python path takes segments holding a tainted token."""
        rep = self.replacement
        n_seg = len(segments)
        pre = self._prepends(segments, seg_base)
        joined = SEP.join([rep + s if p else s for s, p in zip(segments, pre)]).replace(" ", rep)
        cpj = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)  # (N,) SEP between segments
        sep = cpj == 0
        is_rep = cpj == ord(rep)
        cuts = is_rep.copy()  # where a piece starts (and at SEP): at each `rep` with `split`, else at
        if not self.split:  # the first of a run
            cuts[1:] &= ~is_rep[:-1]
        cuts = np.concatenate(([0], np.flatnonzero(sep | cuts)))
        too_long = cuts[np.diff(cuts, append=len(cpj)) > MAX_PIECE]
        if len(too_long):  # see `fast_bpe.MAX_PIECE`
            return self._without(segments, seg_base, np.cumsum(sep)[too_long])
        ranks = self.encoding.encode_to_numpy(joined)  # (T,) uint32
        tok_len = self.rank_len[ranks]
        tok_end = np.cumsum(tok_len)  # (T,) byte ends in the transformed segments, end to end (`cat`)
        tok_start = tok_end - tok_len
        ids = self.rank_to_id[ranks]
        count = self.rank_count[ranks]
        if len(count) and count.max() > 1:  # prefixes of unknown chars: one `<0xNN>` per byte
            src = np.repeat(np.arange(len(ranks)), count)  # (T',) the tiktoken token of each output token
            part = np.arange(len(src)) - np.repeat(np.cumsum(count) - count, count)
            split = (count > 1)[src]
            tok_start = tok_start[src] + part
            tok_end = np.where(split, tok_start + 1, tok_end[src])
            ids = ids[src]
            raw = np.frombuffer(joined.replace(SEP, "").encode("utf-8"), dtype=np.uint8)  # `cat`
            ids[split] = self.byte_ids[raw[tok_start[split]]]
            ranks = ranks[src]
        cp = cpj[~sep]
        u8 = 1 + (cp >= 0x80) + (cp >= 0x800) + (cp >= 0x10000)  # UTF-8 length of each char
        char_of_byte = np.repeat(np.arange(len(cp), dtype=np.int64), u8)
        c_start = char_of_byte[tok_start]  # a byte token covers its whole char
        c_end = char_of_byte[tok_end - 1] + 1
        pre_n = np.asarray(pre, dtype=np.int64)
        seg_len = np.fromiter(map(len, segments), dtype=np.int64, count=n_seg) + pre_n  # transformed chars
        seg_start = np.cumsum(seg_len) - seg_len  # (S,) in `cat`
        seg_of_tok = np.searchsorted(seg_start, c_start, side="right") - 1  # an empty segment holds none
        shift = (np.asarray(seg_base, dtype=np.int64) - seg_start - pre_n)[seg_of_tok]
        base = np.asarray(seg_base, dtype=np.int64)[seg_of_tok]
        # the prepended char maps to the first char: (max(s - 1, 0), max(e - 1, 1)) in the segment
        starts = np.maximum(c_start + shift, base)
        ends = np.maximum(c_end + shift, base + 1)
        seg_first_tok = np.searchsorted(seg_of_tok, np.arange(n_seg + 1))
        bad = np.unique(seg_of_tok[self.rank_tainted[ranks]]).tolist()
        if not self.split:  # one word per segment
            return (
                ids,
                starts,
                ends,
                np.zeros(len(ids), dtype=np.int64),
                seg_first_tok,
                (seg_len > 0) * 1,
                bad,
            )
        full = seg_len > 0
        word_start = is_rep[~sep]  # (C,) a word starts at each `rep`, and where a segment does
        word_start[seg_start[full]] = True
        word_no = np.cumsum(word_start) - 1  # (C,) the word of each char, counted over the batch
        total = word_no[-1] + 1 if len(word_no) else 0
        seg_word = np.full(n_seg + 1, total, dtype=np.int64)  # (S + 1,) the first word of each segment
        seg_word[:-1][full] = word_no[seg_start[full]]
        seg_word = np.minimum.accumulate(seg_word[::-1])[::-1]  # an empty one: where the next starts
        word_ids = word_no[c_start] - seg_word[seg_of_tok]
        return ids, starts, ends, word_ids, seg_first_tok, np.diff(seg_word), bad
