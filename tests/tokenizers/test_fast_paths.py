"""The fast paths of the normalizers and models, each against `tokenizers` and against Cove's
reference path it replaces (which stays in the code as its fallback).

- BertNormalizer by per-char tables (`_BertCharMaps`), the space-separated chunks redone stage by
  stage where NFD reorders marks StripAccents keeps, vs the stage-by-stage `_normalize_general`;
- NFD / NFKD alignments when canonical ordering moves marks (the changes move with their chars);
- Precompiled by memoized regions (a region replaced char for char keeps the alignments) vs the
  edit list (`_normalize_edits`);
- shared identity alignments of unchanged pieces, sliced and shifted;
- WordPiece and Unigram walking a one-lookup-per-char trie, vs `tokenizers`' models.
"""

from __future__ import annotations

import pytest
from corpus import make_corpus

from cove.tokenizers import Tokenizer
from cove.tokenizers.normalized import NormalizedString, identity_alignment
from cove.tokenizers.normalizers import BertNormalizer

ASCII_LINE = "Hello, World!  This is\tPLAIN ascii; isn't it?\r\n"
SPECIAL_LINES = [
    ASCII_LINE,
    "a\x00b\x01c\x7fd e\u200df\ufffdg",  # control and format chars removed: no longer one for one
    "Café NAÏVE Ångström ΟΔΟΣ σοφία İstanbul ẞ Ǆ",  # accents stripped, lowercase specials
    "你好，世界！ 丽 \uf900 こんにちは 안녕하세요",  # CJK padded with spaces, Hangul decomposed
    "o\u0302\u0323 e\u0301\u0323 a\u0323\u0301 x\u0335\u0301 가\u0301\u0323",  # NFD reorders marks (stripped)
    "가\U0001d16d\u0323 ok o\U0001d16d\u0301\u0323 x",  # reordered marks that are kept (Mc): the chunk path
    "\u00a0nbsp\u3000ideographic\u2009thin   spaces\x0b\x0c",
    "👨‍👩‍👧‍👦 🏳️‍🌈 ❤️ ½ ①②③ ﬁnance …",
    "",
    " ",
]
BERT_OPTIONS = [  # clean_text, handle_chinese_chars, strip_accents, lowercase
    (True, True, None, True),
    (True, True, False, True),
    (False, True, True, False),
    (True, False, None, False),
    (False, False, True, True),
]


@pytest.fixture(scope="module")
def lines() -> list[str]:
    return SPECIAL_LINES + make_corpus(1000, seed=5)


def aligned(ns: NormalizedString) -> tuple[str, list[tuple[int, int]]]:
    return ns.normalized, ns.alignments()


@pytest.mark.parametrize("options", BERT_OPTIONS)
def test_bert_char_maps_equal_stage_by_stage(options, lines, monkeypatch) -> None:
    import tokenizers

    chunked: list[str] = []
    by_chunk = BertNormalizer._normalize_by_chunk
    monkeypatch.setattr(
        BertNormalizer,
        "_normalize_by_chunk",
        lambda self, ns, *a: (chunked.append(ns.normalized), by_chunk(self, ns, *a)),
    )
    fast = BertNormalizer(*options)
    general = BertNormalizer(*options, use_char_map=False)
    hf = tokenizers.normalizers.BertNormalizer(*options)
    for line in lines:
        for start in (0, 4):  # a piece of a longer text: alignments shifted
            a, b = NormalizedString(line, start), NormalizedString(line, start)
            fast.normalize(a)
            general.normalize(b)
            assert aligned(a) == aligned(b), line
        assert a.normalized == hf.normalize_str(line), line
    strip = options[3] if options[2] is None else options[2]
    assert any("\U0001d16d" in t for t in chunked) == bool(strip)  # the chunk path ran, and only there
    assert all("\U0001d16d" in t for t in chunked)


@pytest.mark.parametrize("form", ["NFD", "NFKD"])
def test_decomposition_reordering_alignments(form) -> None:
    import tokenizers
    from tokenizers import Regex, models, normalizers, pre_tokenizers

    hf_tok = tokenizers.Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    hf_tok.normalizer = getattr(normalizers, form)()
    hf_tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), "isolated")  # one token per normalized char
    tok = Tokenizer.from_str(hf_tok.to_str())
    for text in [
        "가\u0301\u0323",
        "o\u0302\u0323 ẹ́x",
        "x\u0344\u0323",
        "\u0344\u0323a",
        "ǖ\u0323 \u1e69\u0323",
        "\u0958\u0301\u093c",
        "가\U0001d16d\u0323",
        "ﬁ\u0301\u0323",
    ]:
        assert tok.encode(text).offsets == hf_tok.encode(text).offsets, text


def test_bert_ascii_line_keeps_identity_alignment() -> None:
    ns = NormalizedString(ASCII_LINE, 3)
    BertNormalizer().normalize(ns)
    assert ns.normalized == ASCII_LINE.lower().replace("\t", " ").replace("\r", " ").replace("\n", " ")
    assert ns.align is None
    ns = NormalizedString("tokenization café", 0)
    BertNormalizer().normalize(ns)  # é -> e: one char for one, no alignment list either
    assert (ns.normalized, ns.align) == ("tokenization cafe", None)


def test_bert_option_change_rebuilds_tables() -> None:
    norm = BertNormalizer()
    ns = NormalizedString("ÀB")
    norm.normalize(ns)
    norm.lowercase = False
    norm.strip_accents = False
    ns2 = NormalizedString("ÀB")
    norm.normalize(ns2)
    assert (ns.normalized, ns2.normalized) == ("ab", "ÀB")


@pytest.mark.parametrize("family", ["minilm", "t5"])
def test_family_encodings_on_special_lines(family, family_path, lines) -> None:
    """Offsets through the fast paths, with added tokens inside so pieces start mid-text."""
    import tokenizers

    path = family_path(family)
    hf_tok = tokenizers.Tokenizer.from_file(str(path))
    tok = Tokenizer.from_file(path)
    specials = [t.content for t in hf_tok.get_added_tokens_decoder().values()]
    texts = lines + [
        f"{a} {specials[0]} {b}{specials[-1]}{a}" for a, b in zip(SPECIAL_LINES, SPECIAL_LINES[1:])
    ]
    for a, b in zip(hf_tok.encode_batch(texts), tok.encode_batch(texts)):
        assert (a.ids, a.tokens, a.offsets, a.word_ids) == (b.ids, b.tokens, b.offsets, b.word_ids)


def t5_precompiled(family_path):
    tok = Tokenizer.from_file(family_path("t5"))
    return tok.normalizer.normalizers[0]


def test_precompiled_regions_equal_edit_list(family_path, lines) -> None:
    import tokenizers

    path = family_path("t5")
    pc = t5_precompiled(family_path)
    hf_pc = tokenizers.Tokenizer.from_file(str(path)).normalizer[0]
    counts = {"unchanged": 0, "one for one": 0, "moved": 0}
    for line in lines:
        for start in (0, 2):
            a, b = NormalizedString(line, start), NormalizedString(line, start)
            pc.normalize(a)
            pc._normalize_edits(b)
            assert aligned(a) == aligned(b), line
        assert a.normalized == hf_pc.normalize_str(line), line
        key = "unchanged" if a.normalized == line else ("one for one" if a.align is None else "moved")
        counts[key] += 1
    assert min(counts.values()) > 0, counts


def test_precompiled_line_it_does_not_change(family_path) -> None:
    pc = t5_precompiled(family_path)
    for text in ["plain words, numbers 123 and code x_1 = y", "Καλημέρα κόσμε"]:
        ns = NormalizedString(text, 7)
        pc.normalize(ns)
        assert (ns.normalized, ns.align, ns.ostart) == (text, None, 7)
    ns = NormalizedString("Ｆｕｌｌ\u00a0ＡＢＣ", 1)  # fullwidth -> ASCII, one for one
    pc.normalize(ns)
    assert (ns.normalized, ns.align) == ("Full ABC", None)
    ns = NormalizedString("ﬁ½", 1)  # expanded: each new char aligned with the char it came from
    pc.normalize(ns)
    assert ns.normalized == "fi1⁄2"
    assert ns.alignments() == [(1, 2), (1, 2), (2, 3), (2, 3), (2, 3)]


def test_identity_alignment_slices_and_shifts() -> None:
    assert identity_alignment(5, 3) == [(5, 6), (6, 7), (7, 8)]
    assert identity_alignment(0, 0) == []
    big = identity_alignment(70_000, 2)  # past the shared table: built on the spot
    assert big == [(70_000, 70_001), (70_001, 70_002)]
    whole = NormalizedString("hello world", 10)
    piece = whole.slice(6, 11)
    assert (piece.normalized, piece.align, piece.ostart, piece.oend) == ("world", None, 16, 21)
    assert piece.alignments() == [(16, 17), (17, 18), (18, 19), (19, 20), (20, 21)]
    assert piece.original_range(1, 3) == (17, 19)
    piece.apply_edits([])  # no edits: still the identity, no list built
    assert piece.align is None
    piece.apply_edits([(0, 1, [("W", 0), ("w", 1)], 0)])
    assert piece.alignments() == [(16, 17), (16, 17), (17, 18), (18, 19), (19, 20), (20, 21)]


@pytest.mark.parametrize("family", ["minilm", "bert", "t5"])
def test_model_trie_walk_matches_tokenizers(family, family_path, lines) -> None:
    import tokenizers

    path = family_path(family)
    hf_model = tokenizers.Tokenizer.from_file(str(path)).model
    model = Tokenizer.from_file(path).model
    words = sorted(
        {w for line in lines for w in line.lower().split()} | {"##ab", "#", "x" * 101, "▁", "\x00"}
    )
    if family == "t5":
        words = [w if i % 2 else "▁" + w for i, w in enumerate(words)]
    for word in words:
        char_at = {len(word[:i].encode()): i for i in range(len(word) + 1)}  # the Rust model counts bytes
        expected = [
            (t.id, t.value, (char_at[t.offsets[0]], char_at[t.offsets[1]])) for t in hf_model.tokenize(word)
        ]
        assert [(i, v, (s, e)) for i, v, s, e in model._tokenize(word)] == expected, word
        if family != "t5":
            assert model._tokenize(word) == model._tokenize_by_slices(word)
