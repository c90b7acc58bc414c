"""The git trust boundary, end to end, with stock git against ``cove serve``.

Pushes of what no repo may hold (trees crafted with ``git hash-object --literally``: bad names, symbolic
links, submodules, LFS pointers to objects the repo may not read, odd refs) are refused by the server,
whichever branch, tag or commit of the pushed history holds them; the remote refs stay as they were and
nothing is written outside the data dir. Repos that hold such things anyway (written on disk, bypassing
the push checks) are read safely: listings skip them, downloads of them fail cleanly, an LFS pointer to
an object outside the repo is an ordinary file, and the anonymous inference call writes nothing outside
its snapshot folder.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError

from tests.server import crafted
from tests.server.crafted import EXECUTABLE, FILE, FOLDER, GITLINK, SYMLINK

ZERO = "0" * 40


def unique(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict:
    """git with its own HOME, no system config, no credential helper, no prompt; git-lfs installed."""
    home = tmp_path_factory.mktemp("git-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "SSH_ASKPASS"))}
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="",
               XDG_CONFIG_HOME=str(home / ".config"))
    for key, value in [("user.name", "Mallory"), ("user.email", "mallory@example.com"), ("credential.helper", ""),
                       ("init.defaultBranch", "main"), ("advice.detachedHead", "false")]:
        subprocess.run(["git", "config", "--global", key, value], env=env, check=True)
    subprocess.run(["git", "lfs", "install", "--skip-repo"], env=env, check=True, capture_output=True)
    return env


@dataclass
class Clone:
    """A clone of one of alice's repos, where objects are crafted and pushed from."""

    hub: object
    token: str
    repo_id: str
    dir: Path
    env: dict
    refs: dict = field(default_factory=dict)  # the remote refs before any test pushed

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        out = subprocess.run(["git", *args], cwd=self.dir, env=self.env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 or not check, out.stderr
        return out

    @property
    def url(self) -> str:
        return f"http://alice:{self.token}@{self.hub.url.removeprefix('http://')}/{self.repo_id}"

    def remote_refs(self) -> dict[str, str]:
        lines = self.git("ls-remote", self.url).stdout.splitlines()
        return {ref: sha for sha, ref in (line.split("\t") for line in lines)}

    def blob(self, data: bytes) -> str:
        return crafted.write("blob", data, self.dir, self.env)

    def tree(self, *entries: tuple[str, bytes, str]) -> str:
        return crafted.tree(self.dir, entries, self.env)

    def commit(self, tree: str, parent: str | None = None) -> str:
        return crafted.commit(self.dir, tree, [parent or self.refs["refs/heads/main"]], env=self.env)

    def root_with(self, *entries: tuple[str, bytes, str], parent: str | None = None) -> str:
        """A commit on the remote's ``main`` whose root holds its ``.gitattributes`` and ``entries``."""
        attrs = self.git("rev-parse", f"{self.refs['refs/heads/main']}:.gitattributes").stdout.strip()
        return self.commit(self.tree((FILE, b".gitattributes", attrs), *entries), parent)

    def push(self, *refspecs: str) -> subprocess.CompletedProcess:
        return self.git("push", "--no-verify", self.url, *refspecs, check=False)

    def refused(self, out: subprocess.CompletedProcess, *words: str) -> None:
        """The push failed on the server's word, and nothing changed."""
        assert out.returncode != 0, out.stderr
        assert "remote rejected" in out.stderr or "remote unpack failed" in out.stderr, out.stderr
        for word in words:
            assert word in out.stderr, (word, out.stderr)
        assert self.remote_refs() == self.refs
        data_dir = self.hub.data_dir
        for where in (data_dir, data_dir.parent, data_dir / "inference"):
            assert not (where / "pwned.txt").exists()


@pytest.fixture(scope="module")
def clone(hub, env, tmp_path_factory) -> Clone:
    token = hub.user("alice")
    repo_id = f"alice/{unique('trust')}"
    HfApi(endpoint=hub.url, token=token).create_repo(repo_id)
    c = Clone(hub, token, repo_id, tmp_path_factory.mktemp("trust") / "work", env)
    subprocess.run(["git", "clone", "-q", c.url, str(c.dir)], env=env, check=True, capture_output=True)
    c.refs = c.remote_refs()
    return c


def payload(c: Clone) -> str:
    """A folder holding ``pwned.txt``: what a '..' entry would write outside."""
    return c.tree((FILE, b"pwned.txt", c.blob(b"written outside the data dir")))


# -- pushes ---------------------------------------------------------------------------------------

NAMES = {
    "dot-dot": b"..",
    "dot": b".",
    ".git": b".git",
    ".GIT": b".GIT",
    "git~1": b"git~1",
    ".git.": b".git.",
    ".git space": b".git ",
    "hfs ignorable": ".g\u200cit".encode(),
    "slash": b"a/b",
    "backslash": b"a\\b",
    "control": b"bell\x07",
    "del": b"del\x7f",
    "256 bytes": b"n" * 256,
    "invalid utf-8": b"\xff\xfe.txt",
    "encoded surrogate": b"\xed\xa0\x80.txt",
}


@pytest.mark.parametrize("name", NAMES.values(), ids=NAMES.keys())
def test_a_file_with_a_bad_name_is_refused(clone, name):
    clone.refused(clone.push(f"+{clone.root_with((FILE, name, clone.blob(b'x')))}:refs/heads/main"))


@pytest.mark.parametrize("name", [b"..", b".git", b"GIT~1", ".gi\u200et".encode(), b"a\\b"])
def test_a_folder_with_a_bad_name_is_refused(clone, name):
    clone.refused(clone.push(f"+{clone.root_with((FOLDER, name, payload(clone)))}:refs/heads/main"))


def test_an_empty_name_is_refused(clone):
    """Stock git will not even send a tree with an empty name, so this push is written by hand."""
    tree = crafted.write("tree", b"100644 \0" + bytes.fromhex(clone.blob(b"x")), clone.dir, clone.env)
    new = clone.root_with((FOLDER, b"dir", tree))
    ids = [new, clone.git("rev-parse", f"{new}^{{tree}}").stdout.strip(), tree, clone.blob(b"x")]
    pack = subprocess.run(["git", "pack-objects", "--stdout", "-q"], input="\n".join(ids).encode(), cwd=clone.dir,
                          env=clone.env, capture_output=True, check=True).stdout
    old = clone.refs["refs/heads/main"]
    line = f"{old} {new} refs/heads/main\0report-status side-band-64k\n".encode()
    r = httpx.post(f"{clone.hub.url}/{clone.repo_id}/git-receive-pack", auth=("alice", clone.token), timeout=60,
                   content=b"%04x" % (len(line) + 4) + line + b"0000" + pack,
                   headers={"Content-Type": "application/x-git-receive-pack-request"})
    assert r.status_code == 200
    assert b"ng refs/heads/main" in r.content and b"empty filename in tree entry" in r.content, r.content
    assert clone.remote_refs() == clone.refs


def test_deep_in_the_tree(clone):
    """a/b/../.. : the bad entries are folders inside folders."""
    a = clone.tree((FOLDER, b"b", clone.tree((FOLDER, b"..", clone.tree((FOLDER, b"..", payload(clone)))))))
    clone.refused(clone.push(f"+{clone.root_with((FOLDER, b'a', a))}:refs/heads/main"), "'..'")


def test_on_another_branch(clone):
    clone.refused(clone.push(f"{clone.root_with((FOLDER, b'..', payload(clone)))}:refs/heads/dev"))


def test_in_a_tag(clone):
    bad = clone.root_with((FILE, b".GIT", clone.blob(b"x")))
    clone.refused(clone.push(f"{bad}:refs/tags/v1"))
    annotated = crafted.tag(clone.dir, bad, "v2", env=clone.env)
    clone.refused(clone.push(f"{annotated}:refs/tags/v2"))


def test_in_an_older_commit_of_the_pushed_history(clone):
    bad = clone.root_with((FOLDER, b"..", payload(clone)))
    attrs = clone.git("rev-parse", f"{clone.refs['refs/heads/main']}:.gitattributes").stdout.strip()
    tip = clone.commit(clone.tree((FILE, b".gitattributes", attrs), (FILE, b"clean.txt", clone.blob(b"ok"))), bad)
    clone.refused(clone.push(f"+{tip}:refs/heads/main"), "'..'")


def test_one_bad_ref_refuses_the_whole_push(clone):
    good = clone.root_with((FILE, b"good.txt", clone.blob(b"good")))
    bad = clone.root_with((FILE, b"git~1", clone.blob(b"x")))
    clone.refused(clone.push(f"+{good}:refs/heads/main", f"{bad}:refs/heads/other"))


def nested_copies(make_tree, leaf: str, levels: int, copies: int = 2) -> str:
    """A folder that holds ``copies`` names for the same folder, ``levels`` deep: ``copies ** levels``
    paths from ``levels`` small trees (a "zip bomb" of trees)."""
    folder = make_tree((FILE, b"f.txt", leaf))
    for _ in range(levels):
        folder = make_tree(*((FOLDER, f"d{i}".encode(), folder) for i in range(copies)))
    return folder


def test_trees_that_expand_past_the_bound_are_refused(clone):
    """30 small trees, 2**30 paths: every recursive listing (repo info, snapshots) would walk them all."""
    bomb = nested_copies(clone.tree, clone.blob(b"x"), 30)
    clone.refused(clone.push(f"+{clone.root_with((FOLDER, b'bomb', bomb))}:refs/heads/main"),
                  "would list more than")
    wide = nested_copies(clone.tree, clone.blob(b"x"), 3, copies=120)  # 1.7 M paths, three levels
    clone.refused(clone.push(f"+{clone.root_with((FOLDER, b'wide', wide))}:refs/heads/main"),
                  "would list more than")


def test_a_tree_bomb_written_on_disk_is_refused_at_the_listing(hub):
    """The bound holds for trees the push check never saw (written on disk, or before the check)."""
    token = hub.user("alice")
    repo_id = f"alice/{unique('tree-bomb')}"
    api = HfApi(endpoint=hub.url, token=token)
    api.create_repo(repo_id)
    api.upload_file(path_or_fileobj=b"---\npipeline_tag: text-classification\n---\n", path_in_repo="README.md",
                    repo_id=repo_id)  # so that the inference call gets as far as the snapshot
    path = bare(hub, repo_id)
    bomb = nested_copies(lambda *e: crafted.tree(path, e), crafted.write("blob", b"x", path), 40)
    sha = corrupt(hub, repo_id, [(FOLDER, b"bomb", bomb)])
    with sqlite3.connect(hub.data_dir / "cove.db") as db:  # as if a push had recorded the new head
        db.execute("UPDATE repos SET head_sha = ? WHERE name = ?", (sha, repo_id.split("/")[1]))
    for url in (f"/api/models/{repo_id}", f"/api/models/{repo_id}/tree/main?recursive=true"):
        r = httpx.get(hub.url + url, timeout=120)
        assert r.status_code == 422 and "more than" in r.headers["x-error-message"], (url, r.status_code)
    # a listing of many repos survives the one that cannot be listed
    r = httpx.get(f"{hub.url}/api/models", params={"author": "alice", "full": "true"}, timeout=120)
    bombed = [m for m in r.json() if m["id"] == repo_id]
    assert r.status_code == 200 and bombed and bombed[0]["siblings"] == []
    r = httpx.post(f"{hub.url}/api/inference/{repo_id}", json={"inputs": "x"}, timeout=120)
    assert r.status_code == 422 and "more than" in r.text, r.text
    # one folder at a time still works
    top = httpx.get(f"{hub.url}/api/models/{repo_id}/tree/main/bomb/d0/d1").json()
    assert {e["path"] for e in top} == {"bomb/d0/d1/d0", "bomb/d0/d1/d1"}


@pytest.mark.parametrize(("mode", "words"), [(SYMLINK, "symbolic links are not supported"),
                                              (GITLINK, "submodules are not supported")])
def test_symlinks_and_submodules_are_refused(clone, mode, words):
    target = "5" * 40 if mode == GITLINK else clone.blob(b"../../../etc/passwd")
    clone.refused(clone.push(f"+{clone.root_with((mode, b'entry', target))}:refs/heads/main"), words)


@pytest.mark.parametrize(("ref", "words"), [("refs/pr/1", "created with the pull request"), ("refs/notes/x", "only branches"),
                                            ("refs/heads/" + "ab" * 20, "ambiguous")])
def test_refs_outside_branches_and_tags_are_refused(clone, ref, words):
    clone.refused(clone.push(f"{clone.root_with((FILE, b'ok.txt', clone.blob(b'ok')))}:{ref}"), words)


def test_main_cannot_be_deleted_and_tags_lead_to_commits(clone):
    clone.refused(clone.push(":refs/heads/main"))
    tree = clone.tree((FILE, b"ok.txt", clone.blob(b"ok")))
    clone.refused(clone.push(f"{tree}:refs/tags/a-tree"), "must point at a commit")


@pytest.fixture(scope="module")
def secret(hub) -> tuple[str, bytes]:
    """bob's private repo holds a file; alice learns its sha256 (and size), not its content."""
    token = hub.user("bob")
    api = HfApi(endpoint=hub.url, token=token)
    repo_id = f"bob/{unique('secret')}"
    api.create_repo(repo_id, private=True)
    data = b"\x00bob's private weights " + os.urandom(64)
    api.upload_file(path_or_fileobj=data, path_in_repo="private.bin", repo_id=repo_id)
    assert api.model_info(repo_id, files_metadata=True).siblings[-1].lfs is not None
    return repo_id, data


@pytest.fixture(scope="module")
def own(clone) -> bytes:
    """A file alice uploaded to her own repo (an LFS object it may reference), on a side branch."""
    api = HfApi(endpoint=clone.hub.url, token=clone.token)
    api.create_branch(clone.repo_id, branch="uploads")
    data = b"\x00alice's own weights " + os.urandom(64)
    api.upload_file(path_or_fileobj=data, path_in_repo="own.bin", repo_id=clone.repo_id, revision="uploads")
    clone.refs = clone.remote_refs()
    return data


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("case", ["another user's private object", "missing object", "size too large",
                                  "size too small"])
def test_lfs_pointers_the_repo_may_not_use_are_refused(clone, secret, own, case):
    oid, size = {
        "another user's private object": (sha256(secret[1]), len(secret[1])),
        "missing object": (sha256(b"never uploaded"), 14),
        "size too large": (sha256(own), len(own) + 1),
        "size too small": (sha256(own), len(own) - 1),
    }[case]
    new = clone.root_with((FILE, b"weights.bin", clone.blob(crafted.pointer(oid, size))))
    clone.refused(clone.push(f"+{new}:refs/heads/main"),
                  "Your push was rejected because an LFS pointer pointed to a file that does not exist", oid)


def test_good_pushes_still_land(clone, own, hf_home):
    """A pointer to the repo's own object, an executable, '.github', '.gitkeep': all fine."""
    new = clone.root_with((FILE, b"copy.bin", clone.blob(crafted.pointer(sha256(own), len(own)))),
                          (EXECUTABLE, b"run.sh", clone.blob(b"#!/bin/sh\n")),
                          (FOLDER, b".github", clone.tree((FILE, b"ci.yml", clone.blob(b"on: push\n")))),
                          (FILE, b".gitkeep", clone.blob(b"")))
    out = clone.push(f"{new}:refs/heads/landed")
    assert out.returncode == 0, out.stderr
    assert clone.remote_refs()["refs/heads/landed"] == new
    path = hf_hub_download(clone.repo_id, "copy.bin", revision="landed", endpoint=clone.hub.url, token=clone.token,
                           cache_dir=hf_home / "hub")
    assert Path(path).read_bytes() == own
    clone.refs = clone.remote_refs()


# -- repos corrupted on disk ------------------------------------------------------------------------


def bare(hub, repo_id: str) -> Path:
    """The bare repo behind ``repo_id`` (its storage key is in the database)."""
    ns, name = repo_id.split("/")
    with sqlite3.connect(hub.data_dir / "cove.db") as db:
        (key,) = db.execute("SELECT storage_key FROM repos WHERE namespace = ? AND name = ?", (ns, name)).fetchone()
    return hub.data_dir / "git" / f"{key}.git"


def corrupt(hub, repo_id: str, entries: list[tuple[str, bytes, str | bytes]]) -> str:
    """Move ``main`` by hand to a commit whose root holds the current files and ``entries`` (a bytes id
    is the content of a new blob); the push checks never see it."""
    path = bare(hub, repo_id)
    head = subprocess.run(["git", "rev-parse", "main"], cwd=path, capture_output=True, text=True, check=True).stdout
    listing = subprocess.run(["git", "ls-tree", "main"], cwd=path, capture_output=True, text=True, check=True).stdout
    keep = [(m, n.encode(), i) for m, _, i, n in (line.replace("\t", " ").split(" ", 3) for line in listing.splitlines())]
    made = [(m, n, crafted.write("blob", i, path) if isinstance(i, bytes) else i) for m, n, i in entries]
    sha = crafted.commit(path, crafted.tree(path, keep + made), [head.strip()])
    subprocess.run(["git", "update-ref", "refs/heads/main", sha], cwd=path, check=True)
    return sha


@pytest.fixture(scope="module")
def corrupted(hub) -> tuple[str, str]:
    """A public model repo (with a task, so the inference widget runs it) corrupted on disk."""
    token = hub.user("alice")
    api = HfApi(endpoint=hub.url, token=token)
    repo_id = f"alice/{unique('corrupted')}"
    api.create_repo(repo_id)
    api.upload_file(path_or_fileobj=b"---\npipeline_tag: text-classification\n---\n", path_in_repo="README.md",
                    repo_id=repo_id)
    api.upload_file(path_or_fileobj=b"ok", path_in_repo="dir/ok.txt", repo_id=repo_id)
    path = bare(hub, repo_id)

    def tree(*entries):
        return crafted.tree(path, entries)

    pwned = tree((FILE, b"pwned.txt", crafted.write("blob", b"written outside the data dir", path)))
    escape = tree((FOLDER, b"..", tree((FOLDER, b"..", tree((FOLDER, b"..", pwned))))))
    sha = corrupt(hub, repo_id, [
        (FOLDER, b"..", escape), (FOLDER, b".git", tree((FILE, b"config", crafted.write("blob", b"[x]", path)))),
        (FILE, b".GIT", b"x"), (FILE, b"git~1", b"x"), (FILE, ".g\u200cit".encode(), b"x"), (FILE, b"a\\b", b"x"),
        (FILE, b"bell\x07", b"x"), (FILE, b"\xff\xfe", b"x"), (FILE, b"n" * 256, b"x"),
        (SYMLINK, b"link", b"/etc/passwd"), (GITLINK, b"submodule", "5" * 40),
        (FOLDER, b"broken", crafted.write("tree", b"100644 \0" + bytes(20), path)),
    ])
    return repo_id, sha


GOOD = {".gitattributes", "README.md", "dir/ok.txt"}


def test_listings_of_a_corrupted_repo_show_only_good_names(hub, corrupted):
    repo_id, sha = corrupted
    api = HfApi(endpoint=hub.url)
    assert set(api.list_repo_files(repo_id)) == GOOD
    info = api.model_info(repo_id, files_metadata=True)
    assert info.sha == sha and {s.rfilename for s in info.siblings} == GOOD
    tree = {e.path for e in api.list_repo_tree(repo_id, recursive=True, expand=True)}
    assert tree == GOOD | {"dir", "broken"}
    assert {e.path for e in api.list_repo_tree(repo_id)} == {".gitattributes", "README.md", "dir", "broken"}
    r = httpx.post(f"{hub.url}/api/models/{repo_id}/paths-info/main",
                   json={"paths": ["README.md", "link", "submodule", "broken"]})
    assert r.status_code == 200 and {e["path"] for e in r.json()} == {"README.md", "broken"}
    assert httpx.get(f"{hub.url}/{repo_id}/tree/main").status_code == 200  # the web page
    assert httpx.get(f"{hub.url}/{repo_id}").status_code == 200


@pytest.mark.parametrize("path", ["link", "submodule", "..%2F..%2F..%2Fpwned.txt", ".GIT", "git~1", "a%5Cb",
                                  "%2E%2E/%2E%2E/pwned.txt", ".git/config", "broken", "n" * 256])
def test_downloads_of_bad_entries_fail_cleanly(hub, corrupted, path):
    repo_id, _ = corrupted
    for method in ("GET", "HEAD"):
        r = httpx.request(method, f"{hub.url}/{repo_id}/resolve/main/{path}")
        assert r.status_code in (400, 404), (path, method, r.status_code)
        assert r.headers["x-error-code"] in ("BadRequest", "EntryNotFound")


def test_the_anonymous_inference_call_writes_nothing_outside(hub, corrupted):
    repo_id, sha = corrupted
    r = httpx.post(f"{hub.url}/api/inference/{repo_id}", json={"inputs": "hello"}, timeout=300)
    assert r.status_code == 422, r.text  # no model to load: but the files were written first
    folder = hub.data_dir / "inference" / sha
    written = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert written == GOOD - {".gitattributes"}
    for where in (hub.data_dir, hub.data_dir.parent, hub.data_dir / "inference"):
        assert not (where / "pwned.txt").exists()
    assert not any(p.name == "pwned.txt" for p in hub.data_dir.rglob("pwned.txt"))


# -- LFS content is read through the repo's own scope -----------------------------------------------


def test_a_pointer_to_another_repos_object_is_only_its_text(hub, secret, hf_home):
    """alice cannot read bob's private file by committing a pointer to it (here: written on disk, as the
    push and the commit API refuse it), nor stretch or cut her own file with a pointer that lies."""
    token = hub.user("alice")
    api = HfApi(endpoint=hub.url, token=token)
    repo_id = f"alice/{unique('pointers')}"
    api.create_repo(repo_id)
    own = b"\x00alice's weights " + os.urandom(100)
    api.upload_file(path_or_fileobj=own, path_in_repo="own.bin", repo_id=repo_id)
    pointers = {
        "stolen.bin": crafted.pointer(sha256(secret[1]), len(secret[1])),
        "longer.bin": crafted.pointer(sha256(own), len(own) + 50),
        "shorter.bin": crafted.pointer(sha256(own), len(own) - 50),
        "copy.bin": crafted.pointer(sha256(own), len(own)),
    }
    corrupt(hub, repo_id, [(FILE, name.encode(), text) for name, text in pointers.items()])

    siblings = {s.rfilename: s for s in api.model_info(repo_id, files_metadata=True).siblings}
    tree = {e.path: e for e in api.list_repo_tree(repo_id)}
    for name, text in pointers.items():
        body = hf_hub_download(repo_id, name, endpoint=hub.url, token=token, cache_dir=hf_home / "hub")
        r = httpx.get(f"{hub.url}/{repo_id}/resolve/main/{name}", headers={"authorization": f"Bearer {token}"})
        if name == "copy.bin":
            assert Path(body).read_bytes() == own == r.content
            assert siblings[name].lfs is not None and tree[name].lfs is not None
            continue
        assert Path(body).read_bytes() == text == r.content, name
        assert "x-linked-etag" not in r.headers and int(r.headers["content-length"]) == len(text)
        assert siblings[name].lfs is None and siblings[name].size == len(text)
        assert tree[name].lfs is None and tree[name].size == len(text)
        ranged = httpx.get(f"{hub.url}/{repo_id}/resolve/main/{name}",
                           headers={"authorization": f"Bearer {token}", "range": "bytes=0-9"})
        assert ranged.content == text[:10]


def _commit(hub, token: str, repo_id: str, *lines: dict) -> httpx.Response:
    body = b"".join(json.dumps(line).encode() + b"\n" for line in
                    [{"key": "header", "value": {"summary": "pointer", "description": ""}}, *lines])
    return httpx.post(f"{hub.url}/api/models/{repo_id}/commit/main", content=body, timeout=60,
                      headers={"authorization": f"Bearer {token}", "content-type": "application/x-ndjson"})


def test_the_commit_api_refuses_pointers_the_repo_may_not_use(hub, secret):
    token = hub.user("alice")
    api = HfApi(endpoint=hub.url, token=token)
    repo_id = f"alice/{unique('api-pointers')}"
    api.create_repo(repo_id)
    own = b"\x00mine " + os.urandom(100)
    api.upload_file(path_or_fileobj=own, path_in_repo="own.bin", repo_id=repo_id)
    before = api.model_info(repo_id).sha
    for text in (crafted.pointer(sha256(secret[1]), len(secret[1])), crafted.pointer(sha256(b"nowhere"), 7),
                 crafted.pointer(sha256(own), len(own) + 1), crafted.pointer(sha256(own), len(own) - 1)):
        with pytest.raises(HfHubHTTPError) as err:  # the stock client sends it as a small regular file
            api.create_commit(repo_id, [CommitOperationAdd("weights.txt", text)], commit_message="pointer")
        assert err.value.response.status_code == 422, err.value.response.text
        assert "LFS pointer" in err.value.response.text
        line = {"key": "file", "value": {"path": "w.txt", "content": base64.b64encode(text).decode(),
                                         "encoding": "base64"}}
        r = _commit(hub, token, repo_id, {"key": "file", "value": {"path": "other.txt", "content": "eA=="}}, line)
        assert r.status_code == 422 and r.headers["x-error-code"] == "Unprocessable", r.text
    for size in (len(own) + 1, len(own) - 1):
        r = _commit(hub, token, repo_id, {"key": "lfsFile", "value": {"path": "x.bin", "algo": "sha256",
                                                                      "oid": sha256(own), "size": size}})
        assert r.status_code == 400, r.text
    r = _commit(hub, token, repo_id, {"key": "lfsFile", "value": {"path": "x.bin", "algo": "sha256",
                                                                  "oid": sha256(secret[1]), "size": len(secret[1])}})
    assert r.status_code == 422, r.text
    assert api.model_info(repo_id).sha == before
    assert set(api.list_repo_files(repo_id)) == {".gitattributes", "own.bin"}
    # a pointer to the repo's own object, with its size, is fine: it is that file
    api.create_commit(repo_id, [CommitOperationAdd("copy.txt", crafted.pointer(sha256(own), len(own)))],
                      commit_message="copy")
    info = {s.rfilename: s for s in api.model_info(repo_id, files_metadata=True).siblings}
    assert info["copy.txt"].lfs is not None and info["copy.txt"].size == len(own)


# -- names from clients ---------------------------------------------------------------------------

CLIENT_PATHS = [".GIT/config", "a/.Git/hooks/x", "git~1/config", ".git./x", ".git /x", ".g\u200cit/config",
                "a/" + "n" * 256, "x\ud800.txt", "bell\x07.txt", "del\x7f.txt", "a\\b.txt", "a/../b.txt"]


@pytest.mark.parametrize("path", CLIENT_PATHS)
def test_bad_paths_from_clients_are_refused(hub, path):
    """A commit or preupload naming such a path: 422 (the Hub's answer to a path it will not store);
    a read naming one, or JSON holding a lone surrogate (malformed before any path is read): 400."""
    refused = 400 if "\ud800" in path else 422
    token = hub.user("alice")
    repo_id = f"alice/{unique('paths')}"
    HfApi(endpoint=hub.url, token=token).create_repo(repo_id)
    line = {"key": "file", "value": {"path": path, "content": "eA==", "encoding": "base64"}}
    r = _commit(hub, token, repo_id, line)
    assert r.status_code == refused, (path, r.status_code, r.text)
    assert refused == 400 or r.headers["x-error-message"].startswith("Invalid path"), r.text
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    for url, body, status in (
            (f"/api/models/{repo_id}/preupload/main", {"files": [{"path": path, "sample": "", "size": 1}]}, refused),
            (f"/api/models/{repo_id}/paths-info/main", {"paths": [path]}, 400)):
        r = httpx.post(hub.url + url, content=json.dumps(body), headers=headers)  # "\ud800" stays escaped
        assert r.status_code == status, (path, url, r.status_code, r.text)


@pytest.mark.parametrize("url", ["/{id}/resolve/main/%ED%A0%80", "/{id}/resolve/main/%FF.txt", "/{id}/resolve/%FF/x",
                                 "/api/models/{id}/tree/main/%ED%A0%80", "/api/models/{id}/tree/main/a/%C0%AE%C0%AE",
                                 "/{id}/blob/main/%FF", "/{id}/tree/main/%FF"])
def test_names_in_urls_that_are_not_utf8_are_400(hub, corrupted, url):
    r = httpx.get(hub.url + url.format(id=corrupted[0]))
    assert r.status_code == 400, (url, r.status_code)  # web pages answer with an HTML page, the API with a code
    assert "/resolve/" not in url and "/api/" not in url or r.headers["x-error-code"] == "BadRequest"


def test_trees_the_server_writes_hold_only_what_a_push_may(hub):
    """An API commit into a folder that holds entries stored before the push checks existed writes that
    folder without them: every tree the server writes would pass its own push hook."""
    token = hub.user("alice")
    api = HfApi(endpoint=hub.url, token=token)
    repo_id = f"alice/{unique('healed')}"
    api.create_repo(repo_id)
    path = bare(hub, repo_id)

    def root_names() -> set[bytes]:
        out = subprocess.run(["git", "ls-tree", "-z", "--name-only", "main"], cwd=path, capture_output=True,
                             check=True).stdout
        return set(out.split(b"\0")) - {b""}

    corrupt(hub, repo_id, [(FILE, b"..", b"x"), (FILE, b".GIT", b"x"), (SYMLINK, b"link", b"/etc/passwd"),
                           (GITLINK, b"sub", "5" * 40), (FILE, b"\xff.txt", b"x")])
    assert {b"..", b".GIT", b"link", b"sub", b"\xff.txt"} <= root_names()
    api.upload_file(path_or_fileobj=b"new", path_in_repo="new.txt", repo_id=repo_id)
    assert root_names() == {b".gitattributes", b"new.txt"}
