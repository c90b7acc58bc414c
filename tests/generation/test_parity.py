"""Greedy and beam search give transformers' tokens on the same checkpoint, for left-padded batches;
each row gives what it gives alone; eos lists stop rows; sampling with top-k=1 is greedy."""

from __future__ import annotations

import pytest
import torch

from cove.generation import GenerationConfig, UnknownGenerationOption


def frequent_tokens(model, ids, mask, n):
    """The n tokens greedy decoding produces most: eos candidates that will actually be hit."""
    out = model.generate(ids, attention_mask=mask, max_new_tokens=12, eos_token_id=None)
    new = out[:, ids.shape[1] :].flatten()
    return torch.bincount(new).argsort(descending=True)[:n].tolist()


def test_greedy_matches_transformers(pair, padded):
    ref, model = pair
    ids, mask = padded
    for options in (
        dict(max_new_tokens=12),
        dict(max_length=15),
        dict(max_new_tokens=8, repetition_penalty=1.3),
    ):
        expected = ref.generate(ids, attention_mask=mask, do_sample=False, **options)
        assert torch.equal(model.generate(ids, attention_mask=mask, **options), expected), options


def test_greedy_stops_on_eos_lists(pair, padded):
    ref, model = pair
    ids, mask = padded
    eos = frequent_tokens(model, ids, mask, 2)
    expected = ref.generate(ids, attention_mask=mask, do_sample=False, max_new_tokens=12, eos_token_id=eos)
    got = model.generate(ids, attention_mask=mask, max_new_tokens=12, eos_token_id=eos)
    assert torch.equal(got, expected)
    assert bool(torch.isin(got[:, 9:], torch.tensor(eos)).any())  # the stop did happen


@pytest.mark.parametrize(
    "options",
    [
        dict(num_beams=3, num_return_sequences=2),
        dict(num_beams=4, early_stopping=True, length_penalty=2.0),
        dict(num_beams=2, early_stopping="never", length_penalty=0.5),
        dict(num_beams=3, length_penalty=-1.0, no_repeat_ngram_size=2),
    ],
)
def test_beam_search_matches_transformers(pair, padded, options):
    ref, model = pair
    ids, mask = padded
    eos = frequent_tokens(model, ids, mask, 2)
    options = dict(max_new_tokens=10, eos_token_id=eos, **options)
    expected = ref.generate(ids, attention_mask=mask, do_sample=False, **options)
    assert torch.equal(model.generate(ids, attention_mask=mask, **options), expected)


def test_each_row_gives_what_it_gives_alone(pair, padded):
    _, model = pair
    ids, mask = padded
    batch = model.generate(ids, attention_mask=mask, max_new_tokens=10, eos_token_id=None)
    for row in range(3):
        alone = ids[row, mask[row].bool()][None]
        out = model.generate(alone, max_new_tokens=10, eos_token_id=None)
        assert torch.equal(out[0, alone.shape[1] :], batch[row, 9:]), row


def test_sampling_top_k_1_is_greedy_and_seed_reproduces(pair, padded):
    _, model = pair
    ids, mask = padded
    greedy = model.generate(ids, attention_mask=mask, max_new_tokens=8)
    sampled = model.generate(ids, attention_mask=mask, max_new_tokens=8, do_sample=True, top_k=1, seed=3)
    assert torch.equal(sampled, greedy)
    free = dict(max_new_tokens=8, do_sample=True, top_k=0, temperature=2.0)
    a = model.generate(ids, attention_mask=mask, seed=5, **free)
    b = model.generate(ids, attention_mask=mask, seed=5, **free)
    c = model.generate(ids, attention_mask=mask, seed=6, **free)
    assert torch.equal(a, b) and not torch.equal(a, c)
    many = model.generate(ids, attention_mask=mask, seed=5, num_return_sequences=2, **free)
    assert many.shape == (6, 17)


def test_min_new_tokens_and_forced_eos(pair, padded):
    ref, model = pair
    ids, mask = padded
    eos = frequent_tokens(model, ids, mask, 1)
    for options in (
        dict(max_new_tokens=8, min_new_tokens=6, eos_token_id=eos),
        dict(max_new_tokens=6, forced_eos_token_id=eos[0], eos_token_id=eos),
        dict(max_new_tokens=6, bad_words_ids=[[eos[0]], [5, 6]], eos_token_id=[7]),
    ):
        expected = ref.generate(ids, attention_mask=mask, do_sample=False, **options)
        assert torch.equal(model.generate(ids, attention_mask=mask, **options), expected), options


def test_unknown_options_raise(pair, padded):
    _, model = pair
    ids, mask = padded
    with pytest.raises(UnknownGenerationOption, match="top_kk"):
        model.generate(ids, attention_mask=mask, top_kk=3)
    with pytest.raises(ValueError):
        model.generate(ids, attention_mask=mask, num_beams=2, num_return_sequences=3)


def test_generation_config_file_round_trip(tmp_path, pair, padded):
    ref, model = pair
    ids, mask = padded
    import transformers as T

    T.GenerationConfig(max_new_tokens=3, eos_token_id=[7, 8], pad_token_id=0).save_pretrained(tmp_path)
    config = GenerationConfig.from_pretrained(tmp_path)
    assert config.max_new_tokens == 3 and config.eos_token_id == [7, 8]
    assert "transformers_version" in config.extra  # unknown keys kept aside
    config.save_pretrained(tmp_path / "back")
    assert T.GenerationConfig.from_pretrained(tmp_path / "back").max_new_tokens == 3
    out = model.generate(ids, attention_mask=mask, generation_config=config)
    assert out.shape[1] <= 12
    assert model.generate(ids, attention_mask=mask, generation_config=config, max_new_tokens=5).shape[1] <= 14


def test_generation_config_json_is_read_with_the_model(tmp_path, padded):
    import transformers as T

    from cove.models import AutoModelForCausalLM
    from tests.models.reference import TINY

    torch.manual_seed(0)
    ref = T.AutoModelForCausalLM.from_config(TINY["gpt2"]()).eval()
    ref.save_pretrained(tmp_path)
    T.GenerationConfig(max_new_tokens=4, pad_token_id=0, eos_token_id=2).save_pretrained(tmp_path)
    model = AutoModelForCausalLM.from_pretrained(tmp_path)
    ids, mask = padded
    assert model.generate(ids, attention_mask=mask).shape == (3, 13)  # the file's max_new_tokens
    assert model.generate(ids, attention_mask=mask, max_new_tokens=2).shape == (3, 11)  # a call overrides it
    ref = T.AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert torch.equal(model.generate(ids, attention_mask=mask), ref.generate(ids, attention_mask=mask))


def test_transposed_linears_keep_values_names_and_ties(pair, tmp_path):
    """Loading stores float32 ``nn.Linear`` weights column-major: the state dict equals the checkpoint's
    tensors, tied parameters stay one tensor, and a save writes what transformers reads back equal."""
    from safetensors.torch import load_file

    ref, model = pair
    linears = [m.weight for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all(w.stride() == (1, w.shape[0]) for w in linears)
    expected = ref.state_dict()
    state = model.state_dict()
    assert all(torch.equal(state[k], expected[k]) for k in state)
    if model.config.tie_word_embeddings:
        for target, source in model.tied_weights.items():
            assert model.get_parameter(target) is model.get_parameter(source)
    model.save_pretrained(tmp_path)
    saved = load_file(tmp_path / "model.safetensors")
    assert all(torch.equal(v, expected[k]) for k, v in saved.items())


@pytest.mark.parametrize(
    "options",
    [dict(max_new_tokens=12), dict(max_new_tokens=8, num_beams=3, num_return_sequences=2)],
    ids=["greedy", "beams"],
)
def test_static_decode_matches_transformers(pair, padded, options):
    """Static decode steps (every cache slot, a mask for the empty ones) give transformers' tokens."""
    ref, model = pair
    ids, mask = padded
    eos = frequent_tokens(model, ids, mask, 2)
    expected = ref.generate(ids, attention_mask=mask, do_sample=False, eos_token_id=eos, **options)
    got = model.generate(ids, attention_mask=mask, eos_token_id=eos, cache_implementation="static", **options)
    assert torch.equal(got, expected)
    with pytest.raises(ValueError, match="cache_implementation"):
        model.generate(ids, attention_mask=mask, cache_implementation="offloaded", **options)
