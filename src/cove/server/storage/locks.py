"""The blob store's removal lock: a removal of LFS objects never races an upload of the same content.

An upload holds it shared from storing an object until the database says which repo may use it; a
removal holds it exclusively from checking that no repo may until the object is gone. With one
machine (SQLite) it is an ``flock`` on a file in the data dir; on PostgreSQL, where several replicas
may share one bucket, it is an advisory lock in the database (:mod:`cove.server.db.removal_lock`),
which every replica reaches and which dies with the connection of a replica that dies.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import Engine

from cove.server.db.removal_lock import advisory_lock, has_advisory_locks


class RemovalLock:
    def __init__(self, engine: Engine | None, lock_file: Path) -> None:
        self._engine = engine
        self._file = lock_file

    @contextmanager
    def __call__(self, *, exclusive: bool = False) -> Iterator[None]:
        """Hold the lock: shared (an upload) or ``exclusive`` (a removal)."""
        if self._engine is not None and has_advisory_locks(self._engine):
            with advisory_lock(self._engine, exclusive=exclusive):
                yield
            return
        with open(self._file, "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
