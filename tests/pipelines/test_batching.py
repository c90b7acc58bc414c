"""Lists, generators and batch_size give, input by input, what one-by-one calls give (padding in a
batch changes nothing beyond float noise, and the order of outputs is the order of inputs)."""

from __future__ import annotations

import types

import pytest

import cove
from tests.pipelines.conftest import CORPUS, assert_same

TEXTS = [CORPUS[0], "Slow.", CORPUS[6], "I love it", CORPUS[1] + " " + CORPUS[4]]  # lengths vary

CASES = {
    "text-classification": (TEXTS, {"top_k": None}),
    "feature-extraction": (TEXTS, {}),
    "token-classification": (TEXTS, {"aggregation_strategy": "simple", "ignore_labels": []}),
    "fill-mask": ([t.replace(" the ", " [MASK] ", 1) + " [MASK]" for t in TEXTS], {"top_k": 2}),
    "zero-shot-classification": (TEXTS, {"candidate_labels": ["movies", "travel", "business"]}),
    "question-answering": ([{"question": "Who lives there?", "context": t} for t in TEXTS], {"top_k": 2}),
    "text-generation": (TEXTS, {"do_sample": False, "max_new_tokens": 5}),
}


@pytest.mark.parametrize("task", sorted(CASES))
def test_batches_equal_one_by_one(tiny, task):
    inputs, params = CASES[task]
    pipe = cove.pipeline(task, tiny[task])
    one_by_one = [pipe(x, **params) for x in inputs]
    assert_same(pipe(inputs, batch_size=3, **params), one_by_one)
    assert_same(pipe(inputs, **params), one_by_one)
    lazy = pipe((x for x in inputs), batch_size=2, **params)
    assert not isinstance(lazy, list) and hasattr(lazy, "__next__")
    assert_same(list(lazy), one_by_one)
    batched = cove.pipeline(task, tiny[task], batch_size=4, **params)
    assert_same(batched(inputs), one_by_one)


def test_generator_is_lazy(tiny):
    pipe = cove.pipeline("text-classification", tiny["text-classification"])
    seen = []

    def source():
        for t in TEXTS:
            seen.append(t)
            yield t

    out = pipe(source(), batch_size=2)
    assert isinstance(out, types.GeneratorType) and seen == []
    first = next(out)
    assert seen == TEXTS[:2]
    assert_same(first, pipe(TEXTS[0])[0])
    assert len(list(out)) == len(TEXTS) - 1


def test_sentence_similarity_batches(tiny):
    pipe = cove.pipeline("sentence-similarity", tiny["feature-extraction"])
    query = {"source_sentence": TEXTS[0], "sentences": TEXTS[1:]}
    alone = [pipe({"source_sentence": TEXTS[0], "sentences": [t]})[0] for t in TEXTS[1:]]
    assert_same(pipe(query), alone)
    assert_same(pipe([query, query], batch_size=8), [alone, alone])
