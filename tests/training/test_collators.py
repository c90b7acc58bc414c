"""Collators: padding, causal and masked language modelling, against transformers' collators."""

from __future__ import annotations

import pytest
import torch

from cove.training import DataCollatorForLanguageModeling, DataCollatorWithPadding, default_data_collator

EXAMPLES = [{"input_ids": [5, 6, 7], "label": 1}, {"input_ids": [8, 9, 10, 11, 12], "label": 0}]


def test_padding():
    batch = DataCollatorWithPadding(pad_token_id=0)(EXAMPLES)
    assert batch["input_ids"].tolist() == [[5, 6, 7, 0, 0], [8, 9, 10, 11, 12]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert batch["labels"].tolist() == [1, 0]
    left = DataCollatorWithPadding(pad_token_id=3, padding_side="left", pad_to_multiple_of=4)(EXAMPLES)
    assert left["input_ids"].tolist() == [[3, 3, 3, 3, 3, 5, 6, 7], [3, 3, 3, 8, 9, 10, 11, 12]]
    assert left["attention_mask"][0].tolist() == [0, 0, 0, 0, 0, 1, 1, 1]


def test_padding_token_labels_with_minus_100():
    examples = [{"input_ids": [5, 6], "labels": [1, 2]}, {"input_ids": [7, 8, 9], "labels": [3, 4, 5]}]
    batch = DataCollatorWithPadding()(examples)
    assert batch["labels"].tolist() == [[1, 2, -100], [3, 4, 5]]


def test_default_collator_renames_label():
    batch = default_data_collator([{"input_ids": [1, 2], "label": 0}, {"input_ids": [3, 4], "label": 1}])
    assert set(batch) == {"input_ids", "labels"} and batch["input_ids"].shape == (2, 2)


def test_causal_lm_labels_are_ids_with_padding_ignored():
    ours = DataCollatorForLanguageModeling(pad_token_id=0, mlm=False)(EXAMPLES)
    assert ours["input_ids"].tolist() == [[5, 6, 7, 0, 0], [8, 9, 10, 11, 12]]
    assert ours["labels"].tolist() == [[5, 6, 7, -100, -100], [8, 9, 10, 11, 12]]
    assert ours["label"].tolist() == [1, 0]  # kept under its name, as transformers keeps it


def test_masked_lm_seeded_and_statistics():
    def make(seed):
        return DataCollatorForLanguageModeling(
            pad_token_id=0,
            mask_token_id=4,
            vocab_size=99,
            seed=seed,
            special_token_ids=[1, 2],
            mlm_probability=0.15,
        )

    g = torch.Generator().manual_seed(0)
    examples = [
        {"input_ids": [1, *torch.randint(10, 99, (200,), generator=g).tolist(), 2]} for _ in range(50)
    ]
    a, b, c = make(0)(examples), make(0)(examples), make(1)(examples)
    assert torch.equal(a["input_ids"], b["input_ids"]) and torch.equal(a["labels"], b["labels"])
    assert not torch.equal(a["labels"], c["labels"])
    original = torch.tensor([e["input_ids"] for e in examples])
    chosen = a["labels"] != -100
    assert torch.equal(a["labels"][chosen], original[chosen])
    assert not chosen[:, 0].any() and not chosen[:, -1].any()  # special tokens are never chosen
    assert chosen.float().mean().item() == pytest.approx(0.15, abs=0.015)
    masked = (a["input_ids"] == 4) & chosen
    assert masked.sum() / chosen.sum() == pytest.approx(0.8, abs=0.04)
    assert torch.equal(a["input_ids"][~chosen], original[~chosen])  # unchosen tokens never change


def test_mlm_needs_mask_token():
    with pytest.raises(ValueError, match="mask_token_id"):
        DataCollatorForLanguageModeling(mlm=True)


def _hf_tokenizer(pad_id: int, side: str):
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    vocab = {f"t{i}": i for i in range(40)}
    tok = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="t1")),
        pad_token=f"t{pad_id}",
        unk_token="t1",
    )
    tok.padding_side = side
    return tok


TOKEN_EXAMPLES = [
    {"input_ids": [5, 6, 7], "attention_mask": [1, 1, 1], "labels": [0, 2, 1]},
    {"input_ids": [8, 9, 10, 11, 12], "attention_mask": [1] * 5, "labels": [1, 1, 0, 2, 2]},
]


@pytest.mark.parametrize(("side", "multiple"), [("right", None), ("left", 4)])
def test_token_classification_matches_transformers(side, multiple):
    from transformers import DataCollatorForTokenClassification as Theirs

    from cove.training import DataCollatorForTokenClassification

    expected = Theirs(_hf_tokenizer(3, side), pad_to_multiple_of=multiple)(TOKEN_EXAMPLES)
    ours = DataCollatorForTokenClassification(pad_token_id=3, padding_side=side, pad_to_multiple_of=multiple)(
        TOKEN_EXAMPLES
    )
    assert set(ours) == set(expected)
    for key in expected:
        assert torch.equal(ours[key], expected[key]), key
    assert (ours["labels"] == -100).sum() == (ours["attention_mask"] == 0).sum()


def test_seq2seq_matches_transformers_with_decoder_inputs():
    from transformers import DataCollatorForSeq2Seq as Theirs
    from transformers import T5Config, T5ForConditionalGeneration

    from cove.training import DataCollatorForSeq2Seq

    config = T5Config(
        vocab_size=40,
        d_model=16,
        d_kv=8,
        d_ff=32,
        num_layers=1,
        num_heads=2,
        pad_token_id=3,
        decoder_start_token_id=3,
    )
    model = T5ForConditionalGeneration(config)
    examples = [
        {"input_ids": [5, 6, 7], "labels": [9, 10]},
        {"input_ids": [8, 9, 10, 11], "labels": [12, 13, 14, 15, 2]},
    ]
    for multiple in (None, 8):
        expected = Theirs(_hf_tokenizer(3, "right"), model=model, pad_to_multiple_of=multiple)(examples)
        ours = DataCollatorForSeq2Seq(pad_token_id=3, model=model, pad_to_multiple_of=multiple)(examples)
        assert set(ours) == set(expected) == {"input_ids", "attention_mask", "labels", "decoder_input_ids"}
        for key in expected:
            assert torch.equal(ours[key], expected[key]), key
    no_labels = DataCollatorForSeq2Seq(pad_token_id=3)([{"input_ids": [1, 2]}, {"input_ids": [3]}])
    assert set(no_labels) == {"input_ids", "attention_mask"}


def test_collator_tokenizer_without_pad_token_is_refused():
    from cove.training import DataCollatorForTokenClassification

    class NoPad:
        pad_token_id = None

    with pytest.raises(ValueError, match="no pad token"):
        DataCollatorForTokenClassification(tokenizer=NoPad())(TOKEN_EXAMPLES)
