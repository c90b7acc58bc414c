"""Per-repo write locks held in PostgreSQL, for several Hub replicas on one database.

A commit moves a branch under its repo's lock (:data:`cove.server.storage.git.RepoLock`). On one machine
a file lock does; replicas on several machines share the git repos through a volume whose ``flock`` may
not reach across them (NFS, CephFS and SMB each differ), but they all reach the database. So there the
lock is a *session* advisory lock, ``pg_advisory_lock(key)``, taken on a connection of its own and
held until the ref has moved: a replica killed while holding it loses its connection, and PostgreSQL
releases the lock with it, so nobody waits on a dead replica.

The 64-bit key is the first 8 bytes of sha256 over ``cove-repo:<storage key>``: storage keys are fixed at
creation, so a renamed repo keeps its lock. A different repo mapping to the same key (odds of 2^-64
per pair) would only make two repos' commits wait for each other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cove.errors import Conflict


def lock_key(storage_key: str) -> int:
    """The signed 64-bit advisory lock key of the repo stored under ``storage_key``."""
    return int.from_bytes(hashlib.sha256(f"cove-repo:{storage_key}".encode()).digest()[:8], "big", signed=True)


class AdvisoryLocks:
    """A :data:`~cove.server.storage.git.RepoLock` on PostgreSQL advisory locks (see the module docstring).

    The locks have a pool of connections of their own (in autocommit: none holds a transaction while it
    waits or holds a lock), so that commits queued on one busy repo never take the connections every
    other request needs. A wait past ``wait_seconds`` (a holder that hangs) is a 409 to try again.
    """

    def __init__(self, engine: Engine, *, wait_seconds: int = 120, max_waiting: int = 64) -> None:
        self._engine = sa.create_engine(engine.url, isolation_level="AUTOCOMMIT", pool_size=2,
                                        max_overflow=max_waiting, pool_pre_ping=True)
        self._wait_ms = wait_seconds * 1000

    @contextmanager
    def __call__(self, storage_key: str) -> Iterator[None]:
        key = lock_key(storage_key)
        with self._engine.connect() as conn:
            conn.execute(sa.text(f"SET lock_timeout = {int(self._wait_ms)}"))
            try:
                conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": key})
            except sa.exc.OperationalError as err:
                raise Conflict("Another commit to this repo has held its lock for too long: try again") from err
            try:
                yield
            finally:
                try:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                except sa.exc.DBAPIError:
                    # the connection broke: closing it for good is what releases the lock
                    conn.invalidate()
                    raise


def repo_locks(engine: Engine) -> AdvisoryLocks | None:
    """The database's repo locks when it has them (PostgreSQL), else ``None`` (keep the file locks)."""
    return AdvisoryLocks(engine) if engine.dialect.name == "postgresql" else None
