"""The automatic-speech-recognition pipeline on the converted Whisper tiny.en and the packaged LibriVox
clips: every input form, chunked long audio with timestamps, clear errors; under ``-m asr_full``,
chunked audio and the word error rate over all five clips, transcript for transcript equal to
transformers' pipeline running the same weights greedily."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
import transformers as T

import cove
from cove.processors.audio import AudioError, load_audio
from cove.seed.speech import normalize, word_errors

GREEDY = {"num_beams": 1}


@pytest.fixture(scope="module")
def asr(whisper_folder):
    return cove.pipeline("automatic-speech-recognition", model=whisper_folder)


def _clip(librivox, suffix):
    return next(p for p, _ in librivox if p.stem.endswith(suffix))


def test_every_input_form_gives_the_same_text(asr, librivox):
    path = _clip(librivox, "0930")
    samples = load_audio(path, 16000)
    expected = {"text": " He might even have been made amiable himself."}
    assert asr(str(path)) == expected
    assert asr(path.read_bytes()) == expected
    assert asr(samples) == expected
    buf = io.BytesIO()  # 8 kHz FLAC bytes and a 44.1 kHz stereo mapping are resampled to 16 kHz
    sf.write(buf, load_audio(path, 8000), 8000, format="FLAC")
    assert asr(buf.getvalue()) == expected
    stereo = np.stack([load_audio(path, 44100)] * 2, axis=1)
    assert asr({"raw": stereo.T, "sampling_rate": 44100}) == expected


def _long(librivox) -> np.ndarray:
    return np.concatenate([load_audio(_clip(librivox, s), 16000) for s in ("0880", "0930", "0890")])


def test_chunked_long_audio_with_timestamps(asr, librivox):
    # Timestamps: transformers' generate re-decodes inside each window (its long-form seek loop), so its
    # segments differ from Cove's one pass per window; the segments must tile the audio, in order.
    samples = _long(librivox)
    timed = asr(samples, chunk_length_s=10, batch_size=2, return_timestamps=True)
    spans = [c["timestamp"] for c in timed["chunks"]]
    assert spans[0][0] == 0.0 and all(a[1] <= b[0] + 0.5 for a, b in zip(spans, spans[1:], strict=False))
    assert abs(spans[-1][1] - len(samples) / 16000) < 1.5
    assert timed["text"] == "".join(c["text"] for c in timed["chunks"])
    expected = "he was not an ill disposed young man he might even have been made amiable himself unless"
    assert " ".join(normalize(timed["text"])).startswith(expected)


@pytest.mark.asr_full
def test_chunked_long_audio_equals_transformers(asr, librivox, whisper_folder):
    samples = _long(librivox)
    got = asr(samples, chunk_length_s=10, batch_size=2)
    reference = T.pipeline("automatic-speech-recognition", model=str(whisper_folder))
    # greedy: transformers' pipeline defaults to 5 beams, Cove's Whisper decodes greedily
    assert got == reference(samples, chunk_length_s=10, batch_size=2, generate_kwargs=GREEDY)


def test_bad_audio_and_options_are_clear_errors(asr):
    with pytest.raises(AudioError, match="cannot decode the audio"):
        asr(b"RIFF....WAVEnot really")
    with pytest.raises(AudioError, match="empty"):
        asr(np.zeros(0, dtype=np.float32))
    with pytest.raises(ValueError, match="more than Whisper's 30 s window: pass chunk_length_s=30"):
        asr(np.zeros(16000 * 31, dtype=np.float32))
    with pytest.raises(ValueError, match="segment timestamps"):
        asr(np.zeros(1600, dtype=np.float32), return_timestamps="word")
    with pytest.raises(TypeError, match="unknown parameter"):
        asr(np.zeros(1600, dtype=np.float32), beam_width=3)


def test_word_error_rate_helpers():
    assert normalize("He was not an old-sposed young man.") == "he was not an old sposed young man".split()
    assert word_errors("a b c".split(), "a x c d".split()) == 2


@pytest.mark.asr_full
def test_librivox_word_error_rate_and_transformers_agree(asr, librivox, whisper_folder):
    reference = T.pipeline("automatic-speech-recognition", model=str(whisper_folder))
    errors = words = 0
    for path, transcript in librivox:
        samples = load_audio(path, 16000)
        text = asr(str(path))["text"]
        assert text == reference(samples, generate_kwargs=GREEDY)["text"]
        errors += word_errors(normalize(text), normalize(transcript))
        words += len(normalize(transcript))
    print(f"LibriVox WER {100 * errors / words:.1f}% ({errors}/{words})")
    assert errors / words < 0.1
