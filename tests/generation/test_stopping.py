"""Stop strings end greedy and beam-search rows where transformers' ``StopStringCriteria`` ends them,
on the same checkpoint and tokenizer."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def hf_tokenizer(byte_bpe_file):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_file=str(byte_bpe_file))


def a_stop_string(model, tokenizer, ids, **options):
    """Two letters or digits from the middle of what the model writes without stopping: a stop that is hit
    (the tiny models' tokens are single characters)."""
    free = model.generate(ids, max_new_tokens=14, eos_token_id=98, **options)
    for row in free[:, ids.shape[1] :].tolist():
        text = tokenizer.decode(row)
        for i in range(3, len(text) - 2):
            if text[i : i + 2].isalnum():
                return text[i : i + 2], free
    raise AssertionError("no usable stop string")


@pytest.mark.parametrize(
    "options",
    [dict(), dict(num_beams=3), dict(num_beams=2, num_return_sequences=2, early_stopping=True)],
    ids=["greedy", "beams", "beams-early"],
)
def test_stop_strings_match_transformers(pair, byte_bpe, hf_tokenizer, options):
    ref, model = pair
    ids = torch.randint(33, 90, (3, 4), generator=torch.Generator().manual_seed(3))
    stop, free = a_stop_string(model, byte_bpe, ids, **options)
    # an eos that never comes: without one, transformers keeps extending rows a stop string ended
    common = dict(max_new_tokens=14, eos_token_id=98, stop_strings=[stop, "never"], **options)
    expected = ref.generate(ids, do_sample=False, pad_token_id=0, tokenizer=hf_tokenizer, **common)
    got = model.generate(ids, tokenizer=byte_bpe, **common)
    assert torch.equal(got, expected)
    assert not torch.equal(got, free)  # the stop string changed the result
    if "num_beams" not in options:  # (a beam that stopped early need not rank best)
        assert any(stop in byte_bpe.decode(row.tolist()) for row in got)


def test_beam_stop_strings_need_a_tokenizer(pair):
    _, model = pair
    with pytest.raises(ValueError, match="tokenizer"):
        model.generate(torch.tensor([[5, 6]]), max_new_tokens=3, num_beams=2, stop_strings="x")


@pytest.mark.parametrize(
    "texts",
    [
        ("q\nab", "\n"),  # a second occurrence while the first is still in the window
        ("q\nab",),  # in the text, but not reaching the newest token
        ("streaming", " tok"),
        ("streaming to", "ken"),  # completed across tokens
        ("streaming to", "kens"),  # ... and one token later: no longer
        ("stream", "ing token"),  # the newest token runs past the end of the string
    ],
)
def test_stop_strings_decide_as_transformers(byte_bpe, hf_tokenizer, texts):
    from transformers.generation.stopping_criteria import StopStringCriteria

    from cove.generation.stopping import StopStrings

    row = [i for t in texts for i in byte_bpe.encode(t).ids]
    ids = torch.tensor([row])
    strings = ["\n", "ing tok", "ken", "ing to"]
    expected = StopStringCriteria(hf_tokenizer, strings)(ids, None)
    assert torch.equal(StopStrings.make(strings, byte_bpe)(ids), expected), texts
