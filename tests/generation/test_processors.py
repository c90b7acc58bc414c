"""Each processor equals transformers' LogitsProcessor on random logits; sampling draws from the
filtered distribution (chi-square); processors and sampling are pure."""

from __future__ import annotations

import pytest
import torch
import transformers.generation.logits_process as tp
from scipy.stats import chisquare

from cove.generation import processors as P
from cove.generation import sampling
from cove.generation.config import GenerationConfig

V = 50


@pytest.fixture
def inputs():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, V, (4, 12), generator=g)
    ids[1, -3:] = ids[1, 2:5]  # a repeated trigram prefix for the n-gram processor
    logits = torch.randn(4, V, generator=g) * 3
    return ids, logits


CASES = [
    (P.Temperature(0.7), tp.TemperatureLogitsWarper(0.7)),
    (P.TopK(5), tp.TopKLogitsWarper(5)),
    (P.TopK(3, min_tokens_to_keep=6), tp.TopKLogitsWarper(3, min_tokens_to_keep=6)),
    (P.TopP(0.8), tp.TopPLogitsWarper(0.8)),
    (P.TopP(0.1, min_tokens_to_keep=3), tp.TopPLogitsWarper(0.1, min_tokens_to_keep=3)),
    (P.MinP(0.1), tp.MinPLogitsWarper(0.1)),
    (P.MinP(0.9, min_tokens_to_keep=2), tp.MinPLogitsWarper(0.9, min_tokens_to_keep=2)),
    (P.Typical(0.7), tp.TypicalLogitsWarper(0.7)),
    (P.Typical(0.2, min_tokens_to_keep=3), tp.TypicalLogitsWarper(0.2, min_tokens_to_keep=3)),
    (P.RepetitionPenalty(1.5), tp.RepetitionPenaltyLogitsProcessor(1.5)),
    (
        P.RepetitionPenalty(0.7, torch.tensor([0, 3, 5, 11])),
        tp.RepetitionPenaltyLogitsProcessor(0.7, prompt_ignore_length=torch.tensor([0, 3, 5, 11])),
    ),
    (P.NoRepeatNGram(1), tp.NoRepeatNGramLogitsProcessor(1)),
    (P.NoRepeatNGram(2), tp.NoRepeatNGramLogitsProcessor(2)),
    (P.NoRepeatNGram(4), tp.NoRepeatNGramLogitsProcessor(4)),
    (
        P.BadWords.make([[3], [7, 9], [1, 2, 4], [2]], eos=[2]),
        tp.NoBadWordsLogitsProcessor([[3], [7, 9], [1, 2, 4], [2]], 2),
    ),
    (P.MinLength(20, (2, 5)), tp.MinLengthLogitsProcessor(20, [2, 5])),
    (P.MinNewTokens(10, 3, (4,)), tp.MinNewTokensLengthLogitsProcessor(10, 3, 4)),
    (P.ForcedEOS(13, (6,)), tp.ForcedEOSTokenLogitsProcessor(13, 6)),
]


@pytest.mark.parametrize("ours,theirs", CASES, ids=lambda c: type(c).__name__)
def test_processor_matches_transformers(inputs, ours, theirs):
    ids, logits = inputs
    before = logits.clone()
    got = ours(ids, logits)
    expected = theirs(ids, logits.clone())
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    assert torch.equal(logits, before)  # pure: the input is untouched


def test_bad_words_prefix_is_matched(inputs):
    ids, logits = inputs
    word = [int(ids[2, -1]), 9]
    ours = P.BadWords.make([word], eos=[])
    expected = tp.NoBadWordsLogitsProcessor([word])(ids, logits.clone())
    got = ours(ids, logits)
    torch.testing.assert_close(got, expected)
    assert got[2, 9] == float("-inf")


def test_forced_bos():
    logits = torch.randn(2, V)
    ids = torch.zeros(2, 1, dtype=torch.long)
    torch.testing.assert_close(
        P.ForcedBOS(4)(ids, logits), tp.ForcedBOSTokenLogitsProcessor(4)(ids, logits.clone())
    )
    assert torch.equal(P.ForcedBOS(4)(torch.zeros(2, 3, dtype=torch.long), logits), logits)


def test_build_order_matches_transformers():
    config = GenerationConfig(
        do_sample=True,
        temperature=0.5,
        top_k=10,
        top_p=0.9,
        min_p=0.05,
        typical_p=0.95,
        repetition_penalty=1.2,
        no_repeat_ngram_size=3,
        eos_token_id=2,
        min_new_tokens=2,
    )
    names = [type(p).__name__ for p in P.build_processors(config, prompt_length=4)]
    assert names == [
        "RepetitionPenalty",
        "NoRepeatNGram",
        "MinNewTokens",
        "Temperature",
        "TopK",
        "TopP",
        "MinP",
        "Typical",
    ]


@pytest.mark.parametrize(
    "procs",
    [
        [P.Temperature(0.8), P.TopK(5)],
        [P.TopP(0.7)],
        [P.Temperature(1.5), P.MinP(0.2)],
    ],
    ids=["topk", "topp", "minp"],
)
def test_sampling_matches_filtered_distribution(procs):
    """20,000 draws over a vocabulary of 8 fit the processed softmax (chi-square, p > 1e-3), and
    filtered tokens never appear."""
    logits = torch.tensor([[2.0, 1.5, 1.0, 0.5, 0.0, -0.5, -1.0, -2.0]])
    filtered = P.apply(procs, torch.zeros(1, 1, dtype=torch.long), logits)
    probs = filtered.softmax(-1)[0]
    n = 20_000
    g = torch.Generator().manual_seed(0)
    draws = sampling.sample(filtered.expand(n, -1), g)
    counts = torch.bincount(draws, minlength=8).double()
    allowed = probs > 0
    assert counts[~allowed].sum() == 0
    observed = counts[allowed].numpy()
    expected = probs[allowed].double().numpy()
    assert chisquare(observed, expected / expected.sum() * n).pvalue > 1e-3
    uniform = [n / len(observed)] * len(observed)  # a wrong distribution fails: the test can fail
    assert chisquare(observed, uniform).pvalue < 1e-3


def test_sampling_is_reproducible_and_greedy_is_argmax():
    logits = torch.randn(3, V)
    a = sampling.sample(logits, torch.Generator().manual_seed(1))
    b = sampling.sample(logits, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert torch.equal(sampling.greedy(logits), logits.argmax(-1))
