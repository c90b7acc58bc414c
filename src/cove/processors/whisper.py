"""Whisper's feature extractor and processor, with transformers' names, files and outputs.

:class:`WhisperFeatureExtractor`: 16 kHz mono samples -> (B, 80, 3000) log-mel features: each input
padded with zeros (or cut) to 30 s, a 400-point STFT with a Hann window every 160 samples, power
spectrum through a Slaney-normalised mel filter bank (0-8 kHz), log10 clamped to 8 below each input's
maximum, then (x + 4) / 4. Equal to transformers' ``WhisperFeatureExtractor`` (torch path) within 1e-4.
Read from and written to ``preprocessor_config.json``.

:class:`WhisperProcessor`: the feature extractor and the tokenizer together; ``batch_decode`` and
``decode`` drop timestamp tokens (and special tokens when asked) or render them as ``<|1.08|>``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cove.processors.audio import AudioError, to_mono

PREPROCESSOR_FILE = "preprocessor_config.json"


def hertz_to_mel(freq: torch.Tensor) -> torch.Tensor:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    logstep = 27.0 / math.log(6.4)
    linear = 3.0 * freq / 200.0
    return torch.where(freq >= 1000.0, 15.0 + torch.log(freq.clamp(min=1e-10) / 1000.0) * logstep, linear)


def mel_to_hertz(mels: torch.Tensor) -> torch.Tensor:
    logstep = math.log(6.4) / 27.0
    return torch.where(mels >= 15.0, 1000.0 * torch.exp(logstep * (mels - 15.0)), 200.0 * mels / 3.0)


def mel_filters(n_freqs: int, n_mels: int, sampling_rate: int, f_max: float = 8000.0) -> torch.Tensor:
    """(n_freqs, n_mels) float64 triangular filters on the Slaney mel scale, area-normalised ("slaney")."""
    mel_edges = torch.linspace(0.0, float(hertz_to_mel(torch.tensor(f_max, dtype=torch.float64))), n_mels + 2,
                               dtype=torch.float64)
    edges = mel_to_hertz(mel_edges)  # (n_mels + 2,) Hz
    fft_freqs = torch.linspace(0, sampling_rate // 2, n_freqs, dtype=torch.float64)
    diff = edges[1:] - edges[:-1]
    slopes = edges[None, :] - fft_freqs[:, None]  # (n_freqs, n_mels + 2)
    down = -slopes[:, :-2] / diff[:-1]
    up = slopes[:, 2:] / diff[1:]
    bank = torch.clamp(torch.minimum(down, up), min=0.0)
    return bank * (2.0 / (edges[2 : n_mels + 2] - edges[:n_mels]))[None, :]


@dataclass
class WhisperFeatureExtractor:
    """Log-mel features; fields are ``preprocessor_config.json``'s keys (defaults: Whisper's 80 bins)."""

    feature_size: int = 80
    sampling_rate: int = 16000
    hop_length: int = 160
    chunk_length: int = 30
    n_fft: int = 400
    padding_value: float = 0.0
    dither: float = 0.0
    return_attention_mask: bool = False
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    feature_extractor_type = "WhisperFeatureExtractor"
    model_input_names = ("input_features",)

    def __post_init__(self) -> None:
        self._filters = mel_filters(1 + self.n_fft // 2, self.feature_size, self.sampling_rate).float()
        self._window = torch.hann_window(self.n_fft)

    @property
    def n_samples(self) -> int:
        """Samples of one window (480,000 = 30 s at 16 kHz)."""
        return self.chunk_length * self.sampling_rate

    @property
    def nb_max_frames(self) -> int:
        return self.n_samples // self.hop_length

    # --- files ------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WhisperFeatureExtractor:
        names = {f for f in cls.__dataclass_fields__ if f != "extra"}
        known = {k: v for k, v in data.items() if k in names}
        return cls(**known, extra={k: v for k, v in data.items() if k not in names})

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike[str]) -> WhisperFeatureExtractor:
        return cls.from_dict(json.loads((Path(folder) / PREPROCESSOR_FILE).read_text()))

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "extra"}
        extra = {k: v for k, v in self.extra.items() if k not in ("mel_filters",)}
        return {**extra, **out, "feature_extractor_type": self.feature_extractor_type}

    def save_pretrained(self, folder: str | os.PathLike[str]) -> Path:
        path = Path(folder) / PREPROCESSOR_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        return path

    # --- features ---------------------------------------------------------------------------

    def log_mel(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(B, samples) float32 -> (B, feature_size, samples // hop_length) features."""
        if self.dither:
            waveforms = waveforms + self.dither * torch.randn_like(waveforms)
        stft = torch.stft(waveforms, self.n_fft, self.hop_length, window=self._window, return_complex=True)
        power = (stft[..., :-1].abs() ** 2).contiguous()  # (B, freqs, frames): the last frame dropped
        mel = self._filters.T @ power  # (B, mels, frames)
        log = mel.clamp(min=1e-10).log10()
        floor = log.amax(dim=(1, 2), keepdim=True) - 8.0  # each input's own dynamic range
        return (torch.maximum(log, floor) + 4.0) / 4.0

    def __call__(
        self,
        raw_speech: Any,
        *,
        sampling_rate: int | None = None,
        return_tensors: str | None = "pt",
        padding: str = "max_length",
        max_length: int | None = None,
        truncation: bool = True,
        return_attention_mask: bool | None = None,
    ) -> dict[str, Any]:
        """One array (samples,) or a batch (a list of them, or a 2-d array) -> ``{"input_features": (B, 80, 3000)}``
        (plus ``attention_mask`` (B, 3000) of real frames when asked). Inputs are at ``sampling_rate``,
        which must be the extractor's (resample first: :func:`cove.processors.audio.load_audio`)."""
        if sampling_rate is not None and sampling_rate != self.sampling_rate:
            raise AudioError(
                f"this feature extractor takes {self.sampling_rate} Hz audio, got {sampling_rate} Hz:"
                " resample it first (cove.processors.audio.load_audio does)"
            )
        if padding not in ("max_length", "longest", True):
            raise ValueError(f"padding={padding!r}: Whisper pads to 'max_length' (30 s) or the 'longest' input")
        batched = (isinstance(raw_speech, np.ndarray | torch.Tensor) and raw_speech.ndim == 2) or (
            isinstance(raw_speech, list | tuple) and len(raw_speech) and not np.isscalar(raw_speech[0])
        )
        items = [to_mono(x) for x in raw_speech] if batched else [to_mono(np.asarray(raw_speech))]
        length = max_length or self.n_samples
        if padding == "longest" or padding is True:
            length = max(len(x) for x in items) if not truncation else min(length, max(len(x) for x in items))
        waves = torch.full((len(items), length), float(self.padding_value))
        real = []
        for i, x in enumerate(items):
            n = min(len(x), length)
            waves[i, :n] = torch.from_numpy(x[:n])
            real.append(n)
        out: dict[str, Any] = {"input_features": self.log_mel(waves)}
        if return_attention_mask or (return_attention_mask is None and self.return_attention_mask):
            frames = out["input_features"].shape[-1]
            mask = torch.zeros(len(items), frames, dtype=torch.long)
            for i, n in enumerate(real):
                mask[i, : math.ceil(n / self.hop_length)] = 1
            out["attention_mask"] = mask
        if return_tensors in (None, "np"):
            out = {k: v.numpy() for k, v in out.items()}
        elif return_tensors != "pt":
            raise ValueError(f"return_tensors={return_tensors!r}: use 'pt' or 'np'")
        return out


class WhisperProcessor:
    """The feature extractor and the tokenizer of a Whisper checkpoint, as transformers pairs them.

    Args:
        feature_extractor: a :class:`WhisperFeatureExtractor`.
        tokenizer: the checkpoint's tokenizer (``cove.tokenizers.AutoTokenizer``).
        no_timestamps_token_id: ``<|notimestamps|>``; the ids above it are timestamps (0.02 s apart).
    """

    def __init__(self, feature_extractor: WhisperFeatureExtractor, tokenizer: Any, no_timestamps_token_id: int):
        self.feature_extractor = feature_extractor
        self.tokenizer = tokenizer
        self.timestamp_begin = no_timestamps_token_id + 1

    def __call__(self, audio: Any = None, *, text: Any = None, sampling_rate: int | None = None, **kw: Any) -> Any:
        """Features of ``audio``, and ``labels`` (the token ids) of ``text`` when given."""
        if audio is None and text is None:
            raise ValueError("pass audio, text or both")
        out = self.feature_extractor(audio, sampling_rate=sampling_rate, **kw) if audio is not None else {}
        if text is not None:
            encoded = self.tokenizer(text)
            if audio is None:
                return encoded
            out["labels"] = encoded["input_ids"]
        return out

    def _text_ids(self, ids: Any) -> list[int]:
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        return [int(t) for t in ids if int(t) < self.timestamp_begin]

    def decode(
        self,
        ids: Any,
        skip_special_tokens: bool = False,
        *,
        decode_with_timestamps: bool = False,
        time_precision: float = 0.02,
    ) -> str:
        """Text of one row of ids; timestamps dropped, or written as ``<|1.08|>`` with ``decode_with_timestamps``."""
        if not decode_with_timestamps:
            return self.tokenizer.decode(self._text_ids(ids), skip_special_tokens=skip_special_tokens)
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        parts: list[str] = []
        run: list[int] = []
        for t in [*ids, None]:
            if t is not None and t < self.timestamp_begin:
                run.append(t)
                continue
            if run:
                parts.append(self.tokenizer.decode(run, skip_special_tokens=skip_special_tokens))
                run = []
            if t is not None:
                parts.append(f"<|{(t - self.timestamp_begin) * time_precision:.2f}|>")
        return "".join(parts)

    def batch_decode(self, sequences: Any, skip_special_tokens: bool = False, **kw: Any) -> list[str]:
        return [self.decode(row, skip_special_tokens, **kw) for row in sequences]
