"""Tiny checkpoints for the pipeline tests, saved by transformers (the test-only oracle) with tokenizers
trained at test time by `tokenizers`: every folder is loaded by both libraries' ``pipeline``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import transformers as T
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from tests.formats.assets import librivox, minilm_folder, smollm_gguf, whisper_folder  # noqa: F401  (pytest fixtures)

CORPUS = [
    "John Smith lives in New York and works at Acme Corporation.",
    "The capital of France is Paris, a city on the Seine.",
    "I love this movie, the acting was wonderful and moving.",
    "I hate waiting in line; the service was terribly slow.",
    "Question answering models find the answer span in a long context.",
    "Mary went to Berlin last summer with her brother Tom.",
    "Unbelievably, the unpredictable weather cleared up by noon.",
    "What is the capital of Germany? Berlin is the capital.",
] * 4

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]


def wordpiece_tokenizer() -> T.PreTrainedTokenizerFast:
    """An uncased BERT WordPiece tokenizer (small vocabulary) as transformers' BertTokenizer."""
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(CORPUS, trainers.WordPieceTrainer(vocab_size=200, special_tokens=specials))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.BertProcessing(("[SEP]", sep), ("[CLS]", cls))
    return T.BertTokenizer(
        tokenizer_object=tok,
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
        model_max_length=64,
    )


def bpe_tokenizer() -> T.PreTrainedTokenizerFast:
    """A byte-level BPE with ChatML special tokens and a chat template (a SmolLM2-like tokenizer)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=specials
    )
    tok.train_from_iterator(CORPUS, trainer)
    out = T.PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    out.chat_template = CHAT_TEMPLATE
    return out


def bert_config(vocab: int, **kw) -> T.BertConfig:
    if "id2label" in kw:
        kw["label2id"] = {v: k for k, v in kw["id2label"].items()}
    return T.BertConfig(
        vocab_size=vocab,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=128,
        initializer_range=0.2,  # wider than the default 0.02, so scores are far from ties
        **kw,
    )


def save(model, tokenizer, folder: Path) -> Path:
    model.eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> dict[str, Path]:
    """task name -> folder of a tiny random checkpoint with its tokenizer."""
    root = tmp_path_factory.mktemp("pipelines")
    wp, bpe = wordpiece_tokenizer(), bpe_tokenizer()
    v = len(wp)
    torch.manual_seed(0)
    two = {0: "NEGATIVE", 1: "POSITIVE"}
    nli = {0: "contradiction", 1: "neutral", 2: "entailment"}
    ner = dict(enumerate(NER_LABELS))
    made = {
        "text-classification": T.BertForSequenceClassification(bert_config(v, id2label=two)),
        "multi-label": T.BertForSequenceClassification(
            bert_config(v, id2label={0: "a", 1: "b", 2: "c"}, problem_type="multi_label_classification")
        ),
        "regression": T.BertForSequenceClassification(
            bert_config(v, num_labels=1, problem_type="regression")
        ),
        "token-classification": T.BertForTokenClassification(bert_config(v, id2label=ner)),
        "question-answering": T.BertForQuestionAnswering(bert_config(v)),
        "fill-mask": T.BertForMaskedLM(bert_config(v)),
        "feature-extraction": T.BertModel(bert_config(v)),
        "zero-shot-classification": T.BertForSequenceClassification(bert_config(v, id2label=nli)),
    }
    folders = {name: save(m, wp, root / name) for name, m in made.items()}
    llama = T.LlamaConfig(
        vocab_size=len(bpe),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=37,
        max_position_embeddings=256,
        bos_token_id=bpe.bos_token_id,
        eos_token_id=bpe.eos_token_id,
        pad_token_id=bpe.pad_token_id,
    )
    folders["text-generation"] = save(T.LlamaForCausalLM(llama), bpe, root / "text-generation")
    llama.id2label, llama.label2id = {0: "NEGATIVE", 1: "POSITIVE"}, {"NEGATIVE": 0, "POSITIVE": 1}
    folders["llama-classification"] = save(T.LlamaForSequenceClassification(llama), bpe, root / "llama-cls")
    gpt2 = T.GPT2Config(
        vocab_size=len(bpe),
        n_embd=32,
        n_layer=2,
        n_head=4,
        n_positions=128,
        bos_token_id=bpe.bos_token_id,
        eos_token_id=bpe.eos_token_id,
    )
    folders["gpt2"] = save(T.GPT2LMHeadModel(gpt2), bpe, root / "gpt2")
    return folders


def hf_pipeline(task: str, folder: Path, **kw):
    """transformers' pipeline on the same folder (the oracle)."""
    return T.pipeline(task, model=str(folder), device="cpu", **kw)


def plain(value):
    """numpy scalars and tuples -> Python values, so outputs compare structurally."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    return value


def assert_same(ours, theirs, tol: float = 1e-4, path: str = "out") -> None:
    """Equal structure, keys, labels and text; floats within ``tol``."""
    ours, theirs = plain(ours), plain(theirs)
    assert type(ours) is type(theirs) or (
        isinstance(ours, int | float) and isinstance(theirs, int | float)
    ), f"{path}: {type(ours).__name__} vs {type(theirs).__name__}"
    if isinstance(theirs, dict):
        assert list(ours) == list(theirs), f"{path}: keys {list(ours)} vs {list(theirs)}"
        for k in theirs:
            assert_same(ours[k], theirs[k], tol, f"{path}.{k}")
    elif isinstance(theirs, list):
        assert len(ours) == len(theirs), f"{path}: length {len(ours)} vs {len(theirs)}"
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_same(a, b, tol, f"{path}[{i}]")
    elif isinstance(theirs, float):
        assert abs(ours - theirs) <= tol, f"{path}: {ours} vs {theirs}"
    else:
        assert ours == theirs, f"{path}: {ours!r} vs {theirs!r}"
