"""Whisper's ``generate`` for one 30-second window: the decoder prompt (start of transcript, language,
task, no-timestamps), the suppressed tokens, and the timestamp rules, as transformers'
``WhisperGenerationMixin`` applies them to short-form audio, on Cove's decode loop
(:func:`cove.generation.generate.decode_steps`).

Output, as transformers returns it for audio of at most 30 s: (B, T) the generated ids after the prompt,
the final eos dropped, rows right-padded with ``pad_token_id``. With timestamps the ids keep their
``<|t|>`` tokens (decode them with ``decode_with_timestamps`` or the ASR pipeline's offsets).
Not done: transformers' long-form loop (features longer than 30 s, and a timestamped window that runs
out of decoder length, which transformers decodes again from its last timestamp); beam search.

The Whisper-only options live in ``generation_config.json`` (``GenerationConfig.extra``):
``no_timestamps_token_id``, ``lang_to_id``, ``task_to_id``, ``suppress_tokens``,
``begin_suppress_tokens``, ``forced_decoder_ids``, ``max_initial_timestamp_index``, ``is_multilingual``.
Tensor path of the model: ``encode(features)``, ``make_cache``, ``decode`` (:mod:`cove.generation.seq2seq`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from cove.generation.config import GenerationConfig
from cove.generation.generate import Prompt, _run, default_config
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
    streamer: Any = None,
    language: str | None = None,
    task: str | None = None,
    return_timestamps: bool | None = None,
    generator: torch.Generator | None = None,
    **options: Any,
) -> torch.Tensor:
    """(B, T) generated ids of each 30-second window of ``input_features`` (B, n_mels, frames).

    Args:
        language: ``"en"``, ``"<|en|>"`` ...; None detects it on multilingual models.
        task: ``"transcribe"`` or ``"translate"``.
        return_timestamps: predict ``<|t|>`` tokens (the generation config's ``return_timestamps`` when None).
        options: per-call :class:`GenerationConfig` overrides (``max_new_tokens`` ...).
    """
    config = (generation_config or default_config(model)).with_options(options)
    if config.num_beams > 1 or config.num_return_sequences > 1:
        raise ValueError("Whisper generation here is greedy or sampled with one sequence per input")
    if return_timestamps is None:
        return_timestamps = bool(config.extra.get("return_timestamps", False))
    features = input_features if input_features.ndim == 3 else input_features[None]
    features = features.to(device=model.device, dtype=model.dtype)
    tokens = prompt_ids(config, model.config, language=language, task=task, return_timestamps=return_timestamps)
    with torch.inference_mode():
        hidden = model.encode(features)  # once, for every step
        batch = hidden.shape[0]
        prompt = torch.tensor([[t or 0 for t in tokens]] * batch, dtype=torch.long, device=hidden.device)
        if None in tokens:
            prompt[:, tokens.index(None)] = detect_language(model, hidden, config)
        processors = processors_for(
            config, model.config, begin_index=len(tokens), return_timestamps=return_timestamps
        )

        def make_decoder(rows: Prompt, total: int) -> Seq2SeqDecoder:
            return Seq2SeqDecoder(model, hidden, None, rows.ids.shape[0], total)

        out = _run(
            model,
            Prompt.make(prompt, None),
            config,
            streamer,
            generator,
            None,
            make_decoder=make_decoder,
            processors=processors,
        )
    timestamp_begin = config.extra["no_timestamps_token_id"] + 1 if return_timestamps else None
    return _strip(out[:, len(tokens) :], config, timestamp_begin)


def _strip(new: torch.Tensor, config: GenerationConfig, timestamp_begin: int | None) -> torch.Tensor:
    """Each row's ids without its end (eos and the padding after it), right-padded again. With
    timestamps, a row cut off by the length limit keeps only its closed segments (up to its last
    pair of timestamps), as transformers keeps them."""
    eos, pad = set(config.eos_ids()), config.pad_id()
    rows: list[list[int]] = []
    for row in new.tolist():
        end = next((i for i, t in enumerate(row) if t in eos), None)
        if end is None and timestamp_begin is not None:
            pairs = [i + 1 for i in range(len(row) - 1) if min(row[i], row[i + 1]) >= timestamp_begin]
            single = len(row) >= 2 and row[-2] < timestamp_begin <= row[-1]
            if pairs and not single:
                end = pairs[-1] + 1
        rows.append(row[:end])
    width = max((len(r) for r in rows), default=0)
    return torch.tensor([r + [pad] * (width - len(r)) for r in rows], dtype=torch.long, device=new.device)

