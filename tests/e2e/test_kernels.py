"""Kernel repos, the fourth repo type of huggingface_hub 2.4 (``repo_type="kernel"``: URLs under
``/kernels/``, API under ``/api/kernels/``), driven by the stock client, git and plain HTTP.

The access matrix (tests/e2e/test_access_matrix.py) covers every route for kernels as for the other
types; here: what a kernel's owner and its users do with it.
"""

from __future__ import annotations

import subprocess
import uuid

import httpx
import pytest
from huggingface_hub import HfApi, KernelInfo
from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError


@pytest.fixture(scope="module")
def kiki(hub) -> str:
    return hub.user("kiki-kernels")


def test_a_kernel_repo_with_the_stock_client(hub, kiki, tmp_path):
    api = HfApi(endpoint=hub.url, token=kiki)
    name = f"relu-{uuid.uuid4().hex[:6]}"
    url = api.create_repo(name, repo_type="kernel")
    assert url.repo_type == "kernel" and url.repo_id == f"kiki-kernels/{name}"
    assert url == f"{hub.url}/kernels/kiki-kernels/{name}"
    repo = url.repo_id
    commit = api.upload_file(path_or_fileobj=b"# My kernel", path_in_repo="README.md", repo_id=repo,
                             repo_type="kernel")
    assert commit.commit_url.startswith(f"{hub.url}/kernels/{repo}/commit/")
    (tmp_path / "up" / "build").mkdir(parents=True)
    (tmp_path / "up" / "build" / "kernel.py").write_text("print('relu')")
    api.upload_folder(folder_path=tmp_path / "up", repo_id=repo, repo_type="kernel")
    api.create_branch(repo, repo_type="kernel", branch="v1")
    api.upload_file(path_or_fileobj=b"print('relu v2')", path_in_repo="build/kernel.py", repo_id=repo,
                    repo_type="kernel")

    info = api.kernel_info(repo)
    assert isinstance(info, KernelInfo) and info.id == repo and info.author == "kiki-kernels"
    assert set(api.list_repo_files(repo, repo_type="kernel")) == {".gitattributes", "README.md", "build/kernel.py"}
    assert {r.name for r in api.list_repo_refs(repo, repo_type="kernel").branches} == {"main", "v1"}
    with pytest.raises(RevisionNotFoundError):
        api.list_repo_files(repo, repo_type="kernel", revision="invalid")
    main = api.hf_hub_download(repo, "build/kernel.py", repo_type="kernel", cache_dir=tmp_path / "cache")
    v1 = api.hf_hub_download(repo, "build/kernel.py", repo_type="kernel", cache_dir=tmp_path / "cache",
                             revision="v1")
    assert "kernels--kiki-kernels--" in main and open(main).read() == "print('relu v2')"
    assert open(v1).read() == "print('relu')"
    snap = api.snapshot_download(repo, repo_type="kernel", cache_dir=tmp_path / "cache", allow_patterns="build/*")
    assert (tmp_path / "cache").joinpath(snap, "build", "kernel.py").is_file()
    assert not (tmp_path / "cache").joinpath(snap, "README.md").exists()

    # a kernel is not a model of the same name, and the listing of kernels has it
    assert httpx.get(f"{hub.url}/api/models/{repo}").status_code == 404
    listed = httpx.get(f"{hub.url}/api/kernels", params={"author": "kiki-kernels"}).json()
    assert repo in [r["id"] for r in listed]
    assert httpx.get(f"{hub.url}/kernels/{repo}").status_code == 200  # its web page

    # git, over the kernel's URL
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", f"{hub.url}/kernels/{repo}", str(clone)], check=True, timeout=60)
    assert (clone / "build" / "kernel.py").read_text() == "print('relu v2')"


def test_a_private_kernel_is_invisible(hub, kiki):
    api = HfApi(endpoint=hub.url, token=kiki)
    repo = api.create_repo(f"secret-{uuid.uuid4().hex[:6]}", repo_type="kernel", private=True).repo_id
    api.upload_file(path_or_fileobj=b"x", path_in_repo="k.py", repo_id=repo, repo_type="kernel")
    outsider = HfApi(endpoint=hub.url, token=hub.user("kiki-outsider"))
    with pytest.raises(RepositoryNotFoundError):
        outsider.kernel_info(repo)
    for url in (f"/kernels/{repo}/resolve/main/k.py", f"/api/kernels/{repo}"):
        assert httpx.get(hub.url + url).status_code == 404
    assert repo not in [r["id"] for r in httpx.get(f"{hub.url}/api/kernels").json()]
    assert api.kernel_info(repo).private
