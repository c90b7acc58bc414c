"""One configuration for both libraries: with only the Hugging Face variables set (HF_ENDPOINT, HF_TOKEN,
HF_HOME), Cove and the real ``huggingface_hub`` use the same Hub, token and cache, so a model one of them
downloaded is not downloaded again by the other (counted in the Hub's request log)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tests.conftest import start_server, stop_server
from tests.hub.conftest import unique

from cove.hub import CommitOperationAdd, HubApi

FILES = {"config.json": b'{"model_type": "bert"}', "model.safetensors": os.urandom(3 * 1024 * 1024)}


@pytest.fixture(scope="module")
def logged_hub(tmp_path_factory):
    """A Hub that logs every request (uvicorn's access log), to count the downloads."""
    server = start_server(tmp_path_factory.mktemp("logged-hub") / "data", args=("--log-level", "info"))
    yield server
    stop_server(server)


@pytest.fixture
def hf_env(logged_hub, tmp_path) -> dict:
    """Only the Hugging Face variables: no COVE_* one, HOME in tmp_path (so no saved token is found)."""
    token = logged_hub.user("carol")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COVE_", "HF_"))}
    env.update(HOME=str(tmp_path / "home"), HF_HOME=str(tmp_path / "hf-home"), HF_ENDPOINT=logged_hub.url,
               HF_TOKEN=token, HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
    return env


@pytest.fixture
def model(logged_hub, hf_env) -> str:
    repo = f"carol/{unique('shared')}"
    with HubApi(logged_hub.url, hf_env["HF_TOKEN"]) as api:
        api.create_repo(repo, private=True)  # the token must reach the Hub for either library to see it
        api.create_commit(repo, [CommitOperationAdd(k, v) for k, v in FILES.items()], commit_message="init",
                          progress=False)
    return repo


def downloads(server, repo: str) -> int:
    """File bodies the Hub has sent of ``repo`` so far: GETs of ``resolve`` URLs and Xet reconstructions."""
    log = server.log.read_text()
    return len(re.findall(rf'"GET /{re.escape(repo)}/resolve/[^"]*" 200', log)) + len(
        re.findall(r'"GET /(?:cas/)?v[12]/reconstructions?/[^"]*" 20\d', log))


def python(env: dict, code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


def blobs(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (folder.parent.parent / "blobs").iterdir()}


def test_hf_reads_what_cove_downloaded(logged_hub, hf_env, model):
    before = downloads(logged_hub, model)
    cli = subprocess.run([sys.executable, "-m", "cove.cli.main", "download", model, "-q"], env=hf_env,
                         capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr
    folder = Path(cli.stdout.strip())
    expected = Path(hf_env["HF_HOME"]) / "hub" / f"models--{model.replace('/', '--')}" / "snapshots"
    assert folder.parent == expected  # $HF_HOME/hub, huggingface_hub's default cache
    assert downloads(logged_hub, model) > before  # Cove fetched the files ...
    seen, stored = downloads(logged_hub, model), blobs(folder)

    hf_folder = python(hf_env, f"""
        from huggingface_hub import snapshot_download
        print(snapshot_download({model!r}))""")
    assert Path(hf_folder) == folder
    assert downloads(logged_hub, model) == seen and blobs(folder) == stored  # ... huggingface_hub did not
    assert {p.name: p.read_bytes() for p in Path(hf_folder).iterdir() if p.name in FILES} == FILES


def test_cove_reads_what_hf_downloaded(logged_hub, hf_env, model):
    before = downloads(logged_hub, model)
    hf_folder = Path(python(hf_env, f"""
        from huggingface_hub import snapshot_download
        print(snapshot_download({model!r}))"""))
    assert str(hf_folder).startswith(hf_env["HF_HOME"])
    assert downloads(logged_hub, model) > before
    seen, stored = downloads(logged_hub, model), blobs(hf_folder)

    cove_folder = python(hf_env, f"""
        from cove.hub import snapshot_download
        print(snapshot_download({model!r}, progress=False))""")
    assert Path(cove_folder) == hf_folder
    assert downloads(logged_hub, model) == seen and blobs(hf_folder) == stored
    # and the same through the library's loaders, configured by the HF variables alone
    name = python(hf_env, f"""
        from cove import AutoConfig
        print(AutoConfig.from_pretrained({model!r}).model_type)""")
    assert name == "bert" and downloads(logged_hub, model) == seen
