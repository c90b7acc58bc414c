"""PreTrainedModel loading rules: zero copy, key reports, opt-in pickles, overrides, tying, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from cove.formats.config import ConfigError
from cove.models import auto
from cove.models.bert import BertConfig, BertForMaskedLM, BertForSequenceClassification, BertModel
from cove.models.gpt2 import GPT2LMHeadModel
from cove.models.modeling import ModelLoadError
from tests.models.reference import hf_model


def test_import_cove_models_does_not_import_torch():
    code = (
        "import sys, cove, cove.models, cove.models.auto; assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_parameters_are_views_on_the_mapped_file(tmp_path):
    hf_model("bert", "base").save_pretrained(tmp_path)
    model = BertModel.from_pretrained(tmp_path)
    size = (tmp_path / "model.safetensors").stat().st_size
    storages = {p.untyped_storage().data_ptr() for p in model.parameters()}
    assert len(storages) == 1  # every parameter points into one mapping: the file
    assert model.embeddings.word_embeddings.weight.untyped_storage().nbytes() == size
    # a dtype change makes a real copy
    cast = BertModel.from_pretrained(tmp_path, torch_dtype=torch.float16)
    assert cast.embeddings.word_embeddings.weight.untyped_storage().nbytes() < size


def test_head_from_base_checkpoint_reports_initialised_keys(tmp_path, caplog):
    hf_model("bert", "masked-lm").save_pretrained(tmp_path)
    model = BertForSequenceClassification.from_pretrained(tmp_path, num_labels=4)
    info = model.loading_info
    assert sorted(info.missing) == [
        "bert.pooler.dense.bias",
        "bert.pooler.dense.weight",
        "classifier.bias",
        "classifier.weight",
    ]
    assert sorted(info.unexpected) == [
        "cls.predictions.bias",
        "cls.predictions.transform.LayerNorm.bias",
        "cls.predictions.transform.LayerNorm.weight",
        "cls.predictions.transform.dense.bias",
        "cls.predictions.transform.dense.weight",
    ]
    assert "classifier.weight" in caplog.text
    assert model.classifier.weight.shape == (4, 32) and model.classifier.bias.abs().sum() == 0
    assert model.classifier.weight.std() > 0  # initialised, not left empty
    with pytest.raises(ModelLoadError, match="classifier.weight"):
        BertForSequenceClassification.from_pretrained(tmp_path, strict=True)


def test_base_model_from_head_checkpoint_drops_prefix(tmp_path):
    ref = hf_model("bert", "sequence-classification")
    ref.save_pretrained(tmp_path)
    model = BertModel.from_pretrained(tmp_path)
    assert model.loading_info.missing == [] and model.loading_info.unexpected == [
        "classifier.bias",
        "classifier.weight",
    ]
    torch.testing.assert_close(
        model.embeddings.word_embeddings.weight, ref.bert.embeddings.word_embeddings.weight
    )


def test_tied_embeddings_share_one_tensor(tmp_path):
    hf_model("gpt2", "causal-lm").save_pretrained(tmp_path)
    model = GPT2LMHeadModel.from_pretrained(tmp_path)
    assert model.lm_head.weight is model.transformer.wte.weight
    mlm = auto.AutoModelForMaskedLM.from_pretrained(_saved(tmp_path / "bert", "bert", "masked-lm"))
    assert mlm.cls.predictions.decoder.weight is mlm.bert.embeddings.word_embeddings.weight


def _saved(folder, model_type, task):
    hf_model(model_type, task).save_pretrained(folder)
    return folder


def test_pickles_need_opt_in_and_load_weights_only(tmp_path):
    ref = hf_model("bert", "masked-lm")
    ref.config.save_pretrained(tmp_path)
    torch.save(ref.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match="allow_pickle=True"):
        BertForMaskedLM.from_pretrained(tmp_path)
    model = BertForMaskedLM.from_pretrained(tmp_path, allow_pickle=True)
    ids = torch.randint(3, 99, (1, 6))
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, ref(input_ids=ids).logits, atol=1e-5, rtol=0)
    # weights_only: a pickle that would run code is refused
    (tmp_path / "pytorch_model.bin").unlink()
    torch.save({"x": _Evil()}, tmp_path / "pytorch_model.bin")
    with pytest.raises(Exception, match="(?i)weights.only|unsupported"):
        BertForMaskedLM.from_pretrained(tmp_path, allow_pickle=True)


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_shape_mismatch_names_the_key(tmp_path):
    hf_model("bert", "sequence-classification").save_pretrained(tmp_path)  # 3 labels
    with pytest.raises(ModelLoadError, match=r"classifier.weight has shape \(3, 32\)"):
        BertForSequenceClassification.from_pretrained(tmp_path, num_labels=5)


def test_config_overrides_and_unknown_override(tmp_path):
    hf_model("bert", "base").save_pretrained(tmp_path)
    model = auto.AutoModel.from_pretrained(tmp_path, hidden_dropout_prob=0.0)
    assert model.config.hidden_dropout_prob == 0.0
    with pytest.raises(ConfigError, match="no field 'not_a_field'"):
        auto.AutoModel.from_pretrained(tmp_path, not_a_field=1)


def test_config_keeps_unknown_keys_and_labels(tmp_path):
    data = {
        "model_type": "bert",
        "hidden_size": 64,
        "my_key": {"a": [1, 2]},
        "id2label": {"0": "neg", "1": "pos"},
        "label2id": {"neg": 0, "pos": 1},
    }
    config = BertConfig.from_dict(data)
    assert config.hidden_size == 64 and config.extras == {"my_key": {"a": [1, 2]}} and config.num_labels == 2
    assert config.id2label == {0: "neg", 1: "pos"}
    assert config.to_dict() == data
    config.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text()) == data
    assert BertConfig().to_dict()["model_type"] == "bert"


def test_auto_errors(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "nope"}')
    with pytest.raises(ConfigError, match="'nope' is not supported"):
        auto.AutoConfig.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match="no 'model_type'"):
        auto.AutoModel.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ModelLoadError, match="no model.safetensors"):
        auto.AutoModel.from_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="no causal-lm model"):
        auto.model_class("bert", "causal-lm")


def test_push_to_hub_uses_the_hub_client(tmp_path, monkeypatch):
    """push_to_hub saves to a temporary folder and uploads it through cove.hub.HubApi."""
    import types

    calls = []

    class FakeApi:
        def __init__(self, endpoint=None, token=None):
            calls.append(("init", endpoint, token))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            calls.append(("close",))

        def create_repo(self, repo_id, private=False, exist_ok=False):
            calls.append(("create", repo_id, exist_ok))

        def upload_folder(self, repo_id, folder_path, commit_message):
            calls.append(
                ("upload", repo_id, sorted(p.name for p in __import__("pathlib").Path(folder_path).iterdir()))
            )

    monkeypatch.setitem(sys.modules, "cove.hub", types.SimpleNamespace(HubApi=FakeApi))
    model = auto.AutoModel.from_config(
        auto.AutoConfig.for_model("bert")(
            hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=37, vocab_size=99
        )
    )
    model.push_to_hub("alice/tiny", token="t", endpoint="http://127.0.0.1:1")
    assert calls == [
        ("init", "http://127.0.0.1:1", "t"),
        ("create", "alice/tiny", True),
        ("upload", "alice/tiny", ["config.json", "model.safetensors"]),
        ("close",),
    ]


def test_repo_id_goes_through_snapshot_download(tmp_path, monkeypatch):
    """A name that is not a local folder is a Hub repo: only the files a model needs are fetched."""
    import types

    hf_model("bert", "base").save_pretrained(tmp_path)
    calls = []

    def snapshot_download(repo_id, *, revision=None, token=None, endpoint=None, allow_patterns=None):
        calls.append((repo_id, revision, token, endpoint, allow_patterns))
        return str(tmp_path)

    monkeypatch.setitem(sys.modules, "cove.hub", types.SimpleNamespace(snapshot_download=snapshot_download))
    model = auto.AutoModel.from_pretrained(
        "alice/bert", revision="v1", token="t", endpoint="http://127.0.0.1:1"
    )
    assert type(model).__name__ == "BertModel"
    assert calls[0] == ("alice/bert", "v1", "t", "http://127.0.0.1:1", ["*.json", "*.safetensors"])


def test_unsupported_variants_fail_when_built():
    from cove.models.llama import LlamaConfig, LlamaModel

    with pytest.raises(NotImplementedError, match="relative_key"):
        BertModel(BertConfig(hidden_size=32, num_attention_heads=4, position_embedding_type="relative_key"))
    with pytest.raises(NotImplementedError, match="yarn"):
        LlamaModel(
            LlamaConfig(
                hidden_size=32,
                num_attention_heads=4,
                num_hidden_layers=1,
                rope_parameters={"rope_type": "yarn", "rope_theta": 1e4, "factor": 2.0},
            )
        )


@pytest.mark.parametrize("model_type", ["gpt2", "llama", "bert"])
def test_a_model_built_from_its_config_is_initialised_for_training(model_type):
    """``Model(config)`` is ready to train from scratch, as after transformers' ``post_init``: every
    matrix has std ~ initializer_range, so the first loss is about ln(vocab), not astronomically large."""
    import math

    import torch

    from cove.models import auto

    sizes = dict(vocab_size=512, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                 intermediate_size=128, n_embd=64, n_layer=2, n_head=4, max_position_embeddings=64)
    config = auto.AutoConfig.for_model(model_type).from_dict({"model_type": model_type, **sizes})
    task = "masked-lm" if model_type == "bert" else "causal-lm"
    model = auto.model_class(model_type, task)(config)
    for name, p in model.named_parameters():
        if p.ndim == 2:
            assert abs(p.std().item() - config.initializer_range) < 0.2 * config.initializer_range, name
        elif name.endswith("bias"):
            assert not p.any(), name
    ids = torch.randint(0, 512, (2, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = model(ids).logits
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 512), ids.reshape(-1))
    assert abs(loss.item() - math.log(512)) < 0.5
