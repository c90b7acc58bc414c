"""Tokenizers from the files that predate tokenizer.json, built as transformers' converters build them.

- vocab.txt -> BERT WordPiece (`BertConverter`): BertNormalizer, BertPreTokenizer, `[CLS] $A [SEP]`.
- vocab.json + merges.txt -> GPT-2 byte-level BPE (`GPT2Converter`): ByteLevel pre-tokenizer and
  decoder, ByteLevel post-processor without offset trimming; for a BartTokenizer or RobertaTokenizer
  (tokenizer_config's `tokenizer_class`) RoBERTa's `<s> A </s>` post-processor and `<mask>` (`RobertaConverter`).
- spiece.model -> T5's Unigram (transformers' ``T5Tokenizer``): the SentencePiece protobuf read by
  :mod:`cove.tokenizers.sentencepiece_model`, sentinels ``<extra_id_*>`` appended, ``$A </s>``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cove.tokenizers.added_vocabulary import AddedToken
from cove.tokenizers.decoders import ByteLevelDecoder, WordPieceDecoder
from cove.tokenizers.models import BPE, WordPiece
from cove.tokenizers.normalizers import BertNormalizer
from cove.tokenizers.post_processors import ByteLevelProcessor, RobertaProcessing, template_processing
from cove.tokenizers.pre_tokenizers import BertPreTokenizer, ByteLevel
from cove.tokenizers.tokenizer import Tokenizer


def _content(value: Any, default: str) -> str:
    if value is None:
        return default
    return value["content"] if isinstance(value, dict) else str(value)


def bert_from_vocab(vocab_file: Path, config: dict[str, Any]) -> Tokenizer:
    tokens = [line.rstrip("\n") for line in vocab_file.read_text(encoding="utf-8").splitlines()]
    vocab = {t: i for i, t in enumerate(tokens)}
    unk, sep, cls = (_content(config.get(k), d) for k, d in
                     (("unk_token", "[UNK]"), ("sep_token", "[SEP]"), ("cls_token", "[CLS]")))
    tok = Tokenizer(WordPiece(vocab, unk_token=unk),
                    normalizer=BertNormalizer(True, config.get("tokenize_chinese_chars", True),
                                              config.get("strip_accents"), config.get("do_lower_case", True)),
                    pre_tokenizer=BertPreTokenizer(),
                    post_processor=template_processing(f"{cls}:0 $A:0 {sep}:0", f"{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1",
                                                       [(cls, vocab[cls]), (sep, vocab[sep])]),
                    decoder=WordPieceDecoder("##"))
    specials = [_content(config.get(k), d) for k, d in (("pad_token", "[PAD]"), ("unk_token", "[UNK]"),
                                                         ("cls_token", "[CLS]"), ("sep_token", "[SEP]"),
                                                         ("mask_token", "[MASK]"))]
    tok.add_special_tokens([AddedToken(t, special=True) for t in specials if t in vocab])
    return tok


def gpt2_from_files(vocab_file: Path, merges_file: Path, config: dict[str, Any]) -> Tokenizer:
    vocab = json.loads(vocab_file.read_text(encoding="utf-8"))
    merges = []
    for i, line in enumerate(merges_file.read_text(encoding="utf-8").splitlines()):
        if (i == 0 and line.startswith("#version")) or not line.strip():
            continue
        a, b = line.split(" ")
        merges.append((a, b))
    prefix_space = bool(config.get("add_prefix_space", False))
    processor: Any = ByteLevelProcessor(trim_offsets=False)
    roberta = str(config.get("tokenizer_class") or "").removesuffix("Fast") in ROBERTA_STYLE
    if roberta:  # transformers' RobertaConverter: <s> A </s>, pairs <s> A </s></s> B </s>
        sep, cls = _content(config.get("sep_token"), "</s>"), _content(config.get("cls_token"), "<s>")
        processor = RobertaProcessing((sep, vocab[sep]), (cls, vocab[cls]), True, prefix_space)
    tok = Tokenizer(BPE(vocab, merges, continuing_subword_prefix="", end_of_word_suffix=""),
                    pre_tokenizer=ByteLevel(add_prefix_space=prefix_space),
                    post_processor=processor,
                    decoder=ByteLevelDecoder())
    names = ("bos_token", "eos_token", "unk_token", "pad_token", *(("sep_token", "cls_token") if roberta else ()))
    specials = {_content(config.get(k), d) for k, d in zip(names, _DEFAULTS if roberta else ("",) * 4, strict=False)}
    tok.add_special_tokens([AddedToken(t, special=True) for t in sorted(specials) if t in vocab])
    mask_config = config.get("mask_token")
    mask = _content(mask_config, "<mask>" if roberta else "")
    if mask in vocab:  # lstrip (the space before <mask> is part of it) only when the config says so
        lstrip = bool(mask_config.get("lstrip")) if isinstance(mask_config, dict) else False
        tok.add_special_tokens([AddedToken(mask, lstrip=lstrip, special=True)])
    return tok


#: tokenizer classes whose vocab.json + merges.txt transformers wraps as RoBERTa does (<s> ... </s>)
ROBERTA_STYLE = ("BartTokenizer", "RobertaTokenizer")
_DEFAULTS = ("<s>", "</s>", "<unk>", "<pad>", "</s>", "<s>")


#: T5's special tokens when tokenizer_config.json names none (transformers' ``T5Tokenizer`` defaults)
T5_SPECIALS = {"pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>"}


def t5_from_spiece(model_file: Path, config: dict[str, Any]) -> Tokenizer:
    """spiece.model -> T5's pipeline, as transformers' ``T5Tokenizer`` builds it: the model's pieces
    then ``extra_ids`` sentinels (``<extra_id_99>`` first) in a Unigram, the precompiled charsmap,
    whitespace split + Metaspace, ``$A </s>`` and the Metaspace decoder."""
    from cove.tokenizers import sentencepiece_model

    spm = sentencepiece_model.read(model_file)
    if spm.trainer_spec.model_type != sentencepiece_model.UNIGRAM:
        raise ValueError(f"{model_file}: T5 needs a Unigram SentencePiece model (model_type 1)")
    extra_ids = int(config.get("extra_ids", 100))
    vocab = [[p.piece, p.score] for p in spm.pieces]
    vocab += [[f"<extra_id_{i}>", 0.0] for i in range(extra_ids - 1, -1, -1)]
    ids = {piece: i for i, (piece, _) in reversed(list(enumerate(vocab)))}  # the first id of a piece
    specials = [_content(config.get(k), v) for k, v in T5_SPECIALS.items()]
    specials += [f"<extra_id_{i}>" for i in range(extra_ids)]
    eos = _content(config.get("eos_token"), "</s>")
    if eos not in ids:
        raise ValueError(f"{model_file}: the eos token {eos!r} is not a piece of the model")
    metaspace = {"replacement": "\u2581", "prepend_scheme": "always", "split": True}
    charsmap = spm.normalizer_spec.precompiled_charsmap
    data = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": ids[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True}
            for t in sorted({t for t in specials if t in ids}, key=ids.__getitem__)
        ],
        "normalizer": (
            {"type": "Precompiled", "precompiled_charsmap": spm.normalizer_spec.charsmap_base64} if charsmap else None
        ),
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"}, {"type": "Metaspace", **metaspace}]},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": eos, "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": eos, "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 0}}, {"SpecialToken": {"id": eos, "type_id": 0}}],
            "special_tokens": {eos: {"id": eos, "ids": [ids[eos]], "tokens": [eos]}},
        },
        "decoder": {"type": "Metaspace", **metaspace},
        "model": {"type": "Unigram", "unk_id": spm.trainer_spec.unk_id, "vocab": vocab, "byte_fallback": False},
    }
    return Tokenizer.from_dict(data)
