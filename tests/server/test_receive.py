"""The push hook's checks (cove.server.storage.receive.check_push) on crafted objects, without a server:
objects are written into a quarantine folder as ``git receive-pack`` leaves them for ``pre-receive``.
What stock git does with the same pushes is in tests/e2e/test_git_trust.py."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pygit2
import pytest

import cove
from cove.server.storage.receive import ZERO, check_push, tree_entries
from tests.server import crafted
from tests.server.crafted import EXECUTABLE, FILE, FOLDER, GITLINK, SYMLINK
from tests.server.test_names import REFUSED


class Push:
    """A bare repo with one commit on ``main``, and a quarantine that new objects go to."""

    def __init__(self, root: Path) -> None:
        self.path = root / "repo.git"
        self.repo = pygit2.init_repository(str(self.path), bare=True, initial_head="main")
        sig = pygit2.Signature("t", "t@example.com", 1700000000, 0)
        readme = self.repo.create_blob(b"# hello\n")
        tree = self.repo.TreeBuilder()
        tree.insert("README.md", readme, pygit2.enums.FileMode.BLOB)
        self.head = str(self.repo.create_commit("refs/heads/main", sig, sig, "first", tree.write(), []))
        self.readme = str(readme)
        self.quarantine = self.path / "objects" / "incoming-test"
        self.quarantine.mkdir()
        self.env = {**os.environ, "GIT_OBJECT_DIRECTORY": str(self.quarantine),
                    "GIT_ALTERNATE_OBJECT_DIRECTORIES": str(self.path / "objects")}
        self.allowed: dict[str, int] = {}  # the LFS objects this repo may reference, with their size

    def blob(self, data: bytes) -> str:
        return crafted.write("blob", data, self.path, self.env)

    def tree(self, *entries: tuple[str, bytes, str]) -> str:
        return crafted.tree(self.path, entries, self.env)

    def commit(self, tree_id: str, parent: str | None = None) -> str:
        return crafted.commit(self.path, tree_id, [parent or self.head], env=self.env)

    def root_with(self, *entries: tuple[str, bytes, str]) -> str:
        """A commit on main whose root holds the README and ``entries``."""
        return self.commit(self.tree((FILE, b"README.md", self.readme), *entries))

    def check(self, *updates: tuple[str, str]) -> list[str]:
        """The hook's verdict on moving each ``(ref, new id)``, in the environment git gives it."""
        lines = [(self.head, new, ref) for ref, new in updates]
        env = {**self.env, "GIT_QUARANTINE_PATH": str(self.quarantine)}
        return check_push(self.path, env, lines, lambda ptrs: {(o, n) for o, n in ptrs if self.allowed.get(o) == n})


@pytest.fixture
def push(tmp_path) -> Push:
    return Push(tmp_path)


def test_a_good_push_passes(push):
    new = push.root_with((FILE, b"a.txt", push.blob(b"a")), (EXECUTABLE, b"run.sh", push.blob(b"#!/bin/sh\n")),
                         (FOLDER, b".github", push.tree((FILE, b"ci.yml", push.blob(b"on: push\n")))),
                         (FILE, b".gitattributes", push.blob(b"*.bin filter=lfs\n")))
    assert push.check(("refs/heads/main", new), ("refs/heads/dev", new), ("refs/tags/v1", new)) == []


IN_TREES = {k: v for k, v in REFUSED.items() if "\x00" not in v}  # a NUL ends a name in a tree


@pytest.mark.parametrize("name", IN_TREES.values(), ids=IN_TREES.keys())
@pytest.mark.parametrize("mode", [FILE, FOLDER])
def test_every_refused_name_is_refused_as_a_file_and_as_a_folder(push, name, mode):
    target = push.blob(b"x") if mode == FILE else push.tree((FILE, b"pwned.txt", push.blob(b"x")))
    new = push.root_with((mode, name.encode(errors="surrogatepass"), target))
    problems = push.check(("refs/heads/main", new))
    assert len(problems) == 1, problems
    assert "in tree" in problems[0]


@pytest.mark.parametrize("raw", [b"\xff\xfe.txt", b"\xed\xa0\x80", b"\xc0\xae\xc0\xae", b"a\xe9b"])
def test_names_that_are_not_utf8_are_refused(push, raw):
    problems = push.check(("refs/heads/main", push.root_with((FILE, raw, push.blob(b"x")))))
    assert len(problems) == 1 and "UTF-8" in problems[0], problems


@pytest.mark.parametrize(("mode", "words"), [(SYMLINK, "symbolic links"), (GITLINK, "submodules"),
                                              ("100664", "100664"), ("100600", "100600"), ("0100644", "0100644")])
def test_only_files_executables_and_folders(push, mode, words):
    target = "1" * 40 if mode == GITLINK else push.blob(b"/etc/passwd")
    problems = push.check(("refs/heads/main", push.root_with((mode, b"entry", target))))
    assert len(problems) == 1 and words in problems[0], problems


def test_deep_in_the_tree(push):
    bad = push.tree((FILE, b"pwned.txt", push.blob(b"x")))
    a = push.tree((FOLDER, b"b", push.tree((FOLDER, b"..", push.tree((FOLDER, b"..", bad))))))
    problems = push.check(("refs/heads/main", push.root_with((FOLDER, b"a", a))))
    assert len(problems) == 2 and all(p.startswith("'..' in tree") for p in problems), problems


def test_in_an_older_commit_than_the_tip(push):
    bad = push.root_with((FILE, b".GIT", push.blob(b"x")))
    tip = push.commit(push.tree((FILE, b"README.md", push.readme)), parent=bad)  # the tip's tree is clean
    problems = push.check(("refs/heads/main", tip))
    assert len(problems) == 1 and "'.GIT'" in problems[0], problems


def test_an_unreachable_tree_is_checked_too(push):
    """A tree sent but not used now would be in the repo for a later push to use without sending it."""
    push.tree((FILE, b"..", push.blob(b"x")))
    problems = push.check(("refs/heads/main", push.root_with((FILE, b"ok.txt", push.blob(b"ok")))))
    assert len(problems) == 1 and "'..'" in problems[0], problems


def test_every_ref_of_the_push(push):
    good = push.root_with((FILE, b"ok.txt", push.blob(b"ok")))
    bad = push.root_with((FILE, b"git~1", push.blob(b"x")))
    assert len(push.check(("refs/heads/main", good), ("refs/tags/v1", bad))) == 1
    assert len(push.check(("refs/heads/main", good), ("refs/heads/dev", bad))) == 1


@pytest.mark.parametrize(("ref", "words"), [
    ("refs/notes/commits", "only branches"),
    ("refs/pr/x", "only branches"),
    ("refs/convert/parquet", "only branches"),
    ("refs/heads/refs/pr/1", "ambiguous"),
    ("refs/heads/" + "a" * 40, "ambiguous"),
    ("refs/heads/a..b", "not a valid"),
    ("refs/tags/x\x01", "not a valid"),
])
def test_ref_names(push, ref, words):
    new = push.root_with((FILE, b"ok.txt", push.blob(b"ok")))
    problems = push.check((ref, new))
    assert len(problems) == 1 and words in problems[0], problems


def test_pull_request_refs_move_but_are_never_made_or_removed_by_a_push(push):
    new = push.root_with((FILE, b"ok.txt", push.blob(b"ok")))
    assert push.check(("refs/pr/1", new)) == []  # an existing PR's ref moves
    env = {**push.env, "GIT_QUARANTINE_PATH": str(push.quarantine)}
    for old, to in ((ZERO, new), (push.head, ZERO)):
        problems = check_push(push.path, env, [(old, to, "refs/pr/1")], lambda ptrs: set())
        assert len(problems) == 1 and "created with the pull request" in problems[0], problems


def test_refs_lead_to_commits(push):
    tree = push.tree((FILE, b"README.md", push.readme))
    blob = push.blob(b"x")
    assert "must point at a commit" in push.check(("refs/tags/t", tree))[0]
    assert "must point at a commit" in push.check(("refs/heads/b", blob))[0]
    assert "must point at a commit" in push.check(("refs/tags/t", crafted.tag(push.path, tree, "t", "tree", push.env)))[0]
    assert push.check(("refs/tags/t", crafted.tag(push.path, push.head, "t", env=push.env))) == []


def test_main_cannot_be_deleted(push):
    assert "cannot be deleted" in push.check(("refs/heads/main", ZERO))[0]
    assert push.check(("refs/heads/dev", ZERO)) == []


MINE, THEIRS = hashlib.sha256(b"mine").hexdigest(), hashlib.sha256(b"theirs").hexdigest()


def test_lfs_pointers_to_objects_of_this_repo_pass(push):
    push.allowed[MINE] = 4
    assert push.check(("refs/heads/main", push.root_with((FILE, b"mine.bin", push.blob(crafted.pointer(MINE, 4)))))) == []


@pytest.mark.parametrize(("oid", "size"), [(THEIRS, 6), (MINE, 5), (MINE, 3), (hashlib.sha256(b"none").hexdigest(), 4)],
                         ids=["another repo's object", "size too large", "size too small", "missing"])
def test_lfs_pointers_must_name_an_object_of_this_repo_with_its_size(push, oid, size):
    push.allowed[MINE] = 4
    new = push.root_with((FILE, b"w.bin", push.blob(crafted.pointer(oid, size))),
                         (FILE, b"also-mine.bin", push.blob(crafted.pointer(MINE, 4))))  # the same oid, told true
    problems = push.check(("refs/heads/main", new))
    assert len(problems) == 1, problems
    assert problems[0].startswith("Your push was rejected because an LFS pointer pointed to a file that does "
                                  "not exist: 'w.bin'"), problems[0]
    assert oid in problems[0] and f"({size} bytes)" in problems[0]


def test_a_push_without_objects_checks_refs_only(push):
    env = dict(os.environ)  # no quarantine: git made none, the push sent nothing
    assert check_push(push.path, env, [(ZERO, push.head, "refs/heads/copy")], lambda p: set()) == []
    assert check_push(push.path, env, [(ZERO, push.head, "refs/pr/3")], lambda p: set()) != []


def test_tree_entries_parses_what_git_writes(push):
    tree_id = push.tree((FILE, b"a b.txt", push.readme), (FOLDER, b"sub", push.tree((FILE, b"x", push.readme))))
    data = pygit2.Odb(str(push.quarantine)).read(tree_id)[1]
    assert [(m, n) for m, n, _ in tree_entries(data)] == [(b"100644", b"a b.txt"), (b"40000", b"sub")]
    with pytest.raises(ValueError):
        list(tree_entries(data[:-3]))


def run_hook(push: Push, new: str, **env: str) -> subprocess.CompletedProcess:
    """The hook program itself, as git runs it: in the repo, the ref updates on stdin."""
    full = {**push.env, "GIT_QUARANTINE_PATH": str(push.quarantine), "COVE_REPO_KEY": "repo",
            "PYTHONPATH": str(Path(cove.__file__).resolve().parents[1]), **env}
    return subprocess.run([sys.executable, "-m", "cove.server.storage.receive"], cwd=push.path, env=full,
                          input=f"{push.head} {new} refs/heads/main\n", capture_output=True, text=True, timeout=60)


def test_the_hook_program(push):
    out = run_hook(push, push.root_with((FILE, b"ok.txt", push.blob(b"ok"))))
    assert (out.returncode, out.stderr) == (0, "")
    out = run_hook(push, push.root_with(*[(FILE, f"git~1{'.' * i}".encode(), push.blob(b"x")) for i in range(30)]))
    assert out.returncode == 1
    lines = out.stderr.splitlines()
    assert lines[0] == "Your push was rejected by the Hub (nothing was changed):"
    assert len(lines) == 22 and lines[-1] == "- ... and 10 more"


def test_the_hook_refuses_what_it_cannot_check(push, tmp_path):
    new = push.root_with((FILE, b"w.bin", push.blob(crafted.pointer(MINE, 4))))
    out = run_hook(push, new, COVE_DATABASE_URL=f"sqlite:///{tmp_path}/missing/cove.db",
                   COVE_STORAGE_URL=f"file://{tmp_path}/lfs")
    assert out.returncode == 1
    assert out.stderr.startswith("The Hub could not check this push, so it was refused (OperationalError)")
    assert "Traceback" not in out.stderr
