"""Field-by-field comparison of encodings, shared by the tokenizer tests."""

from __future__ import annotations

FIELDS = ["ids", "tokens", "offsets", "type_ids", "special_tokens_mask", "attention_mask", "word_ids"]


def assert_same(expected, got, lines) -> None:
    assert len(expected) == len(got)
    for line, a, b in zip(lines, expected, got):
        for f in FIELDS:
            assert getattr(a, f) == getattr(b, f), f"{f} differs for {line[:120]!r}"


def assert_batches_same(hf_tok, cove_tok, texts) -> None:
    """``encode_batch`` of ``texts`` with and without special tokens, and of each text paired with
    the text at the mirror position, give the same encodings in both libraries."""
    assert_same(hf_tok.encode_batch(texts), cove_tok.encode_batch(texts), texts)
    assert_same(
        hf_tok.encode_batch(texts, add_special_tokens=False),
        cove_tok.encode_batch(texts, add_special_tokens=False),
        texts,
    )
    pairs = list(zip(texts, reversed(texts)))
    assert_same(hf_tok.encode_batch(pairs), cove_tok.encode_batch(pairs), texts)


def specials_of(hf_tok) -> tuple[str, ...]:
    return tuple(t.content for _, t in sorted(hf_tok.get_added_tokens_decoder().items()))[:8]
