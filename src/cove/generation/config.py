"""GenerationConfig: the options of ``generate``, read from ``generation_config.json`` and overridden
per call. Field names and defaults are transformers' (``max_length=20``, ``top_k=50`` ...), so a file
either library writes, the other reads. Unknown keys in a file are kept aside and written back;
an unknown option passed to a call is an error, never silently ignored.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

FILE_NAME = "generation_config.json"


class UnknownGenerationOption(TypeError):
    """An option ``generate`` does not know. Example:
    ``UnknownGenerationOption: unknown generation option(s) ['top_kk']; known: bad_words_ids, ...``"""


@dataclass
class GenerationConfig:
    """How to decode. Args are transformers' ``GenerationConfig`` fields of the same name.

    Length: ``max_length`` counts prompt + new tokens; ``max_new_tokens`` (new only) wins when set.
    Strategy: greedy unless ``do_sample`` (multinomial) or ``num_beams > 1`` (beam search).
    Speed: the KV cache is always preallocated; ``cache_implementation="static"`` makes each decode step
    attend over all of it with a mask, so every step has the same shapes, and ``compile=True`` (Cove's
    option, implies static) compiles that step once with ``torch.compile`` (a one-time cost of seconds
    per model, batch size and length, paid once per machine: compiled steps are kept on disk, see
    :mod:`cove.generation.compile_cache`; docs/benchmarks.md says where it pays off).
    ``compile="auto"`` runs a step compiled when the model's decode state has it for this shape
    (compiled in this process, or on disk), else eagerly; a background compiler attached to the
    state (the inference server's) compiles it meanwhile, never the caller's thread.
    """

    max_length: int = 20
    max_new_tokens: int | None = None
    min_length: int = 0
    min_new_tokens: int | None = None
    do_sample: bool = False
    num_beams: int = 1
    temperature: float = 1.0
    top_k: int | None = 50
    top_p: float = 1.0
    min_p: float | None = None
    typical_p: float = 1.0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    bad_words_ids: list[list[int]] | None = None
    forced_bos_token_id: int | None = None
    forced_eos_token_id: int | list[int] | None = None
    length_penalty: float = 1.0
    early_stopping: bool | str = False
    num_return_sequences: int = 1
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None
    pad_token_id: int | None = None
    decoder_start_token_id: int | list[int] | None = None
    stop_strings: str | list[str] | None = None
    cache_implementation: str | None = None  # "static": decode steps of static shapes (see below)
    seed: int | None = None  # Cove's: seeds the torch.Generator of sampling when none is passed
    compile: bool | str = False  # Cove's: True, False or "auto" (see below)
    # assisted generation (``generate(..., assistant_model=draft)``, see cove.generation.assisted)
    num_assistant_tokens: int = 20
    num_assistant_tokens_schedule: str = "constant"
    assistant_confidence_threshold: float | None = 0.4
    extra: dict[str, Any] = field(default_factory=dict, repr=False)  # unknown keys of a file, kept

    # --- construction -----------------------------------------------------------------------

    @classmethod
    def known(cls) -> list[str]:
        return sorted(f.name for f in dataclasses.fields(cls) if f.name != "extra")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        """A file's dict: known keys become fields, the rest (``transformers_version`` ...) ``extra``."""
        names = set(cls.known())
        return cls(
            **{k: v for k, v in d.items() if k in names}, extra={k: v for k, v in d.items() if k not in names}
        )

    def to_dict(self) -> dict[str, Any]:
        """Only the fields that differ from the defaults, plus the kept unknown keys (as transformers writes)."""
        default = type(self)()
        out = {k: getattr(self, k) for k in self.known() if getattr(self, k) != getattr(default, k)}
        return {**out, **self.extra}

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> Self:
        return cls.from_dict(json.loads((Path(folder) / FILE_NAME).read_text()))

    def save_pretrained(self, folder: str | Path) -> None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / FILE_NAME).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def from_model_config(cls, config: Any) -> Self:
        """The token ids a model's config.json carries (what transformers does without a file)."""
        names = ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id")
        ids = {k: getattr(config, k, None) for k in names}
        return cls(**{k: v for k, v in ids.items() if v is not None})

    def with_options(self, options: dict[str, Any]) -> Self:
        """A copy with per-call ``options`` applied; an unknown name raises :class:`UnknownGenerationOption`."""
        unknown = sorted(set(options) - set(self.known()))
        if unknown:
            raise UnknownGenerationOption(
                f"unknown generation option(s) {unknown}; known: {', '.join(self.known())}"
            )
        out = dataclasses.replace(self, **options)
        out.validate()
        return out

    # --- derived values ---------------------------------------------------------------------

    def validate(self) -> None:
        if self.num_beams < 1 or self.num_return_sequences < 1:
            raise ValueError("num_beams and num_return_sequences must be >= 1")
        if self.num_return_sequences > self.num_beams and not self.do_sample:
            if self.num_beams > 1 or self.num_return_sequences > 1:
                raise ValueError(
                    f"num_return_sequences ({self.num_return_sequences}) must be <= num_beams ({self.num_beams})"
                )
        if self.temperature <= 0 and self.do_sample:
            raise ValueError("temperature must be > 0 when sampling (use do_sample=False for greedy)")
        if not 0.0 < self.top_p <= 1.0 or not 0.0 < self.typical_p <= 1.0:
            raise ValueError("top_p and typical_p must be in (0, 1]")
        if self.early_stopping not in (True, False, "never"):
            raise ValueError("early_stopping is True, False or 'never'")
        if self.compile not in (True, False, "auto"):
            raise ValueError(f"compile is True, False or 'auto', not {self.compile!r}")
        if isinstance(self.num_assistant_tokens, bool) or not isinstance(self.num_assistant_tokens, int) \
                or self.num_assistant_tokens < 1:
            raise ValueError(f"num_assistant_tokens must be a positive integer, not {self.num_assistant_tokens!r}")
        if self.assistant_confidence_threshold is not None and not 0.0 <= self.assistant_confidence_threshold < 1.0:
            raise ValueError("assistant_confidence_threshold must be in [0, 1) (or None)")
        if self.cache_implementation not in (None, "static", "dynamic"):
            raise ValueError(
                f"cache_implementation {self.cache_implementation!r} is not supported (None, 'static', 'dynamic')"
            )

    def static_decode(self) -> bool:
        """Decode steps of static shapes: asked for, or needed by ``compile=True`` (``"auto"`` decides
        per call, see :class:`cove.generation.generate.Decoder`)."""
        return self.cache_implementation == "static" or self.compile is True

    def eos_ids(self) -> list[int]:
        eos = self.eos_token_id
        return [] if eos is None else [eos] if isinstance(eos, int) else list(eos)

    def total_length(self, prompt_length: int) -> int:
        """Prompt + new tokens at most."""
        if self.max_new_tokens is not None:
            return prompt_length + self.max_new_tokens
        return self.max_length

    def pad_id(self) -> int:
        """Filler after a row ends: pad_token_id, else the first eos (as transformers), else 0."""
        if self.pad_token_id is not None:
            return self.pad_token_id
        eos = self.eos_ids()
        return eos[0] if eos else 0
