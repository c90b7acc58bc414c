"""T5 against transformers on tiny random checkpoints, both variants (T5: relu, tied and scaled head;
v1.1/Flan-T5: gated-gelu, untied head), both ways: logits, loss, gradients, every recorded state and
attention, tuples, cache continuation, encoder outputs passed back in, bad input."""

from __future__ import annotations

import json

import pytest
import torch
import transformers as T
from safetensors.torch import load_file, save_file

from cove.models import AutoModel, AutoModelForSeq2SeqLM, T5EncoderModel, T5ForConditionalGeneration
from cove.models.t5 import T5Config, relative_position_bucket

ATOL = 1e-4
SIZES = dict(
    vocab_size=99,
    d_model=32,
    d_kv=8,
    d_ff=37,
    num_layers=2,
    num_decoder_layers=3,
    num_heads=4,
    relative_attention_num_buckets=8,
    relative_attention_max_distance=16,
    decoder_start_token_id=0,
)
VARIANTS = {
    "t5": dict(feed_forward_proj="relu"),
    "flan": dict(feed_forward_proj="gated-gelu", tie_word_embeddings=False),
}


def flan_file(folder, lm_head: torch.Tensor) -> None:
    """Make a transformers-saved v1.1 folder look like a Flan-T5 download: ``tie_word_embeddings:
    false`` (transformers 5 writes true and ``scale_decoder_outputs``) and an lm_head of its own."""
    weights = load_file(folder / "model.safetensors")
    weights["lm_head.weight"] = lm_head.detach().clone()
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    config = json.loads((folder / "config.json").read_text())
    config["tie_word_embeddings"] = False
    for key in ("scale_decoder_outputs", "is_gated_act", "dense_act_fn"):
        config.pop(key, None)
    (folder / "config.json").write_text(json.dumps(config))


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def pair(request, tmp_path_factory):
    """(transformers model with eager attention, Cove model) loaded from the same folder."""
    folder = tmp_path_factory.mktemp(request.param)
    torch.manual_seed(0)
    ref = T.T5ForConditionalGeneration(T.T5Config(**SIZES, **VARIANTS[request.param]))
    ref.save_pretrained(folder)
    if request.param == "flan":
        flan_file(folder, torch.randn(99, 32) * 0.5)
    ref = T.T5ForConditionalGeneration.from_pretrained(folder, attn_implementation="eager").eval()
    model = AutoModelForSeq2SeqLM.from_pretrained(folder)
    assert model.loading_info.missing == [] and model.loading_info.unexpected == []
    return ref, model


def inputs(seed: int = 1) -> dict[str, torch.Tensor]:
    """Two inputs (the second right-padded to 12 of 20 tokens) and decoder labels (-100 past 9 of 15)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, 99, (2, 20), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 12:] = 0
    ids[1, 12:] = 0
    labels = torch.randint(2, 99, (2, 15), generator=g)
    labels[1, 9:] = -100
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def close(a, b, what: str) -> None:
    if isinstance(b, tuple):
        assert isinstance(a, tuple) and len(a) == len(b), what
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            close(x, y, f"{what}[{i}]")
    else:
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0, msg=what)


def test_config_variants():
    t5, flan = T5Config(), T5Config(feed_forward_proj="gated-gelu", tie_word_embeddings=False)
    assert (t5.gated, t5.act, t5.scales_output) == (False, "relu", True)
    assert (flan.gated, flan.act, flan.scales_output) == (True, "gelu_new", False)
    # transformers 5 writes tie_word_embeddings true for every T5 and the scaling apart
    assert not T5Config(tie_word_embeddings=True, scale_decoder_outputs=False).scales_output
    with pytest.raises(ValueError, match="feed_forward_proj"):
        _ = T5Config(feed_forward_proj="gelu-gated").act


def test_relative_position_buckets_match_transformers():
    from transformers.models.t5.modeling_t5 import T5Attention

    rel = torch.arange(-300, 300)[None]
    for bidirectional in (True, False):
        for buckets, distance in ((32, 128), (8, 16)):
            ours = relative_position_bucket(
                rel, bidirectional=bidirectional, num_buckets=buckets, max_distance=distance
            )
            theirs = T5Attention._relative_position_bucket(rel, bidirectional, buckets, distance)
            assert torch.equal(ours, theirs)


def test_logits_loss_and_every_recorded_tensor(pair):
    ref, model = pair
    batch = inputs()
    asked = dict(output_hidden_states=True, output_attentions=True)
    with torch.no_grad():
        theirs, ours = ref(**batch, **asked), model(**batch, **asked)
    assert list(ours.keys()) == list(theirs.keys())
    close(ours.logits, theirs.logits, "logits")
    close(ours.loss, theirs.loss, "loss")
    for name in (
        "encoder_last_hidden_state",
        "encoder_hidden_states",
        "encoder_attentions",
        "decoder_hidden_states",
        "decoder_attentions",
        "cross_attentions",
    ):
        close(getattr(ours, name), getattr(theirs, name), name)
    assert len(ours.decoder_hidden_states) == 4 and len(ours.encoder_hidden_states) == 3
    assert ours.cross_attentions[0].shape == (2, 4, 15, 20)
    assert (ours.cross_attentions[0][1, :, :, 12:] == 0).all()  # padded encoder tokens get none


def test_gradients(pair):
    ref, model = pair
    batch = inputs()
    grads = []
    for m in (ref, model):
        m.zero_grad()
        m(**batch).loss.backward()
        grads.append({n: p.grad for n, p in m.named_parameters() if p.grad is not None})
        m.zero_grad()
    ours, theirs = grads
    assert ours.keys() <= theirs.keys() and "shared.weight" in ours
    for name, grad in ours.items():
        torch.testing.assert_close(grad, theirs[name], atol=ATOL, rtol=0, msg=name)


def test_tuples_and_encoder_outputs_passed_back(pair):
    ref, model = pair
    batch = inputs()
    with torch.no_grad():
        plain = model(**batch, return_dict=False)
        theirs = ref(**batch, return_dict=False)
        assert len(plain) == len(theirs) == 4  # loss, logits, cache, encoder_last_hidden_state
        close(plain[1], theirs[1], "logits")
        encoded = model.encoder(model.shared(batch["input_ids"]), batch["attention_mask"])
        for given in (plain[3], (plain[3],), encoded):
            again = model(
                encoder_outputs=given, attention_mask=batch["attention_mask"], labels=batch["labels"]
            )
            close(again.logits, plain[1], "logits from encoder_outputs")


def test_cache_continuation_equals_the_full_forward(pair):
    _, model = pair
    batch = inputs()
    decoder_ids = model.prepare_decoder_input_ids_from_labels(batch["labels"])
    enc = dict(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    with torch.no_grad():
        full = model(**enc, decoder_input_ids=decoder_ids).logits
        first = model(**enc, decoder_input_ids=decoder_ids[:, :6], use_cache=True)
        assert first.past_key_values.get_seq_length() == 6
        steps = [first.logits]
        cache = first.past_key_values
        for t in range(6, 15):
            out = model(
                encoder_outputs=(first.encoder_last_hidden_state,),
                attention_mask=batch["attention_mask"],
                decoder_input_ids=decoder_ids[:, t : t + 1],
                past_key_values=cache,
            )
            steps.append(out.logits)
            cache = out.cache
        # the tensor paths generation uses, with a preallocated cache
        prealloc = model.make_cache(2, 16)
        hidden = model.encode(batch["input_ids"], batch["attention_mask"])
        tensor_path = [model.decode(decoder_ids[:, :1], hidden, batch["attention_mask"], prealloc)]
        tensor_path += [
            model.decode(decoder_ids[:, t : t + 1], hidden, batch["attention_mask"], prealloc)
            for t in range(1, 15)
        ]
    assert cache.get_seq_length() == 15 == prealloc.get_seq_length()
    close(torch.cat(steps, 1), full, "incremental")
    close(torch.cat(tensor_path, 1), full, "tensor path")
    _, _, cross_k, _ = prealloc[0]
    assert cross_k.shape == (2, 4, 20, 8)  # projected once from the encoder's 20 states


def test_cove_saved_loads_in_transformers(tmp_path):
    for name, variant in VARIANTS.items():
        torch.manual_seed(0)
        model = T5ForConditionalGeneration(T5Config(**SIZES, **variant)).eval()
        assert (model.lm_head.weight is model.shared.weight) == (name == "t5")
        model.save_pretrained(tmp_path / name)
        ref = T.T5ForConditionalGeneration.from_pretrained(tmp_path / name).eval()
        batch = inputs(2)
        with torch.no_grad():
            ours, theirs = model(**batch), ref(**batch)
        close(ours.logits, theirs.logits, f"{name} logits")
        close(ours.loss, theirs.loss, f"{name} loss")
        assert ours.logits.std() > 0.1  # T5's own initialisation: not a near-constant output
        torch.testing.assert_close(ref.lm_head.weight, model.lm_head.weight, atol=0, rtol=0)


def test_base_and_encoder_models_from_a_generation_checkpoint(pair, tmp_path):
    ref, model = pair
    model.save_pretrained(tmp_path)
    batch = inputs()
    decoder_ids = model.prepare_decoder_input_ids_from_labels(batch["labels"])
    enc = dict(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    base = AutoModel.from_pretrained(tmp_path)
    assert type(base).__name__ == "T5Model" and base.loading_info.missing == []
    encoder = T5EncoderModel.from_pretrained(tmp_path)
    assert encoder.loading_info.missing == [] and encoder.loading_info.unexpected == []
    with torch.no_grad():
        states = base(**enc, decoder_input_ids=decoder_ids)
        theirs = T.T5Model.from_pretrained(tmp_path).eval()(**enc, decoder_input_ids=decoder_ids)
        encoded = encoder(**enc, output_hidden_states=True)
        ref_encoded = T.T5EncoderModel.from_pretrained(tmp_path).eval()(**enc, output_hidden_states=True)
    close(states.last_hidden_state, theirs.last_hidden_state, "T5Model")
    close(encoded.last_hidden_state, ref_encoded.last_hidden_state, "T5EncoderModel")
    close(encoded.hidden_states, ref_encoded.hidden_states, "T5EncoderModel hidden states")


def test_bad_input_is_a_clear_error(pair):
    _, model = pair
    batch = inputs()
    enc = dict(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    with pytest.raises(ValueError, match="decoder_input_ids.*labels"):
        model(**enc)
    with pytest.raises(ValueError, match="decoder_input_ids"):
        AutoModel.from_config(model.config)(**enc)
    with pytest.raises(TypeError, match="int64"):
        model(**enc, labels=batch["labels"].float())
    with pytest.raises(ValueError, match="labels has shape"):
        model(**enc, labels=batch["labels"][0])
    with pytest.raises(ValueError, match="labels has shape"):
        model(**enc, decoder_input_ids=batch["labels"][:, :4].clamp(min=0), labels=batch["labels"])
    with pytest.raises(ValueError, match="exactly one of input_ids or inputs_embeds"):
        model(decoder_input_ids=batch["labels"].clamp(min=0))
    config = T5Config(**{**SIZES, "decoder_start_token_id": None})
    with pytest.raises(ValueError, match="decoder_start_token_id"):
        T5ForConditionalGeneration(config)(**enc, labels=batch["labels"])


def test_bfloat16_generation_model_runs(pair, tmp_path):
    _, model = pair
    model.save_pretrained(tmp_path)
    half = AutoModelForSeq2SeqLM.from_pretrained(tmp_path, dtype="bfloat16")
    batch = inputs()
    with torch.no_grad():
        out = half(**batch)
    assert out.logits.dtype == torch.bfloat16 and torch.isfinite(out.loss)
    assert half.generate(batch["input_ids"], batch["attention_mask"], max_new_tokens=4).shape == (2, 5)


def idiom_seq2seq(lib, folder):
    """transformers code as users write it, run against ``lib`` (``transformers`` or ``cove``)."""
    tok = lib.AutoTokenizer.from_pretrained(folder)
    model = lib.AutoModelForSeq2SeqLM.from_pretrained(folder).eval()
    texts = ["summarize: the cat sat on the mat, and then it slept", "translate English to German: hello"]
    batch = tok(texts, padding=True, return_tensors="pt")
    labels = tok(["a cat slept", "hallo"], padding=True, return_tensors="pt").input_ids
    labels[labels == tok.pad_token_id] = -100
    loss = model(**batch, labels=labels).loss
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=8, num_beams=2)
    return loss.detach(), out, tok.batch_decode(out, skip_special_tokens=True)


def test_transformers_code_runs_unchanged(tmp_path):
    """Tokenizer (a T5 spiece.model folder) + model + labels + beam generate + batch_decode. (As many
    decoder as encoder layers: transformers 5.25's generate sizes its cache by ``num_layers``.)"""
    pytest.importorskip("sentencepiece")
    import cove
    from tests.tokenizers.test_t5_tokenizer import train_spiece

    train_spiece(tmp_path)
    tok = T.AutoTokenizer.from_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)  # a T5 download ships both files
    torch.manual_seed(0)
    T.T5ForConditionalGeneration(
        T.T5Config(**{**SIZES, "vocab_size": len(tok), "num_decoder_layers": None})
    ).save_pretrained(tmp_path)
    (loss, out, text), (ref_loss, ref_out, ref_text) = (idiom_seq2seq(lib, tmp_path) for lib in (cove, T))
    torch.testing.assert_close(loss, ref_loss, atol=ATOL, rtol=0)
    assert torch.equal(out, ref_out) and text == ref_text
