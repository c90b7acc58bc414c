"""The tiktoken-backed core for byte-level BPE (`cove.tokenizers.fast_bpe`) against `tokenizers`.

The corpus tests of test_parity.py run through the core already (it is on by default); here: the
core is really used, it equals the Python word path, and the merge lists on which tiktoken's
rank-of-concatenation rule differs from `tokenizers`' pair ranks still give `tokenizers`' output.
"""

from __future__ import annotations

import json

import pytest

from cove.tokenizers import Tokenizer
from cove.tokenizers.fast_bpe import MAX_PIECE, SEP, WORDS_RE, ByteLevelCore, char_classes, gpt2_word_starts
from cove.tokenizers.pre_tokenizers import BYTES_TO_CHARS
from tests.tokenizers.compare import assert_batches_same, assert_same, specials_of


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


def byte_level_json(
    merges: list[tuple[str, str]], added: list[str] = (), post_processor: dict | None = None
) -> str:
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
            "post_processor": post_processor
            or {
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
    for family in ("t5", "bert", "classic_bpe"):
        assert Tokenizer.from_file(family_path(family)).compiled_core() is None
    assert not isinstance(Tokenizer.from_file(family_path("llama")).compiled_core(), ByteLevelCore)
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


def test_word_starts_match_the_regex(corpus_for) -> None:
    """`gpt2_word_starts` finds the words WORDS_RE finds: on random strings over an alphabet of every
    case the pattern treats apart (contractions, spaces before each class, whitespace runs), joined by
    SEP, and on the corpus."""
    import random

    import numpy as np

    def regex_starts(text: str) -> list[bool]:
        out = [False] * len(text)
        pos = 0
        for w in WORDS_RE.findall(text):
            out[pos] = True
            pos += len(w)
        return out

    alphabet = list("ab'sStrevmld1\u00b2 !,.\n\t\xa0\u3000\u00e9\u0301") + ["'s", "'re", "'ll", "  ", "'d"]
    rng = random.Random(0)
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(20_000)]
    texts += corpus_for(())[:5000]
    big = SEP.join(texts)
    cp = np.frombuffer(big.encode("utf-32-le"), dtype=np.uint32)
    got = gpt2_word_starts(cp, char_classes()).tolist()
    assert got == regex_starts(big)
    assert sum(got) > 100_000


POST_PROCESSORS = {
    "trim": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
    "trim, prefix space": {
        "type": "ByteLevel",
        "add_prefix_space": True,
        "trim_offsets": True,
        "use_regex": True,
    },
    "no trim": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
    "trim, then a template": {
        "type": "Sequence",
        "processors": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
            {
                "type": "TemplateProcessing",
                "single": [
                    {"SpecialToken": {"id": "<|x|>", "type_id": 0}},
                    {"Sequence": {"id": "A", "type_id": 0}},
                ],
                "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {"<|x|>": {"id": "<|x|>", "ids": [261], "tokens": ["<|x|>"]}},
            },
        ],
    },
}
TRIM_TEXTS = TEXTS + [
    " leading",
    "  two spaces  ",
    "trailing   ",
    "\tTab\n new line",
    "<|x|> after",
    "a <|x|>  b",
    " <|x|>b",
    "\u3000wide\u3000 space",
    " ",
    "x   <| sp |>  y",
    " <| sp |>  ",
    "<| sp |> a",
]


@pytest.mark.parametrize("name", list(POST_PROCESSORS))
def test_core_trims_offsets_as_the_post_processor(name) -> None:
    """The ByteLevel post-processor's offset trimming, done by the core over the whole batch, against
    `tokenizers` (single lines, pairs, lines with added tokens, one with spaces in it)."""
    import tokenizers

    merges = [
        ("\u0120", "a"),
        ("\u0120", "\u0120"),
        ("\u0120\u0120", "\u0120"),
        ("a", "b"),
        ("\u0120", "\u0109"),
    ]
    text = byte_level_json(merges, added=["<|x|>", " <| sp |> "], post_processor=POST_PROCESSORS[name])
    hf_tok, cove_tok = tokenizers.Tokenizer.from_str(text), Tokenizer.from_str(text)
    assert hf_tok.token_to_id("<|x|>") == 261  # the id the template names
    parts, trim = cove_tok._core_parts(True)
    assert parts is not None and (trim is None) == (name == "no trim")
    assert_batches_same(hf_tok, cove_tok, TRIM_TEXTS)
    assert_same(hf_tok.encode_batch(TRIM_TEXTS), [cove_tok.encode(x) for x in TRIM_TEXTS], TRIM_TEXTS)


def test_long_pieces_take_the_python_path(family_path) -> None:
    import tokenizers

    path = family_path("gpt2")
    hf_tok, cove_tok = tokenizers.Tokenizer.from_file(str(path)), Tokenizer.from_file(path)
    texts = [
        "fine text",
        "\u4e2d" * (MAX_PIECE + 1),
        "a " + "b" * (MAX_PIECE + 3),
        " " * (MAX_PIECE + 1),
        "ok",
    ]
    encs = cove_tok.compiled_core().encode_texts(texts, 0, cove_tok.added)
    assert [e is None for e in encs] == [False, True, True, True, False]
    assert_same(hf_tok.encode_batch(texts), cove_tok.encode_batch(texts), texts)
