"""Fixtures of the hub client tests: a client per test with its own cache, unique repo names, and a
second Hub that answers ``lfs`` at preupload (so the LFS batch API and multipart are exercised)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from tests.conftest import start_server, stop_server

from cove.hub import HubApi

PART = 5 * 1024 * 1024


def unique(prefix: str = "r") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "cove-cache"


@pytest.fixture
def api(hub, alice, cache, tmp_path, monkeypatch) -> HubApi:
    """alice's client of the session Hub (Xet on: LFS files move through Xet when hf_xet is installed);
    hf_xet's caches go to this test's own HF_HOME."""
    monkeypatch.delenv("COVE_OFFLINE", raising=False)
    monkeypatch.delenv("COVE_CLIENT_XET", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    with HubApi(hub.url, alice, cache_dir=cache) as client:
        yield client


@pytest.fixture
def plain_api(hub, alice, cache, monkeypatch) -> HubApi:
    """alice's client with Xet off on the client side (``COVE_CLIENT_XET=0``): plain GET and LFS batch."""
    monkeypatch.delenv("COVE_OFFLINE", raising=False)
    monkeypatch.setenv("COVE_CLIENT_XET", "0")
    with HubApi(hub.url, alice, cache_dir=cache) as client:
        yield client


@pytest.fixture
def repo(api) -> str:
    """A fresh model repo of alice."""
    repo_id = f"alice/{unique()}"
    api.create_repo(repo_id)
    return repo_id


@pytest.fixture(scope="session")
def lfs_hub(tmp_path_factory):
    """A Hub that sends large and binary files through LFS, with 5 MiB multipart parts."""
    server = start_server(tmp_path_factory.mktemp("lfs-hub") / "data",
                          env={"COVE_LFS_UPLOADS": "lfs", "COVE_MULTIPART_PART_SIZE": str(PART)})
    yield server
    stop_server(server)


@pytest.fixture
def cove_env(hub, alice, tmp_path) -> dict:
    """Environment for ``cove`` subprocesses: this Hub, alice's token, a private cache and home (and an
    empty Hugging Face home, whose variables and token file are the fallbacks of the COVE_* ones)."""
    return {**os.environ, "COVE_ENDPOINT": hub.url, "COVE_TOKEN": alice, "COVE_CACHE": str(tmp_path / "cli-cache"),
            "COVE_HOME": str(tmp_path / "cove-home"), "COVE_OFFLINE": "", "HF_HOME": str(tmp_path / "hf-home"),
            "HF_TOKEN": "", "HF_ENDPOINT": "", "HF_HUB_CACHE": "", "HF_HUB_OFFLINE": "", "HF_TOKEN_PATH": ""}
