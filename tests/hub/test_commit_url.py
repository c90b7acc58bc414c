"""The commit URL ``cove upload`` prints is the one huggingface_hub's ``CommitInfo.commit_url`` holds:
``{endpoint}/{prefix}{ns}/{name}/commit/{sha}``, with ``datasets/`` or ``spaces/`` as the prefix."""

from __future__ import annotations

import pytest
from huggingface_hub import HfApi
from tests.hub.conftest import unique
from tests.hub.test_cli import cove

from cove.hub import HubApi


@pytest.mark.parametrize("repo_type, prefix", [("model", ""), ("dataset", "datasets/"), ("space", "spaces/")])
def test_cli_prints_the_clients_commit_url(cove_env, hub, alice, tmp_path, repo_type, prefix):
    repo = f"alice/{unique('url')}"
    hf = HfApi(endpoint=hub.url, token=alice)
    hf.create_repo(repo, repo_type=repo_type, space_sdk="static" if repo_type == "space" else None)
    hf_url = hf.upload_file(path_or_fileobj=b"hf", path_in_repo="hf.txt", repo_id=repo, repo_type=repo_type).commit_url
    head = HubApi(hub.url, alice).repo_info(repo, repo_type=repo_type).sha
    assert hf_url == f"{hub.url}/{prefix}{repo}/commit/{head}"

    (tmp_path / "cove.txt").write_text("cove")
    printed = cove(cove_env, "upload", repo, str(tmp_path / "cove.txt"), "--repo-type", repo_type, "-q").stdout
    head = HubApi(hub.url, alice).repo_info(repo, repo_type=repo_type).sha
    assert printed.strip() == f"{hub.url}/{prefix}{repo}/commit/{head}"
    again = cove(cove_env, "upload", repo, str(tmp_path / "cove.txt"), "--repo-type", repo_type, "-q").stdout
    assert again.strip() == printed.strip()  # nothing changed: no commit, the URL of the head
