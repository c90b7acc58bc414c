"""What the commits of a bare repo reference: the LFS pointers of every commit reachable from a ref.

Garbage collection keeps the content these pointers name. Stock git does the walking: ``rev-list
--objects --all`` lists every object reachable from any ref (branches, tags, pull requests), ``cat-file``
gives their types and sizes, then reads the blobs small enough to be pointers.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from cove.protocol import parse_lfs_pointer

MAX_POINTER_BYTES = 1024


def _git(path: Path, *args: str, data: bytes | None = None) -> bytes:
    return subprocess.run(["git", *args], cwd=path, input=data, capture_output=True, check=True).stdout


def lfs_pointers(path: Path) -> set[tuple[str, int]]:
    """``(sha256, size)`` of every LFS pointer in the commits reachable from the refs of the repo at ``path``."""
    listed = _git(path, "rev-list", "--objects", "--all")
    ids = b"\n".join(line.split(b" ", 1)[0] for line in listed.splitlines() if line)
    if not ids:
        return set()
    types = _git(path, "cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)", data=ids + b"\n")
    small = [oid for oid, kind, size in (line.split() for line in types.splitlines())
             if kind == b"blob" and int(size) <= MAX_POINTER_BYTES]
    if not small:
        return set()
    out: set[tuple[str, int]] = set()
    data = _git(path, "cat-file", "--batch", data=b"\n".join(small) + b"\n")
    pos = 0
    while pos < len(data):
        end = data.index(b"\n", pos)
        size = int(data[pos:end].split()[2])
        pointer = parse_lfs_pointer(data[end + 1:end + 1 + size])
        if pointer is not None:
            out.add(pointer)
        pos = end + 1 + size + 1  # the content, then a newline
    return out
