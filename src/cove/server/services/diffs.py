"""A commit as its page shows it: its message, and per changed file a text diff or, for LFS and
binary files, the sizes before and after.

Text diffs are unified diffs (3 lines of context) of files up to ``MAX_TEXT`` bytes on each side; a
commit lists at most ``MAX_FILES`` files and ``MAX_LINES`` diff lines in all, the rest is summarized.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from cove.protocol import TreeEntry
from cove.server.storage.git import CommitInfo, GitRepo
from cove.server.storage.gitdiff import changes

MAX_FILES = 300
MAX_TEXT = 512 * 1024
MAX_LINES = 20_000


@dataclass
class FileDiff:
    path: str
    status: str  # added | deleted | modified
    kind: str  # text | lfs | binary | large | hidden
    old_size: int | None = None
    new_size: int | None = None
    lines: list[tuple[str, str]] = field(default_factory=list)  # (class: add|del|ctx|hunk, text)
    added: int = 0
    removed: int = 0
    truncated: bool = False


@dataclass
class CommitView:
    info: CommitInfo
    parent: str | None
    files: list[FileDiff]
    more_files: bool


def _text(git: GitRepo, entry: TreeEntry | None) -> str | None:
    """The entry's content as text, or None if it is LFS, binary or too large to diff."""
    if entry is None:
        return ""
    if entry.lfs_oid is not None or entry.size > MAX_TEXT:
        return None
    data = git.read_blob(entry.oid)
    if b"\x00" in data[:8000]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _kind(old: TreeEntry | None, new: TreeEntry | None) -> str:
    if (old is not None and old.lfs_oid) or (new is not None and new.lfs_oid):
        return "lfs"
    if max(old.size if old else 0, new.size if new else 0) > MAX_TEXT:
        return "large"
    return "binary"


def commit_view(git: GitRepo, sha: str) -> CommitView:
    """The commit ``sha`` (full) and what it changed against its first parent."""
    info = git.commit_info(sha)
    parent, found, more = changes(git, sha, limit=MAX_FILES)
    files: list[FileDiff] = []
    budget = MAX_LINES
    for change in found:
        old = git.get_entry(parent, change.path) if parent and change.old_oid else None
        new = git.get_entry(sha, change.path) if change.new_oid else None
        if (change.old_oid and old is None) or (change.new_oid and new is None):
            files.append(FileDiff(change.path, change.status, "hidden"))  # a name the Hub does not show
            continue
        item = FileDiff(change.path, change.status, "text", old_size=old.size if old else None,
                        new_size=new.size if new else None)
        files.append(item)
        before, after = _text(git, old), _text(git, new)
        if before is None or after is None:
            item.kind = _kind(old, new)
            continue
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=3):
            if line.startswith(("---", "+++")):
                continue
            if budget <= 0:
                item.truncated = True
                break
            budget -= 1
            if line.startswith("@@"):
                item.lines.append(("hunk", line))
            elif line.startswith("+"):
                item.added += 1
                item.lines.append(("add", line))
            elif line.startswith("-"):
                item.removed += 1
                item.lines.append(("del", line))
            else:
                item.lines.append(("ctx", line))
    return CommitView(info, parent, files, more)
