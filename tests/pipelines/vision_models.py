"""Tiny image checkpoints for the vision pipeline and processor tests, saved by transformers (the
test-only oracle) with their ``preprocessor_config.json`` and, for CLIP, a word-level tokenizer made by
``tokenizers``: each folder is loaded by both libraries."""

from __future__ import annotations

from pathlib import Path

import torch
import transformers as T
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

from tests.models.reference import TINY

WORDS = ["this", "is", "a", "photo", "of", "cat", "dog", "rocket", "cup", "coffee", "motorcycle", "."]
LABELS = {0: "cat", 1: "rocket", 2: "coffee"}


def clip_tokenizer() -> T.PreTrainedTokenizerFast:
    """99 ids as the tiny CLIP's vocabulary: [PAD] 0, [UNK] 1, words, fillers, <|startoftext|> 97 and
    <|endoftext|> 98 around every caption, as CLIP's tokenizer puts them."""
    vocab = ["[PAD]", "[UNK]", *WORDS]
    vocab += [f"w{i}" for i in range(97 - len(vocab))] + ["<|startoftext|>", "<|endoftext|>"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>", special_tokens=[("<|startoftext|>", 97), ("<|endoftext|>", 98)]
    )
    return T.PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", bos_token="<|startoftext|>",
        eos_token="<|endoftext|>",
    )


def _save(model: torch.nn.Module, processor, folder: Path) -> Path:
    model.eval().save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def clip_folder(root: Path) -> Path:
    torch.manual_seed(0)
    folder = _save(T.CLIPModel(TINY["clip"]()), T.CLIPImageProcessorPil(size=30, crop_size=30), root / "clip")
    clip_tokenizer().save_pretrained(folder)
    return folder


def vit_folder(root: Path) -> Path:
    config = TINY["vit"]()
    config.id2label, config.label2id = LABELS, {v: k for k, v in LABELS.items()}
    torch.manual_seed(0)
    model = T.ViTForImageClassification(config)
    return _save(model, T.ViTImageProcessorPil(size={"height": 30, "width": 30}), root / "vit")


def efficientnet_folder(root: Path) -> Path:
    config = TINY["efficientnet"]()
    config.id2label, config.label2id = LABELS, {v: k for k, v in LABELS.items()}
    torch.manual_seed(0)
    model = T.EfficientNetForImageClassification(config)
    processor = T.EfficientNetImageProcessorPil(size={"height": 40, "width": 40}, do_center_crop=True,
                                                crop_size={"height": 32, "width": 32})
    return _save(model, processor, root / "efficientnet")
