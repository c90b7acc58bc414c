"""``automatic-speech-recognition``: audio in, ``{"text": ...}`` out (plus ``"chunks"`` with
``return_timestamps=True``), as transformers' pipeline returns for Whisper.

Inputs: a file path, the file's bytes (WAV, FLAC, OGG, MP3), an array of samples at the model's rate,
or ``{"raw"|"array": samples, "sampling_rate": sr}`` (resampled; see :mod:`cove.processors.audio`).
Audio longer than 30 s is transcribed one of two ways, both as transformers' pipeline does:

- without ``chunk_length_s`` (long-form): ``generate`` runs Whisper's seek loop over the whole log-mel
  (each 30-second window decoded with timestamps, the next one starting at the last closed segment's
  end; see :func:`cove.generation.whisper.generate`); a model whose generation config says
  ``return_timestamps: false`` needs ``return_timestamps=True`` for it;
- with ``chunk_length_s``: the audio is cut into overlapping chunks (``stride_length_s`` a side,
  default a sixth of the chunk) exactly where transformers cuts, each chunk is transcribed, and the
  chunks' token sequences are merged where they overlap (the longest run of agreeing tokens, split in
  its middle), with timestamps shifted to the whole recording.

Decoding defaults to transformers' pipeline defaults: 5 beams and at most 256 new tokens, unless the
call (``generate_kwargs``, ``max_new_tokens``) or the model's generation config sets them
(``generate_kwargs={"num_beams": 1}`` decodes greedily, several times faster).
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


PIPELINE_DEFAULTS = {"max_new_tokens": 256, "num_beams": 5}  # transformers' pipeline's


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
        generate = self._with_defaults(generate)
        timestamps = bool(return_timestamps or self._config().extra.get("return_timestamps"))
        pre = {"chunk_length_s": chunk_length_s, "stride_length_s": stride_length_s, "return_timestamps": timestamps}
        return pre, {"return_timestamps": timestamps, "generate": generate}, {"return_timestamps": timestamps}

    def _config(self) -> Any:
        """The model's generation config (generation_config.json)."""
        from cove.generation.generate import default_config

        return default_config(self.model)

    def _with_defaults(self, generate: dict[str, Any]) -> dict[str, Any]:
        """transformers' pipeline defaults (5 beams, as OpenAI's Whisper; 256 new tokens) for what neither
        the call nor the model's generation config sets (a set ``max_length`` keeps its own limit)."""
        chosen = {**self._config().to_dict(), **generate}
        for key, value in PIPELINE_DEFAULTS.items():
            if key not in chosen and not (key == "max_new_tokens" and "max_length" in chosen):
                generate[key] = value
        return generate

    # --- preprocess -----------------------------------------------------------------------------

    def preprocess(
        self, inputs: Any, chunk_length_s: float = 0, stride_length_s: Any = None, return_timestamps: bool = False
    ) -> list[Feature]:
        from cove.processors.audio import load_audio

        rate = self.feature_extractor.sampling_rate
        if isinstance(inputs, dict) and "stride" in inputs:
            raise ValueError('"stride" in an input is for CTC models; Whisper takes chunk_length_s')
        samples = load_audio(inputs, rate)
        if not chunk_length_s:
            if len(samples) > self.feature_extractor.n_samples:  # long-form: generate seeks through it
                self._check_long_form(len(samples) / rate, return_timestamps)
                return [{"input_features": self._features(samples, padding="longest", truncation=False)}]
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

    def _check_long_form(self, seconds: float, return_timestamps: bool) -> None:
        if not return_timestamps and self._config().extra.get("return_timestamps") is False:
            raise ValueError(
                f"the audio lasts {seconds:.1f} s, more than Whisper's 30 s window: pass return_timestamps=True"
                " to transcribe it window after window (long-form, as transformers), or chunk_length_s=30 to"
                " transcribe overlapping chunks"
            )

    def _features(self, samples: np.ndarray, **options: Any) -> torch.Tensor:
        rate = self.feature_extractor.sampling_rate
        return self.feature_extractor(samples, sampling_rate=rate, **options)["input_features"][0]  # (n_mels, frames)

    # --- model ------------------------------------------------------------------------------------

    def _run_features(self, features: list[Feature], size: int, fwd: dict[str, Any]) -> list[dict[str, Any]]:
        """Generate for ``size`` chunks at a time (audio over 30 s alone); each feature gets its ids as ``output``."""
        results: list[dict[str, Any]] = []
        window = self.model.config.input_frames
        groups: list[list[Feature]] = []
        for f in features:
            long = f["input_features"].shape[-1] > window
            if long or not groups or len(groups[-1]) == size or groups[-1][0]["input_features"].shape[-1] > window:
                groups.append([])
            groups[-1].append(f)
        # timestamps as transformers' pipeline asks: on when wanted, else left to generate (on past 30 s)
        timestamps = True if fwd["return_timestamps"] else None
        for group in groups:
            batch = torch.stack([f["input_features"] for f in group]).to(self.device)
            with torch.inference_mode():
                ids = self.model.generate(batch, return_timestamps=timestamps, **fwd["generate"])
            results.extend({**f, "output": row.tolist()} for f, row in zip(group, ids, strict=True))
        return results

    # --- postprocess --------------------------------------------------------------------------------

    def postprocess(self, inputs: Any, outputs: list[dict[str, Any]], return_timestamps: bool = False) -> Any:
        """Join the chunks' ids into text (and timestamped segments), as transformers' ``_decode_asr``."""
        begin, precision = self.timestamp_begin, self.time_precision
        window_s = precision * self.model.config.max_source_positions  # a window's timestamps span 30 s
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
            # generate's later windows restart their timestamps at 0: ``earlier`` is the audio before them
            latest = penultimate = earlier = 0.0
            run: list[int] = []
            for i, t in enumerate(ids):
                if t in self.special and t < begin:
                    continue
                if t < begin:
                    run.append(t)
                    continue
                stamp = float((t - begin) * precision)
                if stamp < latest:  # a new window: after a whole one, or from its last closed segment
                    if i >= 2 and not (ids[i - 1] >= begin and ids[i - 2] >= begin):
                        earlier += window_s
                    else:
                        latest = penultimate
                        earlier += penultimate
                penultimate, latest = latest, stamp
                time = round((t - begin) * precision + offset + earlier, 2)
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
