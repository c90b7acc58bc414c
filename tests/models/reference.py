"""Tiny reference models for every architecture in the registry, made with transformers (test-only).

``TINY[model_type]`` builds a transformers config of 2 layers and hidden 32; ``HF_CLASS[task]`` names
the transformers class of each task. A model_type in ``cove.models.auto.ARCHITECTURES`` without an
entry here fails the contract suite, so a new architecture cannot join without tests.
"""

from __future__ import annotations

import torch
import transformers as T

from cove.models import auto

COMMON = dict(vocab_size=99, pad_token_id=0)
ENCODER = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, **COMMON)
DECODER = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    intermediate_size=37,
    **COMMON,
)

SEQ2SEQ = dict(
    vocab_size=99,
    d_model=32,
    encoder_layers=2,
    decoder_layers=2,
    encoder_attention_heads=4,
    decoder_attention_heads=4,
    encoder_ffn_dim=37,
    decoder_ffn_dim=37,
    max_position_embeddings=64,
)

TINY = {
    "bert": lambda: T.BertConfig(**ENCODER, type_vocab_size=2),
    "roberta": lambda: T.RobertaConfig(**{**ENCODER, "pad_token_id": 1}, max_position_embeddings=40),
    "distilbert": lambda: T.DistilBertConfig(
        vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37, pad_token_id=0
    ),
    "gpt2": lambda: T.GPT2Config(
        vocab_size=99,
        n_embd=32,
        n_layer=2,
        n_head=4,
        n_positions=64,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    ),
    "llama": lambda: T.LlamaConfig(**DECODER, max_position_embeddings=64, bos_token_id=1, eos_token_id=2),
    "mistral": lambda: T.MistralConfig(
        **DECODER, head_dim=8, sliding_window=3, bos_token_id=1, eos_token_id=2
    ),
    "qwen2": lambda: T.Qwen2Config(**DECODER, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2),
    "bart": lambda: T.BartConfig(**SEQ2SEQ),
    "marian": lambda: T.MarianConfig(**SEQ2SEQ, pad_token_id=0, decoder_start_token_id=0, scale_embedding=True),
    "whisper": lambda: T.WhisperConfig(
        vocab_size=99,
        num_mel_bins=8,
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=37,
        decoder_ffn_dim=37,
        max_source_positions=16,
        max_target_positions=24,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=3,
        begin_suppress_tokens=[4, 2],
    ),
    "t5": lambda: T.T5Config(
        vocab_size=99,
        d_model=32,
        d_kv=8,
        d_ff=37,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=16,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    ),
}

#: Image models (their inputs are pixels, not ids): tests/models/test_vision.py keeps their contract.
VISION = {"vit", "clip", "clip_text_model", "clip_vision_model", "efficientnet"}
TINY.update(
    vit=lambda: T.ViTConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, image_size=30, patch_size=10
    ),
    clip=lambda: T.CLIPConfig(
        text_config=dict(
            hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, vocab_size=99,
            bos_token_id=97, eos_token_id=98, pad_token_id=0,
        ),
        vision_config=dict(
            hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, image_size=30,
            patch_size=10,
        ),
        projection_dim=16,
    ),
    clip_text_model=lambda: T.CLIPTextConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, vocab_size=99,
        bos_token_id=97, eos_token_id=98, pad_token_id=0,
    ),
    clip_vision_model=lambda: T.CLIPVisionConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, image_size=30, patch_size=10
    ),
    efficientnet=lambda: T.EfficientNetConfig(
        image_size=32, width_coefficient=0.25, depth_coefficient=0.34, hidden_dim=320, hidden_act="relu6"
    ),
)

HF_CLASS = {
    "base": T.AutoModel,
    "masked-lm": T.AutoModelForMaskedLM,
    "sequence-classification": T.AutoModelForSequenceClassification,
    "token-classification": T.AutoModelForTokenClassification,
    "question-answering": T.AutoModelForQuestionAnswering,
    "causal-lm": T.AutoModelForCausalLM,
    "seq2seq-lm": T.AutoModelForSeq2SeqLM,
    "image-classification": T.AutoModelForImageClassification,
    "zero-shot-image-classification": T.AutoModelForZeroShotImageClassification,
}

COVE_AUTO = {
    "base": auto.AutoModel,
    "masked-lm": auto.AutoModelForMaskedLM,
    "sequence-classification": auto.AutoModelForSequenceClassification,
    "token-classification": auto.AutoModelForTokenClassification,
    "question-answering": auto.AutoModelForQuestionAnswering,
    "causal-lm": auto.AutoModelForCausalLM,
    "seq2seq-lm": auto.AutoModelForSeq2SeqLM,
    "image-classification": auto.AutoModelForImageClassification,
    "zero-shot-image-classification": auto.AutoModelForZeroShotImageClassification,
}

DECODERS = {"gpt2", "llama", "mistral", "qwen2"}
#: encoder-decoders: a forward takes decoder inputs too (the helpers below pass ``decoder_input_ids=ids``)
ENCODER_DECODERS = {"t5", "bart", "marian"}
#: Left out of the generic checks here (their position and head rules differ); their own suites
#: (tests/models/test_bart.py, test_marian.py) cover the same contract for them.
OWN_SUITES = {"bart", "marian", "whisper"}
#: models whose inputs are not token ids (their own suites feed them features)
SPEECH = {"whisper"}


def registry_pairs(*, encoder_decoders: bool = True) -> list[tuple[str, str]]:
    """Every (model_type, task) the registry offers but those of :data:`OWN_SUITES`
    (``encoder_decoders=False``: single-stack models only)."""
    return [
        (mt, task)
        for mt in auto.ARCHITECTURES
        if mt not in OWN_SUITES and mt not in VISION
        for task in auto.architecture(mt).MODELS
        if encoder_decoders or mt not in ENCODER_DECODERS
    ]


def decoder_inputs(model: torch.nn.Module, ids: torch.Tensor) -> dict[str, torch.Tensor]:
    """``decoder_input_ids`` for an encoder-decoder (the inputs themselves: any ids do), else nothing."""
    return {"decoder_input_ids": ids} if getattr(model.config, "is_encoder_decoder", False) else {}


def num_labels(task: str) -> int:
    return 2 if task == "question-answering" else 3  # QA heads are (start, end)


def hf_model(model_type: str, task: str, seed: int = 0) -> torch.nn.Module:
    config = TINY[model_type]()
    config.num_labels = num_labels(task)
    torch.manual_seed(seed)
    return HF_CLASS[task].from_config(config).eval()


def primary(out, task: str) -> torch.Tensor:
    """The main tensor of a task's output object (either library's): the last hidden state, the
    logits, or the (B, T, 2) start and end logits of question answering."""
    if task == "base":
        return out.last_hidden_state
    if task == "question-answering":
        return torch.stack((out.start_logits, out.end_logits), dim=-1)
    return out.logits


def hf_output(
    model: torch.nn.Module, task: str, ids: torch.Tensor, mask: torch.Tensor | None
) -> torch.Tensor:
    """The main tensor of transformers' output (see :func:`primary`)."""
    with torch.no_grad():
        return primary(model(input_ids=ids, attention_mask=mask, **decoder_inputs(model, ids)), task)


def run(model: torch.nn.Module, task: str, *args, **kwargs) -> torch.Tensor:
    """The main tensor of a Cove model's output, without gradients."""
    if args and "decoder_input_ids" not in kwargs:
        kwargs.update(decoder_inputs(model, args[0]))
    with torch.no_grad():
        return primary(model(*args, **kwargs), task)


def batch(model_type: str, *, left: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Two sequences of 9 tokens, the second padded to 5 real tokens (right, or left for decoders)."""
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, 99, (2, 9), generator=g)
    mask = torch.ones(2, 9, dtype=torch.long)
    pad = 1 if model_type == "roberta" else 0
    if left:
        mask[1, :4] = 0
        ids[1, :4] = pad
    else:
        mask[1, 5:] = 0
        ids[1, 5:] = pad
    return ids, mask


def valid(out: torch.Tensor, mask: torch.Tensor, task: str) -> torch.Tensor:
    """Outputs at real (non-padding) tokens only; padding positions are undefined in both libraries."""
    return out if task == "sequence-classification" else out[mask.bool()]
