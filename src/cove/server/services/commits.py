"""Preupload and the whole commit: which files go to LFS, ``.gitattributes``, the ref move, and the repo's
metadata after it (routes parse the request and call :class:`Commits` once).

A file goes to LFS when ``.gitattributes`` marks its path ``filter=lfs``, when it is at least
``lfs_threshold`` bytes, or when it looks binary (a NUL byte in its first 8000), as on the Hugging
Face Hub. Its content is stored by sha256 before the commit is written, its pointer goes into git,
and when no ``.gitattributes`` pattern covers it an exact-path line is added in the same commit, so
that ``git clone`` with git-lfs checks out the content.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from cove.errors import BadRequest, RevisionNotFound, Unprocessable
from cove.protocol import AddFile, AddLfsFile, check_commit_path, git_blob_sha1, lfs_pointer
from cove.server.db import Repo
from cove.server.services.accounts import Principal
from cove.server.services.content import Content
from cove.server.services.discussions import Discussions
from cove.server.services.gitmatch import GitAttributes, GitIgnore
from cove.server.services.lfs import Lfs
from cove.server.services.ndjson import NewFile, ParsedCommit
from cove.server.services.objects import Objects
from cove.server.services.repos import Repos
from cove.server.services.scans import Scans
from cove.server.settings import Settings
from cove.server.storage.git import GitRepo, Identity


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


#: Bounds on the work a ``.gitignore`` costs a preupload (each file is matched against each rule).
MAX_IGNORE_RULES = 1000
MAX_IGNORE_WORK = 2_000_000


@dataclass(frozen=True)
class CommitTarget:
    """Where a commit goes, checked before its body is read: the repo, its git and an existing branch."""

    repo: Repo
    git: GitRepo
    rev: str


class Commits:
    """Preupload and the whole commit: the files' content stored, the ref moved, the repo's metadata (head,
    card, last change) and the follow-up work (scans) recorded."""

    def __init__(self, settings: Settings, objects: Objects, lfs: Lfs, repos: Repos, content: Content,
                 scans: Scans, discussions: Discussions) -> None:
        self.settings = settings
        self.objects = objects
        self.blobs = objects.blobs
        self.lfs = lfs
        self.lfs_threshold = settings.lfs_threshold
        self._repos = repos
        self._content = content
        self._scans = scans
        self._discussions = discussions

    def wants_lfs(self, path: str, size: int, sample: bytes, patterns: LfsPatterns) -> bool:
        if size == 0:
            return False
        return size >= self.lfs_threshold or b"\x00" in sample[:8000] or patterns.matches(path)

    # -- preupload -------------------------------------------------------------------------------

    def preupload(self, who: Principal | None, repo_type: str, repo_id: str, rev: str, files: Any,
                  git_ignore: Any, user_agent: str, *, create_pr: bool = False) -> dict:
        """Which of ``files`` (``{"path", "size", "sample"}``) go inline and which through LFS (or Xet),
        which the repo's ``.gitignore`` (or ``git_ignore``) skips, and the oid each has at ``rev``
        (with ``create_pr``: for a pull request against ``rev``, which needs only read access)."""
        repo = self._discussions.commit_target(who, repo_type, repo_id, rev, create_pr=create_pr)
        git = self._repos.open_git(repo)
        most = self.settings.max_commit_files
        if not isinstance(files, list) or len(files) > most:
            raise BadRequest(f"'files' must be a list of at most {most} entries")
        try:
            sha = git.resolve(rev)
        except RevisionNotFound:
            sha = None  # the commit itself will say so; every file is new here
        patterns = lfs_patterns(_text_at(git, sha, ".gitattributes"))
        if git_ignore is None:
            git_ignore = _text_at(git, sha, ".gitignore")  # the client sends the one of the commit, if any
        if not isinstance(git_ignore, str):
            raise BadRequest("'gitIgnore' must be the text of a .gitignore")
        rules = GitIgnore(git_ignore)
        if len(rules.rules) > MAX_IGNORE_RULES or len(rules.rules) * len(files) > MAX_IGNORE_WORK:
            raise BadRequest(f"This .gitignore has {len(rules.rules)} rules: at most {MAX_IGNORE_RULES}, and "
                             f"at most {MAX_IGNORE_WORK} rules x files in one preupload (send fewer files at once)")
        # with Xet, "lfs" suits every client: hf_xet sends such files through Xet, the others the batch API
        lfs_capable = self.settings.xet or self.settings.lfs_uploads == "lfs" or "hf_hub/0." in user_agent
        out = []
        for f in files:
            path, size, sample = _preupload_file(f)
            lfs = lfs_capable and self.wants_lfs(path, size, sample, patterns)
            oid = None
            entry = git.get_entry(sha, path) if sha is not None else None
            if entry is not None and entry.type == "file":
                if lfs:
                    oid = entry.lfs_oid
                elif entry.lfs_oid:
                    oid = self.lfs.known_sha1(entry.lfs_oid) or None
                else:
                    oid = entry.oid
            out.append({"path": path, "uploadMode": "lfs" if lfs else "regular",
                        "shouldIgnore": rules.ignored(path), "oid": oid})
        return {"files": out, "commitOid": sha}

    # -- the commit ------------------------------------------------------------------------------

    def target(self, who: Principal | None, repo_type: str, repo_id: str, rev: str, *, create_pr: bool) -> CommitTarget:
        """Where a commit to ``rev`` (a branch or ``refs/pr/N``) goes, if ``who`` may write there; with
        ``create_pr``, the base branch of a new pull request (checked when the PR opens). Checked before
        the body is read."""
        repo = self._discussions.commit_target(who, repo_type, repo_id, rev, create_pr=create_pr)
        git = self._repos.open_git(repo)
        if create_pr:
            return CommitTarget(repo, git, rev)
        if git.ref_target(rev if rev.startswith("refs/") else f"refs/heads/{rev}") is None:
            raise RevisionNotFound(f"Invalid rev id: {rev} (commits go to an existing branch)")
        return CommitTarget(repo, git, rev)

    def commit(self, target: CommitTarget, who: Principal, parsed: ParsedCommit) -> str:
        """The whole commit as one unit: ``parsed`` written onto the branch, then the repo's metadata
        (last change; for ``main`` the new head and card) and the scans the new files need. The new sha."""
        repo, git, rev = target.repo, target.git, target.rev
        sha = self.apply(repo, git, who, rev, parsed)
        self._scans.after_commit(repo, sha)
        main = rev in ("main", "refs/heads/main")
        self._repos.touch(repo, head_sha=sha if main else None, card=self._content.card(git, sha, repo) if main else None)
        return sha

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
                        self.lfs.check_pointer(repo, op.path, data)
                        ops.append(AddFile(op.path, data))
                        continue
                    with self.blobs.guard():
                        oid, size, sha1 = self._store(op)
                        self.lfs.record_object(repo, oid, size, sha1)
                    pointers[op.path] = lfs_pointer(oid, size)
                    ops.append(AddLfsFile(op.path, oid, size))
                elif isinstance(op, AddLfsFile):
                    obj = self.lfs.lfs_object(repo, op.oid)
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


def _text_at(git: GitRepo, sha: str | None, path: str) -> str:
    """The text of a regular file at commit ``sha`` ("" if there is none)."""
    entry = git.get_entry(sha, path) if sha is not None else None
    if entry is None or entry.lfs_oid is not None or entry.type != "file":
        return ""
    return git.read_blob(entry.oid).decode("utf-8", "replace")


def _preupload_file(f: Any) -> tuple[str, int, bytes]:
    """``(path, size, sample)`` of one file a preupload names, checked."""
    if not isinstance(f, dict) or not isinstance(f.get("path"), str):
        raise BadRequest("Each file needs a 'path'")
    path = f["path"]
    check_commit_path(path)
    size, sample = f.get("size", 0), f.get("sample") or ""
    if not isinstance(sample, str) or len(sample) > 16_384:
        raise BadRequest(f"The sample of {path} must be base64 text of at most 512 bytes of the file")
    try:
        sample = base64.b64decode(sample, validate=False)
    except ValueError:
        raise BadRequest(f"Invalid base64 sample for {path}") from None
    if not isinstance(size, int) or size < 0:
        raise BadRequest(f"Invalid size for {path}")
    return path, size, sample
