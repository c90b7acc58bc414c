"""SentencePiece models (``.model`` / ``.spm`` files) read and applied without the sentencepiece package.

:func:`read_model` reads the file's ``ModelProto`` with :mod:`cove.tokenizers.sentencepiece_model`
(pieces, trainer spec, normalizer spec).

:class:`SentencePiece` encodes text to pieces as ``SentencePieceProcessor.encode(text, out_type=str)``
does for Unigram models: the charsmap normalization (Cove's :class:`Precompiled`), whitespace handling
as sentencepiece's ``normalizer.cc`` (leading, trailing and repeated spaces dropped, spaces escaped to
``▁``, a dummy ``▁`` prefix), then a Viterbi segmentation of the whole string over the NORMAL pieces
(Cove's :class:`Unigram`; unknown runs are fused and kept as their text, as sentencepiece returns
them). BPE models use Cove's :class:`BPE` with the pieces' scores as merge ranks.
"""

from __future__ import annotations

import base64
from pathlib import Path

from cove.tokenizers.models import Unigram
from cove.tokenizers.normalized import NormalizedString
from cove.tokenizers.normalizers import Precompiled
from cove.tokenizers.sentencepiece_model import BPE, BYTE, CONTROL, NORMAL, UNIGRAM, UNKNOWN, parse, read
from cove.tokenizers.sentencepiece_model import SentencePieceModel as ModelProto

SPACE = "\u2581"  # ▁
_NEVER = "\ud800"  # a lone surrogate: no decoded text contains one


def read_model(source: str | Path | bytes) -> ModelProto:
    """A SentencePiece model from its file (or its bytes); a ``ValueError`` when it is not one."""
    return parse(source) if isinstance(source, bytes) else read(source)


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
