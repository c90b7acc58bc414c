"""Marian's tokenizer (source.spm, target.spm, vocab.json: no tokenizer.json) and BART's (GPT-2 byte-level
BPE files with ``tokenizer_class: BartTokenizer``) against transformers, plus the SentencePiece model
reader against the sentencepiece package. The .spm models are trained here (sentencepiece and
transformers are test-only oracles)."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pytest

import cove
from cove.tokenizers.marian import MarianTokenizer
from cove.tokenizers.spm_proto import SentencePiece, read_model

spm = pytest.importorskip("sentencepiece")
T = pytest.importorskip("transformers")

WORDS = (
    "the quick brown fox jumps over a lazy dog while naïve café owners count 1234 résumés ; "
    "Ｆｕｌｌ ｗｉｄｔｈ ﬁne , and ÉCOLE ! der schnelle braune Fuchs springt über den faulen Hund"
).split()
TEXTS = [
    "The quick brown fox.",
    "  leading, trailing  and   repeated spaces  ",
    "naïve café résumé 1234",
    "Ｆｕｌｌ ｗｉｄｔｈ ﬁne",
    "unknown 表表 chars ☃ here",
    ">>fr<< der schnelle Hund",
    "",
    "<unk> </s> <pad>",
    "tab\tand\nnewline",
]


def corpus(seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))) for _ in range(1500)]


def train(seed: int, model_type: str = "unigram", **options) -> bytes:
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus(seed)),
        model_writer=buf,
        vocab_size=250 + (256 if options.get("byte_fallback") else 0),
        model_type=model_type,
        character_coverage=1.0,
        hard_vocab_limit=False,
        minloglevel=2,
        **options,
    )
    return buf.getvalue()


@pytest.mark.parametrize(
    "model_type,options",
    [("unigram", {}), ("unigram", {"byte_fallback": True}), ("bpe", {}), ("unigram", {"add_dummy_prefix": False})],
)
def test_sentencepiece_encode_and_decode_match_the_package(model_type, options):
    data = train(0, model_type, **options)
    reference = spm.SentencePieceProcessor(model_proto=data)
    ours = SentencePiece(read_model(data))
    for text in TEXTS + corpus(7)[:200]:
        pieces = reference.encode(text, out_type=str)
        assert ours.encode(text) == pieces, text
        assert ours.decode(pieces) == reference.decode_pieces(pieces), text


def test_reader_fields_match_the_protobuf():
    from sentencepiece import sentencepiece_model_pb2 as pb

    data = train(0, byte_fallback=True, pad_id=3, unk_id=1, bos_id=0, eos_id=2)
    proto = pb.ModelProto.FromString(data)
    ours = read_model(data)
    assert [(p.piece, p.score, p.type) for p in ours.pieces] == [
        (p.piece, pytest.approx(p.score), p.type) for p in proto.pieces
    ]
    spec = ours.trainer_spec
    assert (spec.unk_id, spec.bos_id, spec.eos_id, spec.pad_id) == (1, 0, 2, 3) and spec.byte_fallback
    assert ours.normalizer_spec.precompiled_charsmap == proto.normalizer_spec.precompiled_charsmap
    assert ours.normalizer_spec.add_dummy_prefix and ours.normalizer_spec.remove_extra_whitespaces
    with pytest.raises(ValueError, match="not a SentencePiece model"):
        read_model(b"\x0f\xff\xff")


def marian_folder(root: Path, *, separate: bool = False) -> Path:
    """A Marian tokenizer folder as the OPUS-MT repos have: vocab.json is </s>, <unk>, the language
    codes, the pieces of both models (some source pieces left out: they map to <unk>), <pad> last."""
    root.mkdir(parents=True, exist_ok=True)
    source, target = train(0), train(1)
    (root / "source.spm").write_bytes(source)
    (root / "target.spm").write_bytes(target)

    def pieces(data: bytes) -> list[str]:
        return [p.piece for p in read_model(data).pieces if p.type == 1]

    def vocab(names: list[str]) -> dict[str, int]:
        tokens = ["</s>", "<unk>", *([] if separate else [">>fr<<", ">>de<<"]), *dict.fromkeys(names), "<pad>"]
        return {t: i for i, t in enumerate(tokens)}

    src_pieces = pieces(source)[:-20]  # the last source pieces are not in the vocabulary
    if separate:
        (root / "vocab.json").write_text(json.dumps(vocab(src_pieces)))
        (root / "target_vocab.json").write_text(json.dumps(vocab(pieces(target))))
    else:
        (root / "vocab.json").write_text(json.dumps(vocab(src_pieces + pieces(target))))
    config = {"tokenizer_class": "MarianTokenizer", "separate_vocabs": separate, "model_max_length": 512,
              "source_lang": "en", "target_lang": "de"}
    (root / "tokenizer_config.json").write_text(json.dumps(config))
    return root


@pytest.fixture(params=[False, True], ids=["shared", "separate"])
def marian(request, tmp_path):
    folder = marian_folder(tmp_path / "marian", separate=request.param)
    return cove.AutoTokenizer.from_pretrained(folder), T.MarianTokenizer.from_pretrained(folder)


def test_auto_tokenizer_builds_a_marian_tokenizer(marian):
    ours, theirs = marian
    assert isinstance(ours, MarianTokenizer)
    assert (ours.pad_token_id, ours.eos_token_id, ours.unk_token_id) == (
        theirs.pad_token_id,
        theirs.eos_token_id,
        theirs.unk_token_id,
    )
    assert ours.vocab_size == theirs.vocab_size and len(ours) == len(theirs)


def test_ids_match_transformers(marian):
    ours, theirs = marian
    texts = TEXTS + corpus(9)[:100]
    for text in texts:
        assert ours(text)["input_ids"] == theirs(text)["input_ids"], text
        assert ours(text_target=text)["input_ids"] == theirs(text_target=text)["input_ids"], text
        assert ours.tokenize(text) == theirs.tokenize(text), text
    batch = dict(padding=True, return_tensors="pt")
    got, expected = ours(texts[:4], text_target=texts[4:8], **batch), theirs(texts[:4], text_target=texts[4:8], **batch)
    assert set(got) == set(expected) == {"input_ids", "attention_mask", "labels"}
    for key in got:
        assert got[key].tolist() == expected[key].tolist(), key
    long = " ".join(corpus(3)[:10])
    assert ours(long, truncation=True, max_length=12)["input_ids"] == theirs(long, truncation=True, max_length=12)["input_ids"]


def test_decode_matches_transformers(marian):
    ours, theirs = marian
    for text in TEXTS + corpus(11)[:50]:
        ids = theirs(text_target=text)["input_ids"]
        for skip in (False, True):
            assert ours.decode(ids, skip_special_tokens=skip) == theirs.decode(ids, skip_special_tokens=skip), text
    ids = theirs(TEXTS[:3], padding=True)["input_ids"]
    assert ours.batch_decode(ids, skip_special_tokens=True) == theirs.batch_decode(ids, skip_special_tokens=True)


def test_save_and_reload(tmp_path, marian):
    ours, theirs = marian
    ours.save_pretrained(tmp_path / "saved")
    again = cove.AutoTokenizer.from_pretrained(tmp_path / "saved")
    reference = T.MarianTokenizer.from_pretrained(tmp_path / "saved")
    assert again(TEXTS[0])["input_ids"] == reference(TEXTS[0])["input_ids"] == theirs(TEXTS[0])["input_ids"]


def test_bart_style_folder_gives_transformers_ids(tmp_path):
    """vocab.json + merges.txt with tokenizer_class BartTokenizer: <s> ... </s> and <mask>, as transformers."""
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(corpus(0), vocab_size=400, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.save_model(str(tmp_path))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "BartTokenizer"}))
    ours = cove.AutoTokenizer.from_pretrained(tmp_path)
    theirs = T.AutoTokenizer.from_pretrained(tmp_path)
    texts = ["The quick brown fox.", "naïve <mask> café", " leading space", "", *corpus(5)[:20]]
    for text in texts:
        assert ours(text)["input_ids"] == theirs(text)["input_ids"], text
        assert ours(text)["input_ids"][:1] == [0] and ours(text)["input_ids"][-1] == 2
    assert ours(texts[0], texts[1])["input_ids"] == theirs(texts[0], texts[1])["input_ids"]
    ids = theirs(texts[:3], padding=True)["input_ids"]
    assert ours.batch_decode(ids, skip_special_tokens=True) == theirs.batch_decode(ids, skip_special_tokens=True)
