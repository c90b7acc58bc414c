"""Byte offsets (`offset_type="byte"`) against `tokenizers`' own byte offsets.

The Python API of `tokenizers` reports char offsets only; its byte offsets are reachable at the
word level: a `PreTokenizedString` normalized and pre-tokenized by the tokenizer's own stages gives
each word's byte span in the original text (`get_splits(offset_type="byte")`). The tokens Cove gives
one word must cover exactly that span. The corpus has CJK, emoji (4-byte chars, ZWJ sequences) and
combining marks, and whisper's byte-level tokens fall inside multi-byte chars.
"""

from __future__ import annotations

import pytest
from corpus import make_corpus

from cove.tokenizers import Tokenizer

FAMILIES = ["whisper", "gpt2", "minilm", "llama"]


@pytest.fixture(scope="module")
def lines() -> list[str]:
    out = [line for line in make_corpus(3000, seed=11) if not line.isascii()]
    return out + ["👨‍👩‍👧‍👦 你好 é", "a\u0301\u0323 ½ ﬁ"]


def hf_word_spans(hf_tok, text: str) -> list[tuple[int, int]]:
    import tokenizers

    pre = tokenizers.PreTokenizedString(text)
    if hf_tok.normalizer is not None:
        pre.normalize(lambda ns: hf_tok.normalizer.normalize(ns))
    if hf_tok.pre_tokenizer is not None:
        hf_tok.pre_tokenizer.pre_tokenize(pre)
    return [span for _, span, _ in pre.get_splits(offset_referential="original", offset_type="byte")]


def word_spans(enc) -> list[tuple[int, int]]:
    spans: dict[int, tuple[int, int]] = {}
    for w, (s, e) in zip(enc.word_ids, enc.offsets):
        if w is not None:
            a, b = spans.get(w, (s, e))
            spans[w] = (min(a, s), max(b, e))
    return [spans[w] for w in sorted(spans)]


@pytest.mark.parametrize("family", FAMILIES)
def test_word_byte_spans_match_tokenizers(family, family_path, lines) -> None:
    import tokenizers

    path = family_path(family)
    hf_tok = tokenizers.Tokenizer.from_file(str(path))
    tok = Tokenizer.from_file(path)
    tok.post_processor = None  # no special tokens, no ByteLevel offset trimming: whole words
    tok.no_padding()
    tok.no_truncation()
    encodings = tok.encode_batch(lines, offset_type="byte")
    n_multibyte = 0
    for line, enc in zip(lines, encodings):
        assert word_spans(enc) == hf_word_spans(hf_tok, line), line[:80]
        n_multibyte += sum(e - s > 1 for s, e in enc.offsets)
    assert n_multibyte > 100


@pytest.mark.parametrize("family", FAMILIES)
def test_byte_slices_decode_to_char_slices(family, family_path, lines) -> None:
    tok = Tokenizer.from_file(family_path(family))
    tok.no_padding()
    lines = lines[:1000] + lines[-2:]
    chars = tok.encode_batch(lines)
    assert [e.offsets for e in chars] == [e.offsets for e in tok.encode_batch(lines, offset_type="char")]
    for line, c_enc, b_enc in zip(lines, chars, tok.encode_batch(lines, offset_type="byte")):
        data = line.encode("utf-8")
        assert len(c_enc.offsets) == len(b_enc.offsets)
        for (cs, ce), (bs, be), special in zip(c_enc.offsets, b_enc.offsets, c_enc.special_tokens_mask):
            if special and (cs, ce) == (0, 0):
                assert (bs, be) == (0, 0)
            assert data[bs:be].decode("utf-8") == line[cs:ce]
        if line.isascii():
            assert b_enc.offsets == c_enc.offsets


def test_pairs_overflow_and_pretokenized(family_path) -> None:
    tok = Tokenizer.from_file(family_path("minilm"))
    tok.enable_truncation(12, stride=2)
    a, b = "Größe 你好 naïve café 😀 ok", "ἀλήθεια x ½ 🎉 ünd"
    char_enc = tok.encode(a, b)
    byte_enc = tok.encode(a, b, offset_type="byte")
    assert byte_enc.overflowing
    for c_part, b_part in zip([char_enc, *char_enc.overflowing], [byte_enc, *byte_enc.overflowing]):
        for (cs, ce), (bs, be), seq in zip(c_part.offsets, b_part.offsets, c_part.sequence_ids):
            text = a if seq == 0 else b
            if seq is None:
                assert (bs, be) == (cs, ce) == (0, 0)
            else:
                assert (bs, be) == (len(text[:cs].encode()), len(text[:ce].encode()))
    batch = tok.encode_batch([(a, b), a], offset_type="byte")
    assert batch[0].offsets == byte_enc.offsets
    assert batch[1].offsets == tok.encode(a, offset_type="byte").offsets
    words = ["naïve", "你好", "x"]
    tok.no_truncation()
    enc = tok.encode(words, is_pretokenized=True, offset_type="byte")
    assert [(w, o) for w, o in zip(enc.word_ids, enc.offsets) if w is not None] == [
        (0, (0, 6)),
        (1, (0, 3)),
        (1, (3, 6)),
        (2, (0, 1)),
    ]


def test_bad_offset_type(family_path) -> None:
    tok = Tokenizer.from_file(family_path("minilm"))
    with pytest.raises(ValueError, match="offset_type"):
        tok.encode("x", offset_type="bytes")
    with pytest.raises(ValueError, match="offset_type"):
        tok.encode_batch(["x"], offset_type="utf8")
