"""Pickle scanning against a real ``cove serve``: real pickles uploaded with the stock ``huggingface_hub``
client and with ``git`` + ``git-lfs``, read back as the client parses them (``model_info(securityStatus=True)``,
``list_repo_tree`` / ``get_paths_info`` with ``expand=True``) and on the web file page.

The malicious pickles would ``touch`` a marker file when loaded: it never appears, so the server never
unpickled them. The account (sami) is used by no other test module.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import re
import time
import uuid
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from huggingface_hub import CommitOperationAdd, HfApi

from tests.e2e.test_git import git, git_env, remote  # noqa: F401 - git_env is a fixture
from tests.server.test_pickles import Custom, Touch

SYSTEM = os.system.__module__  # "posix" on Linux


def torch_bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def state_dict() -> dict:
    return collections.OrderedDict(w=torch.randn(4, 4), b=torch.zeros(4, dtype=torch.int64))


def evil_zip(marker: Path) -> bytes:
    """A real torch checkpoint whose ``archive/data.pkl`` is replaced by a malicious pickle."""
    good = zipfile.ZipFile(io.BytesIO(torch_bytes(state_dict())))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name in good.namelist():
            z.writestr(name, pickle.dumps(Touch(str(marker))) if name.endswith("data.pkl") else good.read(name))
    return out.getvalue()


def wait_done(api: HfApi, repo_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = api.model_info(repo_id, securityStatus=True).security_repo_status
        if status["scansDone"] or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


@pytest.fixture(scope="module")
def marker(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("scans") / "unpickled"


@pytest.fixture(scope="module")
def pickles(marker) -> dict[str, bytes]:
    numbers, objects = io.BytesIO(), io.BytesIO()
    np.save(numbers, np.arange(6.0))
    np.save(objects, np.array([Custom(), None], dtype=object), allow_pickle=True)
    legacy = io.BytesIO()
    torch.save(state_dict(), legacy, _use_new_zipfile_serialization=False)
    return {
        "pytorch_model.bin": torch_bytes(state_dict()),
        "legacy.pt": legacy.getvalue(),
        "evil.pkl": pickle.dumps(Touch(str(marker))),
        "custom.pkl": pickle.dumps(Custom()),
        "sub/evil-member.pth": evil_zip(marker),
        "garbage.bin": bytes(range(177, 256)) * 40,
        "truncated.ckpt": torch_bytes(state_dict())[:300],
        "numbers.npy": numbers.getvalue(),
        "objects.npy": objects.getvalue(),
        "model.safetensors": b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ",
        "README.md": b"# Pickles\n",
    }


@pytest.fixture(scope="module")
def scanned(hub, pickles) -> tuple[HfApi, str, dict]:
    api = HfApi(endpoint=hub.url, token=hub.user("sami"))
    repo_id = f"sami/pickles-{uuid.uuid4().hex[:8]}"
    api.create_repo(repo_id)
    api.create_commit(repo_id, [CommitOperationAdd(path, data) for path, data in pickles.items()],
                      commit_message="Add pickles of every kind")
    return api, repo_id, wait_done(api, repo_id)


EXPECTED_ISSUES = [
    {"path": "custom.pkl", "level": "suspicious"},
    {"path": "evil.pkl", "level": "unsafe"},
    {"path": "garbage.bin", "level": "error"},
    {"path": "objects.npy", "level": "suspicious"},
    {"path": "sub/evil-member.pth", "level": "unsafe"},
    {"path": "truncated.ckpt", "level": "error"},
]


def test_model_info_security_status(hub, scanned, marker):
    api, repo_id, status = scanned
    assert status == {"scansDone": True, "filesWithIssues": EXPECTED_ISSUES}
    assert api.model_info(repo_id).security_repo_status is None  # only when asked for
    scan = httpx.get(f"{hub.url}/api/models/{repo_id}/scan", timeout=30)
    assert scan.status_code == 200 and scan.json() == status
    assert not marker.exists(), "the server unpickled a malicious file"


def imports_of(security) -> dict:
    return {(i["module"], i["name"]): i["safety"] for i in security.pickle_import_scan["pickleImports"]}


def test_tree_expand_has_each_files_status(scanned):
    api, repo_id, _ = scanned
    files = {e.path: e for e in api.list_repo_tree(repo_id, recursive=True, expand=True) if hasattr(e, "security")}
    statuses = {path: f.security.status for path, f in files.items()}
    assert statuses == {
        ".gitattributes": "unscanned", "README.md": "unscanned", "model.safetensors": "unscanned",
        "pytorch_model.bin": "safe", "legacy.pt": "safe", "numbers.npy": "safe",
        "evil.pkl": "unsafe", "sub/evil-member.pth": "unsafe", "custom.pkl": "suspicious",
        "objects.npy": "suspicious", "garbage.bin": "error", "truncated.ckpt": "error",
    }
    safe = files["pytorch_model.bin"].security
    assert safe.safe is True and safe.av_scan == {"status": "unscanned"}
    assert imports_of(safe) == {("collections", "OrderedDict"): "innocuous", ("torch", "FloatStorage"): "innocuous",
                                ("torch", "LongStorage"): "innocuous",
                                ("torch._utils", "_rebuild_tensor_v2"): "innocuous"}
    assert imports_of(files["legacy.pt"].security) == imports_of(safe)
    evil = files["evil.pkl"].security
    assert evil.safe is False and imports_of(evil) == {(SYSTEM, "system"): "dangerous"}
    assert imports_of(files["sub/evil-member.pth"].security) == {(SYSTEM, "system"): "dangerous"}
    assert imports_of(files["custom.pkl"].security) == {(Custom.__module__, "Custom"): "suspicious"}
    assert "not a pickle" in files["garbage.bin"].security.pickle_import_scan["message"]
    assert files["README.md"].security.pickle_import_scan is None
    # without expand there is no security field
    assert all(e.security is None for e in api.list_repo_tree(repo_id) if hasattr(e, "security"))


def test_paths_info_expand_has_each_files_status(scanned):
    api, repo_id, _ = scanned
    infos = {e.path: e for e in api.get_paths_info(repo_id, ["evil.pkl", "legacy.pt", "README.md", "sub"],
                                                    expand=True)}
    assert infos["evil.pkl"].security.status == "unsafe"
    assert infos["legacy.pt"].security.status == "safe"
    assert infos["README.md"].security.status == "unscanned"
    assert not hasattr(infos["sub"], "security")  # a folder
    assert all(e.security is None for e in api.get_paths_info(repo_id, ["evil.pkl"]))


def test_file_page_warns_and_lists_the_imports(hub, scanned):
    _, repo_id, _ = scanned
    with httpx.Client(base_url=hub.url, timeout=30) as c:
        evil = c.get(f"/{repo_id}/blob/main/evil.pkl").text
        assert 'class="scan-warning scan-unsafe"' in evil and "Unsafe: this pickle imports code" in evil
        assert f"<code>{SYSTEM}.system</code></td><td>dangerous</td>" in evil
        member = c.get(f"/{repo_id}/blob/main/sub/evil-member.pth").text
        assert "Unsafe" in member and f"{SYSTEM}.system" in member
        custom = c.get(f"/{repo_id}/blob/main/custom.pkl").text
        assert "Suspicious: this pickle" in custom and f"<code>{Custom.__module__}.Custom</code>" in custom
        garbage = c.get(f"/{repo_id}/blob/main/garbage.bin").text
        assert "Could not be checked" in garbage and "is not a pickle" in garbage
        safe = c.get(f"/{repo_id}/blob/main/pytorch_model.bin").text
        assert "Scanned: safe." in safe and "<code>torch._utils._rebuild_tensor_v2</code>" in safe
        assert "scan-warning" not in safe
        assert "Scanned: safe. a numeric array: no pickle inside" in c.get(f"/{repo_id}/blob/main/numbers.npy").text
        readme = c.get(f"/{repo_id}/blob/main/README.md").text
        assert "scan-warning" not in readme and "Scanned" not in readme


def test_results_are_kept_per_content(hub, scanned, pickles):
    """The same content under another name, in another repo, reads its stored result at once."""
    api, _, _ = scanned
    other = f"sami/copy-{uuid.uuid4().hex[:8]}"
    api.create_repo(other)
    api.upload_file(path_or_fileobj=pickles["evil.pkl"], path_in_repo="renamed.bin", repo_id=other)
    info = api.get_paths_info(other, ["renamed.bin"], expand=True)[0]
    assert info.security.status == "unsafe"  # not "queued": nothing was scanned again


def test_git_push_is_scanned(hub, git_env, tmp_path, marker):  # noqa: F811 - the git_env fixture
    """A push with git-lfs (content through the LFS batch API) and a pickle kept in git itself."""
    token = hub.user("sami")
    api = HfApi(endpoint=hub.url, token=token)
    repo_id = f"sami/pushed-{uuid.uuid4().hex[:8]}"
    api.create_repo(repo_id)
    dest = tmp_path / "clone"
    git(git_env, "clone", remote(hub, "model", repo_id, token), str(dest))
    (dest / ".gitattributes").write_text((dest / ".gitattributes").read_text() + "plain/** -filter -diff -merge\n")
    (dest / "plain").mkdir()
    (dest / "plain" / "evil.pkl").write_bytes(pickle.dumps(Touch(str(marker)), protocol=0))
    (dest / "weights.bin").write_bytes(torch_bytes(state_dict()))
    (dest / "model.ckpt").write_bytes(pickle.dumps({"cls": Custom}))
    git(git_env, "add", ".", cwd=dest)
    git(git_env, "commit", "-m", "pickles by git", cwd=dest)
    git(git_env, "push", "origin", "main", cwd=dest)
    files = {e.path: e for e in api.list_repo_tree(repo_id, recursive=True)}
    assert files["plain/evil.pkl"].lfs is None and files["weights.bin"].lfs is not None
    status = wait_done(api, repo_id)
    assert status == {"scansDone": True, "filesWithIssues": [{"path": "model.ckpt", "level": "suspicious"},
                                                             {"path": "plain/evil.pkl", "level": "unsafe"}]}
    # a branch pushed later is scanned too
    git(git_env, "checkout", "-b", "dev", cwd=dest)
    (dest / "dev.pt").write_bytes(pickle.dumps(Touch(str(marker))))
    git(git_env, "add", ".", cwd=dest)
    git(git_env, "commit", "-m", "on dev", cwd=dest)
    git(git_env, "push", "origin", "dev", cwd=dest)
    deadline = time.monotonic() + 60
    while (got := api.get_paths_info(repo_id, ["dev.pt"], revision="dev", expand=True)[0].security.status) == "queued":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert got == "unsafe"
    assert not marker.exists()


def test_a_repo_without_pickles_is_done_at_once(hub):
    api = HfApi(endpoint=hub.url, token=hub.user("sami"))
    repo_id = f"sami/plain-{uuid.uuid4().hex[:8]}"
    api.create_repo(repo_id)
    api.upload_file(path_or_fileobj=b"# hi\n", path_in_repo="README.md", repo_id=repo_id)
    assert api.model_info(repo_id, securityStatus=True).security_repo_status == {"scansDone": True,
                                                                               "filesWithIssues": []}


def test_private_scan_status_is_hidden(hub):
    api = HfApi(endpoint=hub.url, token=hub.user("sami"))
    repo_id = f"sami/private-{uuid.uuid4().hex[:8]}"
    api.create_repo(repo_id, private=True)
    assert httpx.get(f"{hub.url}/api/models/{repo_id}/scan", timeout=30).status_code == 404
    assert re.fullmatch(r"\{.*\}", httpx.get(f"{hub.url}/api/models/{repo_id}/scan", timeout=30,
                                             headers={"authorization": f"Bearer {api.token}"}).text)
