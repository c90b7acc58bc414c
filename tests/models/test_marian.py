"""Marian against transformers (tiny random checkpoints, both ways), with a shared vocabulary and with
separate source and target vocabularies; the shared checks are in tests/models/seq2seq.py."""

from __future__ import annotations

import pytest
import torch
import transformers as T

from cove.models import auto
from tests.models import seq2seq

TINY = dict(
    vocab_size=99,
    d_model=32,
    encoder_layers=2,
    decoder_layers=2,
    encoder_attention_heads=4,
    decoder_attention_heads=4,
    encoder_ffn_dim=37,
    decoder_ffn_dim=37,
    max_position_embeddings=64,
    scale_embedding=True,
)
SHARED = dict(pad_token_id=98, decoder_start_token_id=98)
SEPARATE = dict(
    decoder_vocab_size=77, share_encoder_decoder_embeddings=False, pad_token_id=76, decoder_start_token_id=76
)
VARIANTS = {"shared": (SHARED, None), "separate": (SEPARATE, 70)}


def config(variant: str, **overrides) -> T.MarianConfig:
    return T.MarianConfig(**{**TINY, **VARIANTS[variant][0], **overrides})


def pad(variant: str) -> int:
    return VARIANTS[variant][0]["pad_token_id"]


def target(variant: str) -> int | None:
    return VARIANTS[variant][1]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_logits_both_ways(tmp_path, variant):
    seq2seq.check_logits_both_ways(tmp_path, T.MarianMTModel, config(variant), pad(variant), target(variant))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_loss_and_gradients(tmp_path, variant):
    seq2seq.check_loss_and_gradients(tmp_path, T.MarianMTModel, config(variant), pad(variant), target(variant))


def test_hidden_states_attentions_and_tuples(tmp_path):
    seq2seq.check_recorded_outputs(tmp_path, T.MarianMTModel, config("separate"), 76, 70)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_cache_continuation_equals_the_full_forward(tmp_path, variant):
    seq2seq.save_reference(T.MarianMTModel, config(variant), tmp_path)
    model = auto.AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    seq2seq.check_cache_continuation(model, pad(variant), target(variant))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_greedy_contract_matches_generate(tmp_path, variant):
    seq2seq.check_greedy_matches_generate(tmp_path, T.MarianMTModel, config(variant), pad(variant))


def test_bad_inputs(tmp_path):
    seq2seq.save_reference(T.MarianMTModel, config("shared"), tmp_path)
    seq2seq.check_bad_inputs(auto.AutoModelForSeq2SeqLM.from_pretrained(tmp_path), 98)


def test_sinusoidal_positions_match_transformers():
    from cove.models.marian import SinusoidalPositions

    for dim in (32, 33):
        ref = T.models.marian.modeling_marian.MarianSinusoidalPositionalEmbedding(50, dim)
        table = ref.create_weight()
        torch.testing.assert_close(SinusoidalPositions(dim)(torch.arange(50)), table, atol=1e-6, rtol=0)


def test_stored_position_tables_are_ignored_and_ties_follow_the_config(tmp_path):
    """Older Marian checkpoints store the (fixed) position tables: they load with nothing reported."""
    from safetensors.torch import load_file, save_file

    seq2seq.save_reference(T.MarianMTModel, config("separate"), tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    state["model.encoder.embed_positions.weight"] = torch.zeros(64, 32)
    state["model.decoder.embed_positions.weight"] = torch.zeros(64, 32)
    save_file(state, tmp_path / "model.safetensors", metadata={"format": "pt"})
    model = auto.AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    assert model.loading_info.missing == [] and model.loading_info.unexpected == []
    assert model.lm_head.weight is model.model.decoder.embed_tokens.weight
    assert model.model.encoder.embed_tokens.weight.shape == (99, 32)
    assert model.lm_head.weight.shape == (77, 32) and model.final_logits_bias.shape == (1, 77)
    assert model.get_input_embeddings() is model.model.encoder.embed_tokens
    base = auto.AutoModel.from_pretrained(tmp_path)
    assert type(base).__name__ == "MarianModel" and not hasattr(base, "shared")


def test_decoder_starts_from_pad(tmp_path):
    seq2seq.save_reference(T.MarianMTModel, config("shared"), tmp_path)
    model = auto.AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    labels = torch.tensor([[5, 6, -100]])
    assert model.prepare_decoder_input_ids_from_labels(labels).tolist() == [[98, 5, 6]]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_resize_token_embeddings(tmp_path, variant):
    seq2seq.save_reference(T.MarianMTModel, config(variant), tmp_path)
    model = auto.AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    model.resize_token_embeddings(104)
    assert model.model.encoder.embed_tokens.weight.shape == (104, 32) and model.config.vocab_size == 104
    rows = 104 if variant == "shared" else 77
    assert model.lm_head.weight.shape == (rows, 32) and model.final_logits_bias.shape == (1, rows)
    assert model.model.decoder.embed_tokens.weight.shape == (rows, 32)
    batch = seq2seq.inputs(pad(variant), target_vocab=target(variant))
    batch["input_ids"][0, 0] = 103
    with torch.no_grad():
        assert model(**batch).logits.shape == (2, 7, rows)


def test_transformers_translation_code_runs_unchanged(tmp_path):
    """The MarianMTModel docs' training step and a greedy translation, with Cove's tokenizer and model
    loaded from the same folder as transformers'."""
    import json

    import cove
    from tests.tokenizers.test_marian_tokenizer import marian_folder

    folder = marian_folder(tmp_path / "opus")
    vocab = json.loads((folder / "vocab.json").read_text())
    cfg = T.MarianConfig(
        **{**TINY, "vocab_size": len(vocab)},
        pad_token_id=vocab["<pad>"],
        decoder_start_token_id=vocab["<pad>"],
        eos_token_id=0,
        forced_eos_token_id=0,
    )
    ref = seq2seq.save_reference(T.MarianMTModel, cfg, folder)
    src = ["the quick brown fox", "der schnelle Hund springt"]
    tgt = ["der schnelle braune Fuchs", "the lazy dog"]
    results = []
    for lib, model in (
        (cove, cove.AutoModelForSeq2SeqLM.from_pretrained(folder)),
        (T, ref),
    ):
        tokenizer = lib.AutoTokenizer.from_pretrained(folder)
        batch = tokenizer(src, text_target=tgt, return_tensors="pt", padding=True)
        loss = model(**batch).loss
        ids = seq2seq.greedy(model, batch["input_ids"], batch["attention_mask"], 6) if lib is cove else None
        results.append((batch, loss, ids, tokenizer))
    (ours, our_loss, our_ids, tok), (theirs, their_loss, _, ref_tok) = results
    assert {k: v.tolist() for k, v in ours.items()} == {k: v.tolist() for k, v in theirs.items()}
    torch.testing.assert_close(our_loss, their_loss, atol=1e-4, rtol=0)
    with torch.no_grad():
        expected = ref.generate(**{k: theirs[k] for k in ("input_ids", "attention_mask")}, do_sample=False,
                                num_beams=1, max_new_tokens=6, min_new_tokens=6, eos_token_id=None,
                                forced_eos_token_id=None)
    assert our_ids.tolist() == expected.tolist()
    assert tok.batch_decode(our_ids, skip_special_tokens=True) == ref_tok.batch_decode(
        expected, skip_special_tokens=True
    )
