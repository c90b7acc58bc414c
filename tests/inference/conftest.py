"""Fixtures of the inference tests: tiny random checkpoints (made once per session with transformers)
uploaded with the stock huggingface_hub client to the session's ``cove serve``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from huggingface_hub import HfApi

from tests.inference.models import bert_classifier, llama_chat


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("inference-models")
    return {
        "classifier": bert_classifier(root / "classifier"),
        "chat": llama_chat(root / "chat"),
        "untagged": bert_classifier(root / "untagged", task=None),
    }


@dataclass
class Repos:
    owner: str  # the owner's token
    other: str  # a user with no access to the private repos
    classifier: str
    private: str
    chat: str
    private_chat: str
    untagged: str


@pytest.fixture(scope="session")
def repos(hub, checkpoints) -> Repos:
    """Inference test repos of ``ines`` (no other test module uses these accounts)."""
    owner, other = hub.user("ines"), hub.user("otto")
    api = HfApi(endpoint=hub.url, token=owner)
    made = {}
    for key, folder, private in (
        ("classifier", checkpoints["classifier"], False),
        ("private", checkpoints["classifier"], True),
        ("chat", checkpoints["chat"], False),
        ("private_chat", checkpoints["chat"], True),
        ("untagged", checkpoints["untagged"], False),
    ):
        repo_id = f"ines/tiny-{key.replace('_', '-')}"
        api.create_repo(repo_id, private=private)
        api.upload_folder(folder_path=folder, repo_id=repo_id, commit_message="Add the model")
        made[key] = repo_id
    return Repos(owner, other, **made)


@pytest.fixture(scope="session")
def local(checkpoints):
    """``cove.pipeline`` on the same folders, in this process: what the server must answer."""
    from cove.pipelines import pipeline

    return {
        "classifier": pipeline("text-classification", model=str(checkpoints["classifier"]), device="cpu"),
        "chat": pipeline("text-generation", model=str(checkpoints["chat"]), device="cpu"),
    }
