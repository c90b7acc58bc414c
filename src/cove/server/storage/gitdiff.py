"""What one commit changed: the paths it added, modified or deleted, against its first parent.

Only names and blob ids come from here; reading the blobs (and telling LFS pointers from content)
is the caller's, through :class:`~cove.server.storage.git.GitRepo`. Paths that fail the name rule
are listed too (the caller shows them as unreadable), so a hostile commit cannot hide a change.
"""

from __future__ import annotations

from dataclasses import dataclass

import pygit2

from cove.server.storage.git import GitRepo

_STATUS = {pygit2.enums.DeltaStatus.ADDED: "added", pygit2.enums.DeltaStatus.DELETED: "deleted",
           pygit2.enums.DeltaStatus.MODIFIED: "modified", pygit2.enums.DeltaStatus.TYPECHANGE: "modified"}


@dataclass(frozen=True)
class Change:
    status: str  # added | deleted | modified
    path: str
    old_oid: str | None
    new_oid: str | None


def changes(git: GitRepo, sha: str, *, limit: int) -> tuple[str | None, list[Change], bool]:
    """``(parent sha or None, the first ``limit`` changes in path order, whether more follow)``."""
    commit = git.repo[sha].peel(pygit2.Commit)
    parent = commit.parents[0] if commit.parents else None
    if parent is None:
        diff = commit.tree.diff_to_tree(swap=True)  # everything added
    else:
        diff = git.repo.diff(parent.tree, commit.tree)
    out: list[Change] = []
    more = False
    for delta in diff.deltas:
        status = _STATUS.get(delta.status)
        if status is None:
            continue
        if len(out) == limit:
            more = True
            break
        zero = "0" * 40
        old = str(delta.old_file.id) if status != "added" and str(delta.old_file.id) != zero else None
        new = str(delta.new_file.id) if status != "deleted" and str(delta.new_file.id) != zero else None
        out.append(Change(status, delta.new_file.path if new else delta.old_file.path, old, new))
    return (str(parent.id) if parent is not None else None), out, more
