"""Every task's output equals transformers' pipeline on the same tiny random checkpoint: same structure,
keys, labels, spans, tokens and text; scores within 1e-4. Question answering, which transformers 5 no
longer ships, is checked against a brute-force reference over transformers' own logits and encodings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers as T

import cove
from tests.pipelines.conftest import CORPUS, assert_same, hf_pipeline

TEXTS = [
    "I love this movie, the acting was wonderful.",
    "John Smith lives in New York and works at Acme Corporation, unbelievably.",
    "Terribly slow.",
]


@pytest.fixture(scope="module")
def pipes(tiny):
    """(cove, transformers) pipelines per task, built once."""
    cache: dict[str, tuple] = {}

    def get(task: str, folder_key: str | None = None):
        key = folder_key or task
        if key not in cache:
            cache[key] = (cove.pipeline(task, tiny[key]), hf_pipeline(task, tiny[key]))
        return cache[key]

    return get


# --- text-classification ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"top_k": None},
        {"top_k": 1},
        {"top_k": 2},
        {"function_to_apply": "sigmoid"},
        {"function_to_apply": "none"},
    ],
)
def test_text_classification(pipes, params):
    ours, theirs = pipes("text-classification")
    for text in TEXTS:
        assert_same(ours(text, **params), theirs(text, **params))
    assert_same(ours(TEXTS, **params), theirs(TEXTS, **params))


def test_text_classification_pairs_and_defaults(pipes):
    ours, theirs = pipes("text-classification")
    pair = {"text": "I love this movie.", "text_pair": "The acting was wonderful."}
    assert_same(ours(pair), theirs(pair))
    assert_same(ours([pair, pair], top_k=None), theirs([pair, pair], top_k=None))
    for key in ("multi-label", "regression"):  # sigmoid / identity by default, as transformers picks
        ours, theirs = pipes("text-classification", key)
        assert_same(ours(TEXTS, top_k=None), theirs(TEXTS, top_k=None))
        assert_same(ours(TEXTS[0]), theirs(TEXTS[0]))


def test_text_classification_decoder(pipes):
    """A Llama classifier reads each row's last real token, also in right-padded batches."""
    ours, theirs = pipes("text-classification", "llama-classification")
    expected = [theirs(t, top_k=None) for t in TEXTS]
    assert_same([ours(t, top_k=None) for t in TEXTS], expected)
    assert_same(ours(TEXTS, top_k=None, batch_size=3), expected)


def test_sentiment_alias(tiny):
    pipe = cove.pipeline("sentiment-analysis", tiny["text-classification"])
    assert pipe.task == "text-classification"
    out = pipe(TEXTS[0])
    assert (
        isinstance(out, list)
        and set(out[0]) == {"label", "score"}
        and out[0]["label"] in {"POSITIVE", "NEGATIVE"}
    )


# --- feature-extraction ---------------------------------------------------------------------------------


def test_feature_extraction(pipes):
    ours, theirs = pipes("feature-extraction")
    for text in TEXTS:
        a, b = np.array(ours(text)), np.array(theirs(text))
        assert a.shape == b.shape and a.shape[0] == 1
        np.testing.assert_allclose(a, b, atol=1e-4)
    tensor = ours(TEXTS[0], return_tensors=True)
    assert isinstance(tensor, torch.Tensor) and tuple(tensor.shape) == np.array(theirs(TEXTS[0])).shape
    batch = ours(TEXTS, batch_size=3)
    for a, b in zip(batch, theirs(TEXTS), strict=True):
        np.testing.assert_allclose(np.array(a), np.array(b), atol=1e-4)


def test_feature_extraction_truncation(pipes):
    ours, theirs = pipes("feature-extraction")
    long = " ".join(CORPUS[:4])  # longer than the tokenizer's 64
    a = np.array(ours(long, truncation=True))
    b = np.array(theirs(long, truncation=True))
    assert a.shape == b.shape == (1, 64, 32)
    np.testing.assert_allclose(a, b, atol=1e-4)


# --- token-classification -------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["none", "simple", "first", "average", "max"])
def test_token_classification(pipes, strategy):
    ours, theirs = pipes("token-classification")
    for ignore in (None, []):
        for text in TEXTS:
            a = ours(text, aggregation_strategy=strategy, ignore_labels=ignore)
            b = theirs(text, aggregation_strategy=strategy, ignore_labels=ignore)
            assert_same(a, b)
        assert len(ours(TEXTS[1], aggregation_strategy=strategy, ignore_labels=[])) > 0


def test_ner_alias_and_stride(pipes, tiny):
    ours, theirs = pipes("token-classification")
    long = " ".join(CORPUS[:5])
    a = ours(long, aggregation_strategy="simple", stride=16, ignore_labels=[])
    b = theirs(long, aggregation_strategy="simple", stride=16, ignore_labels=[])
    assert_same(a, b)
    assert max(e["end"] for e in a) > 200  # the windows cover the text past the 64-token limit
    assert cove.pipeline("ner", tiny["token-classification"]).task == "token-classification"


# --- fill-mask -----------------------------------------------------------------------------------------


def test_fill_mask(pipes):
    ours, theirs = pipes("fill-mask")
    one = "The capital of [MASK] is Paris."
    two = "The [MASK] of France is [MASK]."
    assert_same(ours(one), theirs(one))
    assert_same(ours(one, top_k=3), theirs(one, top_k=3))
    assert_same(ours(two, top_k=2), theirs(two, top_k=2))
    assert_same(ours([one]), theirs([one]))
    assert_same(ours([one, two], top_k=2), theirs([one, two], top_k=2))
    targets = ["paris", "berlin", "france"]
    assert_same(ours(one, targets=targets), theirs(one, targets=targets))
    assert {r["token_str"] for r in ours(one, targets=["berlin", "france"])} <= {"berlin", "france"}


# --- zero-shot-classification --------------------------------------------------------------------------


@pytest.mark.parametrize("multi_label", [False, True])
def test_zero_shot(pipes, multi_label):
    ours, theirs = pipes("zero-shot-classification")
    labels = ["movies", "travel", "business"]
    for text in TEXTS:
        assert_same(
            ours(text, candidate_labels=labels, multi_label=multi_label),
            theirs(text, candidate_labels=labels, multi_label=multi_label),
        )
    template = "The topic is {}."
    assert_same(
        ours(TEXTS, "movies, travel", hypothesis_template=template),
        theirs(TEXTS, "movies, travel", hypothesis_template=template),
    )
    assert_same(ours(TEXTS[0], candidate_labels=["movies"]), theirs(TEXTS[0], candidate_labels=["movies"]))


# --- text-generation ---------------------------------------------------------------------------------


GREEDY = {"do_sample": False, "max_new_tokens": 6}
CHAT = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is the capital of France?"},
]


@pytest.mark.parametrize("key", ["text-generation", "gpt2"])
def test_text_generation_prompts(pipes, key):
    ours, theirs = pipes("text-generation", key)
    for params in (GREEDY, {**GREEDY, "return_full_text": False}, {**GREEDY, "return_tensors": True}):
        assert_same(ours(TEXTS[0], **params), theirs(TEXTS[0], **params))
    assert_same(ours(TEXTS, **GREEDY), theirs(TEXTS, **GREEDY))
    beams = {"do_sample": False, "max_new_tokens": 4, "num_beams": 3, "num_return_sequences": 2}
    assert_same(ours(TEXTS[2], **beams), theirs(TEXTS[2], **beams))
    options = {"do_sample": False, "max_new_tokens": 6, "repetition_penalty": 1.3, "no_repeat_ngram_size": 2}
    assert_same(ours(TEXTS[0], **options), theirs(TEXTS[0], **options))


def test_text_generation_chat(pipes):
    ours, theirs = pipes("text-generation")
    out = ours(CHAT, **GREEDY)
    assert_same(out, theirs(CHAT, **GREEDY))
    assert out[0]["generated_text"][:2] == CHAT and out[0]["generated_text"][2]["role"] == "assistant"
    assert_same(ours(CHAT, return_full_text=False, **GREEDY), theirs(CHAT, return_full_text=False, **GREEDY))
    prefill = [*CHAT, {"role": "assistant", "content": "The capital"}]
    assert_same(ours(prefill, **GREEDY), theirs(prefill, **GREEDY))
    chats = [CHAT, CHAT[1:]]
    assert_same(ours(chats, **GREEDY), theirs(chats, **GREEDY))


def test_text_generation_defaults_and_stream(pipes):
    ours, theirs = pipes("text-generation")
    # transformers' pipeline defaults (max_new_tokens=256, do_sample, temperature 0.7) unless set
    options = ours.sanitize()[1]
    assert options["max_new_tokens"] == 256 and options["do_sample"] is True and options["temperature"] == 0.7
    assert "temperature" not in ours.sanitize(do_sample=False)[1]
    assert "max_new_tokens" not in ours.sanitize(max_length=12)[1]
    full = ours(TEXTS[0], return_full_text=False, **GREEDY)[0]["generated_text"]
    chunks = list(ours.stream(TEXTS[0], **GREEDY))
    assert "".join(chunks) == full and len(chunks) > 1
    assert "".join(ours(TEXTS[0], stream=True, **GREEDY)) == full
    assert (
        "".join(ours.stream(CHAT, **GREEDY))
        == ours(CHAT, return_full_text=False, **GREEDY)[0]["generated_text"]
    )


def test_text_generation_sampling_is_seeded(pipes):
    ours, _ = pipes("text-generation")
    a = ours(TEXTS[0], max_new_tokens=8, seed=3)
    b = ours(TEXTS[0], max_new_tokens=8, seed=3)
    assert a == b and a[0]["generated_text"].startswith(TEXTS[0])


# --- question-answering ------------------------------------------------------------------------------


def reference_qa(folder, question, context, *, max_seq_len, doc_stride, top_k, max_answer_len, impossible):
    """Every admissible span of every window scored from transformers' logits, by brute force."""
    tok = T.AutoTokenizer.from_pretrained(folder)
    model = T.AutoModelForQuestionAnswering.from_pretrained(folder).eval()
    enc = tok(
        question,
        context,
        truncation="only_second",
        max_length=max_seq_len,
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    answers, null = [], 1e6
    for w in range(len(enc["input_ids"])):
        with torch.no_grad():
            out = model(
                input_ids=torch.tensor([enc["input_ids"][w]]),
                token_type_ids=torch.tensor([enc["token_type_ids"][w]]),
            )
        seq = enc.sequence_ids(w)
        ok = np.array([s == 1 for s in seq])
        ok[0] = True  # [CLS]: the empty answer
        probs = []
        for logits in (out.start_logits[0].numpy(), out.end_logits[0].numpy()):
            x = np.where(ok, logits, -10000.0)
            p = np.exp(x - x.max())
            probs.append(p / p.sum())
        start, end = probs
        null = min(null, float(start[0] * end[0]))
        for s in range(1, len(seq)):
            for e in range(s, min(len(seq), s + max_answer_len)):
                if ok[s] and ok[e]:
                    a = enc.word_to_chars(w, enc.token_to_word(w, s), sequence_index=1)[0]
                    b = enc.word_to_chars(w, enc.token_to_word(w, e), sequence_index=1)[1]
                    answers.append(
                        {"score": float(start[s] * end[e]), "start": a, "end": b, "answer": context[a:b]}
                    )
    if impossible:
        answers.append({"score": null, "start": 0, "end": 0, "answer": ""})
    answers = sorted(answers, key=lambda x: x["score"], reverse=True)[:top_k]
    return answers[0] if len(answers) == 1 else answers


@pytest.mark.parametrize(
    "options",
    [
        dict(max_seq_len=64, doc_stride=16, top_k=1, max_answer_len=15, impossible=False),
        dict(max_seq_len=32, doc_stride=8, top_k=3, max_answer_len=4, impossible=False),
        dict(max_seq_len=40, doc_stride=10, top_k=2, max_answer_len=6, impossible=True),
    ],
)
def test_question_answering(tiny, options):
    folder = tiny["question-answering"]
    pipe = cove.pipeline("question-answering", folder)
    question, context = "What is the capital of France?", " ".join(CORPUS[:6])
    ours = pipe(
        question=question,
        context=context,
        max_seq_len=options["max_seq_len"],
        doc_stride=options["doc_stride"],
        top_k=options["top_k"],
        max_answer_len=options["max_answer_len"],
        handle_impossible_answer=options["impossible"],
    )
    assert_same(ours, reference_qa(folder, question, context, **options))
    answers = ours if isinstance(ours, list) else [ours]
    assert all(context[a["start"] : a["end"]] == a["answer"] for a in answers)
    assert any(a["start"] > 150 for a in reference_qa(folder, question, context, **{**options, "top_k": 200}))


def test_question_answering_input_forms(tiny):
    pipe = cove.pipeline("question-answering", tiny["question-answering"])
    q, c = "Where does John live?", CORPUS[0]
    one = pipe(question=q, context=c)
    assert set(one) == {"score", "start", "end", "answer"} and one["answer"] == c[one["start"] : one["end"]]
    assert pipe({"question": q, "context": c}) == one
    assert pipe([{"question": q, "context": c}] * 2) == [one, one]
    assert pipe(question=[q, q], context=c) == [one, one]
