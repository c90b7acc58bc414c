"""The tiktoken-backed core for Llama-style BPE (`cove.tokenizers.fast_metaspace`) against `tokenizers`.

test_parity.py runs the llama family's 20,000 lines (pairs and truncation too) through the core, which
is on by default; here: the core is really used (few lines fall back), it equals the Python path, and
hand-made vocabularies where tiktoken's ranks, UTF-8 prefixes and byte fallback could go wrong still
give `tokenizers`' output.
"""

from __future__ import annotations

import json

import pytest

from cove.tokenizers import Tokenizer
from cove.tokenizers.fast_bpe import MAX_PIECE
from cove.tokenizers.fast_metaspace import MetaspaceCore
from tests.tokenizers.compare import assert_batches_same, assert_same, specials_of


@pytest.mark.slow
def test_core_on_llama_corpus(family_path, corpus_for) -> None:
    import tokenizers

    path = family_path("llama")
    hf_tok, cove_tok = tokenizers.Tokenizer.from_file(str(path)), Tokenizer.from_file(path)
    core = cove_tok.compiled_core()
    assert isinstance(core, MetaspaceCore) and core.n_tainted == 0
    assert core.rank_count.max() > 1  # the vocabulary has chars sharing UTF-8 prefixes with unknown ones
    lines = corpus_for(specials_of(hf_tok))
    assert len(lines) >= 20_000
    encs = core.encode_texts(lines, 0, cove_tok.added)
    fallback = sum(e is None for e in encs)
    assert fallback <= len(lines) // 100, f"{fallback} lines took the Python path"
    assert sum("<s>" in x for x in lines) > 100  # added tokens inside lines go through the core too
    python_path = Tokenizer.from_file(path)
    python_path.use_compiled_core = False
    assert python_path.compiled_core() is None
    assert_same(python_path.encode_batch(lines[:2000]), cove_tok.encode_batch(lines[:2000]), lines)
    assert_same(
        hf_tok.encode_batch(lines[:300], add_special_tokens=False),
        cove_tok.encode_batch(lines[:300], add_special_tokens=False),
        lines,
    )
    assert_same(hf_tok.encode_batch(lines[:200]), [cove_tok.encode(x) for x in lines[:200]], lines)
    pairs = list(zip(lines[:300:2], lines[1:300:2]))
    for tok in (hf_tok, cove_tok):
        tok.enable_truncation(24, stride=4)
    assert_same(hf_tok.encode_batch(pairs), cove_tok.encode_batch(pairs), lines[:300:2])
    assert_same(hf_tok.encode_batch(lines[:300]), cove_tok.encode_batch(lines[:300]), lines)


CHARS = ["\u2581", "a", "b", "c", "d", "e", "\u00e9", "\u4e2d", "\U0001f600"]  # ▁ a b c d e é 中 😀


def llama_json(
    merges: list[tuple[str, str]],
    *,
    chars: list[str] = CHARS,
    prepend_scheme: str = "first",
    split: bool = False,
    normalizer: dict | None = None,
    model: dict | None = None,
) -> str:
    """A Llama-shaped tokenizer.json: <unk> <s> </s>, the 256 `<0xNN>`, `chars`, one token per merge."""
    names = ["<unk>", "<s>", "</s>", *(f"<0x{b:02X}>" for b in range(256)), *chars]
    vocab = {t: i for i, t in enumerate(names)}
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    special = {"single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
    return json.dumps(
        {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": [{"id": i, "content": t, **special} for i, t in enumerate(names[:3])],
            "normalizer": {"type": "Sequence", "normalizers": []} if normalizer is None else normalizer,
            "pre_tokenizer": {
                "type": "Metaspace",
                "replacement": "\u2581",
                "prepend_scheme": prepend_scheme,
                "split": split,
            },
            "post_processor": {
                "type": "TemplateProcessing",
                "single": [
                    {"SpecialToken": {"id": "<s>", "type_id": 0}},
                    {"Sequence": {"id": "A", "type_id": 0}},
                ],
                "pair": [
                    {"SpecialToken": {"id": "<s>", "type_id": 0}},
                    {"Sequence": {"id": "A", "type_id": 0}},
                    {"SpecialToken": {"id": "<s>", "type_id": 1}},
                    {"Sequence": {"id": "B", "type_id": 1}},
                ],
                "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}},
            },
            "decoder": None,
            "model": {
                "type": "BPE",
                "dropout": None,
                "unk_token": "<unk>",
                "continuing_subword_prefix": None,
                "end_of_word_suffix": None,
                "fuse_unk": True,
                "byte_fallback": True,
                "ignore_merges": False,
                "vocab": vocab,
                "merges": [[a, b] for a, b in merges],
                **(model or {}),
            },
        },
        ensure_ascii=False,
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
    " ",
    "\u2581",
    "a\x00bcd",
    "ab<s>cd abcd</s>",
    "<s>abc",
    "abc<s>",
    "<s> abc",
    "\u00e9 abcd \u00e9",
    "\u2581abcd",
    "\u2581\u2581a  b",
    "  abcd  ",
    "\u25a0 abcd\u25a0",  # ■: UTF-8 E2 96 A0, a prefix shared with ▁ (E2 96 81), not in the vocabulary
    "\u25a0 \u25a0ab",
    "\U0001f600\U0001f601\U0001f642 ab",  # 😀 known; 😁 shares 3 bytes with it, 🙂 two: byte fallback
    "\u4e2d\u6587 abc \u4e2d",  # 中 known, 文 not
    "x",  # an ASCII char missing from the vocabulary: <0x78>
    "x\u00e8\u00e9",  # è (C3 A8) shares one byte with é
    "a \n\tb",
]

MERGES = [
    # "abcd" is a token, but `tokenizers` makes a + bc + d of it (b c merges first): tiktoken's
    # whole-word shortcut would give "abcd".
    [
        ("b", "c"),
        ("a", "b"),
        ("c", "d"),
        ("ab", "cd"),
        ("\u2581", "a"),
        ("\u2581a", "bc"),
        ("\u2581", "\u2581"),
    ],
    # "abc" is made by two merges: tiktoken ranks it once (a + bc, before c + d), `tokenizers` merges
    # ab + c after c + d.
    [("a", "b"), ("a", "bc"), ("c", "d"), ("ab", "c"), ("b", "c"), ("\u2581", "\u00e9"), ("\u2581", "ab")],
    # "abc" has a split (a, bc) that is not its merge: tiktoken merges a + bc, `tokenizers` does not.
    [
        ("b", "c"),
        ("a", "b"),
        ("ab", "c"),
        ("d", "a"),
        ("\u2581", "\u4e2d"),
        ("\u2581", "\U0001f600"),
        ("\U0001f600", "\U0001f600"),
    ],
]


@pytest.mark.parametrize("merges", MERGES)
@pytest.mark.parametrize("prepend_scheme", ["first", "always", "never"])
@pytest.mark.parametrize("split", [False, True])
def test_core_where_tiktoken_differs(merges, prepend_scheme, split) -> None:
    import tokenizers

    if split:  # a token with the replacement char inside: no word holds one, the core still fits
        merges = [*merges, ("a", "\u2581")]
    text = llama_json(merges, prepend_scheme=prepend_scheme, split=split)
    hf_tok, cove_tok = tokenizers.Tokenizer.from_str(text), Tokenizer.from_str(text)
    core = cove_tok.compiled_core()
    assert isinstance(core, MetaspaceCore)
    assert_batches_same(hf_tok, cove_tok, TEXTS)
    encs = core.encode_texts(TEXTS, 0, cove_tok.added)
    # The unknown chars sharing a prefix with known ones are the core's (expanded to byte tokens)...
    assert encs[TEXTS.index("\u25a0 \u25a0ab")] is not None
    assert encs[TEXTS.index("\U0001f600\U0001f601\U0001f642 ab")] is not None
    # ... and only the lines holding NUL or a tainted token take the Python path.
    fallback = {t for t, e in zip(TEXTS, encs) if e is None}
    assert all("\x00" in t or "abc" in t for t in fallback)
    assert ("abc" in "".join(fallback)) == (core.n_tainted > 0)


def test_naive_ranks_would_differ() -> None:
    """Ranking every merge product by its merge, and every char by its bytes, disagrees with
    `tokenizers` on these vocabularies: the tests above can fail."""
    import tiktoken
    import tokenizers

    words = ["\u2581abcd", "\u2581abc", "\u2581xabcd", "\u2581\u25a0", "\u2581\U0001f601"]
    differs = []
    for merges in MERGES:
        hf_tok = tokenizers.Tokenizer.from_str(llama_json(merges))
        ranks = {bytes([b]): b for b in range(256)}
        for c in CHARS:
            for k in range(2, len(c.encode()) + 1):
                ranks.setdefault(c.encode()[:k], len(ranks))
        for a, b in merges:
            ranks.setdefault((a + b).encode(), len(ranks))
        naive = tiktoken.Encoding("naive", pat_str=r"[^\x00]+", mergeable_ranks=ranks, special_tokens={})
        vocab = hf_tok.get_vocab()
        for w in words:
            pieces = [naive.decode_single_token_bytes(t) for t in naive.encode_ordinary(w)]
            ids = [vocab.get(p.decode("utf-8", "replace"), vocab.get(f"<0x{p[0]:02X}>")) for p in pieces]
            differs.append(ids != hf_tok.encode(w[1:], add_special_tokens=False).ids)
    assert any(differs)


def test_long_pieces_take_the_python_path() -> None:
    import tokenizers

    text = llama_json(MERGES[0])
    hf_tok, cove_tok = tokenizers.Tokenizer.from_str(text), Tokenizer.from_str(text)
    texts = [
        "abcd " * 10,
        "\u4e2d" * (MAX_PIECE + 1),
        "ab<s>" + "c" * (MAX_PIECE + 5),
        " " * (MAX_PIECE + 2),
        "a b",
    ]
    encs = cove_tok.compiled_core().encode_texts(texts, 0, cove_tok.added)
    assert [e is None for e in encs] == [False, True, True, True, False]
    assert_same(hf_tok.encode_batch(texts), cove_tok.encode_batch(texts), texts)


@pytest.mark.parametrize(
    "change",
    [
        {"model": {"byte_fallback": False}},
        {"model": {"dropout": 0.1}},
        {"model": {"ignore_merges": True}},
        {"normalizer": {"type": "NFC"}},
        {"normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"}]}},
        {"missing_byte": True},
        {"byte_merge": True},
        {"not_chunkable": True},
    ],
)
def test_core_not_used_when_it_does_not_fit(change) -> None:
    """Each change alone makes the core refuse a pipeline it fits without it."""
    merges = [("a", "b"), ("\u2581", "ab")]
    assert isinstance(Tokenizer.from_str(llama_json(merges)).compiled_core(), MetaspaceCore)
    if change.get("byte_merge"):
        merges.append(("<0x41>", "a"))
    if change.get("not_chunkable"):
        merges.append(("a", "\u2581"))  # a token with the replacement char after another char
    d = json.loads(llama_json(merges, normalizer=change.get("normalizer"), model=change.get("model")))
    if change.get("missing_byte"):
        del d["model"]["vocab"]["<0x80>"]
    assert Tokenizer.from_str(json.dumps(d)).compiled_core() is None


def test_core_not_used_for_other_pre_tokenizers() -> None:
    d = json.loads(llama_json(MERGES[0]))
    d["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [d["pre_tokenizer"]]}
    assert Tokenizer.from_str(json.dumps(d)).compiled_core() is None
    tok = Tokenizer.from_str(llama_json(MERGES[0]))
    tok.use_compiled_core = False
    assert tok.compiled_core() is None


@pytest.mark.parametrize("prepend_scheme", ["first", "always"])
def test_core_with_split_on_llama_corpus(prepend_scheme, family_path, corpus_for) -> None:
    """Metaspace with `split`: one word per `▁` (word ids change), on the llama family's vocabulary."""
    import tokenizers

    d = json.loads(family_path("llama").read_text(encoding="utf-8"))
    d["pre_tokenizer"].update(split=True, prepend_scheme=prepend_scheme)
    text = json.dumps(d)
    hf_tok, cove_tok = tokenizers.Tokenizer.from_str(text), Tokenizer.from_str(text)
    core = cove_tok.compiled_core()
    assert isinstance(core, MetaspaceCore) and core.split
    lines = corpus_for(specials_of(hf_tok))[:2000] + [
        "",
        " ",
        "  a  b ",
        "<s>",
        "a<s>",
        "<s> <s>",
        "\u2581\u2581a\u2581 b",
    ]
    assert sum(e is None for e in core.encode_texts(lines, 0, cove_tok.added)) <= len(lines) // 100
    assert_same(hf_tok.encode_batch(lines), cove_tok.encode_batch(lines), lines)
    pairs = list(zip(lines[:400], lines[400:800]))
    assert_same(hf_tok.encode_batch(pairs), cove_tok.encode_batch(pairs), lines)


@pytest.mark.slow
def test_core_on_legacy_llama_files(family_path, corpus_for) -> None:
    """Llama 2 / Mistral as older conversions wrote them: Prepend + Replace normalizers, no pre-tokenizer."""
    import tokenizers

    from cove.tokenizers.fast_metaspace import LEGACY_SCHEME

    text = family_path("llama-legacy").read_text(encoding="utf-8")
    d = json.loads(text)
    assert d["pre_tokenizer"] is None and d["normalizer"]["normalizers"][0]["type"] == "Prepend"
    hf_tok, cove_tok = tokenizers.Tokenizer.from_str(text), Tokenizer.from_str(text)
    core = cove_tok.compiled_core()
    assert isinstance(core, MetaspaceCore) and core.prepend_scheme == LEGACY_SCHEME
    lines = corpus_for(specials_of(hf_tok))[:3000] + ["", " ", "  two spaces", "<s>", " <s> x<s>  y", "a\u2581b"]
    assert sum(e is None for e in core.encode_texts(lines, 0, cove_tok.added)) <= len(lines) // 100
    assert_same(hf_tok.encode_batch(lines), cove_tok.encode_batch(lines), lines)
    assert_same(
        hf_tok.encode_batch(lines, add_special_tokens=False),
        cove_tok.encode_batch(lines, add_special_tokens=False),
        lines,
    )
    pairs = list(zip(lines[:400:2], lines[1:400:2]))
    for tok in (hf_tok, cove_tok):
        tok.enable_truncation(24, stride=4)
    assert_same(hf_tok.encode_batch(pairs), cove_tok.encode_batch(pairs), lines[:400:2])
    d["normalizer"]["normalizers"][1]["content"] = "_"  # a different transform: not this core's
    assert MetaspaceCore.build(*_stages(json.dumps(d))) is None


def _stages(text: str):
    tok = Tokenizer.from_str(text)
    return tok._normalizer, tok._pre_tokenizer, tok._model
