"""Security scans of the files people upload: which files, when, and what a revision's status is.

Files a loader unpickles (``.bin .pt .pth .ckpt .pkl .pickle .joblib .npy``) are scanned for the
imports they would run (:mod:`cove.server.services.pickles`), once per content hash, in a background
thread after the content is stored:

- after an API commit, the new revision's files are walked and content without a result is queued;
  after a git push, every branch and tag head is (LFS uploads become files by one or the other);
- content still without a result when someone looks at it (a repo pushed before scanning existed,
  a queue lost to a restart) is queued then, and reads as ``queued`` until it is done.

A scan never fails the request that stored the file: errors while scanning are a result (``error``)
or, when the content is not stored yet, no result at all (it is queued again on the next look).
"""

from __future__ import annotations

import io
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy.orm import sessionmaker

from cove.protocol import TreeEntry
from cove.server.db import Repo
from cove.server.db.scans import save_scan, scans_of
from cove.server.services import pickles
from cove.server.services.objects import Objects
from cove.server.storage.git import GitStore

log = logging.getLogger("cove.server.scans")

SCANNED_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib", ".npy")
#: Statuses that put a file in a repo's ``filesWithIssues``.
ISSUES = ("suspicious", "error", "unsafe")


@dataclass(frozen=True)
class FileScan:
    """One file's scan: ``status`` is ``queued`` or one of :data:`pickles.STATUSES`."""

    status: str
    imports: tuple[dict, ...] = ()  # {"module", "name", "safety"}
    message: str = ""


QUEUED = FileScan("queued")


@dataclass(frozen=True)
class RepoScanStatus:
    scans_done: bool
    issues: tuple[tuple[str, str], ...]  # (path, level), by path


def wants_scan(path: str) -> bool:
    return path.lower().endswith(SCANNED_SUFFIXES)


def content_id(entry: TreeEntry) -> str:
    """What a file's scan is stored under: its LFS sha256, or its git blob id."""
    return entry.lfs_oid or entry.oid


class Scans:
    def __init__(self, sessions: sessionmaker, objects: Objects, git: GitStore, *,
                 max_bytes: int = pickles.MAX_BYTES) -> None:
        self._sessions = sessions
        self._objects = objects
        self._git = git
        self._max_bytes = max_bytes
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    def _pool(self) -> ThreadPoolExecutor:
        # made on first use: a Hub opened by the CLI never starts a thread
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cove-scan")
            return self._executor

    # -- queueing -------------------------------------------------------------------------------

    def after_commit(self, repo: Repo, sha: str) -> None:
        """Queue the scans a new commit needs (returns at once; never raises)."""
        self._background(self._queue_revisions, repo.storage_key, [sha])

    def after_push(self, repo: Repo) -> None:
        """Queue the scans a push needs: every branch and tag head (returns at once; never raises)."""
        self._background(self._queue_revisions, repo.storage_key, None)

    def _background(self, fn, *args) -> None:
        try:
            self._pool().submit(fn, *args)
        except Exception:  # e.g. the interpreter is shutting down: the next look queues what is missing
            log.exception("could not queue a scan job")

    def _queue_revisions(self, key: str, shas: list[str] | None) -> None:
        try:
            git = self._git.open(key)
            if shas is None:
                shas = sorted(set(git.refs("refs/heads/").values()) | set(git.refs("refs/tags/").values()))
            entries = {content_id(e): e for sha in shas for e in git.list_tree(sha, recursive=True)
                       if e.type == "file" and wants_scan(e.path)}
            done = scans_of(self._sessions, entries, pickles.VERSION)
            for cid, entry in entries.items():
                if cid not in done:
                    self._submit(key, entry)
        except Exception:  # a repo deleted meanwhile, a broken ref: the next look queues what is missing
            log.exception("could not list the files to scan in %s", key)

    def _submit(self, key: str, entry: TreeEntry) -> None:
        cid = content_id(entry)
        with self._lock:
            if cid in self._pending:
                return
            self._pending.add(cid)
        try:
            self._pool().submit(self._run, key, entry)
        except Exception:
            log.exception("could not queue the scan of %s", entry.path)
            with self._lock:
                self._pending.discard(cid)

    def _run(self, key: str, entry: TreeEntry) -> None:
        cid = content_id(entry)
        try:
            result = self._scan(key, entry)
            if result is not None:
                save_scan(self._sessions, cid, status=result.status, message=result.message,
                          imports=[{"module": i.module, "name": i.name, "safety": i.safety} for i in result.imports],
                          version=pickles.VERSION)
        except Exception:
            log.exception("scanning %s (%s) failed", entry.path, cid)
        finally:
            with self._lock:
                self._pending.discard(cid)

    def _scan(self, key: str, entry: TreeEntry) -> pickles.PickleScan | None:
        if entry.lfs_oid is not None:
            stored = self._objects.locate(entry.lfs_oid)
            if stored is None:
                return None  # a pointer pushed before its content: scanned when looked at again
            with self._objects.open(stored) as f:
                return pickles.scan(f, max_bytes=self._max_bytes)
        if entry.size > self._max_bytes:
            return pickles.PickleScan("error", (), "too large to scan: the file is over the size limit")
        return pickles.scan(io.BytesIO(self._git.open(key).read_blob(entry.oid)), max_bytes=self._max_bytes)

    # -- reading --------------------------------------------------------------------------------

    def file_scans(self, repo: Repo, entries: list[TreeEntry]) -> dict[str, FileScan]:
        """``path -> FileScan`` for the scanned kinds of file among ``entries``; missing ones are queued."""
        scoped = [e for e in entries if e.type == "file" and wants_scan(e.path)]
        done = scans_of(self._sessions, (content_id(e) for e in scoped), pickles.VERSION)
        out: dict[str, FileScan] = {}
        for e in scoped:
            row = done.get(content_id(e))
            if row is None:
                self._submit(repo.storage_key, e)
                out[e.path] = QUEUED
            else:
                out[e.path] = FileScan(row.status, tuple(row.imports), row.message)
        return out

    def repo_status(self, repo: Repo, entries: list[TreeEntry]) -> RepoScanStatus:
        """A revision's status from all its files: done when none is queued; the files with issues."""
        scans = self.file_scans(repo, entries)
        issues = tuple(sorted((path, s.status) for path, s in scans.items() if s.status in ISSUES))
        return RepoScanStatus(all(s.status != "queued" for s in scans.values()), issues)
