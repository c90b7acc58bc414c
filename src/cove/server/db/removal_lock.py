"""The blob store's removal lock on PostgreSQL: one advisory lock, shared by uploads, exclusive for
removals (see :class:`cove.server.storage.locks.RemovalLock`, which is given :func:`removal_lock`).

It is a *session* lock (``pg_advisory_lock_shared`` / ``pg_advisory_lock``) on a connection of its own
in autocommit, held until the block ends: a replica killed while holding it loses its connection and
PostgreSQL releases the lock with it, so no replica waits on a dead one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

import sqlalchemy as sa
from sqlalchemy.engine import Engine

#: The lock's 64-bit key: the first 8 bytes of sha256("cove-blob-removal").
REMOVAL_KEY = int.from_bytes(hashlib.sha256(b"cove-blob-removal").digest()[:8], "big", signed=True)


def has_advisory_locks(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


@contextmanager
def advisory_lock(engine: Engine, *, exclusive: bool, key: int = REMOVAL_KEY) -> Iterator[None]:
    """Hold advisory lock ``key``, shared or exclusive, for the block."""
    kind = "" if exclusive else "_shared"
    with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(sa.text(f"SELECT pg_advisory_lock{kind}(:key)"), {"key": key})
        try:
            yield
        finally:
            try:
                conn.execute(sa.text(f"SELECT pg_advisory_unlock{kind}(:key)"), {"key": key})
            except sa.exc.DBAPIError:
                conn.invalidate()  # closing the broken connection for good releases the lock
                raise


def removal_lock(engine: Engine):
    """The removal lock held in the database when it has advisory locks (PostgreSQL), else ``None`` (the
    blob store keeps its file lock): ``(exclusive=False) -> context manager``."""
    return partial(advisory_lock, engine) if has_advisory_locks(engine) else None
