"""The model manager under a tiny budget, on its own ``cove serve`` (COVE_INFERENCE_MEMORY_MB=1): least
recently used models out first, a model over the budget refused, and concurrent requests on two models
that never fit together all answered correctly without the loaded bytes ever passing the budget."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from huggingface_hub import HfApi

from tests.conftest import start_server, stop_server
from tests.inference.models import bert_classifier

BUDGET = 1024 * 1024
TEXTS = ["the movie was good", "i hate this boring film", "what a great story", "awful plot"]


@pytest.fixture(scope="module")
def small_hub(tmp_path_factory):
    root = tmp_path_factory.mktemp("budget")
    server = start_server(root / "data", {"COVE_INFERENCE_MEMORY_MB": "1", "COVE_INFERENCE_WORKERS": "4"})
    token = server.user("bea")
    api = HfApi(endpoint=server.url, token=token)
    # about 0.67 MiB each: one fits in 1 MiB, two do not; the large one (1.7 MiB) never fits
    for name, hidden, seed in (("one", 96, 1), ("two", 96, 2), ("large", 160, 3)):
        folder = bert_classifier(root / name, hidden=hidden, seed=seed)
        api.create_repo(f"bea/{name}")
        api.upload_folder(folder_path=folder, repo_id=f"bea/{name}")
    server.admin = server.user("root", admin=True)
    server.folders = {name: root / name for name in ("one", "two")}
    yield server
    stop_server(server)


def status(server) -> dict:
    r = httpx.get(f"{server.url}/api/inference/status", headers={"Authorization": f"Bearer {server.admin}"})
    assert r.status_code == 200
    return r.json()


def infer(server, name: str, text: str) -> httpx.Response:
    return httpx.post(f"{server.url}/api/inference/bea/{name}", json={"inputs": text}, timeout=120)


def test_least_recently_used_out_and_too_large_refused(small_hub):
    assert status(small_hub)["models"] == []
    assert infer(small_hub, "one", "good").status_code == 200
    first = status(small_hub)
    assert [m["model"] for m in first["models"]] == ["bea/one"]
    assert 0.5 * BUDGET < first["used_bytes"] <= BUDGET
    assert infer(small_hub, "two", "good").status_code == 200
    second = status(small_hub)
    assert [m["model"] for m in second["models"]] == ["bea/two"] and second["evictions"] == first[
        "evictions"
    ] + 1
    r = infer(small_hub, "large", "good")
    assert r.status_code == 413 and "COVE_INFERENCE_MEMORY_MB" in r.json()["error"]
    assert [m["model"] for m in status(small_hub)["models"]] == ["bea/two"]  # nothing unloaded for it


def test_concurrent_requests_are_right_and_stay_in_budget(small_hub):
    from cove.pipelines import pipeline

    local = {
        n: pipeline("text-classification", model=str(f), device="cpu") for n, f in small_hub.folders.items()
    }
    jobs = [(name, text) for text in TEXTS for name in ("one", "two")] * 2  # 16 requests, alternating models
    before = status(small_hub)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda job: infer(small_hub, *job), jobs))
    for (name, text), r in zip(jobs, answers, strict=True):
        assert r.status_code == 200, r.text
        assert r.json() == local[name](text)
    after = status(small_hub)
    assert after["peak_bytes"] <= after["budget_bytes"] == BUDGET
    assert after["used_bytes"] <= BUDGET and after["reserved_bytes"] == 0
    assert all(m["in_use"] == 0 for m in after["models"])
    assert after["loads"] > before["loads"]  # the two models really took turns
