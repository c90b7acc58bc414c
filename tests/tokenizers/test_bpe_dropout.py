"""BPE-dropout: p = 0 and p = 1 against `tokenizers` (both are deterministic there), a seeded run
reproducible and different from no dropout, and every dropout output a valid split of the text."""

from __future__ import annotations

import json

import pytest

from cove.tokenizers import Tokenizer
from cove.tokenizers.models import BPE


def with_dropout(path, p: float) -> str:
    d = json.loads(path.read_text(encoding="utf-8"))
    d["model"]["dropout"] = p
    return json.dumps(d)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
@pytest.mark.parametrize("p", [0.0, 1.0])
def test_dropout_bounds_match_tokenizers(family, p, family_path, corpus_for) -> None:
    import tokenizers

    text = with_dropout(family_path(family), p)
    hf_tok, cove_tok = tokenizers.Tokenizer.from_str(text), Tokenizer.from_str(text)
    assert cove_tok.compiled_core() is None if p else True
    lines = corpus_for(())[:300]
    expected, got = hf_tok.encode_batch(lines), cove_tok.encode_batch(lines)
    assert [(e.ids, e.offsets, e.word_ids) for e in expected] == [(e.ids, e.offsets, e.word_ids) for e in got]
    assert json.loads(cove_tok.to_str())["model"]["dropout"] == p


def test_seeded_dropout(family_path, corpus_for) -> None:
    text = with_dropout(family_path("gpt2"), 0.3)
    plain = Tokenizer.from_file(family_path("gpt2"))
    lines = [x for x in corpus_for(())[:200] if x.strip()]
    runs = []
    for seed in (7, 7, 8):
        tok = Tokenizer.from_str(text)
        tok.model.rng.seed(seed)
        runs.append([e.ids for e in tok.encode_batch(lines)])
    assert runs[0] == runs[1]  # the same seed, the same draws
    assert runs[0] != runs[2]
    reference = [e.ids for e in plain.encode_batch(lines)]
    assert runs[0] != reference
    assert sum(map(len, runs[0])) > sum(map(len, reference))  # dropped merges leave more tokens
    assert plain.decode_batch(runs[0]) == plain.decode_batch(reference)  # still the same text


def test_dropout_out_of_range() -> None:
    with pytest.raises(ValueError, match="dropout"):
        BPE({"a": 0}, [], dropout=1.5)
    with pytest.raises(ValueError, match="dropout"):
        Tokenizer.from_str(
            json.dumps({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "dropout": -0.1}})
        )
