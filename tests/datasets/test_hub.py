"""Datasets on a real ``cove serve``: ``push_to_hub`` and ``load_dataset`` both ways with Hugging Face
``datasets`` (run in a subprocess: it reads HF_ENDPOINT at import), streaming that reads only what
it iterates, and the viewer's API and web page."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid

import httpx
import pytest

import cove.datasets as cd
from tests.conftest import start_server, stop_server
from tests.datasets.conftest import make_columns


@pytest.fixture(autouse=True)
def cove_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COVE_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.delenv("COVE_TOKEN", raising=False)


@pytest.fixture(scope="module")
def lfs_hub(tmp_path_factory):
    """A Hub that takes LFS uploads the way huggingface_hub sends them (for datasets.push_to_hub)."""
    server = start_server(tmp_path_factory.mktemp("lfs-hub") / "data", env={"COVE_LFS_UPLOADS": "lfs"})
    yield server
    stop_server(server)


def run_hf(url: str, token: str, code: str, tmp_path) -> str:
    env = {**os.environ, "HF_ENDPOINT": url, "HF_TOKEN": token, "HF_HOME": str(tmp_path / "hf"),
           "HF_DATASETS_CACHE": str(tmp_path / "hf-ds"), "HF_HUB_DISABLE_XET": "1",
           "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


def _repo(user: str = "alice") -> str:
    return f"{user}/ds-{uuid.uuid4().hex[:8]}"


def _labelled(n: int = 60):
    features = cd.Features({"text": cd.Value("string"), "label": cd.ClassLabel(names=["a", "b", "c"]),
                            "ids": cd.List(cd.Value("int32"))})
    columns = {k: v for k, v in make_columns(n).items() if k in features}
    return cd.Dataset.from_dict(columns, features=features)


def test_cove_push_then_cove_and_datasets_load(hub, alice, tmp_path):
    repo = _repo()
    ds = _labelled()
    dd = cd.DatasetDict({"train": ds.select(range(40)), "test": ds.select(range(40, 60))})
    dd.push_to_hub(repo, token=alice, endpoint=hub.url)
    ds.select(range(5)).push_to_hub(repo, config_name="small", split="train", token=alice, endpoint=hub.url)
    back = cd.load_dataset(repo, token=alice, endpoint=hub.url)
    assert list(back) == ["train", "test"]
    assert back["test"].to_dict() == dd["test"].to_dict() and back["train"].features == ds.features
    assert cd.load_dataset(repo, "small", split="train", token=alice, endpoint=hub.url).to_dict() == \
        ds.select(range(5)).to_dict()
    out = run_hf(hub.url, alice, f"""
        import datasets, json
        d = datasets.load_dataset("{repo}")
        s = datasets.load_dataset("{repo}", "small", split="train")
        print(json.dumps([d["test"].to_dict(), d["train"].features.to_dict(), list(d), len(s)]))
    """, tmp_path)
    import json

    test_rows, features, splits, small = json.loads(out.strip().splitlines()[-1])
    assert test_rows == dd["test"].to_dict() and features == ds.features.to_dict()
    assert splits == ["train", "test"] and small == 5


def test_datasets_push_then_cove_load(lfs_hub, tmp_path):
    token = lfs_hub.user("carol")
    repo = _repo("carol")
    run_hf(lfs_hub.url, token, f"""
        import datasets
        f = datasets.Features({{"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["x", "y"])}})
        d = datasets.Dataset.from_dict({{"text": ["p", "q", "r"], "label": [1, 0, 1]}}, features=f)
        datasets.DatasetDict(train=d, validation=d.select([2])).push_to_hub("{repo}")
    """, tmp_path)
    back = cd.load_dataset(repo, token=token, endpoint=lfs_hub.url)
    assert back["train"].to_dict() == {"text": ["p", "q", "r"], "label": [1, 0, 1]}
    assert back["validation"]["text"] == ["r"]
    assert back["train"].features["label"] == cd.ClassLabel(names=["x", "y"])


def test_streaming_reads_only_what_it_iterates(hub, alice, tmp_path):
    repo = _repo()
    import numpy as np

    rng = np.random.default_rng(0)
    letters = rng.integers(97, 123, size=(20_000, 200), dtype=np.uint8)  # incompressible text: ~4 MB
    big = cd.Dataset.from_dict({"text": [row.tobytes().decode() for row in letters], "n": list(range(20_000))})
    big.to_parquet(tmp_path / "train.parquet", row_group_size=1000)
    from cove.hub import HubApi

    with HubApi(hub.url, alice) as api:
        api.create_repo(repo, repo_type="dataset")
        api.upload_file(path_or_fileobj=str(tmp_path / "train.parquet"), path_in_repo="data/train.parquet",
                        repo_id=repo, repo_type="dataset")
    stream = cd.load_dataset(repo, split="train", streaming=True, token=alice, endpoint=hub.url)
    first = list(stream.take(10))
    assert [r["n"] for r in first] == list(range(10))
    fetched = sum(s.fetched for s in stream._sources)
    size = (tmp_path / "train.parquet").stat().st_size
    assert 0 < fetched < size / 2, (fetched, size)

    lines = _repo()
    with HubApi(hub.url, alice) as api:
        api.create_repo(lines, repo_type="dataset")
        api.upload_file(path_or_fileobj=b'{"a": 1, "b": "x"}\n{"a": 2, "b": "y"}\n', path_in_repo="test.jsonl",
                        repo_id=lines, repo_type="dataset")
    stream = cd.load_dataset(lines, streaming=True, token=alice, endpoint=hub.url)
    assert list(stream) == ["test"] and list(stream["test"]) == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]


def test_viewer_api_and_page(hub, alice, bob, tmp_path):
    from PIL import Image

    repo = _repo()
    images = []
    for v in range(3):
        path = tmp_path / f"{v}.png"
        Image.new("RGB", (3, 2), (v * 80, 10, 10)).save(path)
        images.append(str(path))
    _labelled(250).select_columns(["text", "label"]).push_to_hub(repo, token=alice, endpoint=hub.url, num_shards=2)
    auth = {"authorization": f"Bearer {alice}"}
    info = httpx.get(f"{hub.url}/api/datasets/{repo}/info", headers=auth).json()["dataset_info"]
    assert info["default"]["splits"]["train"]["num_examples"] == 250
    assert info["default"]["features"]["label"] == {"names": ["a", "b", "c"], "_type": "ClassLabel"}
    page = httpx.get(f"{hub.url}/api/datasets/{repo}/rows", params={"offset": 120, "length": 10}, headers=auth)
    body = page.json()
    assert page.status_code == 200 and body["num_rows_total"] == 250
    assert [r["row_idx"] for r in body["rows"]] == list(range(120, 130))
    assert [r["row"]["text"] for r in body["rows"]] == _labelled(250)["text"][120:130]
    assert httpx.get(f"{hub.url}/api/datasets/{repo}/rows", params={"length": 1000}, headers=auth).status_code == 400
    assert httpx.get(f"{hub.url}/api/datasets/{repo}/rows", params={"split": "nope"}, headers=auth).status_code == 404

    private = _repo()
    images = [open(p, "rb").read() for p in images]  # stored as bytes in the Parquet file
    cd.Dataset.from_dict({"image": images}, features=cd.Features({"image": cd.Image()})).push_to_hub(
        private, token=alice, endpoint=hub.url, private=True)
    hidden = httpx.get(f"{hub.url}/api/datasets/{private}/rows", headers={"authorization": f"Bearer {bob}"})
    assert hidden.status_code == 404
    rows = httpx.get(f"{hub.url}/api/datasets/{private}/rows", headers=auth).json()["rows"]
    assert f"/api/datasets/{private}/cell?" in rows[1]["row"]["image"]["src"]

    html = httpx.get(f"{hub.url}/datasets/{repo}", params={"offset": 20}, headers=auth).text
    assert "Dataset viewer" in html and _labelled(250)["text"][20] in html and "ClassLabel(3)" in html
    assert "offset=40" in html and "offset=0" in html  # next and previous pages
    label = _labelled(250)[20]["label"]
    assert f"{label} ({'abc'[label]})" in html
    page = httpx.get(f"{hub.url}/datasets/{private}", headers=auth).text
    assert f'<img src="/api/datasets/{private}/cell?' in page


def test_viewer_reads_small_csv_files(hub, alice):
    from cove.hub import HubApi

    repo = _repo()
    with HubApi(hub.url, alice) as api:
        api.create_repo(repo, repo_type="dataset")
        api.upload_file(path_or_fileobj=b"a,b\n1,x\n2,y\n3,z\n", path_in_repo="train.csv", repo_id=repo,
                        repo_type="dataset")
        api.upload_file(path_or_fileobj=b"a,b\n9,q\n", path_in_repo="test.csv", repo_id=repo, repo_type="dataset")
    auth = {"authorization": f"Bearer {alice}"}
    info = httpx.get(f"{hub.url}/api/datasets/{repo}/info", headers=auth).json()["dataset_info"]["default"]
    assert {s: v["num_examples"] for s, v in info["splits"].items()} == {"train": 3, "test": 1}
    rows = httpx.get(f"{hub.url}/api/datasets/{repo}/rows", params={"split": "train", "offset": 1, "length": 5},
                     headers=auth).json()
    assert [r["row"] for r in rows["rows"]] == [{"a": 2, "b": "y"}, {"a": 3, "b": "z"}]
    assert "Dataset viewer" in httpx.get(f"{hub.url}/datasets/{repo}", headers=auth).text
