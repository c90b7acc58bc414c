"""``automatic-speech-recognition``: audio in, ``{"text": ...}`` out (plus ``"chunks"`` with
``return_timestamps=True``), as transformers' pipeline returns for Whisper.

Inputs: a file path, the file's bytes (WAV, FLAC, OGG, MP3), an array of samples at the model's rate,
or ``{"raw"|"array": samples, "sampling_rate": sr}`` (resampled; see :mod:`cove.processors.audio`).
Audio longer than 30 s needs ``chunk_length_s``: it is cut into overlapping chunks (``stride_length_s``
a side, default a sixth of the chunk) exactly where transformers cuts, each chunk is transcribed, and
the chunks' token sequences are merged where they overlap (the longest run of agreeing tokens, split
in its middle), with timestamps shifted to the whole recording.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from cove.pipelines.base import Feature, Params, Pipeline


def chunks(samples: np.ndarray, chunk_len: int, left: int, right: int) -> list[tuple[np.ndarray, tuple[int, int, int]]]:
    """(chunk, (length, left stride, right stride)) in samples, cut as transformers' ``chunk_iter`` cuts."""
    step = chunk_len - left - right
    out = []
    for start in range(0, len(samples), step):
        chunk = samples[start : start + chunk_len]
        is_last = start + chunk_len >= len(samples)
        stride_left = 0 if start == 0 else left
        if len(chunk) > stride_left:
            out.append((chunk, (len(chunk), stride_left, 0 if is_last else right)))
        if is_last:
            break
    return out


def merge_overlaps(sequences: list[list[int]]) -> list[int]:
    """One token sequence from chunk sequences that overlap: for each next chunk, the alignment with
    the most agreeing tokens (a small bonus for longer overlaps breaks ties), cut in its middle."""
    left = sequences[0]
    total: list[int] = []
    for right in sequences[1:]:
        best, cut = 0.0, (len(left), len(left), 0, 0)
        for i in range(1, len(left) + len(right)):
            l0, l1 = max(0, len(left) - i), min(len(left), len(left) + len(right) - i)
            r0, r1 = max(0, i - len(left)), min(len(right), i)
            matches = int(np.sum(np.array(left[l0:l1]) == np.array(right[r0:r1])))
            score = matches / i + i / 10000.0
            if matches > 1 and score > best:
                best, cut = score, (l0, l1, r0, r1)
        l0, l1, r0, r1 = cut
        total.extend(left[: (l0 + l1) // 2])
        left = right[(r0 + r1) // 2 :]
    return total + left


class AutomaticSpeechRecognitionPipeline(Pipeline):
    """Whisper transcription of one clip, a list, or a generator of clips.

    Args:
        feature_extractor: the model's (default: ``preprocessor_config.json`` of ``folder``).
        folder: the model's folder.
    """

    task = "automatic-speech-recognition"
    uses_feature_extractor = True

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        feature_extractor: Any = None,
        folder: Any = None,
        device: Any = None,
        batch_size: int | None = None,
        **options: Any,
    ) -> None:
        if feature_extractor is None:
            if folder is None:
                raise ValueError("pass feature_extractor= (the model was not loaded from a folder)")
            from cove.processors.auto import AutoFeatureExtractor

            feature_extractor = AutoFeatureExtractor.from_pretrained(folder)
        self.feature_extractor = feature_extractor
        no_ts = tokenizer.convert_tokens_to_ids("<|notimestamps|>")
        config = getattr(model, "generation_config", None)
        extra = getattr(config, "extra", {}) or {}
        self.timestamp_begin = int(extra.get("no_timestamps_token_id", no_ts)) + 1
        self.special = set(tokenizer.all_special_ids)
        super().__init__(model, tokenizer, device=device, batch_size=batch_size, **options)
        # seconds per timestamp step: 30 s over the encoder's 1500 positions
        self.time_precision = feature_extractor.chunk_length / model.config.max_source_positions

    def sanitize(
        self,
        chunk_length_s: float = 0,
        stride_length_s: float | tuple[float, float] | None = None,
        return_timestamps: bool | str | None = None,
        generate_kwargs: dict[str, Any] | None = None,
        max_new_tokens: int | None = None,
        **rest: Any,
    ) -> Params:
        self._reject(rest)
        if return_timestamps not in (None, True, False):
            raise ValueError(f"return_timestamps={return_timestamps!r}: Cove's Whisper gives segment timestamps (True)")
        if chunk_length_s < 0 or (stride_length_s is not None and min(np.atleast_1d(stride_length_s)) < 0):
            raise ValueError("chunk_length_s and stride_length_s must be >= 0")
        generate = dict(generate_kwargs or {})
        if max_new_tokens is not None:
            generate["max_new_tokens"] = max_new_tokens
        timestamps = bool(return_timestamps)
        pre = {"chunk_length_s": chunk_length_s, "stride_length_s": stride_length_s}
        return pre, {"return_timestamps": timestamps, "generate": generate}, {"return_timestamps": timestamps}

    # --- preprocess -----------------------------------------------------------------------------

    def preprocess(
        self, inputs: Any, chunk_length_s: float = 0, stride_length_s: Any = None
    ) -> list[Feature]:
        from cove.processors.audio import load_audio

        rate = self.feature_extractor.sampling_rate
        if isinstance(inputs, dict) and "stride" in inputs:
            raise ValueError('"stride" in an input is for CTC models; Whisper takes chunk_length_s')
        samples = load_audio(inputs, rate)
        if not chunk_length_s:
            if len(samples) > self.feature_extractor.n_samples:
                seconds = len(samples) / rate
                raise ValueError(
                    f"the audio lasts {seconds:.1f} s, more than Whisper's 30 s window: pass chunk_length_s=30"
                    " to transcribe it in overlapping chunks"
                )
            return [{"input_features": self._features(samples)}]
        if stride_length_s is None:
            stride_length_s = chunk_length_s / 6
        left_s, right_s = (stride_length_s, stride_length_s) if np.isscalar(stride_length_s) else stride_length_s
        chunk_len = int(round(chunk_length_s * rate))
        left, right = int(round(left_s * rate)), int(round(right_s * rate))
        if chunk_len < left + right:
            raise ValueError("chunk_length_s must be longer than both strides together")
        if chunk_len > self.feature_extractor.n_samples:
            raise ValueError("chunk_length_s must be at most 30 (Whisper's window)")
        return [
            {"input_features": self._features(chunk), "stride": tuple(n / rate for n in stride)}
            for chunk, stride in chunks(samples, chunk_len, left, right)
        ]

    def _features(self, samples: np.ndarray) -> torch.Tensor:
        rate = self.feature_extractor.sampling_rate
        return self.feature_extractor(samples, sampling_rate=rate)["input_features"][0]  # (n_mels, frames)

    # --- model ------------------------------------------------------------------------------------

    def _run_features(self, features: list[Feature], size: int, fwd: dict[str, Any]) -> list[dict[str, Any]]:
        """Generate for ``size`` chunks at a time; each feature gets its row of ids as ``output``."""
        results = []
        for start in range(0, len(features), size):
            group = features[start : start + size]
            batch = torch.stack([f["input_features"] for f in group]).to(self.device)
            with torch.inference_mode():
                ids = self.model.generate(batch, return_timestamps=fwd["return_timestamps"], **fwd["generate"])
            results.extend({**f, "output": row.tolist()} for f, row in zip(group, ids, strict=True))
        return results

    # --- postprocess --------------------------------------------------------------------------------

    def postprocess(self, inputs: Any, outputs: list[dict[str, Any]], return_timestamps: bool = False) -> Any:
        """Join the chunks' ids into text (and timestamped segments), as transformers' ``_decode_asr``."""
        begin, precision = self.timestamp_begin, self.time_precision
        segments: list[dict[str, Any]] = []
        segment: dict[str, Any] = {"timestamp": [None, None]}
        pending: list[list[int]] = []  # token runs of the open segment, one per chunk it spans
        offset = 0.0
        skip = False
        for out in outputs:
            ids = out["output"]
            chunk_len, stride_left, stride_right = out.get("stride", (None, 0.0, 0.0))
            offset -= stride_left
            first_allowed = begin + stride_left / precision if stride_left else begin
            last_allowed = None  # a chunk's timestamps inside its right stride are left to the next chunk
            if stride_right:
                right_start = chunk_len - stride_right
                for t in reversed(ids):
                    if t >= begin:
                        if last_allowed is not None and (t - begin) * precision < right_start:
                            break
                        last_allowed = t
            run: list[int] = []
            for t in ids:
                if t in self.special and t < begin:
                    continue
                if t < begin:
                    run.append(t)
                    continue
                time = round((t - begin) * precision + offset, 2)
                if last_allowed is not None and t >= last_allowed:
                    skip = True
                elif skip or (pending and t < first_allowed):
                    skip = False
                elif segment["timestamp"][0] is None:
                    segment["timestamp"][0] = time
                elif time != segment["timestamp"][0]:
                    segment["timestamp"][1] = time
                    segment["text"] = self.tokenizer.decode(merge_overlaps([*pending, run]))
                    segments.append(segment)
                    segment, pending, run = {"timestamp": [None, None]}, [], []
            if chunk_len is not None:
                offset += chunk_len - stride_right
            if run:
                pending.append(run)
            elif not any(pending):
                segment, pending = {"timestamp": [None, None]}, []
        if pending:
            segment["text"] = self.tokenizer.decode(merge_overlaps(pending))
            segments.append(segment)
        result: dict[str, Any] = {"text": "".join(s["text"] for s in segments)}
        if return_timestamps:
            result["chunks"] = [{"text": s["text"], "timestamp": tuple(s["timestamp"])} for s in segments]
        return result
