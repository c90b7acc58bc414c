"""A reader of SentencePiece ``.model`` files (``spiece.model``, Marian's ``source.spm`` ...): the
``ModelProto`` protobuf of google/sentencepiece's ``sentencepiece_model.proto``, decoded from its wire
format here (no ``protobuf`` or ``sentencepiece`` package at runtime). Only what converting to a
tokenizer pipeline needs is kept: the pieces (text, score, type), the trainer settings that name
special ids and the algorithm, and the normalizer spec (its precompiled charsmap included).
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass, field
from pathlib import Path

# SentencePiece.Type
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
# TrainerSpec.ModelType
UNIGRAM, BPE, WORD, CHAR = 1, 2, 3, 4


class SentencePieceModelError(ValueError):
    """A file that is not a SentencePiece model protobuf (truncated, or another format)."""


@dataclass(frozen=True)
class Piece:
    piece: str
    score: float = 0.0
    type: int = NORMAL


@dataclass
class TrainerSpec:
    """The ``TrainerSpec`` fields a converter reads (defaults are the proto's)."""

    model_type: int = UNIGRAM
    vocab_size: int = 8000
    byte_fallback: bool = False
    split_digits: bool = False
    treat_whitespace_as_suffix: bool = False
    unk_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    pad_id: int = -1
    unk_piece: str = "<unk>"
    bos_piece: str = "<s>"
    eos_piece: str = "</s>"
    pad_piece: str = "<pad>"
    unk_surface: str = " \u2047 "  # what decoding shows for the unknown piece


@dataclass
class NormalizerSpec:
    name: str = ""
    precompiled_charsmap: bytes = b""
    add_dummy_prefix: bool = True
    remove_extra_whitespaces: bool = True
    escape_whitespaces: bool = True

    @property
    def charsmap_base64(self) -> str:
        """The charsmap as tokenizer.json's ``Precompiled`` normalizer stores it."""
        return base64.b64encode(self.precompiled_charsmap).decode("ascii")


@dataclass
class SentencePieceModel:
    pieces: list[Piece] = field(default_factory=list)
    trainer_spec: TrainerSpec = field(default_factory=TrainerSpec)
    normalizer_spec: NormalizerSpec = field(default_factory=NormalizerSpec)

    def id_of(self, piece: str) -> int | None:
        for i, p in enumerate(self.pieces):
            if p.piece == piece:
                return i
        return None


# --- the protobuf wire format --------------------------------------------------------------------


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise SentencePieceModelError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 70:
            raise SentencePieceModelError("varint too long")


def _fields(data: bytes) -> list[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of one message: ints for varint and fixed fields (raw bits),
    bytes for length-delimited ones."""
    out: list[tuple[int, int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = int.from_bytes(data[pos : pos + 8], "little"), pos + 8
        elif wire == 2:
            size, pos = _varint(data, pos)
            value, pos = data[pos : pos + size], pos + size
        elif wire == 5:
            value, pos = int.from_bytes(data[pos : pos + 4], "little"), pos + 4
        else:
            raise SentencePieceModelError(f"unsupported protobuf wire type {wire}")
        if pos > len(data):
            raise SentencePieceModelError("truncated message")
        out.append((number, wire, value))
    return out


def _int32(value: int) -> int:
    """A varint holding a (possibly negative) int32, e.g. ``pad_id: -1``."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _float(bits: int) -> float:
    return struct.unpack("<f", bits.to_bytes(4, "little"))[0]


def _text(value: int | bytes) -> str:
    assert isinstance(value, bytes)
    return value.decode("utf-8")


def _piece(data: bytes) -> Piece:
    piece, score, kind = "", 0.0, NORMAL
    for number, _, value in _fields(data):
        if number == 1:
            piece = _text(value)
        elif number == 2:
            score = _float(value)  # type: ignore[arg-type]
        elif number == 3:
            kind = int(value)  # type: ignore[arg-type]
    return Piece(piece, score, kind)


_TRAINER_INTS = {3: "model_type", 4: "vocab_size", 40: "unk_id", 41: "bos_id", 42: "eos_id", 43: "pad_id"}
_TRAINER_BOOLS = {35: "byte_fallback", 25: "split_digits", 24: "treat_whitespace_as_suffix"}
_TRAINER_TEXT = {44: "unk_surface", 45: "unk_piece", 46: "bos_piece", 47: "eos_piece", 48: "pad_piece"}


def _trainer(data: bytes) -> TrainerSpec:
    spec = TrainerSpec()
    for number, _, value in _fields(data):
        if number in _TRAINER_INTS:
            setattr(spec, _TRAINER_INTS[number], _int32(int(value)))  # type: ignore[arg-type]
        elif number in _TRAINER_BOOLS:
            setattr(spec, _TRAINER_BOOLS[number], bool(value))
        elif number in _TRAINER_TEXT:
            setattr(spec, _TRAINER_TEXT[number], _text(value))
    return spec


def _normalizer(data: bytes) -> NormalizerSpec:
    spec = NormalizerSpec()
    for number, _, value in _fields(data):
        if number == 1:
            spec.name = _text(value)
        elif number == 2:
            spec.precompiled_charsmap = bytes(value)  # type: ignore[arg-type]
        elif number == 3:
            spec.add_dummy_prefix = bool(value)
        elif number == 4:
            spec.remove_extra_whitespaces = bool(value)
        elif number == 5:
            spec.escape_whitespaces = bool(value)
    return spec


def parse(data: bytes) -> SentencePieceModel:
    """The ``ModelProto`` in ``data``.

    Raises:
        SentencePieceModelError: when ``data`` is not one (or holds no pieces).
    """
    model = SentencePieceModel()
    try:
        for number, wire, value in _fields(data):
            if wire != 2:
                continue
            if number == 1:
                model.pieces.append(_piece(value))  # type: ignore[arg-type]
            elif number == 2:
                model.trainer_spec = _trainer(value)  # type: ignore[arg-type]
            elif number == 3:
                model.normalizer_spec = _normalizer(value)  # type: ignore[arg-type]
    except (UnicodeDecodeError, struct.error, AssertionError, SentencePieceModelError) as e:
        raise SentencePieceModelError(f"not a SentencePiece model: {e}") from None
    if not model.pieces:
        raise SentencePieceModelError("not a SentencePiece model: no pieces")
    return model


def read(path: str | Path) -> SentencePieceModel:
    """The SentencePiece model in the file ``path``."""
    try:
        return parse(Path(path).read_bytes())
    except SentencePieceModelError as e:
        raise SentencePieceModelError(f"{path}: {e}") from None
