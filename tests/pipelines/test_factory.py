"""``cove.pipeline``: tasks and aliases, the task read from the card or config, models from folders,
objects and the Hub, default models, devices, and the errors users see for bad calls."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid

import pytest
import torch

import cove
from cove.hub import HubApi
from cove.models import AutoModelForSequenceClassification
from cove.pipelines import registry
from cove.pipelines.base import resolve_device
from cove.pipelines.factory import PipelineError
from cove.tokenizers import AutoTokenizer
from tests.pipelines.conftest import hf_pipeline


def test_registry_contract():
    assert set(registry.SUPPORTED_TASKS) == {
        "text-classification",
        "token-classification",
        "question-answering",
        "fill-mask",
        "feature-extraction",
        "sentence-similarity",
        "zero-shot-classification",
        "text-generation",
        "text2text-generation",
        "summarization",
        "translation",
        "image-classification",
        "zero-shot-image-classification",
        "image-feature-extraction",
        "automatic-speech-recognition",
    }
    assert registry.ALIASES == {"sentiment-analysis": "text-classification", "ner": "token-classification"}
    assert registry.DEFAULT_MODELS["text-classification"] == "cove/minilm-sentiment"
    assert registry.DEFAULT_MODELS["feature-extraction"] == "cove/all-MiniLM-L6-v2"
    assert registry.DEFAULT_MODELS["sentence-similarity"] == "cove/all-MiniLM-L6-v2"
    assert registry.DEFAULT_MODELS["text-generation"] == "cove/SmolLM2-135M-Instruct"
    assert registry.DEFAULT_MODELS["image-classification"] == "cove/efficientnet-lite0"
    assert registry.DEFAULT_MODELS["automatic-speech-recognition"] == "cove/whisper-tiny.en"
    for task in ("token-classification", "question-answering", "fill-mask", "zero-shot-classification",
                 "text2text-generation", "summarization", "translation", "zero-shot-image-classification",
                 "image-feature-extraction"):
        assert registry.DEFAULT_MODELS[task] is None
    assert set(registry.MODEL_HINTS) == {
        "text2text-generation", "summarization", "translation", "zero-shot-image-classification",
        "image-feature-extraction",
    }
    assert registry.canonical_task("translation_en_to_fr") == "translation"
    assert registry.translation_languages("translation_en_to_fr") == ("en", "fr")


def test_import_stays_light():
    code = (
        "import sys, cove, cove.pipelines, cove.pipelines.registry; f = cove.pipeline;"
        " assert 'torch' not in sys.modules, 'torch imported'; print(f.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "pipeline"


def test_unknown_task_lists_tasks(tiny):
    with pytest.raises(registry.UnknownTask) as e:
        cove.pipeline("summarise", tiny["text-classification"])
    assert "text-classification" in str(e.value) and "sentiment-analysis" in str(e.value)


@pytest.mark.parametrize(
    "task", ["token-classification", "question-answering", "fill-mask", "zero-shot-classification"]
)
def test_no_default_model(task):
    with pytest.raises(PipelineError, match=r"no default model .* model="):
        cove.pipeline(task)


def test_head_that_does_not_fit(tiny):
    with pytest.raises(PipelineError) as e:
        cove.pipeline("text-classification", tiny["feature-extraction"])  # a base BertModel
    assert "BertModel" in str(e.value) and "feature-extraction, sentence-similarity" in str(e.value)
    with pytest.raises(PipelineError) as e:
        cove.pipeline("fill-mask", tiny["text-generation"])  # a causal LM
    assert "text-generation" in str(e.value) and "masked-lm" in str(e.value)
    model = AutoModelForSequenceClassification.from_pretrained(tiny["text-classification"])
    tok = AutoTokenizer.from_pretrained(tiny["text-classification"])
    with pytest.raises(PipelineError, match="text-classification, zero-shot-classification"):
        cove.pipeline("question-answering", model, tokenizer=tok)


def test_task_from_architectures_and_card(tiny, tmp_path):
    assert cove.pipeline(model=tiny["token-classification"]).task == "token-classification"
    assert cove.pipeline(model=tiny["fill-mask"]).task == "fill-mask"
    assert cove.pipeline(model=tiny["text-generation"]).task == "text-generation"
    assert cove.pipeline(model=tiny["feature-extraction"]).task == "feature-extraction"
    folder = shutil.copytree(tiny["zero-shot-classification"], tmp_path / "nli")
    (folder / "README.md").write_text(
        "---\nlicense: mit\npipeline_tag: zero-shot-classification\n---\n# NLI\n"
    )
    assert cove.pipeline(model=folder).task == "zero-shot-classification"


def test_model_and_tokenizer_objects(tiny):
    folder = tiny["text-classification"]
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    tok = AutoTokenizer.from_pretrained(folder)
    expected = cove.pipeline("text-classification", folder)("I love it")
    assert cove.pipeline(model=model, tokenizer=tok)("I love it") == expected
    assert cove.pipeline("text-classification", model)("I love it") == expected  # tokenizer from its folder
    assert cove.pipeline("text-classification", folder, tokenizer=str(folder))("I love it") == expected
    bare = AutoModelForSequenceClassification.from_config(model.config)
    with pytest.raises(PipelineError, match="tokenizer="):
        cove.pipeline("text-classification", bare)


@pytest.mark.parametrize("device", ["cpu", -1, torch.device("cpu")])
def test_device(tiny, device):
    pipe = cove.pipeline("text-classification", tiny["text-classification"], device=device)
    assert pipe.device == torch.device("cpu")
    assert pipe("I love it")[0]["label"] in {"POSITIVE", "NEGATIVE"}


def test_load_options(tiny):
    pipe = cove.pipeline("text-classification", tiny["text-classification"], torch_dtype="bfloat16")
    assert pipe.model.dtype == torch.bfloat16 and pipe("I love it")[0]["label"] in {"POSITIVE", "NEGATIVE"}
    pipe = cove.pipeline("feature-extraction", tiny["feature-extraction"], model_kwargs={"dtype": "bfloat16"})
    assert pipe.model.dtype == torch.bfloat16


def test_device_spellings():
    assert resolve_device(None) is None
    assert resolve_device(-1) == torch.device("cpu")
    assert resolve_device(0) == torch.device("cuda", 0)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(TypeError, match="device"):
        resolve_device(True)


def test_bad_parameters_and_inputs(tiny):
    with pytest.raises(TypeError, match="device"):
        cove.pipeline("text-classification", tiny["text-classification"], device=1.5)
    with pytest.raises(TypeError, match="top_kk"):
        cove.pipeline("text-classification", tiny["text-classification"], top_kk=2)
    tc = cove.pipeline("text-classification", tiny["text-classification"])
    with pytest.raises(TypeError, match="temperature"):
        tc("I love it", temperature=0.5)
    with pytest.raises(ValueError, match="function_to_apply"):
        tc("I love it", function_to_apply="tanh")
    with pytest.raises(ValueError, match="text_pair"):
        tc(12)
    with pytest.raises(ValueError, match="batch_size"):
        tc(["a", "b"], batch_size=0)
    with pytest.raises(ValueError, match="mask_token"):
        cove.pipeline("fill-mask", tiny["fill-mask"])("no mask here")
    zs = cove.pipeline("zero-shot-classification", tiny["zero-shot-classification"])
    with pytest.raises(ValueError, match="candidate label"):
        zs("I love it")
    with pytest.raises(ValueError, match="hypothesis_template"):
        zs("I love it", candidate_labels=["a"], hypothesis_template="no slot")
    qa = cove.pipeline("question-answering", tiny["question-answering"])
    with pytest.raises(ValueError, match="context"):
        qa(question="Who?")
    with pytest.raises(ValueError, match="doc_stride"):
        qa(question="Who?", context="John lives here.", max_seq_len=16, doc_stride=32)
    ner = cove.pipeline("ner", tiny["token-classification"])
    with pytest.raises(ValueError, match="aggregation_strategy"):
        ner("John lives here.", aggregation_strategy="longest")
    with pytest.raises(ValueError, match="aggregation_strategy"):
        ner("John lives here.", stride=8)
    gen = cove.pipeline("text-generation", tiny["text-generation"])
    with pytest.raises(TypeError, match="top_kk"):
        gen("Hello", top_kk=3)
    with pytest.raises(ValueError, match="role"):
        gen([{"role": "user", "content": "hi"}, {"text": "no role"}])
    with pytest.raises(ValueError, match="one prompt"):
        list(gen.stream(["a", "b"]))
    sim = cove.pipeline("sentence-similarity", tiny["feature-extraction"])
    with pytest.raises(ValueError, match="source_sentence"):
        sim("just a string")


def test_repo_id_from_the_hub_and_default_models(tiny, hub, alice, tmp_path, monkeypatch):
    monkeypatch.setenv("COVE_CACHE", str(tmp_path / "cache"))
    repo = f"alice/tiny-sentiment-{uuid.uuid4().hex[:8]}"
    folder = shutil.copytree(tiny["text-classification"], tmp_path / "upload")
    (folder / "README.md").write_text("---\npipeline_tag: text-classification\n---\n# Tiny sentiment\n")
    with HubApi(endpoint=hub.url, token=alice) as api:
        api.create_repo(repo, private=True)
        api.upload_folder(repo_id=repo, folder_path=str(folder))
    expected = cove.pipeline("text-classification", tiny["text-classification"])(["I love it", "I hate it"])
    pipe = cove.pipeline(model=repo, token=alice, endpoint=hub.url)  # task from the card
    assert pipe.task == "text-classification"
    assert pipe(["I love it", "I hate it"]) == expected
    monkeypatch.setenv("COVE_ENDPOINT", hub.url)
    monkeypatch.setenv("COVE_TOKEN", alice)
    monkeypatch.setitem(registry.DEFAULT_MODELS, "text-classification", repo)
    assert cove.pipeline("sentiment-analysis")(["I love it", "I hate it"]) == expected


def test_sentence_files_come_from_the_hub(tiny, hub, alice, tmp_path, monkeypatch):
    monkeypatch.setenv("COVE_CACHE", str(tmp_path / "cache"))
    repo = f"alice/tiny-embedder-{uuid.uuid4().hex[:8]}"
    folder = shutil.copytree(tiny["feature-extraction"], tmp_path / "upload")
    modules = [
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    with HubApi(endpoint=hub.url, token=alice) as api:
        api.create_repo(repo)
        api.upload_folder(repo_id=repo, folder_path=str(folder))
    pipe = cove.pipeline("sentence-similarity", repo, token=alice, endpoint=hub.url)
    assert pipe.sentence_config == {"pooling": "cls_token", "normalize": True, "max_length": None}
    local = cove.pipeline("sentence-similarity", folder)
    query = {"source_sentence": "I love it", "sentences": ["I hate it", "Paris"]}
    assert pipe(query) == local(query)


def test_text_generation_with_an_assistant_model(tiny):
    """``assistant_model`` as transformers' pipeline takes it (a folder here, loaded once): the same text
    as without it, and as transformers' assisted pipeline on the same folders."""
    folder = str(tiny["text-generation"])
    plain = cove.pipeline("text-generation", folder)("Hello there", do_sample=False, max_new_tokens=12)
    gen = cove.pipeline("text-generation", folder, assistant_model=folder)
    assert isinstance(gen._options["assistant_model"], torch.nn.Module)
    assert gen("Hello there", do_sample=False, max_new_tokens=12) == plain
    ref = hf_pipeline("text-generation", tiny["text-generation"], assistant_model=folder)
    assert ref("Hello there", do_sample=False, max_new_tokens=12) == plain
