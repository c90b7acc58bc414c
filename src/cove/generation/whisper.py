"""Whisper's ``generate``: the decoder prompt (start of transcript, language, task, no-timestamps), the
suppressed tokens and the timestamp rules of transformers' ``WhisperGenerationMixin``, and its seek
loop over 30-second windows, on Cove's decode loops (:func:`cove.generation.generate.decode_steps`,
:func:`cove.generation.beam.beam_search`).

The seek loop (transformers' ``generate`` for short and long-form audio alike): decode the window at
``seek``; cut its ids into segments at each pair of timestamps; if the window ended on a single
timestamp (or had no pair) move past it, else drop what follows the last pair and start the next
window at that pair's time. Features of at most 30 s take one window unless the length limit cut a
timestamped window inside its audio; longer features (long-form) need timestamps.

Output, as transformers returns it: (B, T) the segments' ids of every window in order, the final eos
dropped, rows right-padded with ``pad_token_id``. With timestamps the ids keep their ``<|t|>`` tokens,
each window's relative to its start (the ASR pipeline reads them into times as transformers'
``_decode_asr`` does). Not done: temperature fallback (transformers runs it only when asked, with a
list of temperatures and thresholds), ``prompt_ids`` / ``condition_on_prev_tokens``, word timestamps.

The Whisper-only options live in ``generation_config.json`` (``GenerationConfig.extra``):
``no_timestamps_token_id``, ``lang_to_id``, ``task_to_id``, ``suppress_tokens``,
``begin_suppress_tokens``, ``forced_decoder_ids``, ``max_initial_timestamp_index``, ``is_multilingual``,
``return_timestamps``. Tensor path of the model: ``encode(features)``, ``make_cache``, ``decode``
(:mod:`cove.generation.seq2seq`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from cove.generation.beam import beam_search
from cove.generation.config import GenerationConfig
from cove.generation.generate import Prompt, decode_steps, default_config
from cove.generation.processors import NEG_INF, Processor
from cove.generation.seq2seq import Seq2SeqDecoder

TASKS = ("transcribe", "translate")


@dataclass(frozen=True)
class SuppressTokens:
    """The logits of ``ids`` are -inf at every step (transformers' ``SuppressTokensLogitsProcessor``)."""

    ids: tuple[int, ...]

    def __call__(self, ids: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        out = logits.clone()
        out[:, [i for i in self.ids if i < logits.shape[-1]]] = NEG_INF
        return out


@dataclass(frozen=True)
class SuppressAtBegin:
    """``ids`` cannot be the first generated token (after a prompt of ``begin_index`` tokens)."""

    ids: tuple[int, ...]
    begin_index: int

    def __call__(self, ids: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        if ids.shape[-1] != self.begin_index:
            return logits
        return SuppressTokens(self.ids)(ids, logits)


@dataclass(frozen=True)
class Timestamps:
    """Whisper's timestamp rules (the paper's section 4.5; transformers' ``WhisperTimeStampLogitsProcessor``):
    never ``<|notimestamps|>``; timestamps come in pairs except right before eos; they never decrease; the
    first token is a timestamp no later than ``max_initial_index``; and when the timestamps together are
    likelier than any one text token, a timestamp is chosen."""

    no_timestamps_id: int
    eos_id: int
    begin_index: int
    max_initial_index: int | None = None

    def __call__(self, ids: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        first = self.no_timestamps_id + 1  # <|0.00|>
        out = logits.clone()
        out[:, self.no_timestamps_id] = NEG_INF
        lowest = []
        for k, row in enumerate(ids[:, self.begin_index :].tolist()):
            last = len(row) >= 1 and row[-1] >= first
            penultimate = len(row) < 2 or row[-2] >= first
            if last:
                if penultimate:  # a pair just closed: text next
                    out[k, first:] = NEG_INF
                else:  # an open timestamp: another one (or eos), not text
                    out[k, : self.eos_id] = NEG_INF
            stamps = [t for t in row if t >= first]
            low = first
            if stamps:
                low = stamps[-1] if last and not penultimate else stamps[-1] + 1
            lowest.append(low)
        vocab = torch.arange(out.shape[-1], device=out.device)
        floor = torch.tensor(lowest, device=out.device)[:, None]
        out = out.masked_fill((vocab >= first) & (vocab < floor), NEG_INF)
        if ids.shape[1] == self.begin_index:
            out[:, :first] = NEG_INF
            if self.max_initial_index is not None:
                out[:, first + self.max_initial_index + 1 :] = NEG_INF
        logprobs = out.float().log_softmax(-1)
        stamp = logprobs[:, first:].logsumexp(-1) > logprobs[:, :first].max(-1).values
        out[:, :first] = out[:, :first].masked_fill(stamp[:, None], NEG_INF)
        return out


def _option(config: GenerationConfig, model_config: Any, name: str) -> Any:
    """A Whisper option of the generation config, else of the model's config.json, else None."""
    if name in config.extra:
        return config.extra[name]
    return getattr(model_config, name, None)


def _language_id(config: GenerationConfig, language: str) -> int:
    lang_to_id = config.extra.get("lang_to_id") or {}
    token = language if language.startswith("<|") else f"<|{language.lower()}|>"
    if token not in lang_to_id:
        known = ", ".join(sorted(t.strip("<|>") for t in lang_to_id)) or "none: this model is English-only"
        raise ValueError(f"language {language!r} is not one this model knows (known: {known})")
    return lang_to_id[token]


def prompt_ids(
    config: GenerationConfig,
    model_config: Any,
    *,
    language: str | None,
    task: str | None,
    return_timestamps: bool,
) -> list[int | None]:
    """The decoder prompt: start, [language], [task], [<|notimestamps|>], as transformers builds it.
    A None in position 1 means "detect the language" (multilingual models without ``language``)."""
    start = config.decoder_start_token_id
    if start is None:
        start = model_config.decoder_start_token_id
    tokens: list[int | None] = [start]
    if language is None and task is None:
        forced = _option(config, model_config, "forced_decoder_ids") or []
        for i, (position, token) in enumerate(sorted(forced), start=1):
            if position != i:
                raise ValueError(f"forced_decoder_ids {forced} do not follow Whisper's prompt pattern")
            tokens.append(token)
    lang_to_id = config.extra.get("lang_to_id")
    if language is not None:
        tokens[1:2] = [_language_id(config, language)]
    elif lang_to_id and config.extra.get("is_multilingual", True) and (len(tokens) == 1 or tokens[1] is None):
        tokens[1:2] = [None]
    task_to_id = config.extra.get("task_to_id") or {}
    if task is not None:
        if task not in TASKS or task not in task_to_id:
            raise ValueError(f"task {task!r} is not supported by this model (it has: {sorted(task_to_id)})")
        tokens = [t for t in tokens if t not in task_to_id.values()] + [task_to_id[task]]
    elif language is not None and task_to_id and not any(t in task_to_id.values() for t in tokens):
        tokens.append(task_to_id["transcribe"])
    no_ts = config.extra.get("no_timestamps_token_id")
    if no_ts is not None and not return_timestamps and tokens[-1] != no_ts:
        tokens.append(no_ts)
    elif return_timestamps and tokens[-1] == no_ts:
        tokens.pop()
    return tokens


def detect_language(model: Any, encoder_hidden: torch.Tensor, config: GenerationConfig) -> torch.Tensor:
    """(B,) the likeliest language token after the start token (transformers' ``detect_language``)."""
    lang_ids = list((config.extra.get("lang_to_id") or {}).values())
    start = torch.full((encoder_hidden.shape[0], 1), config.decoder_start_token_id, device=encoder_hidden.device)
    cache = model.make_cache(encoder_hidden.shape[0], 1, dtype=encoder_hidden.dtype, device=encoder_hidden.device)
    logits = model.decode(start, encoder_hidden, None, cache)[:, -1].float()
    keep = torch.full_like(logits, NEG_INF)
    keep[:, lang_ids] = 0
    return (logits + keep).argmax(-1)


def processors_for(
    config: GenerationConfig, model_config: Any, *, begin_index: int, return_timestamps: bool
) -> list[Processor]:
    """Whisper's processors in transformers' order: begin-suppress, suppress, timestamps."""
    out: list[Processor] = []
    begin = _option(config, model_config, "begin_suppress_tokens")
    if begin:
        out.append(SuppressAtBegin(tuple(begin), begin_index))
    suppress = _option(config, model_config, "suppress_tokens")
    if suppress:
        out.append(SuppressTokens(tuple(suppress)))
    if return_timestamps:
        no_ts = config.extra.get("no_timestamps_token_id")
        if no_ts is None:
            raise ValueError("return_timestamps needs no_timestamps_token_id in the generation config")
        eos = config.eos_token_id if config.eos_token_id is not None else config.bos_token_id
        eos = eos if isinstance(eos, int) else list(eos)[0]
        out.append(Timestamps(no_ts, eos, begin_index, config.extra.get("max_initial_timestamp_index")))
    return out


def generate(
    model: Any,
    input_features: torch.Tensor,
    generation_config: GenerationConfig | None = None,
    *,
    attention_mask: torch.Tensor | None = None,
    streamer: Any = None,
    language: str | None = None,
    task: str | None = None,
    return_timestamps: bool | None = None,
    generator: torch.Generator | None = None,
    **options: Any,
) -> torch.Tensor:
    """(B, T) generated ids of ``input_features`` (B, n_mels, frames), transformers' Whisper ``generate``
    token for token: its seek loop over 30-second windows.

    Each window is decoded (greedy, sampled or beam search); its ids are cut into segments at pairs of
    timestamps; when a window does not end on a single timestamp (speech runs past it, or the length
    limit cut it), the next window starts at its last closed segment's end timestamp, else right after
    the window. Features longer than 30 s (more than ``config.input_frames``) need timestamps (they are
    turned on, and ``False`` raises, as in transformers). The rows' ids are the segments' ids in
    order, each window's timestamps relative to the window's start (the ASR pipeline turns them into
    times), right-padded with ``pad_token_id``.

    Args:
        attention_mask: (B, frames) 1 for real frames: with B > 1 and features longer than 30 s, where
            each row's audio ends (required then, as in transformers).
        language: ``"en"``, ``"<|en|>"`` ...; None detects it (on the first window) on multilingual models.
        task: ``"transcribe"`` or ``"translate"``.
        return_timestamps: predict ``<|t|>`` tokens (the generation config's ``return_timestamps`` when None).
        options: per-call :class:`GenerationConfig` overrides (``max_new_tokens``, ``num_beams`` ...).
    """
    config = (generation_config or default_config(model)).with_options(options)
    if config.num_return_sequences > 1:
        raise ValueError("Whisper generation here returns one sequence per input (num_return_sequences=1)")
    if return_timestamps is None:
        return_timestamps = config.extra.get("return_timestamps")
    features = input_features if input_features.ndim == 3 else input_features[None]
    features = features.to(device=model.device, dtype=model.dtype)
    batch, frames = features.shape[0], features.shape[-1]
    window = model.config.input_frames  # 3000 mel frames = 30 s
    stride = window // model.config.max_source_positions  # mel frames per timestamp step / 0.02 s
    if frames > window:
        if return_timestamps is False:
            raise ValueError(
                f"features of {frames} frames are longer than Whisper's {window} (30 s): long-form generation"
                " predicts timestamps, pass return_timestamps=True (or None)"
            )
        return_timestamps = True
    return_timestamps = bool(return_timestamps)
    max_frames = torch.full((batch,), frames, dtype=torch.long)
    if batch > 1 and frames > window:
        if attention_mask is None:
            raise ValueError("batched audio longer than 30 s needs attention_mask (where each row's audio ends)")
        max_frames = attention_mask.sum(-1).cpu().long()
    tokens = prompt_ids(config, model.config, language=language, task=task, return_timestamps=return_timestamps)
    timestamp_begin = config.extra.get("no_timestamps_token_id", model.config.vocab_size) + 1
    seek = torch.zeros(batch, dtype=torch.long)
    segments: list[list[list[int]]] = [[] for _ in range(batch)]
    with torch.inference_mode():
        prompt = torch.tensor([[t or 0 for t in tokens]] * batch, dtype=torch.long, device=features.device)
        if None in tokens:
            first = _pad_frames(features[:, :, :window], window)
            prompt[:, tokens.index(None)] = detect_language(model, model.encode(first), config)
        processors = processors_for(
            config, model.config, begin_index=len(tokens), return_timestamps=return_timestamps
        )
        while bool((seek < max_frames).any()):
            rows = [i for i in range(batch) if seek[i] < max_frames[i]]
            lengths = [int(min(max_frames[i] - seek[i], window)) for i in rows]
            chunk = torch.stack(
                [_pad_frames(features[i, :, seek[i] : seek[i] + n], window) for i, n in zip(rows, lengths, strict=True)]
            )
            config = _window_length(config, len(tokens), model.config.max_target_positions)
            streams = streamer if (streamer is not None and batch == 1) else None
            new = _decode_window(model, chunk, prompt[rows], config, processors, generator, streams)
            for i, n, ids in zip(rows, lengths, new, strict=True):
                ids = _trim(ids.tolist(), config)
                found, advance = split_segments(ids, timestamp_begin, n, stride)
                segments[i].extend(found)
                seek[i] += advance
    pad = config.pad_id()
    out = [[t for segment in row for t in segment] for row in segments]
    width = max((len(r) for r in out), default=0)
    return torch.tensor([r + [pad] * (width - len(r)) for r in out], dtype=torch.long, device=features.device)


def _pad_frames(features: torch.Tensor, window: int) -> torch.Tensor:
    """(..., n_mels, n) -> (..., n_mels, window): zeros after the audio, as transformers pads a last window."""
    return torch.nn.functional.pad(features, (0, window - features.shape[-1])) if features.shape[-1] < window else features


def _window_length(config: GenerationConfig, prompt_length: int, max_target: int) -> GenerationConfig:
    """The length limit of the next window, as transformers sets it: ``max_new_tokens`` as given (it must
    fit the decoder), else ``max_length`` grown by the prompt's length at every window, up to the
    decoder's ``max_target_positions``."""
    if config.max_new_tokens is not None:
        if config.max_new_tokens + prompt_length > max_target:
            raise ValueError(
                f"max_new_tokens={config.max_new_tokens} and a prompt of {prompt_length} tokens exceed Whisper's"
                f" {max_target} decoder positions"
            )
        return config
    return dataclasses.replace(config, max_length=min(config.max_length + prompt_length, max_target))


def _decode_window(
    model: Any,
    features: torch.Tensor,
    prompt: torch.Tensor,
    config: GenerationConfig,
    processors: list[Processor],
    generator: torch.Generator | None,
    streamer: Any,
) -> torch.Tensor:
    """(B, n_mels, window) features and (B, P) prompts -> (B, T) ids after the prompt (eos and padding kept)."""
    hidden = model.encode(features)  # once, for every step and beam

    def make_decoder(rows: Prompt, total: int) -> Seq2SeqDecoder:
        return Seq2SeqDecoder(model, hidden, None, rows.ids.shape[0], total)

    rows = Prompt.make(prompt, None)
    if config.num_beams > 1:
        out = beam_search(model, rows, config, generator=generator, make_decoder=make_decoder, processors=processors)
        if streamer is not None:
            streamer.put(out[0])
        return out[:, prompt.shape[1] :]
    if streamer is not None:
        streamer.put(prompt[0])
    new = []
    for step in decode_steps(model, rows, config, generator=generator, make_decoder=make_decoder, processors=processors):
        new.append(step)
        if streamer is not None:
            streamer.put(step)
    return torch.stack(new, dim=1) if new else prompt[:, :0]


def _trim(ids: list[int], config: GenerationConfig) -> list[int]:
    """A window's ids without the padding after its end and without its final eos, as transformers trims
    them (with pad == eos it counts every pad id in the row, one of them the eos)."""
    pad, eos = config.pad_id(), config.eos_ids()
    if ids and ids[-1] == pad:
        n = ids.count(pad) - (1 if pad in eos else 0)
        ids = ids[: len(ids) - n] if n else ids
    if ids and ids[-1] in eos[:1]:
        ids = ids[:-1]
    return ids


def split_segments(ids: list[int], timestamp_begin: int, frames: int, stride: int) -> tuple[list[list[int]], int]:
    """A window's ids -> (its segments' ids, mel frames to seek ahead), as transformers'
    ``_retrieve_segment``: segments end at each pair of timestamps; a window that ends on a single
    timestamp (or has no pair) is done (seek ``frames``, the window's audio); else its ids after the
    last pair are dropped and the next window starts at that pair's time."""
    stamp = [t >= timestamp_begin for t in ids]
    single_ending = stamp[-2:] == [False, True]
    cuts = [i + 1 for i in range(len(ids) - 1) if stamp[i] and stamp[i + 1]]
    if not cuts:
        return [ids], frames
    if single_ending:
        cuts.append(len(ids))
    else:
        cuts[-1] += 1  # the last segment keeps its closing pair, so a reader sees it was not a single ending
    found, last = [], 0
    for cut in cuts:
        found.append(ids[last:cut])
        last = cut
    if single_ending:
        return found, frames
    return found, (ids[last - 2] - timestamp_begin) * stride
