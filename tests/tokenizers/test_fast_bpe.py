"""The tiktoken-backed core for byte-level BPE (`cove.tokenizers.fast_bpe`) against `tokenizers`.

The corpus tests of test_parity.py run through the core already (it is on by default); here: the
core is really used, it equals the Python word path, and the merge lists on which tiktoken's
rank-of-concatenation rule differs from `tokenizers`' pair ranks still give `tokenizers`' output.
"""

from __future__ import annotations

import json

import pytest

from cove.tokenizers import Tokenizer
from cove.tokenizers.pre_tokenizers import BYTES_TO_CHARS

FIELDS = ["ids", "tokens", "offsets", "type_ids", "special_tokens_mask", "attention_mask", "word_ids"]


def assert_same(expected, got, lines) -> None:
    assert len(expected) == len(got)
    for line, a, b in zip(lines, expected, got):
        for f in FIELDS:
            assert getattr(a, f) == getattr(b, f), f"{f} differs for {line[:120]!r}"


def specials_of(hf_tok) -> tuple[str, ...]:
    return tuple(t.content for _, t in sorted(hf_tok.get_added_tokens_decoder().items()))[:8]


@pytest.mark.slow
@pytest.mark.parametrize("family", ["gpt2", "whisper"])
def test_core_on_corpus(family, family_path, corpus_for) -> None:
    """The 20,000-line corpus with the added tokens inside: gpt2 is compared field by field in
    test_parity.py (through the core, which is on by default; whisper there on 4,000 lines), and
    whisper here on every other line of it (10,000)."""
    import tokenizers

    path = family_path(family)
    hf_tok, cove_tok = tokenizers.Tokenizer.from_file(str(path)), Tokenizer.from_file(path)
    core = cove_tok.compiled_core()
    assert core is not None and core.n_tainted == 0
    lines = corpus_for(specials_of(hf_tok))
    assert len(lines) >= 20_000
    if family == "whisper":
        assert_same(hf_tok.encode_batch(lines[::2]), cove_tok.encode_batch(lines[::2]), lines[::2])
    assert_same(
        hf_tok.encode_batch(lines[:300], add_special_tokens=False),
        cove_tok.encode_batch(lines[:300], add_special_tokens=False),
        lines,
    )
    python_path = Tokenizer.from_file(path)
    python_path.use_compiled_core = False
    assert python_path.compiled_core() is None
    assert_same(python_path.encode_batch(lines[:1000]), cove_tok.encode_batch(lines[:1000]), lines)
    single = [cove_tok.encode(x) for x in lines[:200]]
    assert_same(hf_tok.encode_batch(lines[:200]), single, lines)


def byte_level_json(merges: list[tuple[str, str]], added: list[str] = ()) -> str:
    """A GPT-2-shaped tokenizer.json: the 256 byte chars, then one token per merge."""
    vocab = {c: i for i, c in enumerate(BYTES_TO_CHARS[b] for b in range(256))}
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    return json.dumps(
        {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": [
                {
                    "id": len(vocab) + i,
                    "content": t,
                    "single_word": False,
                    "lstrip": False,
                    "rstrip": False,
                    "normalized": False,
                    "special": True,
                }
                for i, t in enumerate(added)
            ],
            "normalizer": None,
            "pre_tokenizer": {
                "type": "ByteLevel",
                "add_prefix_space": False,
                "trim_offsets": True,
                "use_regex": True,
            },
            "post_processor": {
                "type": "ByteLevel",
                "add_prefix_space": False,
                "trim_offsets": True,
                "use_regex": True,
            },
            "decoder": {
                "type": "ByteLevel",
                "add_prefix_space": False,
                "trim_offsets": True,
                "use_regex": True,
            },
            "model": {
                "type": "BPE",
                "dropout": None,
                "unk_token": None,
                "continuing_subword_prefix": None,
                "end_of_word_suffix": None,
                "fuse_unk": False,
                "byte_fallback": False,
                "ignore_merges": False,
                "vocab": vocab,
                "merges": [[a, b] for a, b in merges],
            },
        }
    )


TEXTS = [
    "abcd",
    "xabcd abcd",
    "abc",
    " abcd!abcd",
    "aabcd abcdd",
    "bcd",
    "ab cd",
    "abcabc",
    "",
    "a\x00bcd",
    "ab<|x|>cd abcd<|x|>",
    "é abcd é",
]


@pytest.mark.parametrize(
    "merges",
    [
        # "abcd" is a token, but `tokenizers` makes a + bc + d of it (b c merges first): tiktoken's
        # whole-word shortcut would give "abcd".
        [("b", "c"), ("a", "b"), ("c", "d"), ("ab", "cd")],
        # "abc" is made by two merges: tiktoken ranks it once (a + bc, before c + d), `tokenizers` merges
        # ab + c after c + d.
        [("a", "b"), ("a", "bc"), ("c", "d"), ("ab", "c"), ("b", "c")],
        # "abc" has a split (a, bc) that is not its merge: tiktoken merges a + bc, `tokenizers` does not.
        [("b", "c"), ("a", "b"), ("ab", "c"), ("d", "a")],
    ],
)
def test_core_where_tiktoken_differs(merges) -> None:
    import tiktoken
    import tokenizers

    text = byte_level_json(merges, added=["<|x|>"])
    hf_tok, cove_tok = tokenizers.Tokenizer.from_str(text), Tokenizer.from_str(text)
    assert cove_tok.compiled_core() is not None
    assert_same(hf_tok.encode_batch(TEXTS), cove_tok.encode_batch(TEXTS), TEXTS)
    # The naive mapping (every merge product ranked by its merge) does disagree somewhere: the test can fail.
    ranks = {bytes([b]): b for b in range(256)}
    for r, (a, b) in enumerate(merges):
        ranks.setdefault((a + b).encode(), 256 + r)
    naive = tiktoken.Encoding("naive", pat_str=r"[^\x00]+", mergeable_ranks=ranks, special_tokens={})
    vocab = hf_tok.get_vocab()
    naive_ids = [
        [vocab[naive.decode_single_token_bytes(t).decode()] for t in naive.encode_ordinary(w)]
        for w in ("abcd", "abc", "xabcd")
    ]
    assert naive_ids != [hf_tok.encode(w).ids for w in ("abcd", "abc", "xabcd")]


def test_core_not_used_when_it_does_not_fit(family_path) -> None:
    for family in ("llama", "t5", "bert", "classic_bpe"):
        assert Tokenizer.from_file(family_path(family)).compiled_core() is None
    d = json.loads(byte_level_json([("a", "b")]))
    d["pre_tokenizer"]["add_prefix_space"] = True
    assert Tokenizer.from_str(json.dumps(d)).compiled_core() is None
    d = json.loads(byte_level_json([("a", "b")]))
    d["normalizer"] = {"type": "NFC"}
    assert Tokenizer.from_str(json.dumps(d)).compiled_core() is None
    d = json.loads(byte_level_json([("a", "b")]))
    del d["model"]["vocab"][BYTES_TO_CHARS[0]]
    assert Tokenizer.from_str(json.dumps(d)).compiled_core() is None


def test_core_rejects_bad_input(family_path) -> None:
    tok = Tokenizer.from_file(family_path("gpt2"))
    assert tok.compiled_core() is not None
    with pytest.raises(TypeError):
        tok.encode_batch(["fine", 3])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        tok.encode(["a", "list"])  # type: ignore[arg-type]


def test_core_leaves_lone_surrogates_to_the_python_path(family_path) -> None:
    texts = ["ok \ud800 text", "fine"]
    core_tok = Tokenizer.from_file(family_path("gpt2"))
    python_tok = Tokenizer.from_file(family_path("gpt2"))
    python_tok.use_compiled_core = False
    try:
        expected = [(e.ids, e.offsets) for e in python_tok.encode_batch(texts)]
    except UnicodeError as e:
        with pytest.raises(type(e)):
            core_tok.encode_batch(texts)
    else:
        assert [(e.ids, e.offsets) for e in core_tok.encode_batch(texts)] == expected
