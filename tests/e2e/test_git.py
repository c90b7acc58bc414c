"""Stock ``git`` + ``git-lfs`` against ``cove serve``: clone what the API wrote, push what the API reads.

Every git command runs with a temporary HOME (its own ``.gitconfig`` with git-lfs installed), no system
config, no credential helper and no prompt: credentials travel only in the remote URL.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import threading
import uuid
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
MiB = 1024 * 1024


@pytest.fixture
def git_env(tmp_path) -> dict:
    home = tmp_path / "git-home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "SSH_ASKPASS"))}
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="",
               XDG_CONFIG_HOME=str(home / ".config"))
    for key, value in [("user.name", "Git Tester"), ("user.email", "tester@example.com"),
                       ("credential.helper", ""), ("init.defaultBranch", "main"), ("advice.detachedHead", "false")]:
        subprocess.run(["git", "config", "--global", key, value], env=env, check=True)
    subprocess.run(["git", "lfs", "install", "--skip-repo"], env=env, check=True, capture_output=True)
    return env


def git(env: dict, *args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def remote(hub, repo_type: str, repo_id: str, token: str | None = None, suffix: str = "") -> str:
    host = hub.url.removeprefix("http://")
    auth = f"anyone:{token}@" if token else ""
    return f"http://{auth}{host}/{PREFIX[repo_type]}{repo_id}{suffix}"


def unique(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


def checkout_files(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(path).parts[:1]}


def download(hub, token, repo_type, repo_id, filename, cache: Path, revision: str | None = None) -> bytes:
    path = hf_hub_download(repo_id, filename, repo_type=repo_type, revision=revision, endpoint=hub.url,
                           token=token, cache_dir=cache)
    return Path(path).read_bytes()


# -- clone ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("repo_type", ["model", "dataset", "space"])
def test_clone_public_repo_matches_api(hub, alice, hf_home, git_env, tmp_path, repo_type):
    api = HfApi(endpoint=hub.url, token=alice)
    repo_id = f"alice/{unique('clone-' + repo_type)}"
    api.create_repo(repo_id, repo_type=repo_type, space_sdk="static" if repo_type == "space" else None)
    files = {
        "README.md": b"---\nlicense: mit\n---\n# hello\n",
        "src/code.py": b"print('hi')\n",
        "weights.bin": os.urandom(3000),                         # LFS by the default .gitattributes
        "data/my file.dat": b"\x00\x01binary" * 500,             # LFS because binary; a path with a space
    }
    if repo_type == "model":
        files["large.txt"] = (b"0123456789abcdef" * (11 * MiB // 16))  # regular upload, stored as LFS (>= 10 MiB)
    for path, data in files.items():
        api.upload_file(path_or_fileobj=data, path_in_repo=path, repo_id=repo_id, repo_type=repo_type)
    info = api.repo_info(repo_id, repo_type=repo_type, files_metadata=True)
    lfs = {s.rfilename for s in info.siblings if s.lfs is not None}
    assert {"weights.bin", "data/my file.dat"} <= lfs
    if repo_type == "model":
        assert "large.txt" in lfs

    for suffix in ("", ".git"):
        dest = tmp_path / f"clone{suffix or '-plain'}"
        git(git_env, "clone", remote(hub, repo_type, repo_id, suffix=suffix), str(dest))
        assert git(git_env, "rev-parse", "HEAD", cwd=dest).stdout.strip() == info.sha
        tracked = git(git_env, "ls-files", cwd=dest).stdout.splitlines()
        assert sorted(tracked) == sorted(api.list_repo_files(repo_id, repo_type=repo_type))
        got = checkout_files(dest)
        for path, data in files.items():
            assert got[path] == data, path
            assert got[path] == download(hub, None, repo_type, repo_id, path, hf_home / "hub")
        # the LFS files really went through git-lfs: git holds pointers, the checkout holds content
        for path in lfs:
            pointer = git(git_env, "show", f"HEAD:{path}", cwd=dest).stdout
            assert pointer.startswith("version https://git-lfs.github.com/spec/v1"), path
            assert f"oid sha256:{hashlib.sha256(files[path]).hexdigest()}" in pointer
        assert sorted(git(git_env, "lfs", "ls-files", "-n", cwd=dest).stdout.splitlines()) == sorted(lfs)


# -- push ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("repo_type", "suffix"), [("model", ""), ("dataset", ".git"), ("space", "")])
def test_push_regular_and_lfs_files_shows_in_api(hub, alice, hf_home, git_env, tmp_path, repo_type, suffix):
    api = HfApi(endpoint=hub.url, token=alice)
    repo_id = f"alice/{unique('push-' + repo_type)}"
    api.create_repo(repo_id, repo_type=repo_type, space_sdk="gradio" if repo_type == "space" else None)
    dest = tmp_path / "work"
    git(git_env, "clone", remote(hub, repo_type, repo_id, alice, suffix), str(dest))
    git(git_env, "lfs", "track", "*.dat", cwd=dest)
    files = {
        "README.md": b"---\ntags:\n- pushed-by-git\n---\n# Pushed\n",
        "notes/plain.txt": b"plain text pushed with git\n",
        "notes/large.txt": os.urandom(1_500_000).hex().encode(),  # a pack over git's 1 MiB post buffer: chunked
        "model.safetensors": os.urandom(200_000),
        "nested/big.dat": os.urandom(1_500_000),
    }
    for path, data in files.items():
        (dest / path).parent.mkdir(parents=True, exist_ok=True)
        (dest / path).write_bytes(data)
    git(git_env, "add", "-A", cwd=dest)
    git(git_env, "commit", "-q", "-m", "Add files with git", "-m", "A longer description.", cwd=dest)
    git(git_env, "push", "origin", "main", cwd=dest)
    head = git(git_env, "rev-parse", "HEAD", cwd=dest).stdout.strip()

    info = api.repo_info(repo_id, repo_type=repo_type, files_metadata=True)
    assert info.sha == head
    assert "pushed-by-git" in (info.tags or [])
    siblings = {s.rfilename: s for s in info.siblings}
    assert siblings["model.safetensors"].lfs is not None
    assert siblings["nested/big.dat"].lfs.sha256 == hashlib.sha256(files["nested/big.dat"]).hexdigest()
    assert siblings["notes/plain.txt"].lfs is None
    assert set(files) <= set(api.list_repo_files(repo_id, repo_type=repo_type))
    for path, data in files.items():
        assert download(hub, alice, repo_type, repo_id, path, hf_home / "hub") == data, path
    commits = api.list_repo_commits(repo_id, repo_type=repo_type)
    assert commits[0].commit_id == head
    assert commits[0].title == "Add files with git"
    assert len(commits) == 2
    # the listing reads stored metadata, which the push refreshed (the card's tags)
    listed = getattr(api, f"list_{repo_type}s")(search=repo_id.split("/")[1], filter="pushed-by-git")
    assert [r.id for r in listed] == [repo_id]

    # a second push on top of an API commit, and a new branch
    api.upload_file(path_or_fileobj=b"from the api", path_in_repo="api.txt", repo_id=repo_id, repo_type=repo_type)
    git(git_env, "pull", "-q", "--no-rebase", "origin", "main", cwd=dest)
    assert (dest / "api.txt").read_bytes() == b"from the api"
    (dest / "notes/plain.txt").write_bytes(b"changed\n")
    git(git_env, "commit", "-q", "-am", "Change a file", cwd=dest)
    git(git_env, "push", "origin", "main", "main:refs/heads/dev", cwd=dest)
    head = git(git_env, "rev-parse", "HEAD", cwd=dest).stdout.strip()
    assert api.repo_info(repo_id, repo_type=repo_type).sha == head
    refs = api.list_repo_refs(repo_id, repo_type=repo_type)
    assert {b.name: b.target_commit for b in refs.branches} == {"main": head, "dev": head}
    assert download(hub, alice, repo_type, repo_id, "notes/plain.txt", hf_home / "hub2", revision="dev") == b"changed\n"


# -- access --------------------------------------------------------------------------------------


def test_private_repo_only_for_its_owner(hub, alice, bob, hf_home, git_env, tmp_path):
    api = HfApi(endpoint=hub.url, token=alice)
    repo_id = f"alice/{unique('private')}"
    api.create_repo(repo_id, private=True)
    weights = os.urandom(5000)
    api.upload_file(path_or_fileobj=weights, path_in_repo="w.bin", repo_id=repo_id)

    anon = git(git_env, "clone", remote(hub, "model", repo_id), str(tmp_path / "anon"), check=False)
    assert anon.returncode != 0
    assert "could not read Username" in anon.stderr or "Authentication failed" in anon.stderr, anon.stderr
    as_bob = git(git_env, "clone", remote(hub, "model", repo_id, bob), str(tmp_path / "bob"), check=False)
    assert as_bob.returncode != 0
    assert "not found" in as_bob.stderr.lower(), as_bob.stderr
    assert not (tmp_path / "bob" / "w.bin").exists()

    git(git_env, "clone", remote(hub, "model", repo_id, alice, ".git"), str(tmp_path / "alice"))
    assert (tmp_path / "alice" / "w.bin").read_bytes() == weights  # git-lfs authenticated too


def test_hidden_repos_look_the_same(hub, alice, bob):
    api = HfApi(endpoint=hub.url, token=alice)
    repo_id = f"alice/{unique('hidden')}"
    api.create_repo(repo_id, private=True)
    batch = {"operation": "download", "transfers": ["basic"], "objects": [{"oid": "0" * 64, "size": 1}]}
    anon_answers = []
    for rid in (repo_id, "alice/does-not-exist-at-all"):
        for url, method in ((f"{hub.url}/{rid}/info/refs?service=git-upload-pack", "GET"),
                            (f"{hub.url}/{rid}.git/info/refs?service=git-receive-pack", "GET"),
                            (f"{hub.url}/{rid}.git/info/lfs/objects/batch", "POST")):
            r = httpx.request(method, url, json=batch if method == "POST" else None)
            assert r.status_code == 401, (url, r.status_code)
            assert r.headers["www-authenticate"].startswith("Basic")
            anon_answers.append((r.status_code, r.text.replace(rid, "ID")))
            r = httpx.request(method, url, auth=("bob", bob), json=batch if method == "POST" else None)
            assert r.status_code == 404, (url, r.status_code)
            assert r.headers["x-error-code"] == "RepoNotFound"
    assert anon_answers[:3] == anon_answers[3:]
    r = httpx.get(f"{hub.url}/{repo_id}/info/refs?service=git-upload-pack", auth=("x", alice))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/x-git-upload-pack-advertisement"
    r = httpx.get(f"{hub.url}/{repo_id}/info/refs?service=git-upload-pack", auth=("x", "wrong-token"))
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
    assert httpx.get(f"{hub.url}/{repo_id}/info/refs", auth=("x", alice)).status_code == 400  # dumb protocol


def test_push_needs_write_access(hub, alice, bob, git_env, tmp_path):
    api = HfApi(endpoint=hub.url, token=alice)
    repo_id = f"alice/{unique('guarded')}"
    api.create_repo(repo_id)
    before = api.repo_info(repo_id).sha
    read_only = hub.token("alice", read_only=True)
    dest = tmp_path / "work"
    git(git_env, "clone", remote(hub, "model", repo_id), str(dest))  # public: anonymous clone is fine
    (dest / "x.txt").write_text("nope")
    git(git_env, "add", "x.txt", cwd=dest)
    git(git_env, "commit", "-q", "-m", "should not land", cwd=dest)

    anon = git(git_env, "push", "origin", "main", cwd=dest, check=False)
    assert anon.returncode != 0 and ("could not read Username" in anon.stderr
                                     or "Authentication failed" in anon.stderr), anon.stderr
    for token in (read_only, bob):
        git(git_env, "remote", "set-url", "origin", remote(hub, "model", repo_id, token), cwd=dest)
        out = git(git_env, "push", "origin", "main", cwd=dest, check=False)
        assert out.returncode != 0
        assert "403" in out.stderr, out.stderr
    assert api.repo_info(repo_id).sha == before
    url = f"{hub.url}/{repo_id}/info/refs?service=git-receive-pack"
    assert httpx.get(url, auth=("x", read_only)).status_code == 403
    assert httpx.get(url, auth=("x", bob)).status_code == 403
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, auth=("x", alice)).status_code == 200
    assert httpx.post(f"{hub.url}/{repo_id}/git-receive-pack", content=b"0000", auth=("x", read_only)).status_code \
        == 403

    # a password works as well as a token
    gina = HfApi(endpoint=hub.url, token=hub.user("gina", password="gina-password-1"))
    gina_repo = f"gina/{unique('pw')}"
    gina.create_repo(gina_repo)
    host = hub.url.removeprefix("http://")
    git(git_env, "remote", "set-url", "origin", f"http://gina:gina-password-1@{host}/{gina_repo}", cwd=dest)
    git(git_env, "push", "--force", "origin", "main", cwd=dest)
    assert "x.txt" in gina.list_repo_files(gina_repo)


def test_push_to_missing_repo_fails_cleanly(hub, alice, git_env, tmp_path):
    api = HfApi(endpoint=hub.url, token=alice)
    repo_id = f"alice/{unique('missing')}"
    dest = tmp_path / "work"
    git(git_env, "init", "-q", str(dest))
    (dest / "a.txt").write_text("a")
    git(git_env, "add", "a.txt", cwd=dest)
    git(git_env, "commit", "-q", "-m", "first", cwd=dest)
    for url in (remote(hub, "model", repo_id, alice), remote(hub, "dataset", repo_id, alice, ".git")):
        out = git(git_env, "push", url, "main", cwd=dest, check=False)
        assert out.returncode != 0
        assert "not found" in out.stderr.lower(), out.stderr
    assert not api.repo_exists(repo_id)
    assert not api.repo_exists(repo_id, repo_type="dataset")


def test_pushed_pointer_without_content_gives_a_clear_error(hub, alice, hf_home, git_env, tmp_path):
    api = HfApi(endpoint=hub.url, token=alice)
    repo_id = f"alice/{unique('dangling')}"
    api.create_repo(repo_id)
    dest = tmp_path / "work"
    git(git_env, "clone", remote(hub, "model", repo_id, alice), str(dest))
    oid = hashlib.sha256(b"never uploaded").hexdigest()
    (dest / "ghost.bin").write_text(f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize 14\n")
    env = {**git_env, "GIT_LFS_SKIP_PUSH": "1"}
    git(env, "add", "ghost.bin", cwd=dest)
    git(env, "commit", "-q", "-m", "pointer only", cwd=dest)
    out = git(env, "push", "origin", "main", cwd=dest, check=False)
    if out.returncode == 0:  # accepted: the file must then fail to download, clearly
        with pytest.raises(EntryNotFoundError):
            download(hub, alice, "model", repo_id, "ghost.bin", hf_home / "hub")
    else:  # rejected by the server: nothing changed
        assert "ghost.bin" in out.stderr or oid in out.stderr, out.stderr
        assert "ghost.bin" not in api.list_repo_files(repo_id)


# -- concurrency ---------------------------------------------------------------------------------


def test_api_commits_racing_pushes_lose_nothing(hub, alice, git_env, tmp_path):
    api = HfApi(endpoint=hub.url, token=alice)
    repo_id = f"alice/{unique('race')}"
    api.create_repo(repo_id)
    dest = tmp_path / "work"
    git(git_env, "clone", remote(hub, "model", repo_id, alice), str(dest))
    rounds = 8
    landed: list[str] = []
    api_errors: list[Exception] = []

    def api_side():
        for i in range(rounds):
            try:
                api.upload_file(path_or_fileobj=f"api {i}".encode(), path_in_repo=f"api-{i}.txt", repo_id=repo_id)
                landed.append(f"api-{i}.txt")
            except HfHubHTTPError as e:
                assert e.response.status_code in (409, 412), e
                api_errors.append(e)

    thread = threading.Thread(target=api_side)
    thread.start()
    push_failures = []
    for i in range(rounds):
        git(git_env, "fetch", "-q", "origin", cwd=dest)
        git(git_env, "reset", "-q", "--hard", "origin/main", cwd=dest)
        (dest / f"git-{i}.txt").write_text(f"git {i}")
        git(git_env, "add", f"git-{i}.txt", cwd=dest)
        git(git_env, "commit", "-q", "-m", f"git {i}", cwd=dest)
        out = git(git_env, "push", "origin", "main", cwd=dest, check=False)
        if out.returncode == 0:
            landed.append(f"git-{i}.txt")
        else:
            assert "rejected" in out.stderr or "failed to" in out.stderr or "cannot lock" in out.stderr, out.stderr
            push_failures.append(out.stderr)
    thread.join()

    assert any(f.startswith("git-") for f in landed) and any(f.startswith("api-") for f in landed)
    files = set(api.list_repo_files(repo_id))
    assert set(landed) <= files  # nothing that succeeded was lost
    assert {f for f in files if f.startswith(("api-", "git-"))} == set(landed)  # nothing that failed landed
    # the history is one clean line that git itself accepts
    check = tmp_path / "check"
    git(git_env, "clone", "-q", remote(hub, "model", repo_id), str(check))
    git(git_env, "fsck", "--strict", cwd=check)
    log = git(git_env, "log", "--format=%H", cwd=check).stdout.split()
    assert log == [c.commit_id for c in api.list_repo_commits(repo_id)]
    assert log[0] == api.repo_info(repo_id).sha
    assert len(log) == 1 + len(landed)


def pkt(line: bytes) -> bytes:
    return b"%04x" % (len(line) + 4) + line


def test_stale_push_is_refused_by_the_server(hub, alice, git_env, tmp_path):
    """A push whose old value is stale by the time it lands (an API commit came in between the ref
    advertisement and the pack) is refused by the server's compare-and-swap, not by the client."""
    api = HfApi(endpoint=hub.url, token=alice)
    repo_id = f"alice/{unique('stale')}"
    api.create_repo(repo_id)
    dest = tmp_path / "work"
    git(git_env, "clone", remote(hub, "model", repo_id, alice), str(dest))
    old = git(git_env, "rev-parse", "HEAD", cwd=dest).stdout.strip()
    (dest / "git.txt").write_text("from git")
    git(git_env, "add", "git.txt", cwd=dest)
    git(git_env, "commit", "-q", "-m", "stale push", cwd=dest)
    new = git(git_env, "rev-parse", "HEAD", cwd=dest).stdout.strip()
    pack = subprocess.run(["git", "pack-objects", "--stdout", "--revs", "-q"], input=f"{new}\n^{old}\n".encode(),
                          cwd=dest, env=git_env, capture_output=True, check=True).stdout

    api.upload_file(path_or_fileobj=b"from the api", path_in_repo="api.txt", repo_id=repo_id)
    moved = api.repo_info(repo_id).sha
    assert moved != old
    body = pkt(f"{old} {new} refs/heads/main\0report-status\n".encode()) + b"0000" + pack
    r = httpx.post(f"{hub.url}/{repo_id}/git-receive-pack", content=body, auth=("x", alice), timeout=60,
                   headers={"Content-Type": "application/x-git-receive-pack-request"})
    assert r.status_code == 200
    assert b"unpack ok" in r.content
    assert b"ng refs/heads/main" in r.content, r.content
    assert api.repo_info(repo_id).sha == moved
    assert set(api.list_repo_files(repo_id)) == {".gitattributes", "api.txt"}

    # the same push against the current head lands (and the request body may be gzipped, as git does)
    git(git_env, "fetch", "-q", "origin", cwd=dest)
    git(git_env, "rebase", "-q", "origin/main", cwd=dest)
    new = git(git_env, "rev-parse", "HEAD", cwd=dest).stdout.strip()
    pack = subprocess.run(["git", "pack-objects", "--stdout", "--revs", "-q"],
                          input=f"{new}\n^{moved}\n".encode(), cwd=dest, env=git_env, capture_output=True,
                          check=True).stdout
    body = gzip.compress(pkt(f"{moved} {new} refs/heads/main\0report-status\n".encode()) + b"0000" + pack)
    r = httpx.post(f"{hub.url}/{repo_id}/git-receive-pack", content=body, auth=("x", alice), timeout=60,
                   headers={"Content-Type": "application/x-git-receive-pack-request", "Content-Encoding": "gzip"})
    assert r.status_code == 200
    assert b"ok refs/heads/main" in r.content, r.content
    assert api.repo_info(repo_id).sha == new
    assert api.list_repo_commits(repo_id)[0].commit_id == new
    assert set(api.list_repo_files(repo_id)) == {".gitattributes", "api.txt", "git.txt"}
