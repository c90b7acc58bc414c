"""Raw git objects that git itself would never write: trees with any name and mode, written with
``git hash-object --literally`` (which checks nothing), for the tests of the git trust boundary."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path

FILE, EXECUTABLE, FOLDER, SYMLINK, GITLINK = "100644", "100755", "40000", "120000", "160000"


def write(kind: str, data: bytes, cwd: Path, env: dict | None = None) -> str:
    """Store a raw object of ``kind`` in the repo at ``cwd``; its id."""
    proc = subprocess.run(["git", "hash-object", "-t", kind, "--literally", "-w", "--stdin"], input=data,
                          cwd=cwd, env=env, capture_output=True, check=True)
    return proc.stdout.decode().strip()


def tree(cwd: Path, entries: Iterable[tuple[str, bytes, str]], env: dict | None = None) -> str:
    """A tree of ``(mode, name, hex id)`` entries, in git's order (a folder sorts as if its name
    ended in '/'), so that only what the test means is wrong with it."""
    ordered = sorted(entries, key=lambda e: e[1] + (b"/" if e[0] == FOLDER else b""))
    return write("tree", b"".join(f"{m} ".encode() + n + b"\0" + bytes.fromhex(i) for m, n, i in ordered), cwd, env)


def commit(cwd: Path, tree_id: str, parents: Iterable[str] = (), message: str = "crafted",
           env: dict | None = None) -> str:
    who = "Mallory <mallory@example.com> 1700000000 +0000"
    text = f"tree {tree_id}\n" + "".join(f"parent {p}\n" for p in parents)
    return write("commit", f"{text}author {who}\ncommitter {who}\n\n{message}\n".encode(), cwd, env)


def tag(cwd: Path, target: str, name: str, kind: str = "commit", env: dict | None = None) -> str:
    who = "Mallory <mallory@example.com> 1700000000 +0000"
    return write("tag", f"object {target}\ntype {kind}\ntag {name}\ntagger {who}\n\nv\n".encode(), cwd, env)


def pointer(oid: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n".encode()
