"""The download cache, in the Hugging Face hub cache layout, so either library reads what the other wrote.

```
<cache>/models--alice--bert/
    blobs/<etag>                     file contents, named by sha256 (LFS) or git blob sha1 (others)
    blobs/<etag>.incomplete          a download in progress (resumed from its size)
    refs/<revision>                  text: the commit a branch or tag pointed to when last seen
    snapshots/<commit>/<path>        relative symlinks to ../../blobs/<etag>
    .no_exist/<commit>/<path>        empty: the file is known not to exist at that commit
<cache>/.locks/models--alice--bert/<etag>.lock
```
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock

from cove.protocol import REPO_TYPES, check_path, is_commit_sha, is_sha256

CHUNK = 8 * 1024 * 1024


def repo_folder_name(repo_id: str, repo_type: str) -> str:
    """``("alice/bert", "model")`` -> ``"models--alice--bert"``."""
    return "--".join([f"{repo_type}s", *repo_id.split("/")])


def new_hasher(etag: str, size: int):
    """A hasher whose hexdigest equals ``etag`` for the right content: sha256 or a git blob sha1."""
    if is_sha256(etag):
        return hashlib.sha256()
    h = hashlib.sha1()
    h.update(b"blob %d\x00" % size)
    return h


def hash_file(path: Path, etag: str, *, upto: int | None = None, hasher=None):
    """Feed ``path`` (its first ``upto`` bytes) into ``hasher`` (default: ``new_hasher(etag, file size)``)."""
    h = hasher or new_hasher(etag, path.stat().st_size)
    left = path.stat().st_size if upto is None else upto
    with open(path, "rb") as f:
        while left > 0:
            block = f.read(min(CHUNK, left))
            if not block:
                break
            h.update(block)
            left -= len(block)
    return h


def verify_blob(path: Path, etag: str) -> bool:
    """True when the content of ``path`` hashes to ``etag`` (an unknown etag kind cannot be checked)."""
    if not (is_sha256(etag) or is_commit_sha(etag)):
        return True
    return hash_file(path, etag).hexdigest() == etag


@dataclass(frozen=True)
class RepoCache:
    """The cache folder of one repo under ``root``."""

    root: Path
    repo_id: str
    repo_type: str

    @property
    def name(self) -> str:
        return repo_folder_name(self.repo_id, self.repo_type)

    @property
    def folder(self) -> Path:
        return self.root / self.name

    def blob(self, etag: str) -> Path:
        return self.folder / "blobs" / etag

    def incomplete(self, etag: str) -> Path:
        return self.folder / "blobs" / f"{etag}.incomplete"

    def snapshot(self, commit: str, path: str | None = None) -> Path:
        base = self.folder / "snapshots" / commit
        return base / Path(*check_path(path).split("/")) if path else base

    def no_exist(self, commit: str, path: str) -> Path:
        return self.folder / ".no_exist" / commit / Path(*check_path(path).split("/"))

    def lock(self, etag: str) -> FileLock:
        path = self.root / ".locks" / self.name / f"{etag}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(path))

    def read_ref(self, revision: str) -> str | None:
        if is_commit_sha(revision):
            return revision
        try:
            commit = (self.folder / "refs" / revision).read_text().strip()
        except OSError:
            return None
        return commit if is_commit_sha(commit) else None

    def write_ref(self, revision: str, commit: str) -> None:
        if revision == commit or is_commit_sha(revision):
            return
        path = self.folder / "refs" / revision
        if self.read_ref(revision) == commit:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_text(commit)
        os.replace(tmp, path)

    def link(self, commit: str, path: str, etag: str) -> Path:
        """Point ``snapshots/<commit>/<path>`` at ``blobs/<etag>`` (a relative symlink, replaced atomically)."""
        dst = self.snapshot(commit, path)
        dst.parent.mkdir(parents=True, exist_ok=True)
        target = os.path.relpath(self.blob(etag), dst.parent)
        if dst.is_symlink() and os.readlink(dst) == target:
            return dst
        tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:8]}.tmp")
        os.symlink(target, tmp)
        os.replace(tmp, dst)
        return dst

    def mark_missing(self, commit: str, path: str) -> None:
        p = self.no_exist(commit, path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.touch()


# -- scanning and cleaning (``cove cache ls`` / ``cove cache rm``) --------------------------------


@dataclass
class CachedRevision:
    commit: str
    refs: list[str]
    size: int  # bytes of the blobs this snapshot points to
    files: int


@dataclass
class CachedRepo:
    repo_id: str
    repo_type: str
    path: Path
    size: int  # bytes of all blobs on disk
    revisions: list[CachedRevision] = field(default_factory=list)


def _walk_files(folder: Path):
    for dirpath, _, files in os.walk(folder):
        for f in files:
            yield Path(dirpath) / f


def scan_cache(root: Path) -> list[CachedRepo]:
    """Every repo in the cache at ``root``, with its size and the size of each cached revision."""
    out: list[CachedRepo] = []
    if not root.is_dir():
        return out
    for entry in sorted(root.iterdir()):
        parts = entry.name.split("--")
        if not entry.is_dir() or len(parts) < 3 or parts[0][:-1] not in REPO_TYPES:
            continue
        repo = CachedRepo("/".join(parts[1:]), parts[0][:-1], entry, 0)
        blobs = entry / "blobs"
        if blobs.is_dir():
            repo.size = sum(p.stat().st_size for p in blobs.iterdir() if p.is_file())
        refs: dict[str, list[str]] = {}
        for ref in _walk_files(entry / "refs"):
            refs.setdefault(ref.read_text().strip(), []).append(str(ref.relative_to(entry / "refs")))
        snaps = entry / "snapshots"
        for snap in sorted(snaps.iterdir()) if snaps.is_dir() else []:
            seen: dict[str, int] = {}
            files = 0
            for f in _walk_files(snap):
                files += 1
                real = os.path.realpath(f)
                if real not in seen and os.path.exists(real):
                    seen[real] = os.path.getsize(real)
            repo.revisions.append(CachedRevision(snap.name, sorted(refs.get(snap.name, [])), sum(seen.values()), files))
        out.append(repo)
    return out


def delete_cached(root: Path, repo_id: str, repo_type: str = "model", revision: str | None = None) -> int:
    """Remove a repo (or one revision of it) from the cache; returns the bytes freed.

    A revision is a commit or a ref; its snapshot, the refs that point to it and the blobs no other
    snapshot uses are removed.
    """
    rc = RepoCache(root, repo_id, repo_type)
    if not rc.folder.is_dir():
        return 0
    before = sum(p.stat().st_size for p in _walk_files(rc.folder) if not p.is_symlink())
    if revision is None:
        shutil.rmtree(rc.folder)
        shutil.rmtree(root / ".locks" / rc.name, ignore_errors=True)
        return before
    commit = rc.read_ref(revision)
    if commit is None:
        return 0
    shutil.rmtree(rc.snapshot(commit), ignore_errors=True)
    shutil.rmtree(rc.folder / ".no_exist" / commit, ignore_errors=True)
    for ref in list(_walk_files(rc.folder / "refs")):
        if ref.read_text().strip() == commit:
            ref.unlink()
    used = {os.path.realpath(f) for f in _walk_files(rc.folder / "snapshots")}
    for blob in (rc.folder / "blobs").iterdir() if (rc.folder / "blobs").is_dir() else []:
        if str(blob.resolve()) not in used:
            blob.unlink()
    after = sum(p.stat().st_size for p in _walk_files(rc.folder) if not p.is_symlink())
    return before - after


def verify_cache(root: Path, *, remove: bool = False) -> list[Path]:
    """Re-hash every blob under ``root``; returns the corrupted ones (deleted when ``remove``)."""
    bad: list[Path] = []
    for repo in scan_cache(root):
        blobs = repo.path / "blobs"
        for blob in sorted(blobs.iterdir()) if blobs.is_dir() else []:
            if blob.suffix == ".incomplete" or not blob.is_file():
                continue
            if not verify_blob(blob, blob.name):
                bad.append(blob)
                if remove:
                    blob.unlink()
    return bad
