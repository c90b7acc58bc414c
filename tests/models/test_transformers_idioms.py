"""transformers' idioms, run twice: once with ``transformers`` and once with ``cove`` as the imported
module, on tiny random checkpoints transformers made and saved with a tokenizer, loaded by both.

Each ``idiom_*`` function is code as a transformers user writes it, against the module ``lib`` it is
given (``transformers`` or ``cove``: ``lib.AutoTokenizer``, ``lib.AutoModelFor...``); the tests call
it with both and compare what comes back. Tolerances (float32): outputs, losses, hidden states and
attention probabilities within 1e-4 at real tokens (padding positions are undefined in both libraries);
gradients within 1e-4 for every parameter.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import pytest
import torch
import transformers

import cove
from tests.models.reference import DECODERS, TINY, num_labels, primary, registry_pairs
from tests.pipelines.conftest import bpe_tokenizer, wordpiece_tokenizer

LIBS = {"transformers": transformers, "cove": cove}
ATOL = 1e-4
PAIRS = registry_pairs(encoder_decoders=False)  # encoder-decoders' idioms: tests/models/test_t5.py
HEADS = [(mt, task) for mt, task in PAIRS if task != "base"]
AUTO = {
    "base": "AutoModel",
    "masked-lm": "AutoModelForMaskedLM",
    "sequence-classification": "AutoModelForSequenceClassification",
    "token-classification": "AutoModelForTokenClassification",
    "question-answering": "AutoModelForQuestionAnswering",
    "causal-lm": "AutoModelForCausalLM",
}
TEXTS = ["The capital of France is Paris.", "I love this movie, the acting was wonderful and moving."]
#: config overrides that turn every dropout off (gradient checkpointing is compared in training mode)
NO_DROPOUT = {
    "bert": dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0),
    "roberta": dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0),
    "distilbert": dict(dropout=0.0, attention_dropout=0.0, seq_classif_dropout=0.0, qa_dropout=0.0),
    "gpt2": dict(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0),
}


@pytest.fixture(autouse=True)
def _quiet():
    transformers.logging.set_verbosity_error()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # transformers 5 renames a few of its own APIs
        yield


@functools.cache
def tokenizer(kind: str):
    return wordpiece_tokenizer() if kind == "wordpiece" else bpe_tokenizer()


def tokenizer_of(model_type: str):
    return tokenizer("bpe" if model_type in DECODERS else "wordpiece")


@functools.cache
def checkpoint(
    root: Path, model_type: str, task: str, labels: int | None = None, problem: str | None = None
) -> Path:
    """A tiny random transformers checkpoint of ``task`` with its tokenizer, saved once per session."""
    tok = tokenizer_of(model_type)
    config = TINY[model_type]()
    config.vocab_size = len(tok)
    config.num_labels = labels or num_labels(task)
    config.problem_type = problem
    torch.manual_seed(0)
    model = getattr(transformers, AUTO[task]).from_config(config).eval()
    folder = root / f"{model_type}-{task}-{labels}-{problem}"
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("idioms")


def load(lib, folder: Path, task: str, **options):
    return getattr(lib, AUTO[task]).from_pretrained(folder, **options).eval()


def encode(lib, folder: Path, *pair: list[str]):
    return lib.AutoTokenizer.from_pretrained(folder)(*(pair or (TEXTS,)), padding=True, return_tensors="pt")


def make_labels(task: str, inputs, config, *, kind: str = "single") -> dict[str, torch.Tensor]:
    """Labels as a user makes them for each head (and sequence-classification problem type)."""
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    g = torch.Generator().manual_seed(3)
    if task == "causal-lm":
        return {"labels": ids.masked_fill(mask == 0, -100)}
    if task == "masked-lm":
        labels = ids.masked_fill(mask == 0, -100)
        labels[:, ::3] = -100  # only some positions are "masked"
        return {"labels": labels}
    if task == "token-classification":
        labels = torch.randint(0, config.num_labels, ids.shape, generator=g).masked_fill(mask == 0, -100)
        labels[:, 0] = -100
        return {"labels": labels}
    if task == "question-answering":  # the second answer ends past the input: clamped and ignored
        return {"start_positions": torch.tensor([1, 3]), "end_positions": torch.tensor([2, 500])}
    n = config.num_labels
    if kind == "single":
        return {"labels": torch.tensor([0, n - 1])}
    if kind == "multi":
        return {"labels": torch.tensor([[1.0] + [0.0] * (n - 1), [0.0] + [1.0] * (n - 1)])}
    if n == 1:  # regression
        return {"labels": torch.tensor([0.5, -1.25])}
    return {"labels": torch.randn(2, n, generator=g)}


# --- comparisons -------------------------------------------------------------------------------


def assert_close(ours, theirs, mask: torch.Tensor | None = None, what: str = "out") -> None:
    """Tensors within ATOL (at real tokens when shaped (B, T, ...) like ``mask``), tuples element by
    element, caches by their length, other values equal."""
    if isinstance(theirs, tuple | list):
        assert isinstance(ours, tuple | list) and len(ours) == len(theirs), (
            f"{what}: {len(ours)} vs {len(theirs)}"
        )
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_close(a, b, mask, f"{what}[{i}]")
    elif isinstance(theirs, torch.Tensor):
        assert isinstance(ours, torch.Tensor) and ours.shape == theirs.shape, (
            f"{what}: {ours} vs {theirs.shape}"
        )
        if mask is not None and ours.ndim >= 2 and tuple(ours.shape[:2]) == tuple(mask.shape):
            ours, theirs = ours[mask.bool()], theirs[mask.bool()]
        torch.testing.assert_close(ours.detach(), theirs.detach(), atol=ATOL, rtol=0, msg=what)
    elif hasattr(theirs, "get_seq_length"):
        assert ours.get_seq_length() == theirs.get_seq_length(), what
    else:
        assert ours == theirs, f"{what}: {ours!r} vs {theirs!r}"


def both(idiom, *args, **kwargs):
    """(cove's result, transformers' result) of one idiom."""
    return idiom(cove, *args, **kwargs), idiom(transformers, *args, **kwargs)


# --- idioms ------------------------------------------------------------------------------------


def idiom_forward(lib, folder: Path, task: str):
    tok = lib.AutoTokenizer.from_pretrained(folder)
    model = load(lib, folder, task)
    inputs = tok(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**inputs)
    return primary(out, task), inputs["attention_mask"]


@pytest.mark.parametrize("model_type,task", PAIRS)
def test_model_of_tokenizer_output(root, model_type, task):
    """``model(**tok(texts, padding=True, return_tensors="pt")).logits`` (or the task's field)."""
    (ours, mask), (theirs, _) = both(idiom_forward, checkpoint(root, model_type, task), task)
    assert_close(ours, theirs, mask)


def idiom_pair_input(lib, folder: Path, task: str):
    inputs = encode(lib, folder, TEXTS, TEXTS[::-1])  # sentence pairs: token_type_ids of 0 and 1
    with torch.no_grad():
        return primary(load(lib, folder, task)(**inputs), task), inputs["attention_mask"]


@pytest.mark.parametrize("model_type", ["bert", "distilbert", "roberta"])
def test_sentence_pairs_with_token_type_ids(root, model_type):
    task = "sequence-classification"
    (ours, mask), (theirs, _) = both(idiom_pair_input, checkpoint(root, model_type, task), task)
    assert_close(ours, theirs, mask)


def idiom_token_types(lib, folder: Path, task: str):
    inputs = encode(lib, folder)
    types = (torch.arange(inputs["input_ids"].shape[1]) > 3).long().expand_as(inputs["input_ids"])
    with torch.no_grad():
        out = load(lib, folder, task)(**inputs, token_type_ids=types)
    return primary(out, task), inputs["attention_mask"]


@pytest.mark.parametrize("model_type", ["gpt2", "llama"])
def test_decoders_take_token_type_ids_as_transformers(root, model_type):
    """GPT-2 adds ``wte(token_type_ids)``; Llama accepts and ignores them, as transformers does."""
    task = "causal-lm"
    (ours, mask), (theirs, _) = both(idiom_token_types, checkpoint(root, model_type, task), task)
    assert_close(ours, theirs, mask)


def idiom_loss_and_grads(lib, folder: Path, task: str, kind: str = "single"):
    model = load(lib, folder, task)
    inputs = encode(lib, folder)
    out = model(**inputs, **make_labels(task, inputs, model.config, kind=kind))
    out.loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    return out.loss.detach(), grads, model.config.problem_type


def assert_same_loss_and_grads(ours, theirs) -> None:
    (loss, grads, problem), (ref_loss, ref_grads, ref_problem) = ours, theirs
    assert loss.ndim == 0 and torch.isfinite(loss)
    torch.testing.assert_close(loss, ref_loss, atol=ATOL, rtol=0)
    assert problem == ref_problem
    assert grads and set(grads) <= set(ref_grads), set(grads) - set(ref_grads)
    for name, grad in grads.items():
        torch.testing.assert_close(grad, ref_grads[name], atol=ATOL, rtol=0, msg=name)
    # what transformers has beyond Cove: tied copies (a decoder bias that is the head's bias) or zeros
    for name in set(ref_grads) - set(grads):
        assert name.endswith("decoder.bias") or not ref_grads[name].any(), name


@pytest.mark.parametrize("model_type,task", HEADS)
def test_loss_and_gradients(root, model_type, task):
    """``model(**batch, labels=y).loss.backward()``: the same loss and gradients (1e-4)."""
    assert_same_loss_and_grads(*both(idiom_loss_and_grads, checkpoint(root, model_type, task), task))


@pytest.mark.parametrize("model_type", sorted(mt for mt, task in PAIRS if task == "sequence-classification"))
@pytest.mark.parametrize(
    "kind,labels,problem",
    [
        ("single", None, None),  # int64 labels: single_label_classification inferred
        ("multi", None, None),  # float multi-hot labels: multi_label_classification inferred
        ("regression", 1, None),  # one label: regression inferred
        ("regression", None, "regression"),  # regression over 3 outputs, from config.json
        ("multi", None, "multi_label_classification"),
        ("single", None, "single_label_classification"),
    ],
)
def test_sequence_classification_problem_types(root, model_type, kind, labels, problem):
    """Every problem type, inferred as transformers infers it or read from config.json; the inferred
    type is written back to the config in both libraries."""
    task = "sequence-classification"
    folder = checkpoint(root, model_type, task, labels, problem)
    assert_same_loss_and_grads(*both(idiom_loss_and_grads, folder, task, kind))


def idiom_hidden_states(lib, folder: Path, task: str):
    inputs = encode(lib, folder)
    with torch.no_grad():
        out = load(lib, folder, task)(**inputs, output_hidden_states=True)
    return out.hidden_states, inputs["attention_mask"]


@pytest.mark.parametrize("model_type,task", PAIRS)
def test_output_hidden_states(root, model_type, task):
    (ours, mask), (theirs, _) = both(idiom_hidden_states, checkpoint(root, model_type, task), task)
    assert len(ours) == TINY[model_type]().num_hidden_layers + 1
    assert_close(ours, theirs, mask, "hidden_states")


def idiom_attentions(lib, folder: Path, task: str):
    inputs = encode(lib, folder)
    model = load(lib, folder, task, attn_implementation="eager")  # transformers needs eager for them
    with torch.no_grad():
        out = model(**inputs, output_attentions=True)
    return out.attentions, inputs["attention_mask"]


@pytest.mark.parametrize("model_type,task", PAIRS)
def test_output_attentions(root, model_type, task):
    (ours, mask), (theirs, _) = both(idiom_attentions, checkpoint(root, model_type, task), task)
    assert len(ours) == len(theirs) == TINY[model_type]().num_hidden_layers
    for layer, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a.shape == b.shape, (a.shape, b.shape)
        for row in range(mask.shape[0]):  # every head, the real query rows, all keys
            real = mask[row].bool()
            torch.testing.assert_close(
                a[row][:, real], b[row][:, real], atol=ATOL, rtol=0, msg=f"layer {layer}"
            )
    # Cove gives them without asking for eager attention too
    plain = load(cove, checkpoint(root, model_type, task), task)
    with torch.no_grad():
        default = plain(**encode(cove, checkpoint(root, model_type, task)), output_attentions=True).attentions
    assert all(torch.equal(a, b) for a, b in zip(ours, default, strict=True))


def idiom_tuple(lib, folder: Path, task: str, labelled: bool):
    model = load(lib, folder, task)
    inputs = encode(lib, folder)
    labels = make_labels(task, inputs, model.config) if labelled else {}
    with torch.no_grad():
        return model(**inputs, **labels, return_dict=False), inputs["attention_mask"]


@pytest.mark.parametrize("model_type,task", PAIRS)
def test_return_dict_false(root, model_type, task):
    """A tuple of the set fields; with labels the loss comes first."""
    for labelled in (False, True) if task != "base" else (False,):
        (ours, mask), (theirs, _) = both(idiom_tuple, checkpoint(root, model_type, task), task, labelled)
        assert type(ours) is tuple
        assert_close(ours, theirs, mask, "tuple")
        if labelled:
            assert ours[0].ndim == 0  # the loss


def idiom_access(lib, folder: Path, task: str):
    model = load(lib, folder, task)
    inputs = encode(lib, folder)
    labels = make_labels(task, inputs, model.config) if task != "base" else {}
    with torch.no_grad():
        out = model(**inputs, **labels)
    key = {"base": "last_hidden_state", "question-answering": "start_logits"}.get(task, "logits")
    return {
        "keys": list(out.keys()),
        "first": out[0],
        "last": out[-1],
        "slice": out[:2],
        "by_key": out[key],
        "attribute": getattr(out, key),
        "to_tuple": len(out.to_tuple()),
        "contains loss": "loss" in out,
        "unset is None": out.hidden_states is None and out.attentions is None,
        "get": out.get("hidden_states", "absent"),
        "items": [k for k, _ in out.items()],
        "is a dict": isinstance(out, dict),
    }, inputs["attention_mask"]


@pytest.mark.parametrize("model_type,task", PAIRS)
def test_indexing_and_dict_access(root, model_type, task):
    (ours, mask), (theirs, _) = both(idiom_access, checkpoint(root, model_type, task), task)
    assert ours.keys() == theirs.keys()
    for key in theirs:
        assert_close(ours[key], theirs[key], mask, key)


def idiom_num_parameters(lib, folder: Path, task: str):
    model = load(lib, folder, task)
    counts = [model.num_parameters(only_trainable=t, exclude_embeddings=e) for t in (0, 1) for e in (0, 1)]
    model.get_input_embeddings().weight.requires_grad_(False)
    return [*counts, model.num_parameters(only_trainable=True), model.num_parameters()]


@pytest.mark.parametrize("model_type,task", PAIRS)
def test_num_parameters(root, model_type, task):
    ours, theirs = both(idiom_num_parameters, checkpoint(root, model_type, task), task)
    assert ours == theirs


def idiom_resize(lib, folder: Path, task: str, **options):
    model = load(lib, folder, task)
    inputs = encode(lib, folder)
    old = model.config.vocab_size
    torch.manual_seed(0)  # new rows are drawn around the old rows' mean: the same draws in both
    embedding = model.resize_token_embeddings(old + 5, **options)
    new = model.config.vocab_size
    with torch.no_grad():
        out = primary(model(**inputs), task)  # old tokens; an LM head has logits for the new ones
        inputs["input_ids"][:, 1] = new - 1  # a token that did not exist before
        with_new = primary(model(**inputs), task)
    head = model.get_output_embeddings()
    tied = head is not None and head.weight is embedding.weight
    return (tuple(embedding.weight.shape), new, tied, embedding.weight.detach(), out), with_new, inputs


@pytest.mark.parametrize("model_type,task", PAIRS)
@pytest.mark.parametrize(
    "options", [{}, {"pad_to_multiple_of": 8}, {"mean_resizing": False}], ids=["mean", "multiple", "normal"]
)
def test_resize_token_embeddings_then_forward(root, model_type, task, options):
    """Old rows kept, new rows as transformers draws them, ties kept, config updated; a forward over
    the old tokens equal within 1e-4.

    With mean resizing (the default) a new row is the old rows' mean plus a draw of ~3e-5 of their
    spread, which the two libraries' covariances (summed in another order) move by ~2e-6: the rows
    agree within 1e-5, but a norm over that near-constant row magnifies the difference, so a forward
    over the new token is only checked to run. With ``mean_resizing=False`` new rows are random
    normal(0, initializer_range) draws in both (not the same draws)."""
    (ours, with_new, inputs), (theirs, _, _) = both(
        idiom_resize, checkpoint(root, model_type, task), task, **options
    )
    mask = inputs["attention_mask"]
    assert_close(ours[:3], theirs[:3], mask, "resized")
    old = len(tokenizer_of(model_type))  # the checkpoints' vocabulary
    torch.testing.assert_close(ours[3][:old], theirs[3][:old], atol=0, rtol=0)
    if options.get("mean_resizing", True):
        torch.testing.assert_close(ours[3][old:], theirs[3][old:], atol=1e-5, rtol=0)
    else:
        assert abs(ours[3][old:].std().item() - 0.02) < 0.006
    lm = task in ("masked-lm", "causal-lm")
    if options.get("mean_resizing", True) or not lm:
        assert_close(ours[4], theirs[4], mask, "forward over old tokens")
    else:  # the logits of new tokens are products with random rows
        assert_close(ours[4][..., :old], theirs[4][..., :old], mask, "forward over old tokens")
    assert torch.isfinite(with_new).all()


def idiom_checkpointing(lib, folder: Path, task: str, model_type: str, enable: bool, dropout: bool):
    options = {} if dropout else NO_DROPOUT.get(model_type, {})
    model = load(lib, folder, task, **options)
    if enable:
        model.gradient_checkpointing_enable()
    model.train()
    inputs = encode(lib, folder)
    labels = make_labels(task, inputs, model.config) if task != "base" else {}
    calls = []
    layer = next(m for name, m in model.named_modules() if name.endswith(("layer.0", "h.0", "layers.0")))
    forward = layer.forward  # counted (torch replays forward, not the module's hooks, on recomputing)
    layer.forward = lambda *args, **kwargs: calls.append(1) or forward(*args, **kwargs)
    torch.manual_seed(7)  # the same dropout draws with and without checkpointing
    out = model(**inputs, **labels)
    loss = (
        out.loss if task != "base" else out.last_hidden_state[inputs["attention_mask"].bool()].square().mean()
    )
    loss.backward()
    del layer.forward
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    return loss.detach(), grads, len(calls)


@pytest.mark.parametrize("model_type,task", PAIRS)
def test_gradient_checkpointing_gives_the_same_gradients(root, model_type, task):
    folder = checkpoint(root, model_type, task)
    ours, theirs = both(idiom_checkpointing, folder, task, model_type, True, False)
    (loss, grads, calls), (ref_loss, ref_grads, _) = ours, theirs
    assert calls == 2  # the layer ran again in the backward pass: it was checkpointed
    torch.testing.assert_close(loss, ref_loss, atol=ATOL, rtol=0)
    for name, grad in grads.items():
        torch.testing.assert_close(grad, ref_grads[name], atol=ATOL, rtol=0, msg=name)
    # and against Cove without checkpointing, dropout on: the recomputation replays the same draws
    plain = idiom_checkpointing(cove, folder, task, model_type, False, True)
    checkpointed = idiom_checkpointing(cove, folder, task, model_type, True, True)
    assert plain[2] == 1 and checkpointed[2] == 2
    torch.testing.assert_close(checkpointed[0], plain[0], atol=1e-6, rtol=0)
    assert plain[1].keys() == checkpointed[1].keys()
    for name, grad in plain[1].items():
        torch.testing.assert_close(checkpointed[1][name], grad, atol=1e-6, rtol=0, msg=name)


def idiom_loading_options(lib, folder: Path, task: str):
    seen = []
    for options in (
        {"dtype": torch.bfloat16},
        {"torch_dtype": "bfloat16"},
        {"dtype": "auto"},
        {"device_map": "cpu"},
        {"device_map": "auto"},
        {"device_map": {"": "cpu"}},
        {"output_hidden_states": True},  # a config field, as a keyword
    ):
        model = load(lib, folder, task, **options)
        p = next(model.parameters())
        seen.append((str(p.dtype), p.device.type, bool(model.config.output_hidden_states)))
    return seen


@pytest.mark.parametrize("model_type", ["bert", "llama"])
def test_from_pretrained_dtype_and_device_map(root, model_type):
    task = "base"
    ours, theirs = both(idiom_loading_options, checkpoint(root, model_type, task), task)
    assert ours == theirs


def idiom_past_key_values(lib, folder: Path, task: str):
    model = load(lib, folder, task)
    ids = lib.AutoTokenizer.from_pretrained(folder)(TEXTS[1], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        full = model(ids).logits
        first = model(ids[:, :-3], use_cache=True)
        past = first.past_key_values
        length = past.get_seq_length()
        step = model(ids[:, -3:-1], past_key_values=past)  # two tokens, then one
        last = model(ids[:, -1:], past_key_values=step.past_key_values)
    return full, torch.cat((first.logits, step.logits, last.logits), dim=1), length


@pytest.mark.parametrize("model_type", sorted(DECODERS))
def test_decoding_with_past_key_values(root, model_type):
    ours, theirs = both(idiom_past_key_values, checkpoint(root, model_type, "causal-lm"), "causal-lm")
    assert_close(ours, theirs)
    assert_close(ours[1], ours[0])  # incremental equals the full forward


# --- bad input: errors that name the argument and say what to pass ------------------------------


def cove_model(root, model_type: str, task: str, **options):
    folder = checkpoint(root, model_type, task)
    return load(cove, folder, task, **options), encode(cove, folder)


@pytest.mark.parametrize(
    "task,labels,error,match",
    [
        ("sequence-classification", torch.tensor([0, 1, 2]), ValueError, r"labels has shape \(3,\)"),
        ("sequence-classification", torch.tensor([0, 1], dtype=torch.int32), TypeError, "labels.long()"),
        ("sequence-classification", torch.tensor([0.0, 1.0]), ValueError, "multi_label_classification needs"),
        ("sequence-classification", [0, 1], TypeError, "labels must be a torch.Tensor"),
        ("token-classification", torch.zeros(2, 3, dtype=torch.long), ValueError, "labels has shape"),
        ("token-classification", "float", TypeError, "int64 class ids"),
        ("masked-lm", torch.zeros(3, dtype=torch.long), ValueError, "labels has shape"),
        ("causal-lm", "short", ValueError, "shaped like input_ids"),
    ],
)
def test_bad_labels_are_clear_errors(root, task, labels, error, match):
    model_type = "gpt2" if task == "causal-lm" else "bert"
    model, inputs = cove_model(root, model_type, task)
    if isinstance(labels, str):
        ids = inputs["input_ids"]
        labels = ids[:, :-1] if labels == "short" else ids.float()
    with pytest.raises(error, match=match):
        model(**inputs, labels=labels)


def test_regression_labels_of_the_wrong_shape_are_refused(root):
    """transformers broadcasts them with a warning (a wrong loss); Cove refuses."""
    folder = checkpoint(root, "bert", "sequence-classification", 1)
    model, inputs = load(cove, folder, "sequence-classification"), encode(cove, folder)
    with pytest.raises(ValueError, match=r"one value per row: \(2,\)"):
        model(**inputs, labels=torch.ones(2, 2))


def test_unknown_problem_type(root):
    model, inputs = cove_model(root, "bert", "sequence-classification", problem_type="ordinal")
    with pytest.raises(ValueError, match="problem_type 'ordinal' is not one of regression"):
        model(**inputs, labels=torch.tensor([0, 1]))


def test_question_answering_needs_both_positions(root):
    model, inputs = cove_model(root, "bert", "question-answering")
    with pytest.raises(ValueError, match="both start_positions and end_positions"):
        model(**inputs, start_positions=torch.tensor([1, 2]))
    with pytest.raises(TypeError, match="end_positions must hold int64"):
        model(**inputs, start_positions=torch.tensor([1, 2]), end_positions=torch.tensor([1.0, 2.0]))


def test_a_wrong_problem_type_is_not_kept(root):
    """A refused batch does not decide the problem type (transformers stores it before failing)."""
    model, inputs = cove_model(root, "bert", "sequence-classification")
    with pytest.raises(ValueError):
        model(**inputs, labels=torch.tensor([0.0, 1.0]))
    assert model.config.problem_type is None
    model(**inputs, labels=torch.tensor([0, 1]))
    assert model.config.problem_type == "single_label_classification"


def test_unknown_arguments_and_options_are_refused(root):
    model, inputs = cove_model(root, "llama", "causal-lm")
    with pytest.raises(TypeError, match="inputs_embeds"):
        model(**inputs, inputs_embeds=torch.zeros(2, 3, 32))
    with pytest.raises(TypeError, match="not both"):
        model(**inputs, cache=model.make_cache(2, 32), past_key_values=model.make_cache(2, 32))
    folder = checkpoint(root, "llama", "causal-lm")
    with pytest.raises(ValueError, match="one device"):
        load(cove, folder, "causal-lm", device_map={"model.layers.0": "cpu", "lm_head": "cpu"})
    with pytest.raises(ValueError, match="flash_attention_2"):
        load(cove, folder, "causal-lm", attn_implementation="flash_attention_2")
    with pytest.raises(TypeError, match="dtype or torch_dtype"):
        load(cove, folder, "causal-lm", dtype="float32", torch_dtype="float32")
