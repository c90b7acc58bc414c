"""tokenizer.json interop both ways, added-token options, and what `import cove.tokenizers` loads."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cove.tokenizers import AddedToken, Tokenizer

ROUND_TRIP = ["gpt2", "whisper", "llama", "t5", "bert", "minilm", "classic_bpe", "wordlevel"]


@pytest.mark.parametrize("family", ROUND_TRIP)
def test_round_trip_both_ways(family, family_path, corpus_for, tmp_path) -> None:
    import tokenizers

    path = family_path(family)
    hf_tok = tokenizers.Tokenizer.from_file(str(path))
    cove_tok = Tokenizer.from_file(path)
    lines = corpus_for(())[:300]
    # Cove writes -> tokenizers reads: same serialization once re-saved, same encodings.
    saved = tmp_path / "cove.json"
    cove_tok.save(saved)
    hf_from_cove = tokenizers.Tokenizer.from_file(str(saved))
    original, rewritten = json.loads(hf_tok.to_str()), json.loads(hf_from_cove.to_str())
    if family != "t5":  # Unigram scores are f64; tokenizers prints some of them 1 ulp away
        assert original == rewritten
    assert [e.ids for e in hf_from_cove.encode_batch(lines)] == [e.ids for e in hf_tok.encode_batch(lines)]
    # tokenizers writes -> Cove reads: Cove's own serialization is tokenizers' one.
    cove_from_hf = Tokenizer.from_str(hf_tok.to_str())
    if family != "t5":
        assert cove_from_hf.to_dict() == original
    assert [e.offsets for e in cove_from_hf.encode_batch(lines)] == [e.offsets for e in hf_tok.encode_batch(lines)]


def test_added_token_options(family_path, corpus_for) -> None:
    """single_word, lstrip, rstrip and normalized, alone and together, on a lowercasing tokenizer."""
    import tokenizers

    hf_tok = tokenizers.Tokenizer.from_file(str(family_path("bert")))
    cove_tok = Tokenizer.from_file(family_path("bert"))
    specs = [
        dict(content="<mask>", lstrip=True, special=True),
        dict(content="[END]", rstrip=True, special=True),
        dict(content="word", single_word=True),
        dict(content="Hello", normalized=True),
        dict(content="café", normalized=False),
        dict(content="<x>", lstrip=True, rstrip=True, single_word=True),
    ]
    for spec in specs:
        special = spec.pop("special", False)
        (hf_tok.add_special_tokens if special else hf_tok.add_tokens)([tokenizers.AddedToken(**spec)])
        (cove_tok.add_special_tokens if special else cove_tok.add_tokens)([AddedToken(**spec)])
    assert cove_tok.get_vocab() == hf_tok.get_vocab()
    texts = [
        "a <mask> b", "x   <mask>y", "[END]   next", "a word here", "swordfish words word.", "HELLO hello Hello",
        "Café café CAFÉ", " <x> y<x>z <x>", "<mask>[END]<x>word", "", "   ",
    ]
    texts += [line.replace("the", "word").replace(" a ", " <mask> ").replace("of", "<x>")
              for line in corpus_for(())[:2000]]
    for a, b in zip(hf_tok.encode_batch(texts), cove_tok.encode_batch(texts)):
        assert (a.ids, a.tokens, a.offsets, a.special_tokens_mask) == (b.ids, b.tokens, b.offsets, b.special_tokens_mask)
    ids = [e.ids for e in hf_tok.encode_batch(texts)]
    assert hf_tok.decode_batch(ids) == cove_tok.decode_batch(ids)
    assert hf_tok.decode_batch(ids, skip_special_tokens=False) == cove_tok.decode_batch(ids, skip_special_tokens=False)
    assert json.loads(hf_tok.to_str())["added_tokens"] == cove_tok.to_dict()["added_tokens"]


def test_import_is_light() -> None:
    code = ("import sys, cove.tokenizers; t = cove.tokenizers.Tokenizer; "
            "bad = [m for m in ('torch', 'tokenizers', 'transformers', 'sentencepiece') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_vocab_api(family_path) -> None:
    import tokenizers

    hf_tok = tokenizers.Tokenizer.from_file(str(family_path("whisper")))
    cove_tok = Tokenizer.from_file(family_path("whisper"))
    assert cove_tok.get_vocab_size() == hf_tok.get_vocab_size()
    assert cove_tok.get_vocab_size(with_added_tokens=False) == hf_tok.get_vocab_size(with_added_tokens=False)
    for token in ["<|endoftext|>", "Ġthe", "hello", "<|en|>", "not-a-token-at-all"]:
        assert cove_tok.token_to_id(token) == hf_tok.token_to_id(token)
    for i in [0, 1, 50256, 50257, 50300, 10**7]:
        assert cove_tok.id_to_token(i) == hf_tok.id_to_token(i)
