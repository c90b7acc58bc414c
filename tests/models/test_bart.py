"""BART against transformers (tiny random checkpoints, both ways): logits, loss and gradients,
recorded outputs, the cache, the greedy generation contract, sequence classification, bad input.
The shared checks are in tests/models/seq2seq.py."""

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
)
PAD = 1


def config(**overrides) -> T.BartConfig:
    return T.BartConfig(**{**TINY, **overrides})


@pytest.mark.parametrize("scale_embedding", [False, True])
def test_logits_both_ways(tmp_path, scale_embedding):
    seq2seq.check_logits_both_ways(
        tmp_path, T.BartForConditionalGeneration, config(scale_embedding=scale_embedding), PAD
    )


def test_loss_and_gradients(tmp_path):
    seq2seq.check_loss_and_gradients(tmp_path, T.BartForConditionalGeneration, config(), PAD)


def test_hidden_states_attentions_and_tuples(tmp_path):
    seq2seq.check_recorded_outputs(tmp_path, T.BartForConditionalGeneration, config(), PAD)


def test_cache_continuation_equals_the_full_forward(tmp_path):
    seq2seq.save_reference(T.BartForConditionalGeneration, config(), tmp_path)
    seq2seq.check_cache_continuation(auto.AutoModelForSeq2SeqLM.from_pretrained(tmp_path), PAD)


def test_greedy_contract_matches_generate(tmp_path):
    seq2seq.check_greedy_matches_generate(tmp_path, T.BartForConditionalGeneration, config(), PAD)


def test_bad_inputs(tmp_path):
    seq2seq.save_reference(T.BartForConditionalGeneration, config(), tmp_path)
    seq2seq.check_bad_inputs(auto.AutoModelForSeq2SeqLM.from_pretrained(tmp_path), PAD)


def test_base_model_shifts_input_ids_and_loads_from_the_lm_checkpoint(tmp_path):
    ref = seq2seq.save_reference(T.BartForConditionalGeneration, config(), tmp_path)
    model = auto.AutoModel.from_pretrained(tmp_path)
    assert type(model).__name__ == "BartModel" and model.loading_info.unexpected == ["final_logits_bias"]
    batch = seq2seq.inputs(PAD)
    with torch.no_grad():
        for kwargs in (batch, {k: batch[k] for k in ("input_ids", "attention_mask")}):
            theirs = ref.model(**kwargs)
            ours = model(**kwargs)
            mask = kwargs.get("decoder_attention_mask", kwargs["attention_mask"])
            seq2seq.close(ours.last_hidden_state, theirs.last_hidden_state, mask)
            seq2seq.close(ours.encoder_last_hidden_state, theirs.encoder_last_hidden_state, batch["attention_mask"])


def test_input_ids_alone_as_the_mask_filling_example(tmp_path):
    """transformers' BART docs: ``logits = model(input_ids).logits`` (the decoder reads input_ids shifted)."""
    ref = seq2seq.save_reference(T.BartForConditionalGeneration, config(), tmp_path)
    model = auto.AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    ids = seq2seq.inputs(PAD)["input_ids"][:1]
    with torch.no_grad():
        seq2seq.close(model(ids).logits, ref(ids).logits)


def test_labels_shift_into_decoder_inputs(tmp_path):
    ref = seq2seq.save_reference(T.BartForConditionalGeneration, config(), tmp_path)
    model = auto.AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    batch = seq2seq.inputs(PAD)
    labels = batch["decoder_input_ids"].masked_fill(batch["decoder_attention_mask"] == 0, -100)
    with torch.no_grad():
        theirs = ref(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels)
        ours = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels)
    torch.testing.assert_close(ours.loss, theirs.loss, atol=1e-4, rtol=0)
    torch.testing.assert_close(ours.logits, theirs.logits, atol=1e-4, rtol=0)
    assert ours.cache is None and list(ours.keys())[:2] == ["loss", "logits"]
    shifted = model.prepare_decoder_input_ids_from_labels(labels)
    assert shifted.tolist() == ref.prepare_decoder_input_ids_from_labels(labels).tolist()


def test_sequence_classification(tmp_path):
    cfg = config(num_labels=3)
    torch.manual_seed(0)
    ref = T.BartForSequenceClassification(cfg).eval()
    ref.save_pretrained(tmp_path)
    model = auto.AutoModelForSequenceClassification.from_pretrained(tmp_path)
    assert model.loading_info.missing == [] and model.loading_info.unexpected == []
    ids = torch.tensor([[0, 5, 6, 7, 8, 2], [0, 9, 10, 2, PAD, PAD]])
    mask = (ids != PAD).long()
    labels = torch.tensor([0, 2])
    theirs = ref(input_ids=ids, attention_mask=mask, labels=labels)
    ours = model(input_ids=ids, attention_mask=mask, labels=labels)
    torch.testing.assert_close(ours.logits, theirs.logits, atol=1e-4, rtol=0)
    torch.testing.assert_close(ours.loss, theirs.loss, atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="same number of <eos>"):
        model(input_ids=torch.tensor([[0, 5, 2, 2], [0, 5, 6, 2]]))


def test_static_cache_slots_give_the_same_logits(tmp_path):
    """Static decoding (the cache's ``slots`` set, as a compiled decode step uses it) equals the
    growing cache."""
    seq2seq.save_reference(T.BartForConditionalGeneration, config(), tmp_path)
    model = auto.AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    batch = seq2seq.inputs(PAD)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    dec = batch["decoder_input_ids"][:1].expand(2, -1)
    with torch.no_grad():
        memory = model.encode(ids, mask)
        full = model.decode(dec, memory, mask, model.make_cache(2, 8))
        cache = model.make_cache(2, 8)
        steps = []
        for t in range(dec.shape[1]):
            cache.self_attention.slots = torch.tensor([t])
            steps.append(model.decode(dec[:, t : t + 1], memory, mask, cache))
    seq2seq.close(torch.cat(steps, dim=1), full, atol=1e-5)


def test_get_encoder_outputs_feed_the_forward(tmp_path):
    """transformers' idiom: run the encoder once, pass ``encoder_outputs`` to later forwards."""
    ref = seq2seq.save_reference(T.BartForConditionalGeneration, config(), tmp_path)
    model = auto.AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    batch = seq2seq.inputs(PAD)
    source = {k: batch[k] for k in ("input_ids", "attention_mask")}
    with torch.no_grad():
        encoded = model.get_encoder()(**source)
        theirs = ref.get_encoder()(**source)
        seq2seq.close(encoded.last_hidden_state, theirs.last_hidden_state, batch["attention_mask"])
        for given in (encoded, theirs, (theirs.last_hidden_state,)):
            out = model(
                encoder_outputs=given,
                attention_mask=batch["attention_mask"],
                decoder_input_ids=batch["decoder_input_ids"],
                decoder_attention_mask=batch["decoder_attention_mask"],
            )
            seq2seq.close(out.logits, model(**batch).logits, batch["decoder_attention_mask"], atol=1e-5)


def test_config_fields_for_generation(tmp_path):
    import json

    config().save_pretrained(tmp_path)  # transformers 5 leaves forced_bos_token_id out; hub files have it
    data = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**data, "forced_bos_token_id": 0}))
    cfg = auto.AutoConfig.from_pretrained(tmp_path)
    assert cfg.is_encoder_decoder and cfg.decoder_start_token_id == 2
    assert cfg.forced_bos_token_id == 0 and cfg.forced_eos_token_id == 2
    assert cfg.to_dict()["forced_bos_token_id"] == 0


def test_resize_token_embeddings_and_gradient_checkpointing(tmp_path):
    seq2seq.save_reference(T.BartForConditionalGeneration, config(), tmp_path)
    batch = seq2seq.inputs(PAD)
    labels = batch.pop("decoder_input_ids")
    grads = []
    for enable in (False, True):
        model = auto.AutoModelForSeq2SeqLM.from_pretrained(tmp_path).train()
        if enable:
            model.gradient_checkpointing_enable()
        torch.manual_seed(0)  # the same dropout masks, replayed by the recomputation
        model(**batch, labels=labels).loss.backward()
        grads.append({n: p.grad for n, p in model.named_parameters()})
    for name, grad in grads[0].items():
        torch.testing.assert_close(grads[1][name], grad, atol=1e-6, rtol=0, msg=name)
    model = auto.AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    old_bias = model.final_logits_bias.clone()
    model.resize_token_embeddings(104)
    assert model.lm_head.weight is model.model.shared.weight is model.model.encoder.embed_tokens.weight
    assert model.lm_head.weight.shape == (104, 32) and model.final_logits_bias.shape == (1, 104)
    assert torch.equal(model.final_logits_bias[:, :99], old_bias) and model.config.vocab_size == 104
    with torch.no_grad():
        assert model(**batch, labels=labels).logits.shape == (2, 7, 104)
