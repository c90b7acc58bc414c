"""Assisted generation (``assistant_model``): the model's own greedy tokens, whatever the draft guesses,
with fewer forwards of the model when the draft agrees; transformers' assisted generation gives the
same ids on the same checkpoints."""

from __future__ import annotations

import copy

import pytest
import torch
import transformers as T

from cove.generation import generate
from cove.models import AutoModelForCausalLM
from tests.models.reference import TINY


@pytest.fixture(scope="module")
def drafts(pair, tmp_path_factory):
    """Drafts for the pair's Cove model: a copy of it (every guess right), a copy with noise on its weights
    (some right), and another random model of the same vocabulary (mostly wrong)."""
    ref, model = pair
    noisy = copy.deepcopy(model)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in noisy.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.3 * p.std().nan_to_num(0.0))
    torch.manual_seed(7)
    folder = tmp_path_factory.mktemp("other")
    T.AutoModelForCausalLM.from_config(ref.config).save_pretrained(folder)
    return {"same": copy.deepcopy(model), "noisy": noisy, "other": AutoModelForCausalLM.from_pretrained(folder)}


class Counter:
    """Counts the forwards of a model's base (prefill, decode steps, verification passes)."""

    def __init__(self, model) -> None:
        self.base = getattr(model, model.base_model_prefix)
        self.calls = 0
        self.hidden = self.base.hidden

    def __enter__(self) -> Counter:
        def counted(*args, **kwargs):
            self.calls += 1
            return self.hidden(*args, **kwargs)

        self.base.hidden = counted
        return self

    def __exit__(self, *exc) -> None:
        del self.base.hidden


PROMPT = torch.tensor([[5, 9, 17, 33, 2, 8, 40, 11, 3]])


@pytest.mark.parametrize("draft", ["same", "noisy", "other"])
@pytest.mark.parametrize("options", [dict(max_new_tokens=40), dict(max_new_tokens=25, repetition_penalty=1.3),
                                     dict(max_new_tokens=30, num_assistant_tokens=3, assistant_confidence_threshold=None),
                                     dict(max_new_tokens=30, num_assistant_tokens_schedule="heuristic",
                                          assistant_confidence_threshold=None)])
def test_the_models_own_greedy_tokens(pair, drafts, draft, options):
    ref, model = pair
    plain = model.generate(PROMPT, **options)
    with Counter(model) as counter:
        assisted = model.generate(PROMPT, assistant_model=drafts[draft], **options)
    assert torch.equal(assisted, plain), (draft, options)
    new = plain.shape[1] - PROMPT.shape[1]
    if draft == "same" and "assistant_confidence_threshold" in options:  # no early stop: once per 4 tokens
        assert counter.calls <= 1 + -(-(new - 1) // 4), counter.calls
    assert counter.calls <= new  # never more forwards than plain decoding


def test_the_certified_greedy_head_checks_all_positions_at_once(pair, drafts, monkeypatch):
    """Without processors a long call takes the int8 greedy head (built for vocabularies of at least
    MIN_VOCAB ids: lowered here for the tiny model), which scores the k + 1 positions in one pass."""
    from cove.generation import greedy_head

    ref, model = pair
    monkeypatch.setattr(greedy_head, "MIN_VOCAB", 1)
    model = copy.deepcopy(model)  # its own decode state
    plain = model.generate(PROMPT, max_new_tokens=greedy_head.BUILD_AFTER)
    assert model.decode_state.head is not None
    for draft in drafts.values():
        assert torch.equal(model.generate(PROMPT, max_new_tokens=greedy_head.BUILD_AFTER, assistant_model=draft),
                           plain)


def test_transformers_assisted_gives_the_same_ids(pair, drafts, tmp_path):
    ref, model = pair
    folder = tmp_path / "draft"
    torch.manual_seed(7)
    ref_draft = T.AutoModelForCausalLM.from_config(ref.config).eval()
    ref_draft.save_pretrained(folder)
    draft = AutoModelForCausalLM.from_pretrained(folder)
    expected = ref.generate(PROMPT, assistant_model=ref_draft, do_sample=False, max_new_tokens=20)
    assert torch.equal(model.generate(PROMPT, assistant_model=draft, max_new_tokens=20), expected)


def test_stops_padding_streamer_and_schedule(pair, drafts):
    ref, model = pair
    plain = model.generate(PROMPT, max_new_tokens=30, eos_token_id=None)
    eos = int(plain[0, PROMPT.shape[1] + 12])  # a token greedy decoding does produce
    expected = model.generate(PROMPT, max_new_tokens=30, eos_token_id=eos)
    for draft in drafts.values():
        assert torch.equal(model.generate(PROMPT, max_new_tokens=30, eos_token_id=eos, assistant_model=draft),
                           expected)
    one = model.generate(PROMPT, max_new_tokens=1, assistant_model=drafts["other"])
    assert torch.equal(one, plain[:, :PROMPT.shape[1] + 1])
    assert expected.shape[1] < plain.shape[1]  # the stop did happen
    padded = torch.cat((torch.zeros(1, 3, dtype=torch.long), PROMPT), dim=1)
    mask = torch.cat((torch.zeros(1, 3, dtype=torch.long), torch.ones_like(PROMPT)), dim=1)
    assert torch.equal(model.generate(padded, attention_mask=mask, max_new_tokens=15, assistant_model=drafts["noisy"]),
                       model.generate(padded, attention_mask=mask, max_new_tokens=15))

    seen: list[int] = []

    class Streamer:
        def put(self, ids):
            seen.extend(ids.flatten().tolist())

        def end(self):
            seen.append(-1)

    out = model.generate(PROMPT, max_new_tokens=12, streamer=Streamer(), assistant_model=drafts["same"])
    assert seen == [*out[0].tolist(), -1]
    same = drafts["same"]
    same.decode_state.assistant_tokens = None
    model.generate(PROMPT, max_new_tokens=30, assistant_model=same, num_assistant_tokens=4,
                   num_assistant_tokens_schedule="heuristic")
    assert same.decode_state.assistant_tokens > 4  # every guess right: it grew, and is kept for the next call
    other = drafts["other"]
    other.decode_state.assistant_tokens = None
    model.generate(PROMPT, max_new_tokens=30, assistant_model=other, num_assistant_tokens=4,
                   num_assistant_tokens_schedule="heuristic_transient")
    assert other.decode_state.assistant_tokens is None  # transient: nothing kept


def test_what_assisted_generation_refuses(pair, drafts, tmp_path):
    ref, model = pair
    draft = drafts["same"]
    with pytest.raises(ValueError, match="batch of 1"):
        model.generate(PROMPT.repeat(2, 1), assistant_model=draft, max_new_tokens=4)
    with pytest.raises(ValueError, match="greedy only"):
        model.generate(PROMPT, assistant_model=draft, max_new_tokens=4, do_sample=True)
    with pytest.raises(ValueError, match="greedy only"):
        model.generate(PROMPT, assistant_model=draft, max_new_tokens=4, num_beams=2)
    with pytest.raises(ValueError, match="num_assistant_tokens_schedule"):
        model.generate(PROMPT, assistant_model=draft, max_new_tokens=4, num_assistant_tokens_schedule="fast")
    with pytest.raises(ValueError, match="num_assistant_tokens must"):
        model.generate(PROMPT, assistant_model=draft, max_new_tokens=4, num_assistant_tokens=0)
    config = TINY[ref.config.model_type]()
    config.vocab_size += 5
    torch.manual_seed(0)
    T.AutoModelForCausalLM.from_config(config).save_pretrained(tmp_path / "wide")
    with pytest.raises(ValueError, match="same tokenizer"):
        generate(model, PROMPT, assistant_model=AutoModelForCausalLM.from_pretrained(tmp_path / "wide"),
                 max_new_tokens=4)


def test_the_confidence_cut_off_is_learnt_as_transformers_learns_it():
    from cove.generation.assisted import _threshold

    assert _threshold([0.9, 0.8, 0.7], [1, 1, 0], 0.4) == 0.4  # too few guesses: unchanged
    assert _threshold([0.9] * 6, [1] * 6, 0.4) == 0.4  # no rejected guess: unchanged
    probs = [0.95, 0.9, 0.85, 0.3, 0.2, 0.6, 0.1]
    kept = [1, 1, 1, 0, 0, 1, 0]
    assert _threshold(probs, kept, 0.4) == 0.6  # every kept guess at or above it, every rejected one below
    # a rejected guess above the kept ones costs 1/3 of a missed kept one: the cut stays low
    assert _threshold([0.99, 0.5, 0.5, 0.5, 0.45, 0.1], [0, 1, 1, 1, 1, 0], 0.4) == 0.45


def test_the_cut_off_is_scikit_learns_roc_choice():
    """transformers takes the threshold from scikit-learn's ROC curve; the same choice on random guesses."""
    import numpy as np
    from sklearn.metrics import roc_curve

    from cove.generation.assisted import _threshold

    rng = np.random.default_rng(0)
    for n in (6, 9, 30, 200):
        probs = rng.random(n).round(2).tolist()  # ties included
        kept = [int(p + rng.normal(0, 0.3) > 0.5) for p in probs]
        if not 0 < sum(kept) < n:
            continue
        fpr, tpr, thresholds = roc_curve(kept, probs)
        expected = thresholds[np.argmin(fpr + 3 * (1 - tpr))]
        assert _threshold(probs, kept, 0.4) == expected, (probs, kept)
