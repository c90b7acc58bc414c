"""Encoder-decoder generation (T5) gives transformers' tokens: greedy, beams, constraints, sampling
under the same seed, on right-padded batches; the encoder runs once; streamers see the decoder ids."""

from __future__ import annotations

import pytest
import torch
import transformers as T

from cove.generation import GenerationConfig
from cove.models import AutoModelForSeq2SeqLM

TINY_T5 = dict(
    vocab_size=99,
    d_model=32,
    d_kv=8,
    d_ff=37,
    num_layers=2,
    num_heads=4,
    relative_attention_num_buckets=8,
    relative_attention_max_distance=16,
    decoder_start_token_id=0,
)
VARIANTS = {"t5": {}, "flan": dict(feed_forward_proj="gated-gelu", tie_word_embeddings=False)}


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def pair(request, tmp_path_factory):
    config = T.T5Config(**{**TINY_T5, **VARIANTS[request.param]})
    torch.manual_seed(0)
    ref = T.T5ForConditionalGeneration(config).eval()
    folder = tmp_path_factory.mktemp(request.param)
    ref.save_pretrained(folder)
    return T.T5ForConditionalGeneration.from_pretrained(folder).eval(), AutoModelForSeq2SeqLM.from_pretrained(
        folder
    )


@pytest.fixture
def padded():
    """Three inputs of 11, 7 and 3 real tokens, right-padded with 0 (as T5 tokenizers pad)."""
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(2, 99, (3, 11), generator=g)
    mask = torch.ones_like(ids)
    for row, real in ((1, 7), (2, 3)):
        mask[row, real:] = 0
        ids[row, real:] = 0
    return ids, mask


def frequent(model, ids, mask, n):
    """The n tokens greedy decoding produces most (after the start token): eos ids that get hit."""
    out = model.generate(ids, attention_mask=mask, max_new_tokens=12, eos_token_id=None)
    return torch.bincount(out[:, 1:].flatten()).argsort(descending=True)[:n].tolist()


@pytest.mark.parametrize(
    "options",
    [
        dict(max_new_tokens=12, eos_token_id=None),
        dict(max_new_tokens=12),
        dict(max_length=9, min_length=8, repetition_penalty=1.3, no_repeat_ngram_size=2),
        dict(max_new_tokens=6, forced_bos_token_id=5, forced_eos_token_id=7),
        dict(max_new_tokens=10, num_beams=3, num_return_sequences=2, length_penalty=0.5),
        dict(max_new_tokens=10, num_beams=4, early_stopping=True, length_penalty=2.0),
        dict(max_new_tokens=10, num_beams=2, early_stopping="never", no_repeat_ngram_size=2),
    ],
    ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()),
)
def test_matches_transformers(pair, padded, options):
    ref, model = pair
    ids, mask = padded
    eos = frequent(model, ids, mask, 2)
    options = {"eos_token_id": eos, **options}
    expected = ref.generate(ids, attention_mask=mask, do_sample=False, **options)
    got = model.generate(ids, attention_mask=mask, **options)
    assert torch.equal(got, expected), (got, expected)
    assert (got[:, 0] == 0).all()  # decoder ids start with decoder_start_token_id
    if options == dict(max_new_tokens=12, eos_token_id=eos):
        assert bool(torch.isin(got[:, 1:], torch.tensor(eos)).any())  # the stop did happen


def test_sampling_matches_transformers_under_one_seed(pair, padded):
    """transformers draws from torch's global generator, Cove from its own: seeded alike, they agree."""
    ref, model = pair
    ids, mask = padded
    for options in (
        dict(max_new_tokens=10, do_sample=True, top_k=0, temperature=1.5),
        dict(max_new_tokens=10, do_sample=True, top_k=20, top_p=0.9, num_return_sequences=2),
    ):
        torch.manual_seed(11)
        expected = ref.generate(ids, attention_mask=mask, **options)
        got = model.generate(ids, attention_mask=mask, seed=11, **options)
        assert torch.equal(got, expected), options
    greedy = model.generate(ids, attention_mask=mask, max_new_tokens=8)
    top1 = model.generate(ids, attention_mask=mask, max_new_tokens=8, do_sample=True, top_k=1, seed=3)
    assert torch.equal(top1, greedy)


def test_each_row_gives_what_it_gives_alone(pair, padded):
    _, model = pair
    ids, mask = padded
    batch = model.generate(ids, attention_mask=mask, max_new_tokens=10, eos_token_id=None)
    for row in range(3):
        alone = model.generate(ids[row, mask[row].bool()][None], max_new_tokens=10, eos_token_id=None)
        assert torch.equal(alone[0], batch[row]), row


def test_the_encoder_runs_once(pair, padded):
    _, model = pair
    ids, mask = padded
    calls = []
    forward = model.encoder.forward
    model.encoder.forward = lambda *a, **k: calls.append(1) or forward(*a, **k)
    try:
        model.generate(ids, attention_mask=mask, max_new_tokens=6, num_beams=3)
        model.generate(ids, attention_mask=mask, max_new_tokens=6)
    finally:
        del model.encoder.forward
    assert calls == [1, 1]


def test_start_token_and_generation_config(pair, padded, tmp_path):
    ref, model = pair
    ids, mask = padded
    assert (
        model.generate(ids, attention_mask=mask, max_new_tokens=3, decoder_start_token_id=5)[:, 0].eq(5).all()
    )
    T.GenerationConfig(
        max_new_tokens=4, decoder_start_token_id=0, eos_token_id=1, pad_token_id=0
    ).save_pretrained(tmp_path)
    config = GenerationConfig.from_pretrained(tmp_path)
    assert config.decoder_start_token_id == 0
    assert model.generate(ids, attention_mask=mask, generation_config=config).shape[1] <= 5
    unset = AutoModelForSeq2SeqLM.from_config(model.config.with_overrides({"decoder_start_token_id": None}))
    unset.generation_config = GenerationConfig()
    with pytest.raises(ValueError, match="decoder_start_token_id"):
        unset.generate(ids, max_new_tokens=2)
    with pytest.raises(ValueError, match="encoder-decoder"):
        model.generate(ids, max_new_tokens=2, cache_implementation="static")


def test_streamer_sees_the_decoder_ids(pair, padded):
    _, model = pair
    ids, mask = padded

    class Collect:
        def __init__(self):
            self.seen, self.ended = [], False

        def put(self, value):
            self.seen.extend(value.flatten().tolist())

        def end(self):
            self.ended = True

    for options in (dict(max_new_tokens=6), dict(max_new_tokens=6, num_beams=2)):
        streamer = Collect()
        out = model.generate(ids[:1], attention_mask=mask[:1], streamer=streamer, **options)
        assert streamer.ended and streamer.seen == out[0].tolist()


def test_greedy_uses_the_certified_head_and_matches_transformers(tmp_path):
    """A vocabulary large enough for the int8 head: long greedy calls take their argmax from it (the
    original T5: its head reads states scaled by d_model ** -0.5; the argmax is certified on those)."""
    variant = "t5"
    from cove.generation import greedy_head

    config = T.T5Config(**{**TINY_T5, "vocab_size": greedy_head.MIN_VOCAB, **VARIANTS[variant]})
    torch.manual_seed(0)
    T.T5ForConditionalGeneration(config).save_pretrained(tmp_path)
    ref = T.T5ForConditionalGeneration.from_pretrained(tmp_path).eval()
    model = AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(2, greedy_head.MIN_VOCAB, (2, 9), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    for options in (dict(max_new_tokens=greedy_head.BUILD_AFTER), dict(max_new_tokens=12, min_new_tokens=12)):
        expected = ref.generate(ids, attention_mask=mask, do_sample=False, **options)
        assert torch.equal(model.generate(ids, attention_mask=mask, **options), expected), options
    head = model.decode_state.head
    assert head is not None and head.full_products == 0
