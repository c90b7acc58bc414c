"""sentence-similarity and feature-extraction on the real all-MiniLM-L6-v2 package (mean pooling and
Normalize from its sentence-transformers files, whose 2_Normalize folder does not exist), against
``sentence_transformers`` and transformers."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

import cove
from cove.pipelines.feature_extraction import POOLING_MODES, read_sentence_config
from tests.pipelines.conftest import hf_pipeline

SOURCE = "A man is playing a guitar on stage."
SENTENCES = [
    "Someone performs music with a guitar in front of an audience.",
    "The stock market fell sharply on Tuesday.",
    "A chef is cooking pasta in a busy kitchen.",
    "A person plays an acoustic instrument at a concert.",
]


@pytest.fixture(scope="module")
def st_model(minilm_folder):
    sentence_transformers = pytest.importorskip("sentence_transformers")
    return sentence_transformers.SentenceTransformer(str(minilm_folder), device="cpu")


@pytest.fixture(scope="module")
def similarity(minilm_folder):
    return cove.pipeline("sentence-similarity", minilm_folder)


def test_reads_the_sentence_transformers_files(minilm_folder):
    assert not (minilm_folder / "2_Normalize").exists()
    assert read_sentence_config(minilm_folder) == {
        "pooling": "mean_tokens",
        "normalize": True,
        "max_length": 256,
    }


def test_equals_sentence_transformers(similarity, st_model):
    ours = similarity({"source_sentence": SOURCE, "sentences": SENTENCES})
    emb = st_model.encode([SOURCE, *SENTENCES], convert_to_tensor=True)
    theirs = torch.nn.functional.cosine_similarity(emb[:1], emb[1:]).tolist()
    np.testing.assert_allclose(ours, theirs, atol=1e-4)
    np.testing.assert_allclose(similarity.encode(SENTENCES).numpy(), st_model.encode(SENTENCES), atol=1e-4)
    single = similarity.encode(SOURCE)
    assert single.shape == (384,) and abs(float(single.norm()) - 1.0) < 1e-5


def test_ranks_a_paraphrase_first(similarity):
    scores = similarity({"source_sentence": SOURCE, "sentences": SENTENCES})
    assert scores[0] > 0.5 and scores[3] > 0.3
    assert min(scores[0], scores[3]) > max(scores[1], scores[2]) + 0.2


def test_feature_extraction_on_minilm(minilm_folder):
    assert cove.pipeline(model=minilm_folder).task == "sentence-similarity"  # the card's pipeline_tag
    ours = cove.pipeline("feature-extraction", minilm_folder)
    theirs = hf_pipeline("feature-extraction", minilm_folder)
    for x, y in zip(ours(SENTENCES[:2]), theirs(SENTENCES[:2]), strict=True):
        assert np.array(x).shape == np.array(y).shape
        np.testing.assert_allclose(np.array(x), np.array(y), atol=1e-4)


@pytest.mark.parametrize("mode", ["cls_token", "max_tokens", "mean_sqrt_len_tokens", "lasttoken"])
@pytest.mark.parametrize("normalize", [False, True])
def test_pooling_modes_equal_sentence_transformers(tiny, tmp_path, mode, normalize):
    sentence_transformers = pytest.importorskip("sentence_transformers")
    folder = shutil.copytree(tiny["feature-extraction"], tmp_path / "st")
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if normalize:
        modules.append(
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}
        )
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "1_Pooling").mkdir()
    pooling = {"word_embedding_dimension": 32, **{f"pooling_mode_{m}": m == mode for m in POOLING_MODES}}
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": 16, "do_lower_case": False})
    )
    ours = cove.pipeline("sentence-similarity", folder)
    assert ours.sentence_config == {"pooling": mode, "normalize": normalize, "max_length": 16}
    theirs = sentence_transformers.SentenceTransformer(str(folder), device="cpu")
    np.testing.assert_allclose(ours.encode(SENTENCES).numpy(), theirs.encode(SENTENCES), atol=1e-4)
