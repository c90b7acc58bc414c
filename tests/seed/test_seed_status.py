"""The seed's progress file: what ``cove seed --status-file`` writes, and what the Hub makes of it (the
home page's list of what is still being prepared, and a "not found" that says when a seeded repo will be
ready). The full run, timed, is in test_seed_timing.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time

import httpx
import pytest

from cove.errors import RepoNotFound
from cove.hub import HubApi
from cove.protocol import SEED_STATUS_FILE, SeedStatus, SeedStep
from cove.seed.status import StatusFile, mark_inactive, read_status
from tests.conftest import start_server, stop_server

STEPS = [SeedStep("cove/vader-sentiment", "dataset", estimate=20), SeedStep("cove/minilm-sentiment", "model",
                                                                            estimate=300)]


def test_status_file_follows_the_steps(tmp_path):
    path = tmp_path / SEED_STATUS_FILE
    status = StatusFile(path, STEPS)
    assert read_status(path) == SeedStatus(tuple(STEPS), active=True)
    status.set("cove/vader-sentiment", "building")
    building = read_status(path)
    started = building.steps[0].started
    assert building.steps[0].state == "building" and abs(started - time.time()) < 60
    # 5 s into the first step: 15 s of it left, then the 300 s of the second
    assert building.seconds_until_ready("dataset", "cove/vader-sentiment", started + 5) == pytest.approx(15)
    assert building.seconds_until_ready("model", "cove/minilm-sentiment", started + 5) == pytest.approx(315)
    assert building.seconds_until_ready("model", "cove/other", started) is None
    status.set("cove/vader-sentiment", "done")
    done = read_status(path)
    assert done.steps[0].finished >= started and not done.steps[0].pending
    assert done.seconds_until_ready("dataset", "cove/vader-sentiment", time.time()) is None
    status.close()  # the run ended before the second step: it failed, and no seed is running
    closed = read_status(path)
    assert not closed.active and [s.state for s in closed.steps] == ["done", "failed"]
    assert closed.seconds_until_ready("model", "cove/minilm-sentiment", time.time()) is None
    for bad in ("", "{}", '{"steps": [{"repo_id": "a", "repo_type": "model", "state": "dancing"}]}'):
        path.write_text(bad)
        assert read_status(path) is None


def test_mark_inactive_ends_a_run_that_died(tmp_path):
    path = tmp_path / SEED_STATUS_FILE
    StatusFile(path, STEPS).set("cove/vader-sentiment", "building")
    mark_inactive(path)
    status = read_status(path)
    assert not status.active and {s.state for s in status.steps} == {"failed"}
    mark_inactive(tmp_path / "missing.json")  # nothing to do


@pytest.fixture
def preparing_hub(tmp_path):
    """A Hub whose data dir says a seed is running: the dataset is built, the sentiment model is training."""
    server = start_server(tmp_path / "data")
    status = StatusFile(server.data_dir / SEED_STATUS_FILE, STEPS)
    status.set("cove/vader-sentiment", "building")
    status.set("cove/vader-sentiment", "done")
    status.set("cove/minilm-sentiment", "building")
    yield server, status
    stop_server(server)


def test_hub_says_what_the_seed_still_prepares(preparing_hub, tmp_path):
    server, status = preparing_hub
    home = httpx.get(server.url + "/").text
    assert "Preparing the default models and datasets" in home
    assert re.search(r"<code>cove/minilm-sentiment</code> \(model\): building, ready in ~[45] min", home)
    assert "<code>cove/vader-sentiment</code> (dataset): done" in home

    with pytest.raises(RepoNotFound) as err:  # Cove's client, and the pipeline that needs the model
        HubApi(server.url, False).model_info("cove/minilm-sentiment")
    message = str(err.value)
    assert "cove/minilm-sentiment is being prepared by the seed" in message
    assert re.search(r"ready in ~[45] min", message)
    assert "check the id" not in message
    env = {"COVE_ENDPOINT": server.url, "COVE_CACHE": str(tmp_path / "cache"), "COVE_TOKEN": "",
           "HF_ENDPOINT": server.url, "HF_HOME": str(tmp_path / "hf"), "HF_TOKEN": ""}
    code = textwrap.dedent("""
        from cove import pipeline
        try:
            pipeline("sentiment-analysis")
        except Exception as e:
            print(type(e).__name__, e)
        from huggingface_hub import hf_hub_download
        try:
            hf_hub_download("cove/minilm-sentiment", "config.json")
        except Exception as e:
            print(type(e).__name__, " ".join(str(e).split()))
    """)
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True,
                         timeout=300).stdout
    cove_line, hf_line = out.strip().splitlines()[-2:]
    assert cove_line.startswith("RepoNotFound") and "being prepared by the seed" in cove_line, out
    assert hf_line.startswith("RepositoryNotFoundError") and "being prepared by the seed" in hf_line, out

    other = httpx.get(f"{server.url}/api/models/cove/not-seeded")  # not a seed step: the plain answer
    assert other.status_code == 404 and other.json()["error"] == "Repository not found"

    status.close()  # the seed ended (here: failed) -> plain not-found, and no banner
    assert httpx.get(f"{server.url}/api/models/cove/minilm-sentiment").json()["error"] == "Repository not found"
    assert "Preparing the default models" not in httpx.get(server.url + "/").text
    assert json.loads((server.data_dir / SEED_STATUS_FILE).read_text())["active"] is False


def test_a_restart_ends_a_seed_that_died_with_the_server(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    StatusFile(data / SEED_STATUS_FILE, STEPS).set("cove/vader-sentiment", "building")  # killed mid-step
    server = start_server(data)  # no --seed: nothing prepares the repos now
    try:
        assert httpx.get(f"{server.url}/api/models/cove/minilm-sentiment").json()["error"] == "Repository not found"
        assert not read_status(data / SEED_STATUS_FILE).active
    finally:
        stop_server(server)
