"""Image models (ViT, CLIP, EfficientNet): parity with transformers both ways on tiny random models,
their contract (save/load, bfloat16, labels, hidden states), and the EfficientNet-Lite0 key map (the real
checkpoint's import is tested end to end in tests/pipelines/test_vision.py).

transformers -> Cove: a model transformers saved loads in Cove with the same outputs (1e-4, float32).
Cove -> transformers: a model Cove saved loads in transformers with the same outputs.
"""

from __future__ import annotations

import pytest
import torch
import transformers as T

from cove.models import auto
from tests.models.reference import COVE_AUTO, HF_CLASS, TINY

ATOL = 1e-4
IMAGE = {"vit": 30, "clip": 30, "efficientnet": 32}
PAIRS = [
    ("vit", "base"),
    ("vit", "image-classification"),
    ("efficientnet", "base"),
    ("efficientnet", "image-classification"),
    ("clip", "base"),
]


def pixels(model_type: str, batch: int = 2, seed: int = 1) -> torch.Tensor:
    size = IMAGE[model_type]
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def texts() -> tuple[torch.Tensor, torch.Tensor]:
    """Three captions of 7 tokens ending in end-of-text (98); the second padded after 5 tokens."""
    ids = torch.randint(3, 97, (3, 7), generator=torch.Generator().manual_seed(2))
    ids[:, -1] = 98
    ids[1, 4], ids[1, 5:] = 98, 0
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    return ids, mask


def randomize_batch_norms(model: torch.nn.Module) -> None:
    """Non-trivial BatchNorm statistics, so that loading them is tested too."""
    g = torch.Generator().manual_seed(3)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


def outputs(model: torch.nn.Module, model_type: str, task: str) -> dict[str, torch.Tensor]:
    """The tensors to compare, from either library's model."""
    with torch.no_grad():
        if model_type == "clip":
            ids, mask = texts()
            out = model(input_ids=ids, pixel_values=pixels("clip"), attention_mask=mask)
            return {
                "logits_per_image": out.logits_per_image,
                "text_embeds": out.text_embeds,
                "image_embeds": out.image_embeds,
                "text_features": model.get_text_features(input_ids=ids, attention_mask=mask).pooler_output,
                "image_features": model.get_image_features(pixel_values=pixels("clip")).pooler_output,
            }
        out = model(pixel_values=pixels(model_type))
        if task == "base":
            return {"last_hidden_state": out.last_hidden_state, "pooler_output": out.pooler_output}
        return {"logits": out.logits}


def hf_model(model_type: str, task: str) -> torch.nn.Module:
    config = TINY[model_type]()
    if task == "image-classification":
        config.num_labels = 3
    torch.manual_seed(0)
    model = HF_CLASS[task].from_config(config).eval()
    randomize_batch_norms(model)
    return model


@pytest.mark.parametrize("model_type,task", PAIRS)
def test_transformers_to_cove(tmp_path, model_type, task):
    ref = hf_model(model_type, task)
    ref.save_pretrained(tmp_path)
    model = COVE_AUTO[task].from_pretrained(tmp_path)
    assert model.loading_info.missing == [] and model.loading_info.unexpected == []
    expected, got = outputs(ref, model_type, task), outputs(model, model_type, task)
    for name, value in expected.items():
        assert got[name].shape == value.shape, name
        torch.testing.assert_close(got[name], value, atol=ATOL, rtol=0, msg=name)


@pytest.mark.parametrize("model_type,task", PAIRS)
def test_cove_to_transformers(tmp_path, model_type, task):
    config = auto.AutoConfig.from_dict(TINY[model_type]().to_dict())
    if task == "image-classification":
        config = config.with_overrides({"num_labels": 3})
    torch.manual_seed(0)
    model = auto.model_class(model_type, task)(config).eval()
    randomize_batch_norms(model)
    model.save_pretrained(tmp_path)
    ref = HF_CLASS[task].from_pretrained(tmp_path).eval()
    expected, got = outputs(ref, model_type, task), outputs(model, model_type, task)
    for name, value in expected.items():
        torch.testing.assert_close(got[name], value, atol=ATOL, rtol=0, msg=name)


def test_clip_towers_load_alone_from_a_clip_checkpoint(tmp_path):
    ref = hf_model("clip", "base")
    ref.save_pretrained(tmp_path)
    from cove.models.clip import CLIPTextModel, CLIPVisionModel

    text, vision = CLIPTextModel.from_pretrained(tmp_path), CLIPVisionModel.from_pretrained(tmp_path)
    ids, mask = texts()
    with torch.no_grad():
        torch.testing.assert_close(
            text(ids, mask).pooler_output, ref.text_model(input_ids=ids, attention_mask=mask).pooler_output,
            atol=ATOL, rtol=0,
        )
        torch.testing.assert_close(
            vision(pixels("clip")).last_hidden_state, ref.vision_model(pixels("clip")).last_hidden_state,
            atol=ATOL, rtol=0,
        )
    # a tower saved on its own (transformers 5 writes it without the text_model. prefix) loads too
    tower = T.CLIPTextModel(ref.config.text_config).eval()
    tower.save_pretrained(tmp_path / "text")
    loaded = CLIPTextModel.from_pretrained(tmp_path / "text", strict=True)
    with torch.no_grad():
        torch.testing.assert_close(
            loaded(ids, mask).last_hidden_state, tower(input_ids=ids, attention_mask=mask).last_hidden_state,
            atol=ATOL, rtol=0,
        )


@pytest.mark.parametrize("model_type", ["clip_text_model", "clip_vision_model"])
def test_a_tower_saved_alone_loads_with_auto_model(tmp_path, model_type):
    torch.manual_seed(0)
    ref = T.AutoModel.from_config(TINY[model_type]()).eval()
    ref.save_pretrained(tmp_path)
    model = auto.AutoModel.from_pretrained(tmp_path, strict=True)
    assert type(model).__name__ == type(ref).__name__
    with torch.no_grad():
        if model_type == "clip_text_model":
            ids, mask = texts()
            got, expected = model(ids, mask).pooler_output, ref(input_ids=ids, attention_mask=mask).pooler_output
        else:
            got, expected = model(pixels("clip")).pooler_output, ref(pixel_values=pixels("clip")).pooler_output
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("model_type", ["vit", "clip"])
def test_interpolated_position_embeddings_match(tmp_path, model_type):
    """A larger, non-square image with ``interpolate_pos_encoding=True`` (bicubic, as transformers)."""
    ref = hf_model(model_type, "base")
    ref.save_pretrained(tmp_path)
    model = auto.AutoModel.from_pretrained(tmp_path)
    x = torch.randn(1, 3, 40, 50)
    with torch.no_grad():
        if model_type == "clip":
            got = model.get_image_features(x, interpolate_pos_encoding=True).pooler_output
            expected = ref.get_image_features(pixel_values=x, interpolate_pos_encoding=True).pooler_output
        else:
            got = model(x, interpolate_pos_encoding=True).last_hidden_state
            expected = ref(x, interpolate_pos_encoding=True).last_hidden_state
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=0)
    with pytest.raises(ValueError, match="doesn't match"):
        model(x) if model_type == "vit" else model.get_image_features(x)


@pytest.mark.parametrize("model_type", ["vit", "efficientnet"])
def test_classifier_contract(tmp_path, model_type):
    """Save/load (one file and sharded), tuple outputs, labels -> loss with gradients, hidden states,
    bfloat16, and a clear error for wrong channel counts."""
    config = auto.AutoConfig.from_dict(TINY[model_type]().to_dict()).with_overrides({"num_labels": 3})
    torch.manual_seed(0)
    model = auto.model_class(model_type, "image-classification")(config).eval()
    x = pixels(model_type)
    with torch.no_grad():
        logits = model(x).logits
    assert logits.shape == (2, 3)
    for folder, shard in (("one", "5GB"), ("many", 20_000)):
        model.save_pretrained(tmp_path / folder, max_shard_size=shard)
        loaded = auto.AutoModelForImageClassification.from_pretrained(tmp_path / folder, strict=True)
        with torch.no_grad():
            torch.testing.assert_close(loaded(x).logits, logits, atol=0, rtol=0)
    with torch.no_grad():
        plain = model(x, return_dict=False)
        states = model(x, output_hidden_states=True).hidden_states
    assert type(plain) is tuple and torch.equal(plain[0], logits)
    assert len(states) > 2 and all(s.shape[0] == 2 for s in states)
    model.train()
    out = model(x, labels=torch.tensor([0, 2]))
    out.loss.backward()
    assert torch.isfinite(out.loss) and model.get_input_embeddings().weight.grad.abs().sum() > 0
    bf16 = auto.AutoModelForImageClassification.from_pretrained(tmp_path / "one", torch_dtype="bfloat16")
    with torch.no_grad():
        assert bf16(x).logits.dtype == torch.bfloat16
    with pytest.raises(ValueError, match="pixel_values must be"):
        model(torch.zeros(1, 1, 32, 32))


def test_vit_gradient_checkpointing_gives_the_same_gradients():
    config = auto.AutoConfig.from_dict(TINY["vit"]().to_dict()).with_overrides({"num_labels": 3})
    torch.manual_seed(0)
    model = auto.model_class("vit", "image-classification")(config).train()
    x, labels = pixels("vit"), torch.tensor([1, 0])
    model(x, labels=labels).loss.backward()
    plain = model.classifier.weight.grad.clone()
    model.zero_grad()
    model.gradient_checkpointing_enable()
    model(x, labels=labels).loss.backward()
    torch.testing.assert_close(model.classifier.weight.grad, plain)


# --- the real EfficientNet-Lite0 checkpoint --------------------------------------------------


def test_lite_keys_map_and_unknown_keys_are_refused():
    from cove.models.efficientnet import lite_key

    assert lite_key("_blocks.3._bn1.running_var") == "efficientnet.encoder.blocks.3.depthwise_conv.depthwise_norm.running_var"
    assert lite_key("_fc.weight") == "classifier.weight"
    with pytest.raises(ValueError, match="not a key"):
        lite_key("_blocks.0._se_reduce.weight")
