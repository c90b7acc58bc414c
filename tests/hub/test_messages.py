"""Messages that say what happened and what to do: ``cove whoami`` without a token, a repo that is not
found (once, and pointing at the right repo type when another type has that id, without revealing a
private repo), and a second ``cove serve`` on a busy port, which must fail before touching its data dir."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tests.hub.conftest import unique
from tests.hub.test_cli import cove

from cove.errors import RepoNotFound, Unauthorized
from cove.hub import HubApi


def test_whoami_without_a_token_says_how_to_log_in(cove_env, hub):
    res = cove({**cove_env, "COVE_TOKEN": ""}, "whoami", ok=False)
    assert res.returncode == 1
    assert "not logged in" in res.stderr and "cove login" in res.stderr and "HF_TOKEN" in res.stderr
    assert "Invalid credentials" not in res.stderr
    with pytest.raises(Unauthorized, match=f"You are not logged in to {hub.url}"):
        HubApi(hub.url, False).whoami()
    bad = cove({**cove_env, "COVE_TOKEN": "cove_bogus"}, "whoami", ok=False)  # a token the Hub rejects
    assert bad.returncode == 1 and "Invalid credentials" in bad.stderr and "check your token" in bad.stderr


def test_repo_not_found_is_said_once(cove_env, hub):
    res = cove({**cove_env, "COVE_TOKEN": ""}, "download", "nobody/nothing", ok=False)
    line = res.stderr.strip()
    assert line.startswith("error: Repository not found: no model repo 'nobody/nothing' on ") and "\n" not in line
    assert line.count("nobody/nothing") == 1 and line.count("not found") == 1 and line.count("check") == 1
    assert "none was sent" in line and "cove login" in line  # no token was sent: say how to send one
    with_token = cove(cove_env, "download", "nobody/nothing", ok=False).stderr.strip()
    assert with_token.count("nobody/nothing") == 1 and "your token's account may read it" in with_token


def test_download_of_another_type_suggests_it(cove_env, hub, alice, bob):
    name = unique("vader")
    with HubApi(hub.url, alice) as api:
        api.create_repo(f"alice/{name}", repo_type="dataset")
        api.upload_file(path_or_fileobj=b"a,b\n", path_in_repo="data.csv", repo_id=f"alice/{name}",
                        repo_type="dataset", progress=False)
        api.create_repo(f"alice/{name}-private", repo_type="space", space_sdk="static", private=True)
    res = cove(cove_env, "download", f"alice/{name}", ok=False)
    assert "there is no model repo" in res.stderr and "there is a dataset repo with that id" in res.stderr
    assert "--repo-type dataset" in res.stderr
    res = cove({**cove_env, "COVE_TOKEN": ""}, "download", f"alice/{name}", "data.csv", ok=False)
    assert "--repo-type dataset" in res.stderr  # public: anyone may be told
    assert (Path(cove(cove_env, "download", f"alice/{name}", "--repo-type", "dataset", "-q").stdout.strip())
            / "data.csv").read_bytes() == b"a,b\n"
    with pytest.raises(RepoNotFound, match='repo_type="dataset"'):
        HubApi(hub.url, bob).download(f"alice/{name}", "data.csv", progress=False)
    # a private repo of another type is named only to those who may see it
    with pytest.raises(RepoNotFound) as hidden:
        HubApi(hub.url, bob).download(f"alice/{name}-private", "README.md", progress=False)
    assert "space" not in str(hidden.value) and "repo_type" not in str(hidden.value)
    with pytest.raises(RepoNotFound, match='repo_type="space"'):
        HubApi(hub.url, alice).download(f"alice/{name}-private", "README.md", progress=False)


def test_second_serve_on_a_busy_port_touches_nothing(hub, tmp_path):
    port = hub.url.rsplit(":", 1)[1]
    data = tmp_path / "second"
    proc = subprocess.run([sys.executable, "-m", "cove.cli.main", "serve", "--port", port, "--data-dir", str(data)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in proc.stderr and "--port" in proc.stderr
    assert "password" not in proc.stdout + proc.stderr and "token" not in proc.stdout
    assert not data.exists()  # no database, no admin account, no secret
