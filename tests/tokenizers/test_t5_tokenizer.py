"""T5's tokenizer: a folder with tokenizer.json (Unigram + Metaspace, ``</s>`` appended) and a folder
with only spiece.model (+ tokenizer_config.json), converted as transformers' ``T5Tokenizer`` builds
it. A SentencePiece Unigram model is trained at test time (the ``sentencepiece`` package is the test
oracle only; Cove reads the .model protobuf itself)."""

from __future__ import annotations

import io
import json

import pytest

from cove.tokenizers import AutoTokenizer, Tokenizer
from cove.tokenizers import sentencepiece_model as sm
from tests.tokenizers.compare import assert_batches_same
from tests.tokenizers.corpus import make_corpus, training_corpus

SPECIALS = ("<pad>", "</s>", "<unk>", "<extra_id_0>", "<extra_id_99>")


def train_spiece(folder) -> bytes:
    """Write a T5-style spiece.model (Unigram, pad 0, eos 1, unk 2, no bos) and tokenizer_config.json
    into ``folder``; return the model's bytes."""
    import sentencepiece as spm

    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(training_corpus(1500)),
        model_writer=out,
        vocab_size=400,
        hard_vocab_limit=False,
        model_type="unigram",
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        character_coverage=1.0,
        normalization_rule_name="nmt_nfkc",
        minloglevel=2,
    )
    (folder / "spiece.model").write_bytes(out.getvalue())
    config = {"tokenizer_class": "T5Tokenizer", "extra_ids": 100, "model_max_length": 512}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return out.getvalue()


@pytest.fixture(scope="module")
def spiece(tmp_path_factory):
    """(folder with spiece.model + tokenizer_config.json, the model's bytes) of a T5-style Unigram."""
    pytest.importorskip("sentencepiece")
    folder = tmp_path_factory.mktemp("t5-spiece")
    return folder, train_spiece(folder)


@pytest.fixture(scope="module")
def reference(spiece):
    """transformers' T5 tokenizer of that folder (its converted pipeline)."""
    transformers = pytest.importorskip("transformers")
    return transformers.AutoTokenizer.from_pretrained(spiece[0])


def texts() -> list[str]:
    lines = make_corpus(300, seed=7, specials=SPECIALS)
    return lines + ["summarize: studies have shown that owning a dog is good for you", "", "  ", "a  b\tc\n"]


def test_the_protobuf_reader_matches_sentencepiece(spiece):
    import sentencepiece as spm

    folder, data = spiece
    model = sm.read(folder / "spiece.model")
    sp = spm.SentencePieceProcessor(model_proto=data)
    assert len(model.pieces) == sp.get_piece_size()
    for i, piece in enumerate(model.pieces):
        assert piece.piece == sp.id_to_piece(i)
        assert piece.score == pytest.approx(sp.get_score(i), abs=1e-6)
        assert (piece.type == sm.CONTROL) == sp.is_control(i) and (piece.type == sm.UNKNOWN) == sp.is_unknown(
            i
        )
    spec = model.trainer_spec
    assert (spec.model_type, spec.pad_id, spec.eos_id, spec.unk_id, spec.bos_id) == (sm.UNIGRAM, 0, 1, 2, -1)
    assert model.normalizer_spec.name == "nmt_nfkc" and len(model.normalizer_spec.precompiled_charsmap) > 1000
    with pytest.raises(sm.SentencePieceModelError):
        sm.parse(b"\x0a\xff")
    with pytest.raises(sm.SentencePieceModelError):
        sm.parse(b"not a model at all")


def test_spiece_only_folder_gives_transformers_ids(spiece, reference):
    ours = AutoTokenizer.from_pretrained(spiece[0])
    assert len(ours) == len(reference) == 500
    assert ours.convert_tokens_to_ids(
        ["<extra_id_0>", "<extra_id_99>", "</s>"]
    ) == reference.convert_tokens_to_ids(["<extra_id_0>", "<extra_id_99>", "</s>"])
    assert ours.eos_token_id == 1 and ours.pad_token_id == 0
    lines = texts()
    assert_batches_same(reference.backend_tokenizer, ours.backend, lines)
    batch, expected = ours(lines[:8], padding=True), reference(lines[:8], padding=True)
    assert (
        batch["input_ids"] == expected["input_ids"] and batch["attention_mask"] == expected["attention_mask"]
    )
    ids = expected["input_ids"][8 - 1]
    assert ours.decode(ids, skip_special_tokens=True) == reference.decode(ids, skip_special_tokens=True)


def test_tokenizer_json_folder_gives_transformers_ids_and_offsets(spiece, reference, tmp_path):
    """What transformers saves (tokenizer.json: Precompiled, WhitespaceSplit + Metaspace, Unigram,
    ``$A </s>``) read by Cove: the same ids, tokens and offsets, ``</s>`` included."""
    reference.save_pretrained(tmp_path)
    ours = AutoTokenizer.from_pretrained(tmp_path)
    assert_batches_same(reference.backend_tokenizer, ours.backend, texts())
    converted = Tokenizer.from_file(tmp_path / "tokenizer.json")
    assert converted.encode("Hello world").ids[-1] == 1  # the post-processor's </s>
    # and Cove's own save of the converted spiece.model reads back the same in transformers
    import transformers

    AutoTokenizer.from_pretrained(spiece[0]).save_pretrained(tmp_path / "cove")
    back = transformers.AutoTokenizer.from_pretrained(tmp_path / "cove")
    lines = texts()[:50]
    assert back(lines)["input_ids"] == reference(lines)["input_ids"]


def test_other_spiece_models_are_refused(spiece, tmp_path):
    folder, data = spiece
    (tmp_path / "spiece.model").write_bytes(data)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "AlbertTokenizer"}))
    with pytest.raises(NotImplementedError, match="AlbertTokenizer"):
        AutoTokenizer.from_pretrained(tmp_path)
