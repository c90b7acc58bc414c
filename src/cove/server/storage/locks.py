"""The per-repo write lock a commit holds while it moves a ref, as the git store takes it: injected.

:data:`RepoLock` is what :class:`~cove.server.storage.git.GitStore` is given. :class:`FileLocks`, the
default, is ``flock`` on a file per repo: it holds across the threads and processes of one machine
(SQLite's setup, or ``cove serve --workers N``). Replicas on several machines share the repos through a
volume whose ``flock`` may not reach across them, so on PostgreSQL the service layer passes a lock held in
the database instead (:class:`cove.server.db.locks.AdvisoryLocks`): this package never imports the
database.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

#: ``key -> context manager``: an exclusive lock on the refs of the repo stored under ``key``, across
#: threads, processes and (for the database's) replicas, held while a commit moves a ref.
RepoLock = Callable[[str], AbstractContextManager[None]]


class FileLocks:
    """:data:`RepoLock` as ``flock`` on ``<folder>/<key>.lock``."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def __call__(self, key: str) -> Iterator[None]:
        with open(self.folder / f"{key}.lock", "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)


#: ``(exclusive=False) -> context manager``: the blob store's removal lock held elsewhere (the database's
#: advisory lock on PostgreSQL, :func:`cove.server.db.removal_lock.removal_lock`), injected like RepoLock.
SharedRemovalLock = Callable[..., AbstractContextManager[None]]


class RemovalLock:
    """The blob store's removal lock: a removal of LFS objects never races an upload of the same content.

    An upload holds it shared from storing an object until the database says which repo may use it; a
    removal holds it exclusively from checking that no repo may until the object is gone. With one
    machine (SQLite) it is an ``flock`` on ``lock_file``; on PostgreSQL, where several replicas may share
    one bucket, the service layer passes the database's lock as ``elsewhere``, which every replica reaches
    and which dies with the connection of a replica that dies."""

    def __init__(self, lock_file: Path, elsewhere: SharedRemovalLock | None = None) -> None:
        self._file = lock_file
        self._elsewhere = elsewhere

    @contextmanager
    def __call__(self, *, exclusive: bool = False) -> Iterator[None]:
        """Hold the lock: shared (an upload) or ``exclusive`` (a removal)."""
        if self._elsewhere is not None:
            with self._elsewhere(exclusive=exclusive):
                yield
            return
        with open(self._file, "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
