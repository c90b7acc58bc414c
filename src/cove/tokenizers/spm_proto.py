"""SentencePiece models (``.model`` / ``.spm`` files) read and applied without the sentencepiece package.

A model file is a ``ModelProto`` protobuf (sentencepiece_model.proto): repeated ``pieces`` (field 1:
piece, score, type), a ``trainer_spec`` (field 2: model type, unk/bos/eos/pad ids, byte fallback ...)
and a ``normalizer_spec`` (field 3: the precompiled charsmap, add_dummy_prefix,
remove_extra_whitespaces, escape_whitespaces). :func:`read_model` decodes the protobuf wire format
directly (varints and length-delimited fields, nothing else is needed).

:class:`SentencePiece` encodes text to pieces as ``SentencePieceProcessor.encode(text, out_type=str)``
does for Unigram models: the charsmap normalization (Cove's :class:`Precompiled`), whitespace handling
as sentencepiece's ``normalizer.cc`` (leading, trailing and repeated spaces dropped, spaces escaped to
``▁``, a dummy ``▁`` prefix), then a Viterbi segmentation of the whole string over the NORMAL pieces
(Cove's :class:`Unigram`; unknown runs are fused and kept as their text, as sentencepiece returns
them). BPE models use Cove's :class:`BPE` with the pieces' scores as merge ranks.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass, field
from pathlib import Path

from cove.tokenizers.models import Unigram
from cove.tokenizers.normalized import NormalizedString
from cove.tokenizers.normalizers import Precompiled

SPACE = "\u2581"  # ▁
_NEVER = "\ud800"  # a lone surrogate: no decoded text contains one

# SentencePiece.Type
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
# TrainerSpec.ModelType
UNIGRAM, BPE, WORD, CHAR = 1, 2, 3, 4


@dataclass
class Piece:
    piece: str
    score: float = 0.0
    type: int = NORMAL


@dataclass
class TrainerSpec:
    """The trainer settings encoding needs (field numbers of trainer_spec in sentencepiece_model.proto)."""

    model_type: int = UNIGRAM  # 3
    vocab_size: int = 8000  # 4
    treat_whitespace_as_suffix: bool = False  # 24
    byte_fallback: bool = False  # 35
    unk_id: int = 0  # 40
    bos_id: int = 1  # 41
    eos_id: int = 2  # 42
    pad_id: int = -1  # 43
    unk_surface: str = " \u2047 "  # 44


@dataclass
class NormalizerSpec:
    name: str = ""  # 1
    precompiled_charsmap: bytes = b""  # 2
    add_dummy_prefix: bool = True  # 3
    remove_extra_whitespaces: bool = True  # 4
    escape_whitespaces: bool = True  # 5


@dataclass
class ModelProto:
    pieces: list[Piece] = field(default_factory=list)
    trainer_spec: TrainerSpec = field(default_factory=TrainerSpec)
    normalizer_spec: NormalizerSpec = field(default_factory=NormalizerSpec)


# --- protobuf wire format ----------------------------------------------------------------------


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes):
    """(field number, wire type, value) of each field of a message; value is an int for varints and
    fixed-width fields, bytes for length-delimited ones."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = struct.unpack_from("<Q", data, pos)[0], pos + 8
        elif wire == 2:
            n, pos = _varint(data, pos)
            value, pos = data[pos : pos + n], pos + n
        elif wire == 5:
            value, pos = struct.unpack_from("<I", data, pos)[0], pos + 4
        else:
            raise ValueError(f"not a SentencePiece model: protobuf wire type {wire} at byte {pos}")
        yield number, wire, value


def _int32(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _float(value: int) -> float:
    return struct.unpack("<f", struct.pack("<I", value))[0]


def _piece(data: bytes) -> Piece:
    p = Piece("")
    for number, _, value in _fields(data):
        if number == 1:
            p.piece = value.decode("utf-8")
        elif number == 2:
            p.score = _float(value)
        elif number == 3:
            p.type = value
    return p


def _trainer(data: bytes) -> TrainerSpec:
    spec = TrainerSpec()
    ints = {3: "model_type", 4: "vocab_size", 40: "unk_id", 41: "bos_id", 42: "eos_id", 43: "pad_id"}
    bools = {24: "treat_whitespace_as_suffix", 35: "byte_fallback"}
    for number, _, value in _fields(data):
        if number in ints:
            setattr(spec, ints[number], _int32(value))
        elif number in bools:
            setattr(spec, bools[number], bool(value))
        elif number == 44:
            spec.unk_surface = value.decode("utf-8")
    return spec


def _normalizer(data: bytes) -> NormalizerSpec:
    spec = NormalizerSpec()
    for number, _, value in _fields(data):
        if number == 1:
            spec.name = value.decode("utf-8")
        elif number == 2:
            spec.precompiled_charsmap = bytes(value)
        elif number in (3, 4, 5):
            name = {3: "add_dummy_prefix", 4: "remove_extra_whitespaces", 5: "escape_whitespaces"}[number]
            setattr(spec, name, bool(value))
    return spec


def read_model(source: str | Path | bytes) -> ModelProto:
    """A SentencePiece model from its file (or its bytes)."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    model = ModelProto()
    try:
        for number, wire, value in _fields(data):
            if wire != 2:
                continue
            if number == 1:
                model.pieces.append(_piece(value))
            elif number == 2:
                model.trainer_spec = _trainer(value)
            elif number == 3:
                model.normalizer_spec = _normalizer(value)
    except (IndexError, struct.error, UnicodeDecodeError) as e:
        raise ValueError(f"not a SentencePiece model ({e})") from None
    if not model.pieces:
        raise ValueError("not a SentencePiece model: no pieces")
    return model


# --- encoding ----------------------------------------------------------------------------------


class SentencePiece:
    """Text <-> pieces of one SentencePiece model, as ``SentencePieceProcessor`` computes them."""

    def __init__(self, model: ModelProto) -> None:
        self.model = model
        trainer, norm = model.trainer_spec, model.normalizer_spec
        if trainer.model_type not in (UNIGRAM, BPE):
            raise NotImplementedError(f"SentencePiece model type {trainer.model_type} (only Unigram and BPE)")
        self.trainer, self.spec = trainer, norm
        charsmap = norm.precompiled_charsmap
        self._charsmap = Precompiled(base64.b64encode(charsmap).decode()) if charsmap else None
        self.piece_to_id = {p.piece: i for i, p in enumerate(model.pieces)}
        self.unk_piece = model.pieces[trainer.unk_id].piece if 0 <= trainer.unk_id < len(model.pieces) else "<unk>"
        # the segmentation candidates: NORMAL pieces (and the unknown piece, for its id), as
        # sentencepiece's unigram_model.cc builds its trie; control and unused pieces never match text
        candidates = [(p.piece, p.score) for p in model.pieces if p.type == NORMAL]
        if trainer.byte_fallback:
            candidates += [(p.piece, 0.0) for p in model.pieces if p.type == BYTE]
        candidates.append((_NEVER + self.unk_piece, 0.0))  # holds the unk id; text never matches it
        if trainer.model_type == UNIGRAM:
            self._unk_id = len(candidates) - 1
            self._model = Unigram(candidates, unk_id=self._unk_id, byte_fallback=trainer.byte_fallback)
        else:
            self._unk_id = trainer.unk_id
            self._model = _bpe(model, trainer.byte_fallback)

    @classmethod
    def from_file(cls, path: str | Path) -> SentencePiece:
        return cls(read_model(path))

    def normalize(self, text: str) -> str:
        """The string sentencepiece segments: charsmap, whitespace rules, ``▁`` for spaces."""
        if self._charsmap is not None:
            ns = NormalizedString(text)
            self._charsmap.normalize(ns)
            text = ns.normalized
        spec = self.spec
        if spec.remove_extra_whitespaces:
            text = " ".join(part for part in text.split(" ") if part)
        if not text:
            return ""
        if spec.add_dummy_prefix:
            text = text + " " if self.trainer.treat_whitespace_as_suffix else " " + text
        if spec.escape_whitespaces:
            text = text.replace(" ", SPACE)
        return text

    def encode(self, text: str) -> list[str]:
        """The pieces of ``text`` (``encode(text, out_type=str)``)."""
        normalized = self.normalize(text)
        if not normalized:
            return []
        unk = self._unk_id
        # an unknown span is returned as its own text, as sentencepiece returns it (Token: id, value, start, end)
        return [normalized[t[2] : t[3]] if t[0] == unk else t[1] for t in self._model.tokenize(normalized)]

    def decode(self, pieces: list[str]) -> str:
        """Pieces -> text (``decode_pieces``): ``▁`` back to spaces, the dummy prefix dropped, byte
        pieces joined into UTF-8, the unknown piece shown as `` ⁇ ``."""
        out: list[str] = []
        pending = bytearray()
        for piece in pieces:
            pid = self.piece_to_id.get(piece)
            ptype = self.model.pieces[pid].type if pid is not None else NORMAL
            if ptype == BYTE:
                pending.append(int(piece[3:5], 16))
                continue
            if pending:
                out.append(pending.decode("utf-8", errors="replace"))
                pending.clear()
            if ptype == CONTROL:
                continue
            out.append(self.trainer.unk_surface if ptype == UNKNOWN else piece)
        if pending:
            out.append(pending.decode("utf-8", errors="replace"))
        text = "".join(out).replace(SPACE, " ")
        if self.spec.add_dummy_prefix and not self.trainer.treat_whitespace_as_suffix:
            text = text.removeprefix(" ")
        return text


def _bpe(model: ModelProto, byte_fallback: bool):
    """sentencepiece BPE: merges ranked by the score of the piece they make (higher first)."""
    from cove.tokenizers.models import BPE as BPEModel

    vocab = {p.piece: i for i, p in enumerate(model.pieces)}
    normal = sorted(
        ((p.score, p.piece) for p in model.pieces if p.type == NORMAL and len(p.piece) > 1), reverse=True
    )
    merges = []
    for _, piece in normal:
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in vocab and right in vocab:
                merges.append((left, right))
    unk = model.pieces[model.trainer_spec.unk_id].piece
    return BPEModel(vocab, merges, unk_token=unk, fuse_unk=True, byte_fallback=byte_fallback)
