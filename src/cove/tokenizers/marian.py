"""transformers' ``MarianTokenizer`` (the OPUS-MT models), from the files Marian checkpoints ship:
``source.spm`` and ``target.spm`` (SentencePiece models), ``vocab.json`` (piece -> id, shared by both
sides unless ``separate_vocabs``, then ``target_vocab.json`` for the target) and tokenizer_config.json.

Encoding as transformers' slow tokenizer does it: a leading language code ``>>xx<<`` is kept as one
token, the rest is cut into pieces by the source SentencePiece model (the target one for
``text_target=``), each piece mapped to its id through the vocabulary (``<unk>`` when missing), then
``</s>`` appended. Decoding maps ids back to pieces and joins them with the target model's rules,
special tokens kept as words. No punctuation normalization is applied (transformers applies Moses'
only when ``sacremoses`` is installed).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from cove.tokenizers.spm_proto import SPACE, SentencePiece

FILES = ("source.spm", "target.spm", "vocab.json", "target_vocab.json", "tokenizer_config.json")
VERY_LARGE_INTEGER = int(1e30)


def _content(value: Any) -> str | None:
    return value.get("content") if isinstance(value, dict) else value


class BatchEncoding(dict):  # type: ignore[type-arg]
    """A dict of model inputs whose keys also read as attributes (``enc.input_ids``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class MarianTokenizer:
    """Source and target SentencePiece models plus the model's vocabulary, called as transformers'
    ``MarianTokenizer`` is: ``tok(src_texts, text_target=tgt_texts, padding=True, return_tensors="pt")``.

    Args:
        folder: holds source.spm, target.spm, vocab.json (and target_vocab.json with ``separate_vocabs``).
        config: tokenizer_config.json's settings (special tokens, ``separate_vocabs``, ``model_max_length``).
    """

    model_input_names = ["input_ids", "attention_mask"]

    def __init__(self, folder: str | Path, config: dict[str, Any] | None = None) -> None:
        self.folder = Path(folder)
        self.config = dict(config or {})
        self.source = SentencePiece.from_file(self.folder / "source.spm")
        self.target = SentencePiece.from_file(self.folder / "target.spm")
        self.encoder: dict[str, int] = json.loads((self.folder / "vocab.json").read_text(encoding="utf-8"))
        self.separate_vocabs = bool(self.config.get("separate_vocabs", False))
        if self.separate_vocabs:
            path = self.folder / "target_vocab.json"
            self.target_encoder: dict[str, int] = json.loads(path.read_text(encoding="utf-8"))
        else:
            self.target_encoder = self.encoder
        self.decoder = {i: t for t, i in self.target_encoder.items()}
        self.unk_token = _content(self.config.get("unk_token")) or "<unk>"
        self.eos_token = _content(self.config.get("eos_token")) or "</s>"
        self.pad_token = _content(self.config.get("pad_token")) or "<pad>"
        if self.unk_token not in self.encoder:
            raise KeyError(f"{self.folder / 'vocab.json'}: the unknown token {self.unk_token!r} is missing")
        self.model_max_length = int(self.config.get("model_max_length") or 512)
        self.padding_side = self.config.get("padding_side", "right")
        self.truncation_side = self.config.get("truncation_side", "right")

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> MarianTokenizer:
        folder = Path(folder)
        config_file = folder / "tokenizer_config.json"
        config = json.loads(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
        return cls(folder, config)

    def save_pretrained(self, folder: str | Path) -> list[Path]:
        """Copy the model files and write tokenizer_config.json (as transformers saves them)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name in FILES[:4]:
            src = self.folder / name
            if src.is_file():
                if src.resolve() != (folder / name).resolve():
                    shutil.copyfile(src, folder / name)
                written.append(folder / name)
        config = {**self.config, "tokenizer_class": "MarianTokenizer", "unk_token": self.unk_token,
                  "eos_token": self.eos_token, "pad_token": self.pad_token,
                  "model_max_length": self.model_max_length}
        (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")
        return [*written, folder / "tokenizer_config.json"]

    # --- vocabulary ---------------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        return len(self.encoder)

    def __len__(self) -> int:
        return len(self.encoder)

    def get_vocab(self) -> dict[str, int]:
        return dict(self.encoder)

    @property
    def unk_token_id(self) -> int:
        return self.encoder[self.unk_token]

    @property
    def eos_token_id(self) -> int | None:
        return self.encoder.get(self.eos_token)

    @property
    def pad_token_id(self) -> int | None:
        return self.encoder.get(self.pad_token)

    @property
    def all_special_tokens(self) -> list[str]:
        extra = [_content(t) for t in self.config.get("additional_special_tokens") or []]
        return list(dict.fromkeys([self.eos_token, self.unk_token, self.pad_token, *extra]))

    @property
    def all_special_ids(self) -> list[int]:
        return [self.encoder[t] for t in self.all_special_tokens if t in self.encoder]

    @property
    def supported_language_codes(self) -> list[str]:
        return [] if self.separate_vocabs else [k for k in self.encoder if k.startswith(">>") and k.endswith("<<")]

    def convert_tokens_to_ids(self, tokens: str | list[str], *, target: bool = False) -> int | list[int]:
        vocab = self.target_encoder if target else self.encoder
        specials = {t: self.encoder[t] for t in self.all_special_tokens if t in self.encoder}
        unk = vocab.get(self.unk_token, self.unk_token_id)
        # special tokens keep their source ids on both sides (transformers' added tokens)
        if isinstance(tokens, str):
            return specials.get(tokens, vocab.get(tokens, unk))
        return [specials.get(t, vocab.get(t, unk)) for t in tokens]

    def convert_ids_to_tokens(self, ids: int | list[int], skip_special_tokens: bool = False) -> str | list[str]:
        """Target-vocabulary tokens of ``ids``. Special tokens are looked up first, by their source ids,
        as transformers' added-token table does (with ``separate_vocabs`` such an id hides the target
        piece that has the same id, in transformers too)."""
        specials = {self.encoder[t]: t for t in self.all_special_tokens if t in self.encoder}
        if isinstance(ids, int):
            return specials.get(ids) or self.decoder.get(ids, self.unk_token)
        skipped = set(specials) if skip_special_tokens else set()
        return [specials.get(int(i)) or self.decoder.get(int(i), self.unk_token) for i in ids if int(i) not in skipped]

    # --- text -> ids --------------------------------------------------------------------------

    def tokenize(self, text: str, *, target: bool = False) -> list[str]:
        """Pieces of ``text``: special tokens kept whole (the text between them cut separately, as
        transformers splits on them first), a leading ``>>xx<<`` language code kept whole, then
        SentencePiece's pieces."""
        specials = sorted(self.all_special_tokens, key=len, reverse=True)
        out: list[str] = []
        for i, chunk in enumerate(re.split("(" + "|".join(map(re.escape, specials)) + ")", text)):
            if i % 2:
                out.append(chunk)
                continue
            if chunk.startswith(">>") and (end := chunk.find("<<")) != -1:
                out.append(chunk[: end + 2])
                chunk = chunk[end + 2 :]
            out += (self.target if target else self.source).encode(chunk)
        return out

    def _ids(self, text: str, target: bool, add_special_tokens: bool, max_length: int | None) -> list[int]:
        ids = self.convert_tokens_to_ids(self.tokenize(text, target=target), target=target)
        if max_length is not None:
            keep = max_length - (1 if add_special_tokens else 0)
            ids = ids[:keep] if self.truncation_side == "right" else ids[max(0, len(ids) - keep):]
        return ids + [self.eos_token_id] if add_special_tokens else ids

    def encode(self, text: str, *, add_special_tokens: bool = True, truncation: bool = False,
               max_length: int | None = None) -> list[int]:
        limit = (max_length or self.model_max_length) if truncation else None
        return self._ids(text, False, add_special_tokens, limit)

    def __call__(self, text: str | list[str] | None = None, *, text_target: str | list[str] | None = None,
                 add_special_tokens: bool = True, padding: bool | str = False, truncation: bool | str = False,
                 max_length: int | None = None, pad_to_multiple_of: int | None = None,
                 return_tensors: str | None = None, return_attention_mask: bool = True) -> BatchEncoding:
        """Encode source texts (``text``) and/or target texts (``text_target``, returned as ``labels``
        when both are given), as transformers' tokenizers do."""
        if text is None and text_target is None:
            raise ValueError("pass text, text_target or both")
        sides = {}
        for key, texts, target in (("source", text, False), ("target", text_target, True)):
            if texts is not None:
                sides[key] = self._batch(texts, target, add_special_tokens, padding, truncation, max_length,
                                         pad_to_multiple_of, return_tensors, return_attention_mask)
        if "source" not in sides:
            return sides["target"]
        out = sides["source"]
        if "target" in sides:
            out["labels"] = sides["target"]["input_ids"]
        return out

    def _batch(self, texts: str | list[str], target: bool, add_special_tokens: bool, padding: bool | str,
               truncation: bool | str, max_length: int | None, pad_to_multiple_of: int | None,
               return_tensors: str | None, return_attention_mask: bool) -> BatchEncoding:
        batched = not isinstance(texts, str)
        items = list(texts) if batched else [texts]
        limit = (max_length or self.model_max_length) if truncation not in (False, None, "do_not_truncate") else None
        rows = [self._ids(t, target, add_special_tokens, limit) for t in items]
        masks = [[1] * len(r) for r in rows]
        if padding not in (False, None, "do_not_pad"):
            width = max_length if padding == "max_length" and max_length else max(map(len, rows), default=0)
            if pad_to_multiple_of:
                width = -(-width // pad_to_multiple_of) * pad_to_multiple_of
            for r, m in zip(rows, masks, strict=True):
                fill = width - len(r)
                if self.padding_side == "left":
                    r[:0], m[:0] = [self.pad_token_id] * fill, [0] * fill
                else:
                    r += [self.pad_token_id] * fill
                    m += [0] * fill
        data: dict[str, Any] = {"input_ids": rows}
        if return_attention_mask:
            data["attention_mask"] = masks
        if return_tensors is not None:
            data = {k: _tensor(v, return_tensors) for k, v in data.items()}
        elif not batched:
            data = {k: v[0] for k, v in data.items()}
        return BatchEncoding(data)

    # --- ids -> text --------------------------------------------------------------------------

    def decode(self, ids: Any, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool | None = None,
               *, use_source_tokenizer: bool | None = None) -> str:
        """Ids -> text with the target model's rules (the source's when the vocabulary is shared and
        ``use_source_tokenizer`` is not False, as transformers defaults it); ``clean_up_tokenization_spaces``
        (default: the config's) as the other tokenizers apply it."""
        from cove.tokenizers.auto import clean_up_tokenization

        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = bool(self.config.get("clean_up_tokenization_spaces", False))
        text = self._decode(ids, skip_special_tokens, use_source_tokenizer)
        return clean_up_tokenization(text) if clean_up_tokenization_spaces else text

    def _decode(self, ids: Any, skip_special_tokens: bool, use_source_tokenizer: bool | None) -> str:
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        if isinstance(ids, int):
            ids = [ids]
        use_source = (not self.separate_vocabs) if use_source_tokenizer is None else use_source_tokenizer
        spm = self.source if use_source else self.target
        specials = set(self.all_special_tokens)
        tokens = self.convert_ids_to_tokens(list(ids), skip_special_tokens=skip_special_tokens)
        out, pieces = "", []
        for token in tokens:
            if token in specials:
                out += spm.decode(pieces) + token + " "
                pieces = []
            else:
                pieces.append(token)
        out += spm.decode(pieces)
        return out.replace(SPACE, " ").strip()

    def batch_decode(self, sequences: Any, skip_special_tokens: bool = False, **options: Any) -> list[str]:
        if hasattr(sequences, "tolist"):
            sequences = sequences.tolist()
        return [self.decode(s, skip_special_tokens, **options) for s in sequences]


def _tensor(rows: list[list[int]], kind: str) -> Any:
    import numpy as np

    try:
        array = np.asarray(rows, dtype=np.int64)
    except ValueError as e:
        raise ValueError("sequences have different lengths; pass padding=True to make a tensor") from e
    if kind == "np":
        return array
    if kind == "pt":
        import torch

        return torch.from_numpy(array)
    raise ValueError(f"return_tensors must be 'np', 'pt' or None, not {kind!r}")
