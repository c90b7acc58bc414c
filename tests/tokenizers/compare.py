"""Field-by-field comparison of encodings, shared by the tokenizer tests."""

from __future__ import annotations

FIELDS = ["ids", "tokens", "offsets", "type_ids", "special_tokens_mask", "attention_mask", "word_ids"]


def assert_same(expected, got, lines) -> None:
    assert len(expected) == len(got)
    for line, a, b in zip(lines, expected, got):
        for f in FIELDS:
            assert getattr(a, f) == getattr(b, f), f"{f} differs for {line[:120]!r}"


def specials_of(hf_tok) -> tuple[str, ...]:
    return tuple(t.content for _, t in sorted(hf_tok.get_added_tokens_decoder().items()))[:8]
