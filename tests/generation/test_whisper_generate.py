"""Whisper's generate against transformers on a tiny random model: the prompt tokens (language, task,
no-timestamps, detected language), suppressed tokens, and the timestamp rules, greedy token for token;
the timestamp processor against transformers' on random logits and histories."""

from __future__ import annotations

import pytest
import torch
import transformers as T
from transformers.generation import logits_process as hf

from cove.generation import whisper as wg
from cove.models import auto
from tests.models.reference import TINY

NO_TS = 60  # <|notimestamps|>; 61.. are the timestamps <|0.00|>, <|0.02|> ...


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """transformers' tiny Whisper (sharp random logits) with a multilingual generation config, and Cove's copy."""
    folder = tmp_path_factory.mktemp("whisper-gen")
    config = TINY["whisper"]()
    config.init_std = 0.3
    torch.manual_seed(0)
    ref = T.WhisperForConditionalGeneration(config).eval()
    gc = ref.generation_config
    gc.lang_to_id = {"<|en|>": 5, "<|fr|>": 6}
    gc.task_to_id = {"transcribe": 7, "translate": 8}
    gc.no_timestamps_token_id = NO_TS
    gc.is_multilingual = True
    gc.max_length = 24
    ref.save_pretrained(folder)
    return ref, folder


def _pair(models, suppress):
    ref, folder = models
    ref.generation_config.suppress_tokens = suppress
    ref.generation_config.save_pretrained(folder)
    return ref, auto.AutoModelForSeq2SeqLM.from_pretrained(folder)


@pytest.mark.parametrize(
    "options",
    [dict(language="en"), dict(language="fr", task="translate"), dict(task="transcribe"), dict()],
    ids=["en", "fr-translate", "task-only", "detect-language"],
)
def test_greedy_ids_equal_transformers_without_timestamps(models, options):
    # text only: timestamps suppressed too (else transformers reads stray ones as segments)
    ref, model = _pair(models, [11, 12, *range(NO_TS + 1, 99)])
    features = torch.randn(6, 8, 32, generator=torch.Generator().manual_seed(2))
    expected = ref.generate(features, **options)
    got = model.generate(features, **options)
    assert torch.equal(got, expected), (got, expected)


@pytest.mark.parametrize("options", [dict(language="en"), dict()], ids=["en", "detect-language"])
def test_greedy_ids_equal_transformers_with_timestamps(models, options):
    # rows the length limit cuts inside the window are decoded again from their last timestamp (the seek loop)
    ref, model = _pair(models, [11, 12])
    features = torch.randn(8, 8, 32, generator=torch.Generator().manual_seed(3))
    expected = ref.generate(features, return_timestamps=True, **options)
    got = model.generate(features, return_timestamps=True, **options)
    assert torch.equal(got, expected), (got, expected)
    assert (got >= NO_TS + 1).any()


@pytest.mark.parametrize("frames", [75, 140])
def test_long_form_ids_equal_transformers(models, frames):
    # features longer than the 32-frame window: windows seek by the last timestamp, as transformers' loop
    ref, model = _pair(models, [11, 12])
    features = torch.randn(1, 8, frames, generator=torch.Generator().manual_seed(frames))
    expected = ref.generate(features, language="en")
    got = model.generate(features, language="en")
    assert torch.equal(got, expected), (got, expected)
    with pytest.raises(ValueError, match="pass return_timestamps=True"):
        model.generate(features, return_timestamps=False)


def test_batched_long_form_follows_the_attention_mask(models):
    ref, model = _pair(models, [11, 12])
    features = torch.randn(3, 8, 90, generator=torch.Generator().manual_seed(5))
    mask = torch.ones(3, 90, dtype=torch.long)
    mask[1, 50:] = 0
    mask[2, 70:] = 0
    features = features * mask[:, None]
    expected = ref.generate(features, attention_mask=mask, language="fr")
    got = model.generate(features, attention_mask=mask, language="fr")
    assert torch.equal(got, expected), (got, expected)
    with pytest.raises(ValueError, match="needs attention_mask"):
        model.generate(features, language="fr")


@pytest.mark.parametrize(
    "options",
    [dict(num_beams=3, length_penalty=0.5), dict(num_beams=2, return_timestamps=True)],
    ids=["beams", "beams-timestamps"],
)
def test_beam_search_ids_equal_transformers(models, options):
    ref, model = _pair(models, [11, 12])
    features = torch.randn(4, 8, 32, generator=torch.Generator().manual_seed(7))
    expected = ref.generate(features, language="en", **options)
    got = model.generate(features, language="en", **options)
    assert torch.equal(got, expected), (got, expected)


def test_prompt_tokens():
    config = wg.GenerationConfig(decoder_start_token_id=3)
    config.extra.update(
        lang_to_id={"<|en|>": 5, "<|fr|>": 6}, task_to_id={"transcribe": 7, "translate": 8}, no_timestamps_token_id=60
    )
    model_config = auto.AutoConfig.from_dict(TINY["whisper"]().to_dict())

    def prompt(**kw):
        kw = {"language": None, "task": None, "return_timestamps": False, **kw}
        return wg.prompt_ids(config, model_config, **kw)

    assert prompt(language="fr") == [3, 6, 7, 60]
    assert prompt(language="<|en|>", task="translate", return_timestamps=True) == [3, 5, 8]
    assert prompt() == [3, None, 60]  # None: detected per row
    with pytest.raises(ValueError, match="language 'de' is not one this model knows"):
        prompt(language="de")
    with pytest.raises(ValueError, match="task 'summarize' is not supported"):
        prompt(task="summarize")
    english_only = wg.GenerationConfig(decoder_start_token_id=3)
    english_only.extra.update(forced_decoder_ids=[[1, 60]], no_timestamps_token_id=60)
    assert wg.prompt_ids(english_only, model_config, language=None, task=None, return_timestamps=False) == [3, 60]
    assert wg.prompt_ids(english_only, model_config, language=None, task=None, return_timestamps=True) == [3]


def test_timestamp_processor_equals_transformers():
    g = torch.Generator().manual_seed(0)
    begin, vocab = 3, 99
    hf_config = T.GenerationConfig(no_timestamps_token_id=NO_TS, eos_token_id=2, max_initial_timestamp_index=5)
    theirs = hf.WhisperTimeStampLogitsProcessor(hf_config, begin_index=begin)
    ours = wg.Timestamps(NO_TS, 2, begin, 5)
    histories = [
        [],
        [61],
        [61, 20],
        [61, 20, 70],
        [61, 20, 70, 70],
        [61, 20, 70, 70, 21, 22],
        [64, 64],
    ]
    for history in histories:
        ids = torch.tensor([[3, 5, 7, *history]] * 4)
        for scale in (1.0, 8.0):
            logits = torch.randn(4, vocab, generator=g) * scale
            logits[1, 61:] += 6  # a row whose timestamps outweigh any text token
            torch.testing.assert_close(ours(ids, logits), theirs(ids, logits.clone()), rtol=0, atol=0)


def test_suppress_processors_equal_transformers():
    logits = torch.randn(2, 99, generator=torch.Generator().manual_seed(1))
    ids = torch.tensor([[3, 5, 7], [3, 5, 7]])
    theirs = hf.SuppressTokensAtBeginLogitsProcessor([4, 2], begin_index=3)
    torch.testing.assert_close(wg.SuppressAtBegin((4, 2), 3)(ids, logits), theirs(ids, logits.clone()))
    assert torch.equal(wg.SuppressAtBegin((4, 2), 2)(ids, logits), logits)  # only at the first step
    theirs = hf.SuppressTokensLogitsProcessor([11, 12])
    torch.testing.assert_close(wg.SuppressTokens((11, 12))(ids, logits), theirs(ids, logits.clone()))
