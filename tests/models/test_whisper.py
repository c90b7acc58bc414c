"""Whisper against transformers on tiny random models, both ways: logits, loss, hidden states and
attentions, the cache, bfloat16, and the encoder's clear error on features of the wrong length."""

from __future__ import annotations

import pytest
import torch
import transformers as T

from cove.models import auto
from cove.models.whisper import WhisperForConditionalGeneration, sinusoids
from tests.models.reference import TINY

ATOL = 1e-4
HF = {"base": T.WhisperModel, "seq2seq-lm": T.WhisperForConditionalGeneration}
COVE = {"base": auto.AutoModel, "seq2seq-lm": auto.AutoModelForSeq2SeqLM}


def batch() -> dict[str, torch.Tensor]:
    """Two 32-frame, 8-bin feature maps and decoder ids of 7 (the second padded to 5)."""
    g = torch.Generator().manual_seed(1)
    features = torch.randn(2, 8, 32, generator=g)
    ids = torch.randint(3, 99, (2, 7), generator=g)
    mask = torch.ones(2, 7, dtype=torch.long)
    mask[1, 5:] = 0
    return dict(input_features=features, decoder_input_ids=ids, decoder_attention_mask=mask)


def close(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> None:
    assert a.shape == b.shape, (a.shape, b.shape)
    if mask is not None:
        a, b = a[mask.bool()], b[mask.bool()]
    torch.testing.assert_close(a, b, atol=ATOL, rtol=0)


def main(out, task: str) -> torch.Tensor:
    return out.logits if task == "seq2seq-lm" else out.last_hidden_state


@pytest.mark.parametrize("task", ["base", "seq2seq-lm"])
def test_transformers_to_cove_and_back(tmp_path, task):
    torch.manual_seed(0)
    ref = HF[task](TINY["whisper"]()).eval()
    ref.save_pretrained(tmp_path / "hf")
    model = COVE[task].from_pretrained(tmp_path / "hf")
    assert model.loading_info.missing == [] and model.loading_info.unexpected == []
    inputs = batch()
    with torch.no_grad():
        expected = main(ref(**inputs), task)
        close(main(model(**inputs), task), expected, inputs["decoder_attention_mask"])
    model.save_pretrained(tmp_path / "cove")
    back = HF[task].from_pretrained(tmp_path / "cove").eval()
    with torch.no_grad():
        close(main(back(**inputs), task), expected, inputs["decoder_attention_mask"])


def test_cove_init_loads_in_transformers(tmp_path):
    config = auto.AutoConfig.from_dict(TINY["whisper"]().to_dict())
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config).init_weights().eval()
    positions = model.model.encoder.embed_positions.weight
    torch.testing.assert_close(positions, sinusoids(16, 32))  # fixed sinusoids, as transformers
    model.save_pretrained(tmp_path)
    ref = T.WhisperForConditionalGeneration.from_pretrained(tmp_path).eval()
    inputs = batch()
    with torch.no_grad():
        close(model(**inputs).logits, ref(**inputs).logits, inputs["decoder_attention_mask"])


def test_loss_hidden_states_and_attentions(tmp_path):
    torch.manual_seed(0)
    config = TINY["whisper"]()
    config._attn_implementation = "eager"  # transformers returns attentions only from eager attention
    ref = T.WhisperForConditionalGeneration(config).eval()
    ref.save_pretrained(tmp_path)
    model = auto.AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    inputs = batch()
    labels = inputs["decoder_input_ids"].masked_fill(inputs["decoder_attention_mask"] == 0, -100)
    flags = dict(output_hidden_states=True, output_attentions=True)
    with torch.no_grad():
        want = ref(input_features=inputs["input_features"], labels=labels, **flags)
        got = model(input_features=inputs["input_features"], labels=labels, **flags)
    close(got.loss, want.loss)
    close(got.logits, want.logits)
    for name in ("encoder_hidden_states", "decoder_hidden_states", "encoder_attentions", "cross_attentions"):
        assert len(getattr(got, name)) == len(getattr(want, name)), name
        for a, b in zip(getattr(got, name), getattr(want, name), strict=True):
            close(a, b)
    close(got.encoder_last_hidden_state, want.encoder_last_hidden_state)


def test_incremental_decode_equals_full_forward(tmp_path):
    torch.manual_seed(0)
    config = auto.AutoConfig.from_dict(TINY["whisper"]().to_dict())
    model = WhisperForConditionalGeneration(config).init_weights().eval()
    inputs = batch()
    ids = inputs["decoder_input_ids"]
    with torch.no_grad():
        full = model(input_features=inputs["input_features"], decoder_input_ids=ids).logits
        hidden = model.encode(inputs["input_features"])
        cache = model.make_cache(2, 10)
        steps = [model.decode(ids[:, :3], hidden, None, cache)]
        steps += [model.decode(ids[:, i : i + 1], hidden, None, cache) for i in range(3, 7)]
        close(torch.cat(steps, dim=1), full)
        # transformers' own idiom: use_cache, then past_key_values of the first output
        first = model(input_features=inputs["input_features"], decoder_input_ids=ids[:, :4], use_cache=True)
        rest = model(
            encoder_outputs=(first.encoder_last_hidden_state,),
            decoder_input_ids=ids[:, 4:],
            past_key_values=first.past_key_values,
        )
        close(rest.logits, full[:, 4:])


def test_bfloat16_load(tmp_path):
    torch.manual_seed(0)
    T.WhisperModel(TINY["whisper"]()).save_pretrained(tmp_path)
    model = auto.AutoModel.from_pretrained(tmp_path, torch_dtype="bfloat16")
    assert all(p.dtype == torch.bfloat16 for p in model.parameters())
    with torch.no_grad():
        out = model(**batch()).last_hidden_state
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()


def test_features_of_the_wrong_length_are_a_clear_error(tmp_path):
    config = auto.AutoConfig.from_dict(TINY["whisper"]().to_dict())
    model = WhisperForConditionalGeneration(config).init_weights().eval()
    with pytest.raises(ValueError, match=r"shape \(batch, 8, 32\).*Pad or trim"):
        model(input_features=torch.randn(1, 8, 31), decoder_input_ids=torch.tensor([[3]]))
    with pytest.raises(ValueError, match="decoder holds 24 positions"):
        model(input_features=torch.randn(1, 8, 32), decoder_input_ids=torch.ones(1, 25, dtype=torch.long))
