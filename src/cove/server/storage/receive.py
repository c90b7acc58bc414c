"""The push hook: what a ``git push`` may add to a repo, checked before any ref moves.

``git receive-pack`` (run by ``git http-backend``) first checks every object it receives with git's own
fsck, name checks promoted to errors (:data:`FSCK_ERRORS`), then runs this hook as ``pre-receive`` with
the new objects still in quarantine. The hook refuses the whole push (no ref moves, the quarantine is
dropped) if any of these is true:

- a ref is not a branch or a tag with a valid name (:func:`cove.protocol.check_revision`), deletes
  ``main``, or does not lead to a commit;
- a tree entry's name breaks the name rule of the commit API (:func:`cove.protocol.name_problem`);
- a tree entry is not a file (100644), an executable file (100755) or a folder (040000): symbolic
  links and submodules are refused;
- a blob is an LFS pointer to an object this repo may not reference, that is not stored, or whose
  size is not the pointer's;
- a tree would list more than ``COVE_MAX_REPO_FILES`` files and folders, counting a folder reused
  under several names each time: a few small trees that reuse each other nest into billions of paths
  (a "zip bomb" of trees), which every recursive listing would walk. Folders the push did not send count
  as one entry here; listings stop at the same bound whatever the trees (:meth:`GitRepo.list_tree`).

Every object in the quarantine is checked, reachable or not: an unreachable tree let in now could be
used by a later push whose quarantine would not hold it. So every commit of the pushed history (not only
the tips), every branch and tag of the push, and nothing else is read: one pass over what was sent.

``<git root>/.hooks/pre-receive`` runs this module (``python -m cove.server.storage.receive``) with the
environment of :meth:`cove.server.storage.git.GitStore.backend_env`. It reads objects with two
``git cat-file`` runs rather than libgit2, whose import alone would double the hook's cost per push;
SQLAlchemy is imported only by a push that holds LFS pointers.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from cove.errors import BadRequest
from cove.protocol import check_revision, git_name_problem, parse_lfs_pointer

ZERO = "0" * 40
HOOK = """#!/bin/sh
# Installed by Cove: every push to this Hub passes cove.server.storage.receive before any ref moves.
exec "${COVE_PYTHON:?}" -m cove.server.storage.receive
"""
#: git fsck messages (git 2.39, ``git help fsck``) that would let a bad tree in, made errors: most are
#: only warnings by default, and receive-pack refuses a push on errors only.
FSCK_ERRORS = ("hasDot", "hasDotdot", "hasDotgit", "fullPathname", "emptyName", "badFilemode",
               "zeroPaddedFilemode", "duplicateEntries", "treeNotSorted", "nullSha1", "nulInCommit",
               "badTagName", "gitmodulesSymlink", "gitattributesSymlink", "gitignoreSymlink")
#: Entry modes a push may hold, as they are spelled in tree objects; the others with a reason.
MODES = {b"100644", b"100755", b"40000"}
MODE_PROBLEMS = {
    b"120000": "symbolic links are not supported: commit the file it points to instead",
    b"160000": "submodules are not supported: add the other repo's files, or link to it from the README",
}
HEADER = "Your push was rejected by the Hub (nothing was changed):"
MAX_SHOWN = 20  # problems listed to the pusher
LFS_MISSING = ("Your push was rejected because an LFS pointer pointed to a file that does not exist: "
               "{what} points to LFS object {oid} ({size} bytes), which this repo does not hold with "
               "that size. Push with git-lfs installed (`git lfs install`, then push again) so the "
               "file is uploaded first")


def install_hook(hooks_dir: Path) -> None:
    """Write ``hooks_dir/pre-receive`` (atomically: several server processes may start at once)."""
    hooks_dir.mkdir(exist_ok=True)
    path = hooks_dir / "pre-receive"
    if path.is_file() and path.read_text() == HOOK and os.access(path, os.X_OK):
        return
    tmp = hooks_dir / f".pre-receive-{os.getpid()}-{secrets.token_hex(4)}"  # replicas on several hosts
    tmp.write_text(HOOK)
    tmp.chmod(0o700)
    os.replace(tmp, path)


def backend_env(hooks_dir: Path) -> dict[str, str]:
    """Environment that makes ``git receive-pack`` fsck every object and run the hook in ``hooks_dir``
    (``GIT_CONFIG_COUNT``: it covers every repo, whatever its own config says)."""
    config = {"receive.fsckObjects": "true", **{f"receive.fsck.{m}": "error" for m in FSCK_ERRORS},
              "core.hooksPath": str(hooks_dir)}
    env = {"GIT_CONFIG_COUNT": str(len(config))}
    for i, (key, value) in enumerate(config.items()):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    env["COVE_PYTHON"] = sys.executable
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[3])  # the hook runs the server's own code
    return env


# -- the checks -------------------------------------------------------------------------------------


def tree_entries(data: bytes) -> Iterator[tuple[bytes, bytes, bytes]]:
    """``(mode, name, 20-byte id)`` for each entry of a raw tree object (``<mode> <name>\\0<id>``).
    Raises ValueError if ``data`` is not a tree."""
    pos = 0
    while pos < len(data):
        space = data.index(b" ", pos)
        nul = data.index(b"\0", space)
        if nul + 21 > len(data):
            raise ValueError("truncated tree entry")
        yield data[pos:space], data[space + 1:nul], data[nul + 1:nul + 21]
        pos = nul + 21


def _shown(raw: bytes) -> str:
    """A name from git as it may be printed: undecodable bytes and control characters escaped."""
    return repr(raw.decode("utf-8", "backslashreplace"))


def _git(repo: Path, env: dict[str, str], *args: str, stdin: bytes = b"") -> bytes:
    return subprocess.run(["git", *args], cwd=repo, env=env, input=stdin, capture_output=True, check=True).stdout


def pushed_objects(repo: Path, env: dict[str, str]) -> list[tuple[str, str, int]]:
    """``(id, type, size)`` of every object in the push's quarantine (``GIT_QUARANTINE_PATH``), and of
    nothing else: none when the push sent no objects (a deletion)."""
    quarantine = env.get("GIT_QUARANTINE_PATH")
    if not quarantine:
        return []
    only = {**env, "GIT_OBJECT_DIRECTORY": quarantine, "GIT_ALTERNATE_OBJECT_DIRECTORIES": ""}
    lines = _git(repo, only, "cat-file", "--batch-all-objects", "--batch-check", "--unordered").decode().splitlines()
    return [(oid, kind, int(size)) for oid, kind, size in (line.split() for line in lines)]


def read_objects(repo: Path, env: dict[str, str], ids: list[str]) -> Iterator[tuple[str, bytes]]:
    """``(id, content)`` of objects ``ids``, in order, from one ``git cat-file --batch``."""
    out = _git(repo, env, "cat-file", "--batch", stdin="".join(f"{i}\n" for i in ids).encode())
    pos = 0
    for _ in ids:
        nl = out.index(b"\n", pos)
        oid, _kind, size = out[pos:nl].split()
        start = nl + 1
        yield oid.decode(), out[start:start + int(size)]
        pos = start + int(size) + 1


def commits_of(repo: Path, env: dict[str, str], revs: list[str]) -> list[bool]:
    """Whether each of ``revs`` leads to a commit (a commit, or a tag of one)."""
    out = _git(repo, env, "cat-file", "--batch-check", stdin="".join(f"{r}^{{commit}}\n" for r in revs).encode())
    return [line.split()[-1] != "missing" for line in out.decode().splitlines()]


PR_REF = re.compile(r"refs/pr/[1-9][0-9]{0,8}")


def ref_problem(ref: str, new: str, is_commit: bool, old: str = ZERO) -> str | None:
    """What is wrong with moving ``ref`` from ``old`` to ``new`` (all zeros: creating, deleting it), or ``None``.
    A pull request's ``refs/pr/N`` may be moved, never created or deleted: it is made with the PR."""
    if PR_REF.fullmatch(ref):
        if old == ZERO or new == ZERO:
            return f"{ref}: a pull request's ref is created with the pull request, and never deleted"
        return None if is_commit else f"{ref}: must point at a commit"
    prefix = next((p for p in ("refs/heads/", "refs/tags/") if ref.startswith(p)), None)
    if prefix is None:
        return f"{_shown(ref.encode())}: only branches (refs/heads/...) and tags (refs/tags/...) can be pushed"
    short = ref[len(prefix):]
    try:
        check_revision(short)
    except BadRequest:
        return f"{_shown(ref.encode())}: not a valid branch or tag name"
    if short.startswith("refs/") or len(short) == 40 and all(c in "0123456789abcdef" for c in short):
        return f"{ref}: a name that looks like a ref or a commit id would be ambiguous"
    if new == ZERO:
        return "refs/heads/main: the default branch cannot be deleted" if ref == "refs/heads/main" else None
    return None if is_commit else f"{ref}: must point at a commit"


def tree_problems(oid: str, data: bytes, names: dict[str, bytes]) -> list[str]:
    """What is wrong with the entries of tree ``oid``; records ``blob id -> name`` in ``names``."""
    out = []
    try:
        for mode, name, entry_id in tree_entries(data):
            problem = git_name_problem(name)
            if problem is None and mode not in MODES:
                problem = MODE_PROBLEMS.get(mode, f"mode {mode.decode('ascii', 'replace')} is not a file "
                                                  "(100644), an executable file (100755) or a folder (040000)")
            if problem is not None:
                out.append(f"{_shown(name)} in tree {oid}: {problem}")
            elif mode != b"40000":
                names[entry_id.hex()] = name
    except ValueError:
        out.append(f"tree {oid} cannot be read")
    return out


def expanded_sizes(children: dict[str, list[str]], cap: int) -> dict[str, int]:
    """Entries each tree lists recursively (``children``: tree -> its entries, a tree id for a folder
    the push sent, ``""`` for anything else), each reused folder counted every time; ``cap + 1`` stands
    for "more than ``cap``". Iterative, each tree visited once."""
    sizes: dict[str, int] = {}
    for root in children:
        stack = [(root, False)]
        while stack:
            oid, done = stack.pop()
            if oid in sizes:
                continue
            if done:
                total = 0
                for c in children[oid]:
                    total += 1 + sizes.get(c, 0)
                    if total > cap:
                        break
                sizes[oid] = min(total, cap + 1)
                continue
            stack.append((oid, True))
            stack.extend((c, False) for c in children[oid] if c and c not in sizes)
    return sizes


def check_push(
    repo: Path,
    env: dict[str, str],
    updates: list[tuple[str, str, str]],
    lfs_allowed: Callable[[set[tuple[str, int]]], set[tuple[str, int]]],
    max_entries: int = 1_000_000,
    only: frozenset[str] | None = None,
) -> list[str]:
    """Everything wrong with a push, as lines for the pusher (none: it may land).

    Args:
        repo: the repo's folder.
        env: the hook's environment (``GIT_QUARANTINE_PATH`` and the object folders git sets).
        updates: ``(old, new, ref)`` for each ref the push moves.
        lfs_allowed: ``(sha256, size)`` of the LFS pointers pushed -> those this repo may reference
            with that size.
        max_entries: the most files and folders a tree may list recursively.
        only: the refs this pusher may move, when not all (``COVE_PUSH_ONLY``: the pull requests of a
            user who may not write the repo, as the route decided).
    """
    tips = [new for _, new, _ in updates if new != ZERO]
    leads = dict(zip(tips, commits_of(repo, env, tips) if tips else []))
    problems = []
    for old, new, ref in updates:
        problem = ref_problem(ref, new, new == ZERO or leads[new], old)
        if problem is None and only is not None and ref not in only:
            problem = (f"{_shown(ref.encode())}: you may only push to your own open pull requests here "
                       f"({', '.join(sorted(only))})")
        if problem is not None:
            problems.append(problem)
    objects = pushed_objects(repo, env)
    wanted = [oid for oid, kind, size in objects if kind == "tree" or kind == "blob" and size <= 1024]
    names: dict[str, bytes] = {}
    pointers: dict[str, tuple[str, int]] = {}
    kinds = {oid: kind for oid, kind, _ in objects}
    children: dict[str, list[str]] = {}
    for oid, data in read_objects(repo, env, wanted) if wanted else ():
        if kinds[oid] == "tree":
            problems += tree_problems(oid, data, names)
            try:
                children[oid] = [i.hex() if m == b"40000" and kinds.get(i.hex()) == "tree" else ""
                                 for m, _, i in tree_entries(data)]
            except ValueError:
                children[oid] = []  # already reported
        elif (pointer := parse_lfs_pointer(data)) is not None:
            pointers[oid] = pointer
    for oid, size in expanded_sizes(children, max_entries).items():
        if size > max_entries:
            problems.append(f"tree {oid} would list more than {max_entries} files and folders (folders "
                            "reused under several names count each time)")
    if pointers:
        allowed = lfs_allowed(set(pointers.values()))
        for blob, (sha256, size) in pointers.items():
            if (sha256, size) not in allowed:
                name = names.get(blob)
                what = f"{_shown(name)} (blob {blob})" if name is not None else f"blob {blob}"
                problems.append(LFS_MISSING.format(what=what, oid=sha256, size=size))
    return problems


# -- the hook program -------------------------------------------------------------------------------


def _lfs_allowed(pointers: set[tuple[str, int]]) -> set[tuple[str, int]]:
    """The pointers ``(sha256, size)`` repo ``COVE_REPO_KEY`` may reference: recorded for it (uploaded
    to it or committed in it) with that size, and stored with that size (as a blob or a Xet file)."""
    from cove.server.db import connect, lfs_sizes  # SQLAlchemy only for pushes that hold pointers
    from cove.server.db.xet import by_sha256
    from cove.server.settings import Settings
    from cove.server.storage.stores import open_stores

    sessions = connect(os.environ["COVE_DATABASE_URL"])
    recorded = lfs_sizes(sessions, os.environ["COVE_REPO_KEY"], {oid for oid, _ in pointers})
    blobs, _ = open_stores(Settings.from_env(os.environ))
    held = {(oid, size) for oid, size in pointers if recorded.get(oid) == size and blobs.holds(oid, size)}
    xet = by_sha256(sessions, {oid for oid, size in pointers - held if recorded.get(oid) == size})
    return held | {(oid, size) for oid, size in pointers
                   if recorded.get(oid) == size and oid in xet and xet[oid].size == size}


def main() -> int:
    """The hook: ``<old> <new> <ref>`` lines on stdin, run in the repo; exit 1 (with the reasons on
    stderr, which the pusher sees) to refuse the push."""
    updates = [tuple(line.split(" ", 2)) for line in sys.stdin.read().splitlines() if line.strip()]
    try:
        only = os.environ.get("COVE_PUSH_ONLY")
        problems = check_push(Path.cwd(), dict(os.environ), updates, _lfs_allowed,
                              int(os.environ.get("COVE_MAX_REPO_FILES") or 1_000_000),
                              None if only is None else frozenset(only.split(",")))
    except Exception as e:  # noqa: BLE001 - refuse what could not be checked; the pusher sees only this
        print(f"The Hub could not check this push, so it was refused ({type(e).__name__}): try again, and "
              "tell the Hub's admins if it keeps failing", file=sys.stderr)
        return 1
    if not problems:
        return 0
    shown = [f"- {p}" for p in problems[:MAX_SHOWN]]
    if len(problems) > MAX_SHOWN:
        shown.append(f"- ... and {len(problems) - MAX_SHOWN} more")
    print(HEADER, *shown, sep="\n", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
