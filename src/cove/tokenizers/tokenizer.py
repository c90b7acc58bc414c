"""`Tokenizer`: a tokenizer.json pipeline, with the API of Hugging Face `tokenizers.Tokenizer`.

added tokens -> normalizer -> pre-tokenizer -> model -> truncation -> post-processor -> padding,
and the decoder on the way back; `tokenizers/src/tokenizer/mod.rs` is the reference. Offsets are
char offsets into each input, as the Python binding of `tokenizers` reports them.
"""

from __future__ import annotations

import gc
import json
import os
import time
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cove.tokenizers.added_vocabulary import AddedToken, AddedVocabulary
from cove.tokenizers.decoders import decoder_from_dict
from cove.tokenizers.encoding import Encoding
from cove.tokenizers.models import model_from_dict
from cove.tokenizers.normalizers import normalizer_from_dict
from cove.tokenizers.post_processors import (
    ByteLevelProcessor,
    ProcessorSequence,
    post_processor_from_dict,
    wrap_single,
)
from cove.tokenizers.pre_tokenizers import pre_tokenizer_from_dict
from cove.tokenizers.words import WordPipeline

if TYPE_CHECKING:
    from cove.tokenizers.fast_bpe import TiktokenCore
    from cove.tokenizers.parallel import EncodePool

InputSequence = str | Sequence[str]


@dataclass
class TruncationParams:
    max_length: int
    stride: int = 0
    strategy: str = "longest_first"  # "longest_first" | "only_first" | "only_second"
    direction: str = "right"

    def to_dict(self) -> dict[str, Any]:
        strategy = {"longest_first": "LongestFirst", "only_first": "OnlyFirst", "only_second": "OnlySecond"}
        return {"direction": self.direction.capitalize(), "max_length": self.max_length,
                "strategy": strategy[self.strategy], "stride": self.stride}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TruncationParams:
        strategy = {"LongestFirst": "longest_first", "OnlyFirst": "only_first", "OnlySecond": "only_second"}
        return cls(d["max_length"], d.get("stride", 0), strategy[d.get("strategy", "LongestFirst")],
                   d.get("direction", "Right").lower())


@dataclass
class PaddingParams:
    length: int | None = None  # None: pad to the longest of the batch
    pad_to_multiple_of: int | None = None
    pad_id: int = 0
    pad_type_id: int = 0
    pad_token: str = "[PAD]"
    direction: str = "right"

    def to_dict(self) -> dict[str, Any]:
        strategy: Any = "BatchLongest" if self.length is None else {"Fixed": self.length}
        return {"strategy": strategy, "direction": self.direction.capitalize(),
                "pad_to_multiple_of": self.pad_to_multiple_of, "pad_id": self.pad_id,
                "pad_type_id": self.pad_type_id, "pad_token": self.pad_token}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PaddingParams:
        strategy = d.get("strategy", "BatchLongest")
        length = strategy["Fixed"] if isinstance(strategy, dict) else None
        return cls(length, d.get("pad_to_multiple_of"), d.get("pad_id", 0), d.get("pad_type_id", 0),
                   d.get("pad_token", "[PAD]"), d.get("direction", "Right").lower())


def truncate_encodings(enc: Encoding, pair: Encoding | None, p: TruncationParams) -> None:
    """Truncate in place to `p.max_length` tokens in total (`truncate_encodings` in Rust)."""
    if p.max_length == 0:
        enc.truncate(0, p.stride, p.direction)
        if pair is not None:
            pair.truncate(0, p.stride, p.direction)
        return
    total = len(enc) + (len(pair) if pair is not None else 0)
    if total <= p.max_length:
        return
    to_remove = total - p.max_length
    if p.strategy == "longest_first":
        if pair is None:
            enc.truncate(total - to_remove, p.stride, p.direction)
            return
        n1, n2 = len(enc), len(pair)
        swap = n1 > n2
        if swap:
            n1, n2 = n2, n1
        n2 = n1 if n1 > p.max_length else max(n1, p.max_length - n1)
        if n1 + n2 > p.max_length:
            n1 = p.max_length // 2
            n2 = n1 + p.max_length % 2
        if swap:
            n1, n2 = n2, n1
        enc.truncate(n1, p.stride, p.direction)
        pair.truncate(n2, p.stride, p.direction)
        return
    target = enc if p.strategy == "only_first" else pair
    if target is None:
        raise ValueError("truncation strategy only_second needs a pair of sequences")
    if len(target) <= to_remove:
        raise ValueError("the sequence to truncate is too short for the requested max_length")
    target.truncate(len(target) - to_remove, p.stride, p.direction)


def pad_encodings(encodings: list[Encoding], p: PaddingParams) -> None:
    if not encodings:
        return
    length = p.length if p.length is not None else max(len(e) for e in encodings)
    if p.pad_to_multiple_of and length % p.pad_to_multiple_of:
        length += p.pad_to_multiple_of - length % p.pad_to_multiple_of
    for e in encodings:
        e.pad(length, pad_id=p.pad_id, pad_type_id=p.pad_type_id, pad_token=p.pad_token, direction=p.direction)


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: a batch makes ~10 lists and tuples per token, none in a
    cycle, and the collections they set off walk every tracked object of the process (vocabulary
    tries included). Measured on 1,000 MiniLM lines: `encode_batch` 1.3x faster, rebuilding a worker's
    results 3.5x. Collection resumes after (unless it was off before)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            # What the batch allocated is young, and the first allocation after `enable` would walk all
            # of it (a young collection: ~17 ms a 1,000-line T5 batch, paid after the work is done).
            # freeze + unfreeze moves every tracked object to the oldest generation in O(1) instead:
            # the results are long-lived anyway, and a full collection still finds any cycle.
            gc.freeze()
            gc.unfreeze()
            gc.enable()


class Tokenizer:
    """A tokenization pipeline read from (and written to) tokenizer.json."""

    def __init__(self, model: Any, *, normalizer: Any = None, pre_tokenizer: Any = None,
                 post_processor: Any = None, decoder: Any = None) -> None:
        self._model = model
        self._normalizer = normalizer
        self._pre_tokenizer = pre_tokenizer
        self._words: WordPipeline | None = WordPipeline.build(pre_tokenizer, model)
        self.post_processor = post_processor
        self.decoder = decoder
        self.added = AddedVocabulary()
        self._truncation: TruncationParams | None = None
        self._padding: PaddingParams | None = None
        self.extra: dict[str, Any] = {}
        self.use_fast_path = True  # False forces the general NormalizedString path (tests compare both)
        self.use_compiled_core = True  # False keeps BPE (byte-level, Llama-style) on the Python word path
        self._core: TiktokenCore | None | bool = False  # False: not built yet
        self._parts_cache: dict[Any, Any] = {}
        self._pool: EncodePool | None = None  # worker processes for large batches (see `_pool_for`)
        self._pool_key: tuple[Any, ...] | None = None
        self._pool_finalizer: weakref.finalize | None = None
        self._forked = False
        self._chooser: Any = None  # serial or parallel, by measured speed (`parallel.Chooser`)

    # -- pipeline stages that derived state depends on ----------------------------------------
    @property
    def model(self) -> Any:
        return self._model

    @model.setter
    def model(self, value: Any) -> None:
        self._model = value
        self._words = WordPipeline.build(self._pre_tokenizer, value)
        self._core = False

    @property
    def pre_tokenizer(self) -> Any:
        return self._pre_tokenizer

    @pre_tokenizer.setter
    def pre_tokenizer(self, value: Any) -> None:
        self._pre_tokenizer = value
        self._words = WordPipeline.build(value, self._model)
        self._core = False

    @property
    def normalizer(self) -> Any:
        return self._normalizer

    @normalizer.setter
    def normalizer(self, value: Any) -> None:
        self._normalizer = value
        self.added.refresh(value)
        self._core = False

    # -- tokenizer.json ------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Tokenizer:
        tok = cls(model_from_dict(d["model"]), normalizer=normalizer_from_dict(d.get("normalizer")),
                  pre_tokenizer=pre_tokenizer_from_dict(d.get("pre_tokenizer")),
                  post_processor=post_processor_from_dict(d.get("post_processor")),
                  decoder=decoder_from_dict(d.get("decoder")))
        for t in d.get("added_tokens") or []:
            tok.added.add(AddedToken(t["content"], t.get("single_word", False), t.get("lstrip", False),
                                     t.get("rstrip", False), t.get("normalized", True), t.get("special", False)),
                          t["id"])
        tok.added.refresh(tok.normalizer)
        if d.get("truncation"):
            tok._truncation = TruncationParams.from_dict(d["truncation"])
        if d.get("padding"):
            tok._padding = PaddingParams.from_dict(d["padding"])
        tok.extra = {k: v for k, v in d.items() if k not in _KNOWN_KEYS}
        return tok

    @classmethod
    def from_str(cls, s: str) -> Tokenizer:
        return cls.from_dict(json.loads(s))

    @classmethod
    def from_file(cls, path: str | Path) -> Tokenizer:
        return cls.from_str(Path(path).read_text(encoding="utf-8"))

    def to_dict(self) -> dict[str, Any]:
        def dump(x: Any) -> Any:
            return None if x is None else x.to_dict()

        return {"version": "1.0", "truncation": dump(self._truncation), "padding": dump(self._padding),
                "added_tokens": self.added.to_list(), "normalizer": dump(self.normalizer),
                "pre_tokenizer": dump(self.pre_tokenizer), "post_processor": dump(self.post_processor),
                "decoder": dump(self.decoder), "model": self.model.to_dict(), **self.extra}

    def to_str(self, pretty: bool = False) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2 if pretty else None)

    def save(self, path: str | Path, pretty: bool = True) -> None:
        Path(path).write_text(self.to_str(pretty), encoding="utf-8")

    # -- vocabulary ----------------------------------------------------------------------------
    def token_to_id(self, token: str) -> int | None:
        tid = self.added.token_to_id(token)
        return tid if tid is not None else self.model.token_to_id(token)

    def id_to_token(self, token_id: int) -> str | None:
        t = self.added.id_to_token(token_id)
        return t if t is not None else self.model.id_to_token(token_id)

    def get_vocab(self, with_added_tokens: bool = True) -> dict[str, int]:
        vocab = self.model.get_vocab()
        if with_added_tokens:
            vocab.update(self.added.by_content)
        return vocab

    def get_vocab_size(self, with_added_tokens: bool = True) -> int:
        return len(self.get_vocab(with_added_tokens))

    def get_added_tokens_decoder(self) -> dict[int, AddedToken]:
        return dict(sorted(self.added.tokens.items()))

    def _add(self, tokens: Iterable[str | AddedToken], special: bool) -> int:
        n = 0
        for t in tokens:
            tok = AddedToken(**vars(t)) if isinstance(t, AddedToken) else AddedToken(t, special=special)
            if special:
                tok.special = True
            tid = self.token_to_id(tok.content)
            if tid is None:
                tid = max([len(self.model.get_vocab()) - 1, *self.added.tokens]) + 1
                n += 1
            elif tid in self.added.tokens and self.added.tokens[tid] == tok:
                continue
            self.added.add(tok, tid)
        self.added.refresh(self.normalizer)
        return n

    def add_tokens(self, tokens: Iterable[str | AddedToken]) -> int:
        return self._add(tokens, special=False)

    def add_special_tokens(self, tokens: Iterable[str | AddedToken]) -> int:
        return self._add(tokens, special=True)

    # -- truncation and padding ----------------------------------------------------------------
    @property
    def truncation(self) -> dict[str, Any] | None:
        t = self._truncation
        return None if t is None else {"max_length": t.max_length, "stride": t.stride, "strategy": t.strategy,
                                       "direction": t.direction}

    def enable_truncation(self, max_length: int, stride: int = 0, strategy: str = "longest_first",
                          direction: str = "right") -> None:
        self._truncation = TruncationParams(max_length, stride, strategy, direction)

    def no_truncation(self) -> None:
        self._truncation = None

    @property
    def padding(self) -> dict[str, Any] | None:
        p = self._padding
        return None if p is None else {"length": p.length, "pad_to_multiple_of": p.pad_to_multiple_of,
                                       "pad_id": p.pad_id, "pad_token": p.pad_token, "pad_type_id": p.pad_type_id,
                                       "direction": p.direction}

    def enable_padding(self, direction: str = "right", pad_id: int = 0, pad_type_id: int = 0,
                       pad_token: str = "[PAD]", length: int | None = None,
                       pad_to_multiple_of: int | None = None) -> None:
        self._padding = PaddingParams(length, pad_to_multiple_of, pad_id, pad_type_id, pad_token, direction)

    def no_padding(self) -> None:
        self._padding = None

    # -- encoding ------------------------------------------------------------------------------
    def compiled_core(self) -> TiktokenCore | None:
        """The tiktoken-backed core when this pipeline fits one (see `cove.tokenizers.fast_bpe`)."""
        if not (self.use_fast_path and self.use_compiled_core):
            return None
        if self._core is False:
            from cove.tokenizers.fast_bpe import ByteLevelCore  # numpy and tiktoken: only when used
            from cove.tokenizers.fast_metaspace import MetaspaceCore

            self._core = (ByteLevelCore.build(self._normalizer, self._pre_tokenizer, self._model)
                          or MetaspaceCore.build(self._normalizer, self._pre_tokenizer, self._model))
        return self._core  # type: ignore[return-value]

    def _encode_texts(self, texts: list[InputSequence], type_id: int, core: TiktokenCore,
                      parts: Any = None, add_special_tokens: bool = True, trim: bool | None = None) -> list[Encoding]:
        """Many sequences at once through the compiled core; the Python path for lines it leaves.
        With `parts` (see `_core_parts`, and `trim`) the encodings come out post-processed."""
        for t in texts:
            if not isinstance(t, str):
                raise TypeError("expected a str (pass is_pretokenized=True for a list of words)")
        encs = core.encode_texts(texts, type_id, self.added, parts, trim)  # type: ignore[arg-type]
        if parts is None:
            return [e if e is not None else self._encode_text(t, type_id) for e, t in zip(encs, texts)]  # type: ignore[arg-type]
        return [e if e is not None else self.post_process(self._encode_text(t, type_id),  # type: ignore[arg-type]
                                                          add_special_tokens=add_special_tokens)
                for e, t in zip(encs, texts)]

    def _encode_text(self, text: str, type_id: int, word_index: int | None = None) -> Encoding:
        """One sequence through added tokens, normalizer, pre-tokenizer and model."""
        ids: list[int] = []
        tokens: list[str] = []
        offsets: list[tuple[int, int]] = []
        words: list[int | None] = []
        pre = self.pre_tokenizer
        tokenize = self.model.tokenize
        fast = self._words if self.use_fast_path else None
        w = 0
        for piece, added_id in self.added.extract_and_normalize(self.normalizer, text):
            if added_id is not None:
                ids.append(added_id)
                tokens.append(piece.normalized)
                offsets.append(piece.original_range(0, len(piece.normalized)))
                words.append(w if word_index is None else word_index)
                w += 1
                continue
            if fast is not None:
                w = fast.encode_piece(piece, ids, tokens, offsets, words, w, word_index)
                continue
            for p in (pre.pre_tokenize([piece]) if pre is not None else [piece]):
                wi = w if word_index is None else word_index
                w += 1
                toks = tokenize(p.normalized)
                if p.align is None:
                    base = p.ostart
                    for tid, value, s, e in toks:
                        ids.append(tid)
                        tokens.append(value)
                        offsets.append((base + s, base + e))
                        words.append(wi)
                else:
                    rng = p.original_range
                    for tid, value, s, e in toks:
                        ids.append(tid)
                        tokens.append(value)
                        offsets.append(rng(s, e))
                        words.append(wi)
        n = len(ids)
        return Encoding(ids, [type_id] * n, tokens, offsets, words, [0] * n, [1] * n)

    def _encode_sequence(self, seq: InputSequence, type_id: int, is_pretokenized: bool) -> Encoding:
        if not is_pretokenized:
            if not isinstance(seq, str):
                raise TypeError("expected a str (pass is_pretokenized=True for a list of words)")
            return self._encode_text(seq, type_id)
        parts = [self._encode_text(word, type_id, i) for i, word in enumerate(seq)]
        return Encoding.merge(parts) if parts else Encoding()

    def _single_parts(self, add_special_tokens: bool) -> Any:
        """The post-processor's (before, after) special tokens of one sequence, cached per processor."""
        proc = self.post_processor
        if self._parts_cache.get("processor") is not proc:  # (re)computed when the processor is replaced
            self._parts_cache = {"processor": proc}
        if add_special_tokens not in self._parts_cache:
            fn = getattr(proc, "single_parts", None)
            self._parts_cache[add_special_tokens] = fn(add_special_tokens) if fn is not None else None
        return self._parts_cache[add_special_tokens]

    def _core_parts(self, add_special_tokens: bool) -> tuple[Any, bool | None]:
        """(parts, trim) with which the compiled core post-processes one sequence itself: the special
        tokens around it (see `_single_parts`) and, for a ByteLevel post-processor trimming offsets,
        its `add_prefix_space`. Parts are None when the core cannot (then `post_process` runs)."""
        proc = self.post_processor
        rest = proc
        if isinstance(proc, ProcessorSequence) and len(proc.processors) == 2:
            proc, rest = proc.processors  # ByteLevel then a template: trim, then wrap
        if isinstance(proc, ByteLevelProcessor):
            trim = proc.add_prefix_space if proc.trim_offsets else None
            if rest is proc:
                return ([], [], [], 0, [], [], []), trim
            fn = getattr(rest, "single_parts", None)
            return (fn(add_special_tokens) if fn is not None else None), trim
        return self._single_parts(add_special_tokens), None

    def post_process(self, enc: Encoding, pair: Encoding | None = None, add_special_tokens: bool = True) -> Encoding:
        """Truncate, add special tokens and pad, as `Tokenizer::post_process` does."""
        if pair is None and self._truncation is None and not enc.overflowing:
            parts = self._single_parts(add_special_tokens)  # the common case, built at once
            if parts is not None:
                final = wrap_single(enc, parts)
                if self._padding is not None:
                    pad_encodings([final], self._padding)
                return final
        if self._truncation is not None:
            params = self._truncation
            n_added = self.post_processor.added_tokens(pair is not None) if self.post_processor is not None else 0
            if add_special_tokens and n_added > 0:
                params = TruncationParams(params.max_length - n_added, params.stride, params.strategy, params.direction)
            truncate_encodings(enc, pair, params)
        encodings = [enc] if pair is None else [enc, pair]
        if self.post_processor is not None:
            for i, e in enumerate(encodings):
                e.set_sequence_id(i)
            final = Encoding.merge(self.post_processor.process_encodings(encodings, add_special_tokens))
        elif pair is None:
            enc.set_sequence_id(0)
            final = enc
        else:
            for i, e in enumerate(encodings):
                e.set_sequence_id(i)
            final = Encoding.merge(encodings)
        if self._padding is not None:
            pad_encodings([final], self._padding)
        return final

    def encode(self, sequence: InputSequence, pair: InputSequence | None = None, is_pretokenized: bool = False,
               add_special_tokens: bool = True, offset_type: str = "char") -> Encoding:
        """Encode one input (or a pair) into an `Encoding`; `offset_type="byte"` gives offsets in
        UTF-8 bytes of each input instead of chars (see `encoding.to_byte_offsets`)."""
        if offset_type != "char":
            from cove.tokenizers.encoding import check_offset_type, to_byte_offsets

            check_offset_type(offset_type)
            enc = self.encode(sequence, pair, is_pretokenized, add_special_tokens)
            to_byte_offsets(enc, (sequence, pair))
            return enc
        core = None if is_pretokenized else self.compiled_core()
        if core is not None:
            enc = self._encode_texts([sequence], 0, core)[0]
            pair_enc = None if pair is None else self._encode_texts([pair], 1, core)[0]
        else:
            enc = self._encode_sequence(sequence, 0, is_pretokenized)
            pair_enc = None if pair is None else self._encode_sequence(pair, 1, is_pretokenized)
        return self.post_process(enc, pair_enc, add_special_tokens)

    def encode_batch(self, inputs: Sequence[InputSequence | tuple[InputSequence, InputSequence]],
                     is_pretokenized: bool = False, add_special_tokens: bool = True,
                     offset_type: str = "char") -> list[Encoding]:
        """Encode many inputs; each item is a sequence or a (sequence, pair) tuple/list.
        `offset_type="byte"`: offsets in UTF-8 bytes, as in `encode`."""
        if offset_type != "char":
            from cove.tokenizers.encoding import batch_to_byte_offsets, check_offset_type

            check_offset_type(offset_type)
            encodings = self.encode_batch(inputs, is_pretokenized, add_special_tokens)
            batch_to_byte_offsets(encodings, inputs, is_pretokenized)
            return encodings

        def serial(chunk: Sequence[Any]) -> list[Encoding]:
            return self._encode_batch_serial(chunk, is_pretokenized, add_special_tokens)

        items = inputs if isinstance(inputs, list) else list(inputs)
        with gc_paused():
            out = self._encode_batch_parallel(items, is_pretokenized, serial,
                                              (is_pretokenized, add_special_tokens, self._truncation, self._padding))
            if out is None:
                return serial(items)
            if self._padding is not None:  # each chunk came padded on its own: pad them as one batch
                pad_encodings(out, self._padding)
        return out

    def _encode_batch_serial(self, inputs: Sequence[Any], is_pretokenized: bool,
                             add_special_tokens: bool) -> list[Encoding]:
        """`encode_batch` in this thread."""
        core = None if is_pretokenized else self.compiled_core()
        if core is not None:
            return self._encode_batch_core(inputs, add_special_tokens, core)
        out: list[Encoding] = []
        for item in inputs:
            if isinstance(item, str) or (is_pretokenized and item and isinstance(item[0], str)):
                out.append(self.encode(item, None, is_pretokenized, add_special_tokens))  # type: ignore[arg-type]
            else:
                a, b = item  # type: ignore[misc]
                out.append(self.encode(a, b, is_pretokenized, add_special_tokens))
        if self._padding is not None:
            pad_encodings(out, self._padding)
        return out

    def _encode_batch_core(self, inputs: Sequence[Any], add_special_tokens: bool,
                           core: TiktokenCore) -> list[Encoding]:
        firsts: list[InputSequence] = []
        seconds: list[InputSequence | None] = []
        for item in inputs:
            if isinstance(item, str):
                firsts.append(item)
                seconds.append(None)
            else:
                a, b = item
                firsts.append(a)
                seconds.append(b)
        if all(b is None for b in seconds) and self._truncation is None:
            parts, trim = self._core_parts(add_special_tokens)
            if parts is not None:  # the core builds the final encodings at once
                out = self._encode_texts(firsts, 0, core, parts, add_special_tokens, trim)
                if self._padding is not None:
                    pad_encodings(out, self._padding)
                return out
        encs = self._encode_texts(firsts, 0, core)
        pairs = iter(self._encode_texts([b for b in seconds if b is not None], 1, core))
        out = [self.post_process(e, None if b is None else next(pairs), add_special_tokens)
               for e, b in zip(encs, seconds)]
        if self._padding is not None:
            pad_encodings(out, self._padding)
        return out

    def _encode_batch_parallel(self, inputs: list[Any], is_pretokenized: bool, serial: Any,
                               options: tuple[Any, ...]) -> list[Encoding] | None:
        """A large batch over several cores (see `cove.tokenizers.parallel`): threads over a compiled
        core, else worker processes (started, or restarted after this tokenizer changed, on demand).
        None when the batch stays in this thread."""
        if len(inputs) < 2 or getattr(self._model, "dropout", None):  # dropout: random, keep one stream
            return None
        from cove.tokenizers import parallel

        if not parallel.parallelism_enabled():
            return None
        if self._pool is not None and self._pool.pid != os.getpid():  # forked after starting one
            self._forked = True
            self._pool = None
        n = parallel.num_threads()
        if n < 2 or self._forked:
            return None
        chars = sum(map(parallel.item_chars, inputs))
        core = None if is_pretokenized else self.compiled_core()
        if chars < (parallel.THREAD_MIN_CHARS if core is not None else parallel.MIN_CHARS):
            return None
        if self._chooser is None:
            self._chooser = parallel.Chooser()
        chooser = self._chooser
        t0 = time.perf_counter()
        if not chooser.pick():
            out = serial(inputs)
            chooser.record(False, time.perf_counter() - t0, chars)
            return out
        if core is not None:
            out = parallel.encode_threaded(inputs, serial, n)
            chooser.record(True, time.perf_counter() - t0, chars)
            return out
        key = (self._model, self._normalizer, self._pre_tokenizer, self.post_processor, self.added.version,
               self.added.encode_special_tokens, self.use_fast_path, self.use_compiled_core, n)
        if self._pool_key != key:
            self.close_pool()
            self._pool_key = key
            flags = (self.use_fast_path, self.use_compiled_core, self.added.encode_special_tokens)
            try:
                pool = parallel.EncodePool(self.to_str(), flags, n - 1)
            except (OSError, ValueError, TypeError, AttributeError):  # no JSON form or no child: encode alone
                return None
            self._pool = pool
            self._pool_finalizer = weakref.finalize(self, pool.close)
        if self._pool is None:
            return None
        t0 = time.perf_counter()
        out = self._pool.encode(inputs, serial, options)
        if out is not None and self._pool.spread:
            chooser.record(True, time.perf_counter() - t0, chars)
        return out

    def close_pool(self) -> None:
        """Stop the worker processes of `encode_batch`, if any (they also stop with this object)."""
        if self._pool_finalizer is not None:
            self._pool_finalizer()
        self._pool = self._pool_key = self._pool_finalizer = None

    def __getstate__(self) -> dict[str, Any]:  # the pool's processes stay with this object
        return {**self.__dict__, "_pool": None, "_pool_key": None, "_pool_finalizer": None, "_chooser": None}

    # -- decoding ------------------------------------------------------------------------------
    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        tokens: list[str] = []
        for i in ids:
            t = self.id_to_token(int(i))
            if t is None or (skip_special_tokens and self.added.is_special(t)):
                continue
            tokens.append(t)
        if self.decoder is None:
            return " ".join(tokens)
        return "".join(self.decoder.decode_chain(tokens))

    def decode_batch(self, sequences: Sequence[Sequence[int]], skip_special_tokens: bool = True) -> list[str]:
        return [self.decode(s, skip_special_tokens) for s in sequences]

    # -- training ------------------------------------------------------------------------------
    def train_from_iterator(self, iterator: Iterable[str] | Iterator[str], trainer: Any = None,
                            length: int | None = None) -> None:
        """Train the model on `iterator` (see `cove.tokenizers.trainers`)."""
        from cove.tokenizers.trainers import train_tokenizer

        train_tokenizer(self, iterator, trainer)


_KNOWN_KEYS = {"version", "truncation", "padding", "added_tokens", "normalizer", "pre_tokenizer",
               "post_processor", "decoder", "model"}
