"""transformers' tutorial idioms, run twice: once with ``transformers`` (and ``datasets``) as the imported
modules, once with ``cove`` in their place, and compared. The code of each idiom is written once, against
a module ``T`` (``import transformers as T`` / ``import cove as T``) and ``D`` (the datasets library), so a
team that changes the import changes nothing else.

Both sides load the same tiny random checkpoints (2 layers, hidden 32, no dropout) and the same
tokenizer.json from a folder that transformers wrote.
"""

from __future__ import annotations

import importlib
import random

import numpy as np
import pytest
import torch

import cove

WORDS = (
    "the a movie film was is great good bad awful plot acting loved hated boring fun and but not very "
    "really i it this story ending music"
).split()
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
REVIEWS = [
    ("i loved this movie", 1),
    ("the plot was boring", 0),
    ("really great acting and a fun story", 1),
    ("awful", 0),
    ("not good", 0),
    ("the music was very good but the ending was bad", 1),
    ("i hated it", 0),
    ("a great film", 1),
]
HYPER = dict(
    learning_rate=1e-2,
    per_device_train_batch_size=len(REVIEWS),  # one batch per epoch: the samplers' orders cannot differ
    per_device_eval_batch_size=4,
    num_train_epochs=6,
    weight_decay=0.01,
    warmup_steps=1,
    logging_steps=1,
    eval_strategy="epoch",
    save_strategy="epoch",
    seed=11,
    report_to="none",
    disable_tqdm=True,
)


def libraries(name: str):
    """(T, D): the modules a tutorial imports."""
    if name == "cove":
        return cove, cove
    return importlib.import_module("transformers"), importlib.import_module("datasets")


@pytest.fixture(scope="module")
def tokenizer_folder(tmp_path_factory):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(SPECIALS + WORDS)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    folder = tmp_path_factory.mktemp("tokenizer")
    PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    ).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def bert_folder(tokenizer_folder, tmp_path_factory):
    """A tiny random BERT classifier next to the tokenizer, written by transformers."""
    import transformers

    config = transformers.BertConfig(
        vocab_size=len(SPECIALS) + len(WORDS),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        num_labels=2,
    )
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("bert")
    transformers.BertForSequenceClassification(config).save_pretrained(folder)
    for f in tokenizer_folder.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    return folder


# --- fine-tuning: Trainer + DataCollatorWithPadding + compute_metrics ---------------------------


def fine_tune(T, D, folder, output_dir) -> tuple[list[dict], dict, object]:
    """The text-classification tutorial, as written for transformers."""
    tokenizer = T.AutoTokenizer.from_pretrained(folder)
    model = T.AutoModelForSequenceClassification.from_pretrained(folder)
    data = D.Dataset.from_dict({"text": [t for t, _ in REVIEWS], "label": [y for _, y in REVIEWS]})

    def preprocess(examples):
        return tokenizer(examples["text"], truncation=True)

    tokenized = data.map(preprocess, batched=True)
    data_collator = T.DataCollatorWithPadding(tokenizer=tokenizer)

    def compute_metrics(eval_pred):
        logits, labels = eval_pred
        predictions = np.argmax(logits, axis=-1)
        return {"accuracy": float((predictions == labels).mean())}

    trainer = T.Trainer(
        model=model,
        args=T.TrainingArguments(output_dir=str(output_dir), **HYPER),
        train_dataset=tokenized,
        eval_dataset=tokenized,
        processing_class=tokenizer,
        data_collator=data_collator,
        compute_metrics=compute_metrics,
    )
    trainer.train()
    return trainer.state.log_history, trainer.evaluate(), trainer


def test_fine_tuning_tutorial_matches_transformers(bert_folder, tmp_path):
    theirs, their_eval, _ = fine_tune(*libraries("transformers"), bert_folder, tmp_path / "hf")
    ours, our_eval, trainer = fine_tune(*libraries("cove"), bert_folder, tmp_path / "cove")

    def series(log, key):
        return [e[key] for e in log if key in e]

    for key in ("loss", "grad_norm", "learning_rate", "eval_loss", "eval_accuracy"):
        assert len(series(ours, key)) == len(series(theirs, key)) > 0, key
        np.testing.assert_allclose(series(ours, key), series(theirs, key), rtol=1e-4, atol=1e-4, err_msg=key)
    assert series(ours, "loss")[-1] < series(ours, "loss")[0]
    for key in ("eval_loss", "eval_accuracy"):
        assert our_eval[key] == pytest.approx(their_eval[key], abs=1e-4)
    # the tokenizer travels with the model, in every checkpoint and in save_model
    trainer.save_model()
    for folder in (tmp_path / "cove" / "checkpoint-6", tmp_path / "cove"):
        assert {"tokenizer.json", "tokenizer_config.json", "config.json", "model.safetensors"} <= {
            p.name for p in folder.iterdir()
        }
    saved, original = (cove.AutoTokenizer.from_pretrained(f) for f in (tmp_path / "cove", bert_folder))
    assert saved("a great film")["input_ids"] == original("a great film")["input_ids"]


def test_trainer_pads_with_the_tokenizer_by_default(bert_folder, tmp_path):
    """No data_collator but a processing_class (or the older tokenizer=): dynamic padding, as transformers."""
    tokenizer = cove.AutoTokenizer.from_pretrained(bert_folder)
    rows = [{**tokenizer(t), "label": y} for t, y in REVIEWS]  # ragged: a stacking collator would fail
    for kwargs in ({"processing_class": tokenizer}, {"tokenizer": tokenizer}):
        trainer = cove.Trainer(
            model=cove.AutoModelForSequenceClassification.from_pretrained(bert_folder),
            args=cove.TrainingArguments(str(tmp_path), max_steps=1, save_strategy="no", disable_tqdm=True),
            train_dataset=rows,
            **kwargs,
        )
        assert isinstance(trainer.data_collator, cove.DataCollatorWithPadding)
        assert trainer.processing_class is tokenizer and trainer.tokenizer is tokenizer
        trainer.train()


def test_manual_pytorch_loop_tutorial(bert_folder):
    """``outputs = model(**batch); outputs.loss.backward()``: the "train in native PyTorch" tutorial."""
    losses = {}
    for name in ("transformers", "cove"):
        T, _ = libraries(name)
        tokenizer = T.AutoTokenizer.from_pretrained(bert_folder)
        model = T.AutoModelForSequenceClassification.from_pretrained(bert_folder)
        collator = T.DataCollatorWithPadding(tokenizer)
        batch = collator([{**tokenizer(t), "labels": y} for t, y in REVIEWS])
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        model.train()
        losses[name] = []
        for _ in range(3):
            outputs = model(**batch)
            outputs.loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses[name].append(outputs.loss.item())
    np.testing.assert_allclose(losses["cove"], losses["transformers"], rtol=0, atol=1e-4)


# --- collation -----------------------------------------------------------------------------------


def assert_same_batch(ours: dict, theirs) -> None:
    theirs = dict(theirs)
    assert list(ours) == list(theirs)
    for key, value in theirs.items():
        assert ours[key].dtype == value.dtype, key
        assert torch.equal(ours[key], value), key


def test_causal_lm_collation(tokenizer_folder):
    batches = []
    for name in ("transformers", "cove"):
        T, _ = libraries(name)
        tokenizer = T.AutoTokenizer.from_pretrained(tokenizer_folder)
        examples = [tokenizer(text) for text, _ in REVIEWS]
        data_collator = T.DataCollatorForLanguageModeling(tokenizer=tokenizer, mlm=False)
        batches.append(
            (data_collator(examples), T.DataCollatorForLanguageModeling(tokenizer, mlm=False, pad_to_multiple_of=8)(
                [e["input_ids"] for e in examples]  # lists of ids, not dicts
            ))
        )
    (theirs, their_ids), (ours, our_ids) = batches
    assert_same_batch(ours, theirs)
    assert_same_batch(our_ids, their_ids)
    assert (ours["labels"] == -100).sum() == (ours["attention_mask"] == 0).sum() > 0


def masked_batches(name: str, tokenizer_folder, *, seed: int | None, special_mask: bool, n: int = 8):
    T, _ = libraries(name)
    tokenizer = T.AutoTokenizer.from_pretrained(tokenizer_folder)
    rng = random.Random(3)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 40))) for _ in range(n)]
    examples = [tokenizer(t, return_special_tokens_mask=special_mask) for t in texts]
    data_collator = T.DataCollatorForLanguageModeling(tokenizer=tokenizer, mlm_probability=0.15, seed=seed)
    T.set_seed(1234)  # without a seed the collator draws from torch's global RNG
    return [data_collator(examples) for _ in range(3)]  # successive draws too


@pytest.mark.parametrize(("seed", "special_mask"), [(None, False), (7, False), (None, True)])
def test_masked_lm_collation_masks_the_same_positions(tokenizer_folder, seed, special_mask):
    theirs = masked_batches("transformers", tokenizer_folder, seed=seed, special_mask=special_mask)
    ours = masked_batches("cove", tokenizer_folder, seed=seed, special_mask=special_mask)
    for a, b in zip(ours, theirs):
        assert_same_batch(a, b)
    assert not torch.equal(ours[0]["labels"], ours[1]["labels"])


def test_masked_lm_split_is_80_10_10(tokenizer_folder):
    tokenizer = cove.AutoTokenizer.from_pretrained(tokenizer_folder)
    original = torch.randint(len(SPECIALS), len(SPECIALS) + len(WORDS), (64, 512), generator=torch.Generator().manual_seed(0))
    original[:, 0], original[:, -1] = 2, 3  # [CLS] ... [SEP]
    batch = cove.DataCollatorForLanguageModeling(tokenizer, seed=0)([{"input_ids": r.tolist()} for r in original])
    chosen = batch["labels"] != -100
    assert chosen.float().mean().item() == pytest.approx(0.15 * 510 / 512, abs=0.005)
    assert not chosen[:, 0].any() and not chosen[:, -1].any()  # special tokens are never chosen
    assert torch.equal(batch["labels"][chosen], original[chosen])
    assert torch.equal(batch["input_ids"][~chosen], original[~chosen])
    masked = (batch["input_ids"] == tokenizer.mask_token_id) & chosen
    changed = (batch["input_ids"] != original) & ~masked & chosen
    kept = (batch["input_ids"] == original) & chosen
    total = chosen.sum().item()
    assert masked.sum().item() / total == pytest.approx(0.8, abs=0.02)
    assert (changed | kept).sum().item() / total == pytest.approx(0.2, abs=0.02)
    # kept = the 10% left alone + random draws that hit the same id (1 in the vocabulary's size)
    assert kept.sum().item() / total == pytest.approx(0.1 + 0.1 / len(tokenizer), abs=0.015)


def token_classification_batch(name, tokenizer_folder, **options):
    T, _ = libraries(name)
    tokenizer = T.AutoTokenizer.from_pretrained(tokenizer_folder)
    tokenizer.padding_side = options.pop("side", "right")
    examples = []
    for text, _ in REVIEWS:
        enc = tokenizer(text.split(), is_split_into_words=True)
        labels = [-100 if i in (2, 3) else i % 3 for i in enc["input_ids"]]  # one tag per token
        examples.append({**enc, "labels": labels})
    data_collator = T.DataCollatorForTokenClassification(tokenizer=tokenizer, **options)
    return data_collator(examples)


@pytest.mark.parametrize(
    "options",
    [{}, {"pad_to_multiple_of": 8}, {"padding": "max_length", "max_length": 16}, {"side": "left", "label_pad_token_id": -1}],
)
def test_token_classification_collation(tokenizer_folder, options):
    theirs = token_classification_batch("transformers", tokenizer_folder, **dict(options))
    ours = token_classification_batch("cove", tokenizer_folder, **dict(options))
    assert_same_batch(ours, theirs)


def seq2seq_batch(name, tokenizer_folder, model, **options):
    T, _ = libraries(name)
    tokenizer = T.AutoTokenizer.from_pretrained(tokenizer_folder)
    examples = []
    for text, label in REVIEWS:
        enc = tokenizer(text)
        enc["labels"] = tokenizer("good" if label else "bad")["input_ids"] + [3] * len(text.split()[:3])
        examples.append(enc)
    data_collator = T.DataCollatorForSeq2Seq(tokenizer=tokenizer, model=model, **options)
    return data_collator(examples)


@pytest.mark.parametrize(
    "options", [{}, {"pad_to_multiple_of": 8}, {"padding": "max_length", "max_length": 16}]
)
def test_seq2seq_collation_with_decoder_inputs(tokenizer_folder, options):
    import transformers

    config = transformers.T5Config(
        vocab_size=len(SPECIALS) + len(WORDS), d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2,
        pad_token_id=0, decoder_start_token_id=0,
    )  # fmt: skip
    model = transformers.T5ForConditionalGeneration(config)  # Cove has no seq2seq model: the same one for both
    theirs = seq2seq_batch("transformers", tokenizer_folder, model, **options)
    ours = seq2seq_batch("cove", tokenizer_folder, model, **options)
    assert "decoder_input_ids" in ours
    assert_same_batch(ours, theirs)
    no_model = seq2seq_batch("cove", tokenizer_folder, None, **options)
    assert_same_batch(no_model, {k: v for k, v in theirs.items() if k != "decoder_input_ids"})


# --- small pieces ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["transformers", "cove"])
def test_eval_prediction_unpacks(name):
    T, _ = libraries(name)
    logits, labels = np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 1])
    eval_pred = T.EvalPrediction(predictions=logits, label_ids=labels)
    got_logits, got_labels = eval_pred
    assert got_logits is logits and got_labels is labels
    assert eval_pred.predictions is logits and eval_pred.label_ids is labels
    assert eval_pred[0] is logits and eval_pred[1] is labels
    with pytest.raises(IndexError):
        eval_pred[2]
    inputs = np.array([[5, 6], [7, 8]])
    assert len(tuple(T.EvalPrediction(logits, labels, inputs=inputs))) == 3


def test_set_seed_draws_what_transformers_draws():
    draws = []
    for name in ("transformers", "cove"):
        T, _ = libraries(name)
        T.set_seed(2024)
        draws.append((random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist()))
    assert draws[0] == draws[1]


def test_text_streamer_prints_what_transformers_prints(tokenizer_folder, capsys):
    printed = []
    for name in ("transformers", "cove"):
        T, _ = libraries(name)
        tokenizer = T.AutoTokenizer.from_pretrained(tokenizer_folder)
        prompt = tokenizer("the movie", return_tensors="pt")["input_ids"]
        streamer = T.TextStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        streamer.put(prompt)
        for token in tokenizer("was really great fun but the ending was bad")["input_ids"]:
            streamer.put(torch.tensor([token]))
        streamer.end()
        printed.append(capsys.readouterr().out)
    assert printed[0] == printed[1] == "was really great fun but the ending was bad\n"


def test_generation_config_and_greedy_generate(tokenizer_folder, tmp_path):
    import transformers

    config = transformers.GPT2Config(
        vocab_size=len(SPECIALS) + len(WORDS), n_embd=32, n_layer=2, n_head=2, n_positions=64,
        bos_token_id=2, eos_token_id=3, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )  # fmt: skip
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(config).save_pretrained(tmp_path)
    outputs = []
    for name in ("transformers", "cove"):
        T, _ = libraries(name)
        model = T.AutoModelForCausalLM.from_pretrained(tmp_path)
        generation_config = T.GenerationConfig(max_new_tokens=6, do_sample=False, pad_token_id=0, eos_token_id=None)
        outputs.append(model.generate(torch.tensor([[2, 5, 7]]), generation_config=generation_config))
    assert torch.equal(outputs[0], outputs[1]) and outputs[1].shape == (1, 9)


# --- bad input: clear errors that name the argument -------------------------------------------------


def test_collator_errors_name_the_argument(tokenizer_folder):
    tokenizer = cove.AutoTokenizer.from_pretrained(tokenizer_folder)
    with pytest.raises(TypeError, match=r"tokenizer must be a tokenizer.*pad_token_id=0"):
        cove.DataCollatorWithPadding(0)
    with pytest.raises(TypeError, match="tokenizer must be a tokenizer"):
        cove.DataCollatorForTokenClassification(tokenizer={"pad": 0})
    with pytest.raises(ValueError, match="padding must be one of"):
        cove.DataCollatorWithPadding(tokenizer, padding="maybe")
    with pytest.raises(ValueError, match="return_tensors must be 'pt' or 'np'"):
        cove.DataCollatorWithPadding(tokenizer, return_tensors="tf")
    with pytest.raises(ValueError, match="pad_to_multiple_of must be a positive int"):
        cove.DataCollatorForSeq2Seq(tokenizer, pad_to_multiple_of=0)
    with pytest.raises(ValueError, match="max_length must be a positive int"):
        cove.DataCollatorWithPadding(tokenizer, padding="max_length", max_length="16")
    with pytest.raises(ValueError, match="mlm_probability must be between 0 and 1"):
        cove.DataCollatorForLanguageModeling(tokenizer, mlm_probability=1.5)
    with pytest.raises(ValueError, match="mask_replace_prob \\+ random_replace_prob"):
        cove.DataCollatorForLanguageModeling(tokenizer, mask_replace_prob=0.7, random_replace_prob=0.4)
    with pytest.raises(ValueError, match="whole_word_mask"):
        cove.DataCollatorForLanguageModeling(tokenizer, whole_word_mask=True)
    with pytest.raises(ValueError, match="mlm=True needs a tokenizer"):
        cove.DataCollatorForLanguageModeling()
    long = [{"input_ids": list(range(5, 25))}, {"input_ids": [5, 6]}]
    with pytest.raises(ValueError, match="more than max_length=8: truncate when tokenizing"):
        cove.DataCollatorWithPadding(tokenizer, padding="max_length", max_length=8)(long)
    with pytest.raises(ValueError, match="padding=False, but the examples' 'input_ids' differ in length"):
        cove.DataCollatorWithPadding(tokenizer, padding=False)(long)
    with pytest.raises(ValueError, match="have no 'input_ids'"):
        cove.DataCollatorWithPadding(tokenizer)([{"text": "a"}])


def test_tokenizer_without_pad_or_mask_token_is_named(tmp_path, tokenizer_folder):
    import json

    config = json.loads((tokenizer_folder / "tokenizer_config.json").read_text())
    for name in ("pad_token", "mask_token"):
        config.pop(name)
    for f in tokenizer_folder.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    tokenizer = cove.AutoTokenizer.from_pretrained(tmp_path)
    assert tokenizer.pad_token_id is None and tokenizer.mask_token_id is None
    with pytest.raises(ValueError, match="the tokenizer has no pad token"):
        cove.DataCollatorWithPadding(tokenizer)([{"input_ids": [2, 5, 3]}, {"input_ids": [2, 3]}])
    with pytest.raises(ValueError, match="the tokenizer has no mask token.*mlm=False"):
        cove.DataCollatorForLanguageModeling(tokenizer)
    # equal lengths need no pad token when given as lists of ids (as transformers)
    batch = cove.DataCollatorForLanguageModeling(tokenizer, mlm=False)([[2, 5, 3], [2, 6, 3]])
    assert batch["labels"].tolist() == [[2, 5, 3], [2, 6, 3]]


def test_trainer_and_set_seed_errors_name_the_argument(bert_folder, tmp_path):
    model = cove.AutoModelForSequenceClassification.from_pretrained(bert_folder)
    tokenizer = cove.AutoTokenizer.from_pretrained(bert_folder)
    with pytest.raises(TypeError, match="args must be a TrainingArguments"):
        cove.Trainer(model, str(tmp_path))
    with pytest.raises(TypeError, match="model must be a torch nn.Module"):
        cove.Trainer("bert", cove.TrainingArguments(str(tmp_path)))
    with pytest.raises(ValueError, match="processing_class= \\(tokenizer= is its old name\\)"):
        cove.Trainer(model, processing_class=tokenizer, tokenizer=cove.AutoTokenizer.from_pretrained(bert_folder))
    with pytest.raises(TypeError, match="compute_metrics must be callable"):
        cove.Trainer(model, compute_metrics={"accuracy": 1.0})
    with pytest.raises(TypeError, match="seed must be an int"):
        cove.set_seed("42")
    with pytest.raises(FileNotFoundError, match="resume_from_checkpoint: .*missing is not a checkpoint folder"):
        cove.Trainer(
            model, cove.TrainingArguments(str(tmp_path), disable_tqdm=True), train_dataset=[{"input_ids": [2, 3], "label": 0}]
        ).train(resume_from_checkpoint=str(tmp_path / "missing"))


# --- seq2seq: the summarization tutorial (Seq2SeqTrainer + DataCollatorForSeq2Seq) -----------------

PAIRS = [
    ("summarize: the movie was really great and the acting was fun", "great movie"),
    ("summarize: the plot was boring and the ending was bad", "boring plot"),
    ("summarize: i loved the music but the story was awful", "good music"),
    ("summarize: not a good film", "bad film"),
]


@pytest.fixture(scope="module")
def t5_folder(tokenizer_folder, tmp_path_factory):
    """A tiny random T5 (v1.1 style: gated-gelu, untied head) next to the word-level tokenizer."""
    import transformers

    config = transformers.T5Config(
        vocab_size=len(SPECIALS) + len(WORDS), d_model=32, d_kv=8, d_ff=48, num_layers=2, num_decoder_layers=2,
        num_heads=4, relative_attention_num_buckets=8, dropout_rate=0.0, feed_forward_proj="gated-gelu",
        tie_word_embeddings=False, pad_token_id=0, eos_token_id=3, decoder_start_token_id=0,
    )
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("t5")
    transformers.T5ForConditionalGeneration(config).save_pretrained(folder)
    for f in tokenizer_folder.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    return folder


def summarize_tutorial(T, D, folder, output_dir):
    tokenizer = T.AutoTokenizer.from_pretrained(folder)
    model = T.AutoModelForSeq2SeqLM.from_pretrained(folder)
    data = D.Dataset.from_dict({"text": [t for t, _ in PAIRS], "summary": [s for _, s in PAIRS]})

    def preprocess(examples):
        inputs = tokenizer(examples["text"], max_length=32, truncation=True)
        inputs["labels"] = tokenizer(text_target=examples["summary"], max_length=8, truncation=True)["input_ids"]
        return inputs

    tokenized = data.map(preprocess, batched=True, remove_columns=["text", "summary"])
    collator = T.DataCollatorForSeq2Seq(tokenizer=tokenizer, model=model)

    def compute_metrics(eval_pred):
        predictions, labels = eval_pred
        predictions = np.where(predictions != -100, predictions, tokenizer.pad_token_id)
        labels = np.where(labels != -100, labels, tokenizer.pad_token_id)
        decoded = tokenizer.batch_decode(predictions, skip_special_tokens=True)
        references = tokenizer.batch_decode(labels, skip_special_tokens=True)
        return {"exact": float(np.mean([p == r for p, r in zip(decoded, references, strict=True)])),
                "gen_len": float(np.mean([np.count_nonzero(p != tokenizer.pad_token_id) for p in predictions]))}

    args = T.Seq2SeqTrainingArguments(
        output_dir=str(output_dir), learning_rate=1e-2, per_device_train_batch_size=len(PAIRS),
        per_device_eval_batch_size=2, num_train_epochs=4, logging_steps=1, eval_strategy="epoch",
        save_strategy="no", predict_with_generate=True, generation_max_length=6, seed=3, report_to="none",
        disable_tqdm=True,
    )
    trainer = T.Seq2SeqTrainer(model=model, args=args, train_dataset=tokenized, eval_dataset=tokenized,
                               processing_class=tokenizer, data_collator=collator, compute_metrics=compute_metrics)
    trainer.train()
    return trainer.state.log_history, trainer.predict(tokenized)


def test_seq2seq_summarization_tutorial_matches_transformers(t5_folder, tmp_path):
    theirs, their_pred = summarize_tutorial(*libraries("transformers"), t5_folder, tmp_path / "hf")
    ours, our_pred = summarize_tutorial(*libraries("cove"), t5_folder, tmp_path / "cove")

    def series(log, key):
        return [e[key] for e in log if key in e]

    for key in ("loss", "grad_norm", "eval_loss", "eval_exact", "eval_gen_len"):
        assert len(series(ours, key)) == len(series(theirs, key)) > 0, key
        np.testing.assert_allclose(series(ours, key), series(theirs, key), rtol=1e-4, atol=1e-4, err_msg=key)
    assert series(ours, "loss")[-1] < series(ours, "loss")[0]
    np.testing.assert_array_equal(our_pred.predictions, their_pred.predictions)
    np.testing.assert_array_equal(our_pred.label_ids, their_pred.label_ids)


# --- causal-LM training: Trainer + DataCollatorForLanguageModeling(mlm=False) ------------------------


@pytest.fixture(scope="module")
def gpt2_folder(tokenizer_folder, tmp_path_factory):
    """A tiny random GPT-2 (no dropout) next to the word-level tokenizer."""
    import transformers

    config = transformers.GPT2Config(vocab_size=len(SPECIALS) + len(WORDS), n_embd=32, n_layer=2, n_head=2,
                                     n_positions=64, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                                     bos_token_id=2, eos_token_id=3, pad_token_id=0)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("gpt2")
    transformers.GPT2LMHeadModel(config).save_pretrained(folder)
    for f in tokenizer_folder.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    return folder


def causal_lm_tutorial(T, D, folder, output_dir) -> list[dict]:
    tokenizer = T.AutoTokenizer.from_pretrained(folder)
    model = T.AutoModelForCausalLM.from_pretrained(folder)
    data = D.Dataset.from_dict({"text": [t for t, _ in REVIEWS]})
    tokenized = data.map(lambda examples: tokenizer(examples["text"]), batched=True, remove_columns=["text"])
    collator = T.DataCollatorForLanguageModeling(tokenizer=tokenizer, mlm=False)
    args = T.TrainingArguments(output_dir=str(output_dir), **{**HYPER, "eval_strategy": "no", "save_strategy": "no"})
    trainer = T.Trainer(model=model, args=args, train_dataset=tokenized, data_collator=collator,
                        processing_class=tokenizer)
    trainer.train()
    return trainer.state.log_history


def test_causal_lm_training_tutorial_matches_transformers(gpt2_folder, tmp_path):
    """The same run with both libraries. One known difference, transformers 5.25's: a model loaded this
    way has ``loss_type`` None, so its Trainer divides the shifted loss sum by the *unshifted* label
    count (one more token per row than the loss covers; trainer.py ``_loss_shifts_labels``). Cove
    divides by the tokens the loss covers, which is ``model(**batch).loss`` in both libraries. So the
    first step's losses differ by exactly that ratio, and both runs learn."""
    theirs = causal_lm_tutorial(*libraries("transformers"), gpt2_folder, tmp_path / "hf")
    ours = causal_lm_tutorial(*libraries("cove"), gpt2_folder, tmp_path / "cove")
    tokenizer = cove.AutoTokenizer.from_pretrained(gpt2_folder)
    batch = cove.DataCollatorForLanguageModeling(tokenizer=tokenizer, mlm=False)([tokenizer(t) for t, _ in REVIEWS])
    shifted, unshifted = int((batch["labels"][:, 1:] != -100).sum()), int((batch["labels"] != -100).sum())
    import transformers

    reference = transformers.AutoModelForCausalLM.from_pretrained(gpt2_folder)
    with torch.no_grad():
        model_loss = reference(**batch).loss.item()  # the model's own mean over the shifted labels

    def series(log, key):
        return [e[key] for e in log if key in e]

    assert len(series(ours, "loss")) == len(series(theirs, "loss")) == 6
    assert series(ours, "loss")[0] == pytest.approx(model_loss, abs=1e-4)
    assert series(theirs, "loss")[0] == pytest.approx(model_loss * shifted / unshifted, abs=1e-4)
    np.testing.assert_allclose(series(ours, "learning_rate"), series(theirs, "learning_rate"), rtol=1e-6)
    for log in (ours, theirs):
        assert series(log, "loss")[-1] < series(log, "loss")[0] - 0.3
