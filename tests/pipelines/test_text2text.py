"""text2text-generation, summarization and translation against what transformers computes.

transformers 5 dropped these pipelines, so the oracle is what its 4.x pipelines did, spelled out with
transformers itself: the task's prefix and ``task_specific_params``, the tokenizer with its special
tokens, ``model.generate`` on the same random checkpoint, and ``decode(skip_special_tokens=True)``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
import transformers as T
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

import cove
from cove.pipelines.factory import PipelineError
from tests.pipelines.conftest import CORPUS

SPECIALS = ["<pad>", "</s>", "<unk>", "<s>"]  # ids 0..3, T5's pad 0 and eos 1
TASK_PARAMS = {
    "summarization": {"prefix": "summarize: ", "num_beams": 3, "max_length": 16, "min_length": 4,
                      "no_repeat_ngram_size": 3, "early_stopping": True, "length_penalty": 2.0},
    "translation_en_to_fr": {"prefix": "translate English to French: ", "max_length": 12, "num_beams": 2},
    "translation_en_to_de": {"prefix": "translate English to German: ", "max_length": 10},
}
TEXTS = ["The capital of France is Paris.", "I love this movie, the acting was wonderful and moving."]


def tokenizer() -> T.PreTrainedTokenizerFast:
    """A byte-level BPE that appends ``</s>``, as T5's and BART's tokenizers end an input."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=SPECIALS)
    tok.train_from_iterator(CORPUS + ["summarize: translate English to French: German"], trainer)
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                       special_tokens=[("</s>", 1)])
    return T.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>",
                                     unk_token="<unk>", bos_token="<s>")


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("text2text")
    tok = tokenizer()
    torch.manual_seed(0)
    t5 = T.T5ForConditionalGeneration(T.T5Config(
        vocab_size=len(tok), d_model=32, d_kv=8, d_ff=37, num_layers=2, num_decoder_layers=2, num_heads=4,
        relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
        initializer_factor=4.0, task_specific_params=TASK_PARAMS))
    bart = T.BartForConditionalGeneration(T.BartConfig(
        vocab_size=len(tok), d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=37, max_position_embeddings=64,
        pad_token_id=0, eos_token_id=1, bos_token_id=3, decoder_start_token_id=1, forced_eos_token_id=1,
        init_std=0.2))
    out = {}
    for name, model in (("t5", t5), ("bart", bart)):
        model.eval().save_pretrained(root / name)
        tok.save_pretrained(root / name)
        out[name] = root / name
    return out


def reference(folder: Path, texts: list[str], prefix: str = "", **generate) -> list[list[str]]:
    """What transformers 4.x's pipelines returned: per text, the decoded sequences."""
    tok = T.AutoTokenizer.from_pretrained(folder)
    model = T.AutoModelForSeq2SeqLM.from_pretrained(folder).eval()
    n = generate.get("num_return_sequences", 1)
    results = []
    for text in texts:
        enc = tok(prefix + text, return_tensors="pt")
        with torch.no_grad():
            out = model.generate(**enc, **generate)
        results.append([tok.decode(s, skip_special_tokens=True) for s in out][:n])
    return results


@pytest.mark.parametrize("name", ["t5", "bart"])
def test_text2text_generation(folders, name):
    folder = folders[name]
    pipe = cove.pipeline("text2text-generation", model=str(folder))
    want = reference(folder, TEXTS, max_new_tokens=8, do_sample=False)
    assert pipe(TEXTS[0], max_new_tokens=8) == [{"generated_text": want[0][0]}]
    assert pipe(TEXTS, max_new_tokens=8) == [{"generated_text": w[0]} for w in want]  # flat, as transformers
    assert pipe(TEXTS, max_new_tokens=8, batch_size=2) == [{"generated_text": w[0]} for w in want]
    beams = reference(folder, TEXTS, max_new_tokens=6, num_beams=3, num_return_sequences=2)
    got = pipe(TEXTS, max_new_tokens=6, num_beams=3, num_return_sequences=2)
    assert got == [[{"generated_text": s} for s in w] for w in beams]
    ids = pipe(TEXTS[0], max_new_tokens=5, return_tensors=True)[0]["generated_token_ids"]
    assert isinstance(ids, list) and len(ids) <= 6


def test_summarization_reads_task_specific_params(folders):
    folder = folders["t5"]
    params = dict(TASK_PARAMS["summarization"])
    prefix = params.pop("prefix")
    pipe = cove.pipeline("summarization", model=str(folder))
    assert pipe(TEXTS) == [{"summary_text": w[0]} for w in reference(folder, TEXTS, prefix, **params)]
    # a call's option wins over the task's
    want = reference(folder, TEXTS[:1], prefix, **{**params, "num_beams": 1, "max_length": 9})
    assert pipe(TEXTS[0], num_beams=1, max_length=9) == [{"summary_text": want[0][0]}]


def test_translation_task_names_pick_the_languages(folders, caplog):
    folder = folders["t5"]
    for task in ("translation_en_to_fr", "translation_en_to_de"):
        params = dict(TASK_PARAMS[task])
        prefix = params.pop("prefix")
        want = reference(folder, TEXTS, prefix, **params)
        assert cove.pipeline(task, model=str(folder))(TEXTS) == [{"translation_text": w[0]} for w in want]
    pipe = cove.pipeline("translation", model=str(folder), src_lang="en", tgt_lang="fr")
    assert pipe.prefix == "translate English to French: "
    # the first translation entry of config.json (transformers writes its keys sorted)
    with pytest.warns(UserWarning, match="translation_en_to_de"):
        plain = cove.pipeline("translation", model=str(folder))
    assert plain.prefix == "translate English to German: "
    with pytest.raises(ValueError, match="translation_en_to_fr"):
        plain(TEXTS[0], src_lang="en", tgt_lang="fr")


def test_bart_translation_without_task_params(folders):
    folder = folders["bart"]
    want = reference(folder, TEXTS, max_new_tokens=7)
    got = cove.pipeline("translation_en_to_fr", model=str(folder))(TEXTS, max_new_tokens=7)
    assert got == [{"translation_text": w[0]} for w in want]


def test_summarization_warns_about_lengths(folders, caplog):
    pipe = cove.pipeline("summarization", model=str(folders["t5"]))
    with caplog.at_level(logging.WARNING, logger="cove.pipelines"):
        pipe("Paris.")
    assert "a summary is usually shorter than its input" in caplog.text


def test_bad_inputs_and_missing_models(folders, tiny):
    with pytest.raises(PipelineError, match="t5-small"):
        cove.pipeline("summarization")
    with pytest.raises(PipelineError, match="opus-mt"):
        cove.pipeline("translation_en_to_fr")
    with pytest.raises(PipelineError, match="seq2seq-lm"):
        cove.pipeline("summarization", model=str(tiny["text-generation"]))
    pipe = cove.pipeline("text2text-generation", model=str(folders["t5"]))
    with pytest.raises(ValueError, match="string"):
        pipe(123)
    with pytest.raises(TypeError, match="bogus"):
        pipe("x", bogus=1)
