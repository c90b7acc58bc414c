"""Turning a parsed commit into a git commit: which files go to LFS, ``.gitattributes``, the ref move.

A file goes to LFS when ``.gitattributes`` marks its path ``filter=lfs``, when it is at least
``lfs_threshold`` bytes, or when it looks binary (a NUL byte in its first 8000), as on the Hugging
Face Hub. Its content is stored by sha256 before the commit is written, its pointer goes into git,
and when no ``.gitattributes`` pattern covers it an exact-path line is added in the same commit, so
that ``git clone`` with git-lfs checks out the content.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from cove.errors import BadRequest, RevisionNotFound, Unprocessable
from cove.protocol import AddFile, AddLfsFile, git_blob_sha1, lfs_pointer, parse_lfs_pointer
from cove.server.db import LfsObject, Repo, RepoLfs
from cove.server.db.lfs import record_lfs_object
from cove.server.services.accounts import Principal
from cove.server.services.gitmatch import GitAttributes
from cove.server.services.ndjson import NewFile, ParsedCommit
from cove.server.services.objects import Objects
from cove.server.storage.git import GitRepo, Identity

if TYPE_CHECKING:
    from cove.server.services.xet import Xet


class LfsPatterns:
    """Which paths a ``.gitattributes`` sends to LFS: those whose ``filter`` attribute is ``lfs``, decided
    exactly as git does (:class:`~cove.server.services.gitmatch.GitAttributes`: the last matching line
    wins, ``-filter`` undoes, macros expand), in time independent of how many exact paths it lists
    (Cove adds one line per LFS file no pattern covers)."""

    def __init__(self, gitattributes: str) -> None:
        self.attributes = GitAttributes(gitattributes, "filter")

    def matches(self, path: str) -> bool:
        return self.attributes.value(path) == "lfs"


def lfs_patterns(gitattributes: str) -> LfsPatterns:
    return LfsPatterns(gitattributes)


@dataclass(frozen=True)
class CommitResult:
    sha: str
    ref: str


class Commits:
    def __init__(self, sessions: sessionmaker, objects: Objects, lfs_threshold: int, *, xet: Xet | None = None) -> None:
        self._sessions = sessions
        self.objects = objects
        self.blobs = objects.blobs
        self.lfs_threshold = lfs_threshold
        self._xet = xet

    def wants_lfs(self, path: str, size: int, sample: bytes, patterns: LfsPatterns) -> bool:
        if size == 0:
            return False
        return size >= self.lfs_threshold or b"\x00" in sample[:8000] or patterns.matches(path)

    def repo_has(self, repo: Repo, oid: str) -> LfsObject | None:
        """The LFS object if ``repo`` may reference it (uploaded to or committed in it) and it is stored
        with its recorded size (as a blob or a Xet file)."""
        with self._sessions() as s:
            row = s.execute(
                select(LfsObject).join(RepoLfs, RepoLfs.oid == LfsObject.oid)
                .where(RepoLfs.repo_id == repo.id, LfsObject.oid == oid)
            ).scalar()
        return row if row is not None and self.objects.holds(oid, row.size) else None

    def lfs_object(self, repo: Repo, oid: str) -> LfsObject | None:
        """:meth:`repo_has`, or else the file a Xet upload to ``repo`` registered under that sha256,
        recorded as one of the repo's LFS objects (what a commit's ``lfsFile`` line may name)."""
        obj = self.repo_has(repo, oid)
        if obj is None and self._xet is not None:
            ref = self._xet.link_for_commit(repo, oid)
            if ref is not None:
                self.record_object(repo, oid, ref.size)
                obj = self.repo_has(repo, oid)
        return obj

    def check_pointer(self, repo: Repo, path: str, data: bytes) -> None:
        """Refuse a regular file whose content is an LFS pointer to an object ``repo`` may not
        reference, that is not stored, or whose size is not the pointer's: it would be read as that
        object by anyone who learned its sha256 (see :mod:`cove.server.services.lfs_scope`)."""
        pointer = parse_lfs_pointer(data) if len(data) <= 1024 else None
        if pointer is None:
            return
        obj = self.repo_has(repo, pointer[0])
        if obj is None or obj.size != pointer[1]:
            raise Unprocessable(
                f"{path} is an LFS pointer to {pointer[0]} ({pointer[1]} bytes), which this repo does not "
                "hold with that size: commit the file's content instead, or upload the object to this repo "
                "through the LFS batch API first")

    def known_sha1(self, oid: str) -> str | None:
        with self._sessions() as s:
            row = s.get(LfsObject, oid)
            return row.sha1 if row else None

    def fill_sha1(self) -> None:
        """Compute the git blob sha1 of stored objects that lack it (preupload compares it with the
        client's file in "regular" mode, so an unchanged large file is not sent again)."""
        with self._sessions() as s:
            oids = list(s.scalars(select(LfsObject.oid).where(LfsObject.sha1 == "")))
        for oid in oids:  # blobs only: a Xet-stored object has none (its sha1 serves "regular" preuploads only)
            size = self.blobs.size(oid)
            if size is None:
                continue
            h = hashlib.sha1(b"blob %d\x00" % size)
            for block in self.blobs.blocks(oid, 0, size):
                h.update(block)
            with self._sessions.begin() as s:
                row = s.get(LfsObject, oid)
                if row is not None:
                    row.sha1 = h.hexdigest()

    def record_object(self, repo: Repo, oid: str, size: int, sha1: str = "") -> None:
        """Record that ``repo`` may reference object ``oid``; the caller holds ``blobs.guard()`` from
        storing the object until this returns (see :mod:`cove.server.storage.locks`)."""
        record_lfs_object(self._sessions, repo.id, oid, size, sha1)

    def apply(self, repo: Repo, git: GitRepo, who: Principal, ref: str, parsed: ParsedCommit, *,
              start_point: str | None = None) -> str:
        """Write ``parsed`` onto ``ref`` and return the new commit sha. Nothing is kept on error
        but content-addressed LFS objects, which are harmless. Each operation costs about the same
        whatever the number of operations and files in the repo."""
        full = ref if ref.startswith("refs/") else f"refs/heads/{ref}"
        base = git.ref_target(full) or start_point
        if base is None:
            raise RevisionNotFound(f"Invalid rev id: {ref}")
        gitattributes = ""
        new_attrs = next((op for op in parsed.ops if isinstance(op, NewFile) and op.path == ".gitattributes"),
                         None)
        if new_attrs is not None:
            gitattributes = new_attrs.read().decode("utf-8", "replace")
        else:
            entry = git.get_entry(base, ".gitattributes")
            if entry is not None and entry.lfs_oid is None:
                gitattributes = git.read_blob(entry.oid).decode("utf-8", "replace")
        patterns = lfs_patterns(gitattributes)
        ops: list = []
        pointers: dict[str, bytes] = {}
        added_lines: list[str] = []
        try:
            for op in parsed.ops:
                if isinstance(op, NewFile):
                    if op.path == ".gitattributes" or not self.wants_lfs(op.path, op.size, op.sample(), patterns):
                        data = op.read()
                        self.check_pointer(repo, op.path, data)
                        ops.append(AddFile(op.path, data))
                        continue
                    with self.blobs.guard():
                        oid, size, sha1 = self._store(op)
                        self.record_object(repo, oid, size, sha1)
                    pointers[op.path] = lfs_pointer(oid, size)
                    ops.append(AddLfsFile(op.path, oid, size))
                elif isinstance(op, AddLfsFile):
                    obj = self.lfs_object(repo, op.oid)
                    if obj is None:
                        raise Unprocessable(
                            f"LFS object {op.oid} for {op.path} was not uploaded to this repo: upload it "
                            "through the LFS batch API or Xet first")
                    if op.size is not None and op.size != obj.size:
                        raise BadRequest(f"LFS file {op.path}: size {op.size} != stored size {obj.size}")
                    pointers[op.path] = lfs_pointer(op.oid, obj.size)
                    ops.append(AddLfsFile(op.path, op.oid, obj.size))
                else:
                    ops.append(op)
                    continue
                if not patterns.matches(op.path):
                    added_lines.append(op.path.replace(" ", "[[:space:]]") + " filter=lfs diff=lfs merge=lfs -text")
        finally:
            parsed.discard()
        if added_lines:
            text = gitattributes + ("" if gitattributes.endswith("\n") or not gitattributes else "\n")
            text += "\n".join(added_lines) + "\n"
            ops = [op for op in ops if op.path != ".gitattributes"] + [AddFile(".gitattributes", text.encode())]
        message = parsed.summary.strip() or "Update files"
        if parsed.description.strip():
            message += "\n\n" + parsed.description.strip()
        return git.commit(ref, ops, Identity(who.name, ""), message + "\n", parent_commit=parsed.parent_commit,
                          start_point=start_point, lfs_blobs=pointers)

    def _store(self, op: NewFile) -> tuple[str, int, str]:
        """Move a new file's content into the LFS store: ``(sha256, size, git sha1)``."""
        if op.writer is not None:  # large: its git sha1 is filled in later (fill_sha1), off the request
            size = op.writer.size
            oid = op.writer.finish()
            op.writer = None
            op.data = b""
            return oid, size, ""
        oid, size = self.blobs.put([op.data])
        return oid, size, git_blob_sha1(op.data)
