"""The fast path from a normalized piece to tokens: spans, word transforms and word caches.

The general pipeline (`pre_tokenizers.*.pre_tokenize`) builds a `NormalizedString` with an
alignment list for every pre-token. For the pre-tokenizers real tokenizers use, that work is
redundant: split-only pre-tokenizers give (start, end) spans, and the last stage is at most one
*word transform* whose offset map depends only on the word itself:

- ByteLevel (without `add_prefix_space`): each char becomes its UTF-8 byte-chars;
- Metaspace: spaces become the replacement char, plus one replacement char prepended.

So `WordPipeline` works on spans and caches, per raw word, the model's tokens with offsets already
mapped back to the word's chars. It computes exactly what the general path computes (the parity
tests run both), and `build` returns None for any configuration it does not cover.

For a BPE model whose tokens never contain a replacement char right after another char (true of
SentencePiece-style vocabularies), a Metaspace word without `split` (a whole Llama line) is cut
before each run of replacement chars: no merge can cross those points, so the result is the same
and the per-chunk cache works.
"""

from __future__ import annotations

import re
from itertools import accumulate, repeat
from operator import itemgetter
from typing import Any

import regex

from cove.tokenizers.models.bpe import BPE, Token
from cove.tokenizers.normalized import NormalizedString
from cove.tokenizers.pre_tokenizers import (
    GPT2_RE,
    ByteLevel,
    Metaspace,
    PreTokenizerSequence,
    Splitter,
    to_byte_chars,
)

CACHE_CAPACITY = 200_000
MAX_CACHED_WORD = 100  # chars
WordEntry = tuple[tuple[int, ...], tuple[str, ...], tuple[int, ...], tuple[int, ...]]  # ids, values, starts, ends


def _intersect(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Pieces of the sorted disjoint spans `a` cut by the sorted disjoint spans `b`."""
    out: list[tuple[int, int]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        s = max(a[i][0], b[j][0])
        e = min(a[i][1], b[j][1])
        if s < e:
            out.append((s, e))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


class WordPipeline:
    """Split-only pre-tokenizers, then an optional ByteLevel or Metaspace, then the model."""

    def __init__(self, splitters: list[Splitter], final: ByteLevel | Metaspace | None, model: Any) -> None:
        self.splitters = splitters
        self.final = final
        self.model = model
        self.cache: dict[str, WordEntry] = {}
        self.cache_prepended: dict[str, WordEntry] = {}
        self.chunk_re: regex.Pattern[str] | None = None
        if isinstance(final, Metaspace):
            rep = regex.escape(final.replacement)
            self.word_re = regex.compile(rf"[ {rep}][^ {rep}]*|[^ {rep}]+")
            # After spaces become the replacement char: one word per match (stdlib `re` is faster).
            self.split_re = re.compile(f"{re.escape(final.replacement)}[^{re.escape(final.replacement)}]*|"
                                       f"[^{re.escape(final.replacement)}]+")
            if not final.split and _chunkable(model, final.replacement):
                self.chunk_re = regex.compile(rf"{rep}*[^{rep}]+|{rep}+")

    @classmethod
    def build(cls, pre_tokenizer: Any, model: Any) -> WordPipeline | None:
        stages = pre_tokenizer.pretokenizers if isinstance(pre_tokenizer, PreTokenizerSequence) else (
            [] if pre_tokenizer is None else [pre_tokenizer])
        final: ByteLevel | Metaspace | None = None
        if stages and isinstance(stages[-1], ByteLevel | Metaspace):
            final = stages[-1]
            stages = stages[:-1]
        if isinstance(final, ByteLevel) and final.add_prefix_space:
            return None
        if getattr(model, "dropout", None):  # random merges: words must not be cached
            return None
        if not all(isinstance(s, Splitter) for s in stages):
            return None
        return cls(list(stages), final, model)

    # -- spans ---------------------------------------------------------------------------------
    def spans(self, text: str) -> list[tuple[int, int]]:
        spans = [(0, len(text))] if text else []
        for i, splitter in enumerate(self.splitters):
            if i == 0:
                spans = splitter.spans(text)
            elif splitter.char_local:
                spans = _intersect(spans, splitter.spans(text))
            else:
                out: list[tuple[int, int]] = []
                for s, e in spans:
                    out.extend((s + a, s + b) for a, b in splitter.spans(text[s:e]))
                spans = out
        return spans

    def encode_piece(self, piece: NormalizedString, ids: list[int], tokens: list[str],
                     offsets: list[tuple[int, int]], words: list[int | None], w: int,
                     word_index: int | None) -> int:
        """Append the tokens of `piece` to the output lists; return the next word index.

        Words are looked up in the cache all at once, then one plain loop over the words extends
        the outputs (most words are one token; on short pieces this beats chains of iterators)."""
        text = piece.normalized
        final = self.final
        texts: list[str] = []  # cache keys: raw words, or Metaspace-transformed chunks
        bases: list[int] = []  # where each one's offsets start, in the piece's chars
        prepended: list[int] = []  # indices of first chunks carrying the prepended Metaspace char
        word_of: list[int] = []  # word number of each, within the piece
        n_words = 0
        contiguous = not isinstance(final, Metaspace) or final.split  # word k is texts[k]
        replaced = ""  # text with spaces as the Metaspace replacement char
        if final is None:  # one word per span, built in bulk
            spans = self.spans(text)
            texts = [text[s:e] for s, e in spans]
            bases = list(map(itemgetter(0), spans))
            word_of = list(range(len(spans)))
            n_words = len(spans)
            spans = []
        else:
            spans = self.spans(text)
        for s, e in spans:
            if isinstance(final, ByteLevel) and final.use_regex:
                found = GPT2_RE.findall(text, s, e)  # covers every char: word k starts where k - 1 ends
                bases.extend(accumulate(map(len, found[:-1]), initial=s))
                texts.extend(found)
                word_of.extend(range(n_words, n_words + len(found)))
                n_words += len(found)
            elif isinstance(final, Metaspace) and final.split:  # one word per match, built in bulk
                rep = final.replacement
                if not replaced:
                    replaced = text.replace(" ", rep)
                found = self.split_re.findall(replaced, s, e)  # covers every char of the span
                if not found:
                    continue
                k = len(texts)
                texts.extend(found)
                bases.extend(accumulate(map(len, found[:-1]), initial=s))
                word_of.extend(range(n_words, n_words + len(found)))
                n_words += len(found)
                if self._prepends(piece, text, s, e, final):
                    texts[k] = rep + texts[k]
                    prepended.append(k)
            elif isinstance(final, Metaspace):  # a whole span, maybe cut into chunks
                rep = final.replacement
                for ws, we, pre in self._metaspace_words(piece, text, s, e, final):
                    transformed = text[ws:we].replace(" ", rep)
                    if pre:  # the prepended char maps to the word's first char, char j to j - 1
                        transformed = rep + transformed
                    found = self.chunk_re.findall(transformed) if self.chunk_re is not None else [transformed]
                    if pre and found:
                        prepended.append(len(texts))
                    texts.extend(found)  # the chunks cover the word: chunk k starts where k - 1 ends
                    shift = ws - 1 if pre else ws
                    bases.append(ws)
                    bases.extend([shift + a for a in accumulate(map(len, found[1:-1]), initial=len(found[0]))]
                                 if len(found) > 1 else ())
                    word_of.extend(repeat(n_words, len(found)))
                    n_words += 1
            else:
                texts.append(text[s:e])
                bases.append(s)
                word_of.append(n_words)
                n_words += 1
        if not texts:
            return w
        entries = list(map(self.cache.get, texts))
        for i in prepended:  # looked up in their own cache: the same text has other offsets
            entries[i] = self._word_entry(texts[i], True)
        if None in entries:
            for i, entry in enumerate(entries):
                if entry is None:
                    entries[i] = self._word_entry(texts[i], False)
        if word_index is not None:
            wids: Any = repeat(word_index)
        elif contiguous:
            wids = range(w, w + n_words)
        else:
            wids = [w + x for x in word_of]
        align = piece.align
        if align is None:
            shift = piece.ostart
            for (e_ids, e_values, e_starts, e_ends), base, wid in zip(entries, bases, wids):  # type: ignore[misc]
                ids += e_ids
                tokens += e_values
                base += shift
                if len(e_ids) == 1:  # most words: one token
                    words.append(wid)
                    offsets.append((base + e_starts[0], base + e_ends[0]))
                else:
                    words += [wid] * len(e_ids)
                    offsets += zip(map(base.__add__, e_starts), map(base.__add__, e_ends))
        else:  # (align[start][0], align[end - 1][1]) per token
            for (e_ids, e_values, e_starts, e_ends), base, wid in zip(entries, bases, wids):  # type: ignore[misc]
                ids += e_ids
                tokens += e_values
                if len(e_ids) == 1:
                    words.append(wid)
                    offsets.append((align[base + e_starts[0]][0], align[base + e_ends[0] - 1][1]))
                else:
                    words += [wid] * len(e_ids)
                    for a, b in zip(e_starts, e_ends):
                        offsets.append((align[base + a][0], align[base + b - 1][1]))
        return w + n_words

    @staticmethod
    def _prepends(piece: NormalizedString, text: str, s: int, e: int, ms: Metaspace) -> bool:
        """Whether Metaspace prepends its replacement char to the span [s, e) of `piece`."""
        first = text[s]
        return first != " " and first != ms.replacement and (
            ms.prepend_scheme == "always"
            or (ms.prepend_scheme == "first" and piece.original_range(s, e)[0] == 0))

    def _metaspace_words(self, piece: NormalizedString, text: str, s: int, e: int,
                         ms: Metaspace) -> list[tuple[int, int, bool]]:
        prepend = self._prepends(piece, text, s, e, ms)
        if not ms.split:
            return [(s, e, prepend)]
        out: list[tuple[int, int, bool]] = []
        for m in self.word_re.finditer(text, s, e):
            out.append((m.start(), m.end(), prepend and not out))
        return out

    # -- words ---------------------------------------------------------------------------------
    def _word_entry(self, word: str, prepended: bool) -> WordEntry:
        """The cached (ids, values, offsets) of a word, offsets in the word's chars."""
        cache = self.cache_prepended if prepended else self.cache
        hit = cache.get(word)
        if hit is not None:
            return hit
        toks = self._word_tokens(word, prepended)
        entry: WordEntry = tuple(zip(*toks)) if toks else ((), (), (), ())  # type: ignore[assignment]
        if len(word) <= MAX_CACHED_WORD:  # whole lines (Metaspace without split) would only fill the cache
            if len(cache) >= CACHE_CAPACITY:
                cache.clear()
            cache[word] = entry
        return entry

    def _word_tokens(self, word: str, prepended: bool) -> tuple[Token, ...]:
        final = self.final
        if final is None:
            out = self.model.tokenize(word)
        elif isinstance(final, ByteLevel):
            toks = self.model.tokenize(to_byte_chars(word))
            if word.isascii():
                out = toks
            else:
                char_of: list[int] = []  # byte-char index -> char index in the word
                for i, c in enumerate(word):
                    char_of.extend([i] * len(c.encode("utf-8")))
                out = tuple((tid, v, char_of[ts], char_of[te - 1] + 1) for tid, v, ts, te in toks)
        else:
            out = self.model.tokenize(word)
            if prepended:
                out = tuple((tid, v, max(ts - 1, 0), max(te - 1, 1)) for tid, v, ts, te in out)
        return out


def _chunkable(model: Any, rep: str) -> bool:
    """True when a BPE word may be cut before each run of `rep` without changing its tokens:
    no token has `rep` right after another char, `rep` is a token, and no per-word affixes."""
    if not isinstance(model, BPE) or rep not in model.vocab or model.ignore_merges:
        return False
    if model.continuing_subword_prefix or model.end_of_word_suffix:
        return False
    pattern = regex.compile(rf"[^{regex.escape(rep)}]{regex.escape(rep)}")
    return not any(pattern.search(t) for t in model.vocab)
