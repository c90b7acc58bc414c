"""The automatic-speech-recognition pipeline on the converted Whisper tiny.en and the packaged LibriVox
clips: every input form and clear errors; under ``-m asr_full`` (``make test-asr``), long audio (the
clips twice over, 49 s) chunked and long-form with timestamps equal to transformers' pipeline on the
same weights, with several chunk and stride settings, beam search (transformers' pipeline default)
and the word error rate over all five clips, each equal to transformers'."""

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
    return cove.pipeline("automatic-speech-recognition", model=whisper_folder, generate_kwargs=GREEDY)


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


def _long(librivox, repeat: int = 2) -> np.ndarray:
    """The five clips twice over (49.5 s), or once and the first again (31.8 s): two of Whisper's windows."""
    clips = [load_audio(path, 16000) for path, _ in librivox]
    return np.concatenate(clips * repeat if repeat > 1 else [*clips, clips[0]])


@pytest.fixture(scope="module")
def reference(whisper_folder):
    return T.pipeline("automatic-speech-recognition", model=str(whisper_folder))


@pytest.mark.asr_full  # ~35 s on 2 cores; the seek loop is in the default suite on random weights (test_whisper_generate)
def test_long_form_with_timestamps_equals_transformers(asr, reference, librivox):
    # no chunk_length_s: generate seeks through the 31.8 s window by window
    samples = _long(librivox, repeat=1)
    got = asr(samples, return_timestamps=True)
    assert got == reference(samples, return_timestamps=True, generate_kwargs=GREEDY)
    spans = [c["timestamp"] for c in got["chunks"]]
    assert spans[0][0] == 0.0 and all(a[1] <= b[0] + 0.5 for a, b in zip(spans, spans[1:], strict=False))
    assert abs(spans[-1][1] - len(samples) / 16000) < 2
    assert got["text"] == "".join(c["text"] for c in got["chunks"])
    assert " ".join(normalize(got["text"])).count("might even have been made amiable himself") == 1


@pytest.mark.asr_full
@pytest.mark.parametrize(
    "options",
    [
        dict(return_timestamps=True, generate_kwargs=GREEDY),
        dict(chunk_length_s=30, return_timestamps=True, generate_kwargs=GREEDY),
        dict(chunk_length_s=10, batch_size=2, generate_kwargs=GREEDY),
        dict(chunk_length_s=10, batch_size=2, return_timestamps=True, generate_kwargs=GREEDY),
        dict(chunk_length_s=20, stride_length_s=(4, 2), return_timestamps=True, generate_kwargs=GREEDY),
        dict(return_timestamps=True, generate_kwargs={"num_beams": 5}),
        dict(chunk_length_s=30, return_timestamps=True, generate_kwargs={"num_beams": 5}),
    ],
    ids=["long-form", "chunked-30", "chunked-10", "chunked-10-timestamps", "strides-4-2", "long-form-beams", "chunked-30-beams"],
)
def test_long_audio_equals_transformers(asr, reference, librivox, options):
    samples = _long(librivox)
    assert asr(samples, **options) == reference(samples, **options)


def test_default_is_five_beams_as_transformers(whisper_folder):
    default = cove.pipeline("automatic-speech-recognition", model=whisper_folder)
    assert default._with_defaults({}) == {"num_beams": 5}  # the checkpoint's generation config sets max_length
    assert default._with_defaults({"num_beams": 1}) == {"num_beams": 1}


@pytest.mark.asr_full
def test_default_five_beams_with_timestamps_equal_transformers(whisper_folder, reference, librivox):
    samples = load_audio(_clip(librivox, "0930"), 16000)
    default = cove.pipeline("automatic-speech-recognition", model=whisper_folder)
    assert default(samples, return_timestamps=True) == reference(samples, return_timestamps=True)


def test_bad_audio_and_options_are_clear_errors(asr):
    with pytest.raises(AudioError, match="cannot decode the audio"):
        asr(b"RIFF....WAVEnot really")
    with pytest.raises(AudioError, match="empty"):
        asr(np.zeros(0, dtype=np.float32))
    with pytest.raises(ValueError, match="more than Whisper's 30 s window: pass return_timestamps=True"):
        asr(np.zeros(16000 * 31, dtype=np.float32))
    with pytest.raises(ValueError, match="segment timestamps"):
        asr(np.zeros(1600, dtype=np.float32), return_timestamps="word")
    with pytest.raises(TypeError, match="unknown parameter"):
        asr(np.zeros(1600, dtype=np.float32), beam_width=3)


def test_word_error_rate_helpers():
    assert normalize("He was not an old-sposed young man.") == "he was not an old sposed young man".split()
    assert word_errors("a b c".split(), "a x c d".split()) == 2


@pytest.mark.asr_full
def test_librivox_word_error_rate_and_transformers_agree(asr, reference, librivox):
    errors = words = 0
    for path, transcript in librivox:
        samples = load_audio(path, 16000)
        text = asr(str(path), generate_kwargs=GREEDY)["text"]
        assert text == reference(samples, generate_kwargs=GREEDY)["text"]
        assert asr(samples, generate_kwargs={"num_beams": 5}) == reference(samples)  # 5 beams: its default
        errors += word_errors(normalize(text), normalize(transcript))
        words += len(normalize(transcript))
    print(f"LibriVox WER {100 * errors / words:.1f}% ({errors}/{words})")
    assert errors / words < 0.1
