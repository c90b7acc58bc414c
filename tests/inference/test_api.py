"""``POST /api/inference/{ns}/{name}`` against a real ``cove serve``: the same outputs as ``cove.pipeline``
on the same folder, download access rules, and clear errors."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import httpx
import pytest


def infer(hub, repo_id: str, body: dict, token: str | None = None, **kw) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{hub.url}/api/inference/{repo_id}", json=body, headers=headers, timeout=120, **kw)


def test_text_classification_equals_the_local_pipeline(hub, repos, local):
    texts = ["the movie was good", "i hate this boring film"]
    r = infer(hub, repos.classifier, {"inputs": texts[0]})
    assert r.status_code == 200, r.text
    assert r.json() == local["classifier"](texts[0])
    assert r.headers["x-inference-task"] == "text-classification" and len(r.headers["x-repo-commit"]) == 40
    r = infer(hub, repos.classifier, {"inputs": texts, "parameters": {"top_k": None}})
    assert r.status_code == 200, r.text
    assert r.json() == local["classifier"](texts, top_k=None)
    assert {x["label"] for x in r.json()[0]} == {"NEGATIVE", "POSITIVE"}


def test_text_generation_equals_the_local_pipeline(hub, repos, local):
    params = {"max_new_tokens": 10, "do_sample": False}
    r = infer(hub, repos.chat, {"inputs": "hello world", "parameters": params})
    assert r.status_code == 200, r.text
    assert r.json() == local["chat"]("hello world", **params)
    chat = [{"role": "user", "content": "what is the capital of france?"}]
    r = infer(hub, repos.chat, {"inputs": chat, "parameters": {**params, "return_full_text": False}})
    assert r.status_code == 200, r.text
    assert r.json() == local["chat"](chat, **params, return_full_text=False)


def test_private_repos_follow_download_rules(hub, repos, local):
    body = {"inputs": "the movie was good"}
    for token in (None, repos.other):
        r = infer(hub, repos.private, body, token)
        assert r.status_code == 404 and r.headers["x-error-code"] == "RepoNotFound"
    assert infer(hub, repos.private, body, "cove_not-a-token").status_code == 401
    r = infer(hub, repos.private, body, repos.owner)
    assert r.status_code == 200 and r.json() == local["classifier"](body["inputs"])
    r = infer(hub, repos.private, body, hub.token("ines", read_only=True))  # reading is enough
    assert r.status_code == 200


def test_errors_say_what_is_wrong(hub, repos):
    r = infer(hub, "ines/no-such-model", {"inputs": "x"})
    assert r.status_code == 404 and r.headers["x-error-code"] == "RepoNotFound"
    r = infer(hub, repos.untagged, {"inputs": "x"})
    assert r.status_code == 400 and "pipeline_tag" in r.json()["error"]
    r = infer(hub, repos.classifier, {"inputs": 42})
    assert r.status_code == 400 and "non-empty string" in r.json()["error"]
    r = infer(hub, repos.classifier, {"inputs": ""})
    assert r.status_code == 400
    r = infer(hub, repos.classifier, {"text": "x"})
    assert r.status_code == 400 and "inputs" in r.json()["error"]
    r = infer(hub, repos.classifier, {"inputs": "x", "parameters": {"streamer": 1}})
    assert r.status_code == 400 and "streamer" in r.json()["error"] and "top_k" in r.json()["error"]
    r = infer(hub, repos.classifier, {"inputs": "x", "parameters": {"top_k": -3}})
    assert r.status_code == 400 and "top_k" in r.json()["error"]
    r = infer(hub, repos.chat, {"inputs": "x", "parameters": {"max_new_tokens": 10**6}})
    assert r.status_code == 400 and "max_new_tokens" in r.json()["error"]
    r = infer(hub, repos.chat, {"inputs": [{"role": "user"}]})
    assert r.status_code == 400 and "role" in r.json()["error"]
    r = httpx.post(f"{hub.url}/api/inference/{repos.classifier}", content=b"{nope", timeout=30)
    assert r.status_code == 400 and "JSON" in r.json()["error"]
    r = infer(hub, repos.classifier, {"inputs": "x"}, params={"revision": "nope"})
    assert r.status_code == 404 and r.headers["x-error-code"] == "RevisionNotFound"


def test_status_is_for_admins(hub, repos):
    assert httpx.get(f"{hub.url}/api/inference/status").status_code == 401
    headers = {"Authorization": f"Bearer {repos.owner}"}
    assert httpx.get(f"{hub.url}/api/inference/status", headers=headers).status_code == 403
    infer(hub, repos.classifier, {"inputs": "good"})
    headers = {"Authorization": f"Bearer {hub.user('inference-admin', admin=True)}"}
    status = httpx.get(f"{hub.url}/api/inference/status", headers=headers).json()
    assert status["budget_bytes"] == 2048 * 1024 * 1024
    assert repos.classifier in {m["model"] for m in status["models"]}
    assert 0 < status["used_bytes"] <= status["peak_bytes"] <= status["budget_bytes"]


def test_the_server_starts_without_torch():
    code = (
        "import sys; from cove.server.app import create_app; from cove.server.settings import Settings; "
        "import tempfile; create_app(Settings(data_dir=tempfile.mkdtemp())); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("inputs", [{"source_sentence": "a"}, ["x", 3]])
def test_inputs_of_the_wrong_shape_are_refused(inputs):
    from cove.errors import BadRequest
    from cove.server.services.inference_inputs import check_inputs

    task = "sentence-similarity" if isinstance(inputs, dict) else "text-classification"
    with pytest.raises(BadRequest):
        check_inputs(task, inputs)


def test_the_snapshot_links_lfs_blobs_and_reconstructs_xet_files(hub, repos, checkpoints):
    r = infer(hub, repos.classifier, {"inputs": "good"})
    snapshot = hub.data_dir / "inference" / r.headers["x-repo-commit"]
    weights = snapshot / "model.safetensors"
    data = (checkpoints["classifier"] / "model.safetensors").read_bytes()
    oid = hashlib.sha256(data).hexdigest()
    blob = hub.data_dir / "lfs" / oid[:2] / oid[2:4] / oid
    assert weights.read_bytes() == data
    if blob.exists():  # uploaded through the LFS batch API or inline: a link, not a copy
        assert os.path.samefile(weights, blob)
    else:  # uploaded through Xet (the stock client's default): chunks only, reconstructed here
        assert weights.stat().st_nlink == 1
    assert (snapshot / "config.json").read_bytes() == (checkpoints["classifier"] / "config.json").read_bytes()
    assert not (snapshot / ".gitattributes").exists()
    assert not [p for p in snapshot.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left
