"""A repo's history and storage as a whole: squashing a branch, listing its LFS files, deleting them
for good, and how much each repo stores.

Deleting LFS files keeps three promises, whatever else happens at the same time:

- only the repo's own objects go (those it may reference: uploaded to it or committed in it); an oid
  it does not hold is ignored, so the answer says nothing about other repos;
- an object that a commit of the repo still points to never disappears for that repo: without
  ``rewrite`` such objects are refused; with it, every ref's history is rewritten without those files
  first, and an object a concurrent commit points to again is kept;
- the content goes only when no repo may reference it any more: another repo that holds the same
  bytes keeps them (the store's removal lock keeps a concurrent upload of them safe).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import sessionmaker

from cove.errors import BadRequest, Conflict
from cove.protocol import git_blob_sha1, is_sha256, lfs_pointer
from cove.server.db import Repo
from cove.server.db.lfs import (
    drop_unreferenced,
    forget_repo_lfs,
    lfs_bytes_by_repo,
    repo_lfs_objects,
    restore_repo_lfs,
)
from cove.server.db.xet import unlink_sha256
from cove.server.services.accounts import Principal
from cove.server.services.lfs_scope import LfsScopes
from cove.server.storage import history
from cove.server.storage.blobs import Blobs
from cove.server.storage.git import GitRepo, GitStore, Identity

#: Most oids one deletion request may name (the stock client sends batches of 1000).
MAX_DELETIONS = 1000


@dataclass(frozen=True)
class LfsFile:
    """One LFS object of a repo: where it first appears in the history (``filename``, ``ref`` and the
    commit's date), or only when it was stored, for an object uploaded but never committed."""

    sha256: str
    size: int
    pushed_at: datetime
    filename: str | None
    ref: str | None

    @property
    def pointer_oid(self) -> str:
        """The git blob id of the file's pointer."""
        return git_blob_sha1(lfs_pointer(self.sha256, self.size))


class History:
    def __init__(self, sessions: sessionmaker, blobs: Blobs, git: GitStore, scopes: LfsScopes) -> None:
        self._sessions = sessions
        self._blobs = blobs
        self._git = git
        self._scopes = scopes

    def squash(self, who: Principal, git: GitRepo, rev: str, message: str) -> str:
        """One commit holding the current files of branch ``rev``, replacing its history."""
        if not message.strip():
            raise BadRequest("The squashed commit needs a message")
        return history.squash(git, rev, message.strip() + "\n", Identity(who.name, ""))

    def lfs_files(self, repo: Repo, git: GitRepo) -> list[LfsFile]:
        """The repo's LFS objects, newest first."""
        own = repo_lfs_objects(self._sessions, repo.id)
        seen = history.lfs_pointers(git)
        out = []
        for oid, (size, stored) in own.items():
            where = seen.get(oid)
            if where is not None and where.size == size:
                out.append(LfsFile(oid, size, where.date, where.path, where.ref))
            else:
                out.append(LfsFile(oid, size, stored, None, None))
        out.sort(key=lambda f: (f.pushed_at, f.sha256), reverse=True)
        return out

    def delete_lfs(self, repo: Repo, git: GitRepo, oids: object, *, rewrite: bool) -> int:
        """Delete the repo's objects among ``oids`` (see the module docstring); returns how many."""
        if not isinstance(oids, list) or len(oids) > MAX_DELETIONS or not all(
                isinstance(o, str) and is_sha256(o) for o in oids):
            raise BadRequest(f"'sha' must be a list of at most {MAX_DELETIONS} sha256 oids")
        own = set(repo_lfs_objects(self._sessions, repo.id)) & set(oids)
        if not own:
            return 0
        if not rewrite:
            used = own & history.lfs_pointers(git).keys()
            if used:
                raise Conflict(f"{len(used)} of these LFS files are still in the repo's history: delete them "
                               "with rewriteHistory=true, which removes them from every commit")
        forget_repo_lfs(self._sessions, repo.id, own)
        self._scopes.forget(repo.storage_key)
        try:
            if rewrite:
                history.drop_lfs_pointers(git, own)
            still = own & history.lfs_pointers(git).keys()
            if still:
                raise Conflict("The repo changed during the deletion (a commit points to these files again): "
                               "try again")
        except BaseException:
            restore_repo_lfs(self._sessions, repo.id, own)
            raise
        unlink_sha256(self._sessions, repo.id, own)  # and the Xet uploads of the same content
        with self._blobs.guard(exclusive=True):
            for oid in drop_unreferenced(self._sessions, own):
                self._blobs.remove(oid)
        return len(own)

    def storage(self, repos: list[Repo]) -> dict[int, int]:
        """``{repo id: bytes}``: its git objects on disk and the LFS objects it may reference."""
        lfs = lfs_bytes_by_repo(self._sessions, [r.id for r in repos])
        return {r.id: lfs.get(r.id, 0) + _disk_usage(self._git.path(r.storage_key)) for r in repos}


def _disk_usage(path: os.PathLike) -> int:
    total = 0
    stack = [os.fspath(path)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return total
