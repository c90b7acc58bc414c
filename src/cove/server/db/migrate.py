"""Schema migrations: Alembic, configured here in code (no ``alembic.ini``), its scripts packaged in
``cove/server/db/migrations/versions``, one per schema change.

:func:`upgrade` runs at every start (``open_database``) and from ``cove db upgrade``. Two processes that
start together do not race: on PostgreSQL the migration holds a transaction-scoped advisory lock, on
SQLite a lock file next to the database and a ``BEGIN IMMEDIATE`` transaction (SQLite's DDL is
transactional too, so a migration that fails leaves the schema as it was, on both engines). The loser
waits, then finds the schema at the newest revision and does nothing.

A database made before migrations (by ``create_all``; a ``meta`` row ``schema_version`` = 1, no
``alembic_version`` table) needs no special step: the baseline revision creates only the tables it lacks,
so it joins the history there with its rows, and the later revisions run on it as on any other.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger("cove.db")

SCRIPTS = Path(__file__).with_name("migrations")
#: The key of the PostgreSQL advisory lock migrations hold (any fixed 64-bit number: "cove mig").
ADVISORY_LOCK = 0x636F7665_6D6967


def metadata() -> sa.MetaData:
    """Every table of the models (importing the modules that define some joins them to ``Base``)."""
    from cove.server.db import (  # noqa: F401
        Base,
        attachments,
        audit,
        buckets,
        collections,
        discussions,
        gating,
        notifications,
        repos,
        scans,
        signins,
        spaces,
        webhooks,
        xet,
    )

    return Base.metadata


def compare_type(context, inspected_column, metadata_column, inspected_type, metadata_type):
    """Autogenerate's type comparison, less one false difference: SQLite's INTEGER is 64 bits whatever it
    was declared as, so a model's BigInteger over an INTEGER column needs no migration there."""
    if context.dialect.name == "sqlite" and isinstance(inspected_type, sa.Integer) \
            and isinstance(metadata_type, sa.Integer):
        return False
    return None  # Alembic's own comparison


def _config(connection: Connection, secret_key: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.attributes["connection"] = connection
    cfg.attributes["secret_key"] = secret_key  # what migrations that seal values need (0008)
    return cfg


def head() -> str:
    """The newest revision this Cove knows."""
    return ScriptDirectory.from_config(_config(None)).get_current_head()


def known() -> set[str]:
    """Every revision this Cove knows."""
    return {script.revision for script in ScriptDirectory.from_config(_config(None)).walk_revisions()}


def _sqlite_file(engine: Engine) -> Path | None:
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:") \
            or url.database.startswith("file:"):
        return None
    return Path(url.database)


@contextlib.contextmanager
def _migration_connection(engine: Engine):
    """A connection in a transaction that holds the migration lock."""
    db_file = _sqlite_file(engine)
    if db_file is None:
        with engine.connect() as conn, conn.begin():
            if engine.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK})
            yield conn
        return
    from filelock import FileLock

    # pysqlite begins transactions itself, lazily and never before DDL: take that over on an engine of
    # this migration's own, so the whole migration is one BEGIN IMMEDIATE transaction (the write lock).
    own = sa.create_engine(engine.url, poolclass=sa.pool.NullPool, connect_args={"timeout": 30})

    @sa.event.listens_for(own, "connect")
    def _manual(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None
        dbapi_conn.execute("PRAGMA busy_timeout=30000")

    @sa.event.listens_for(own, "begin")
    def _immediate(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    db_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(f"{db_file}.migrate-lock"), own.connect() as conn, conn.begin():
            yield conn
    finally:
        own.dispose()


@dataclass(frozen=True)
class Status:
    current: str | None  # None: an empty database, or one made before migrations
    head: str
    legacy: bool  # made before migrations: tables but no revision

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def status(engine: Engine) -> Status:
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        legacy = current is None and sa.inspect(conn).has_table("accounts")
    return Status(current, head(), legacy)


def upgrade(engine: Engine, revision: str = "head", secret_key: str | None = None) -> Status:
    """Bring the schema to ``revision`` (default: the newest), under the migration lock. ``secret_key``:
    the Hub's secret, for the migrations that encrypt values with it."""
    with _migration_connection(engine) as conn:
        before = MigrationContext.configure(conn).get_current_revision()
        if before is None and sa.inspect(conn).has_table("accounts"):
            log.info("cove db: a database from before migrations: adopting it at the baseline, rows kept")
        command.upgrade(_config(conn, secret_key), revision)
        after = MigrationContext.configure(conn).get_current_revision()
    if after != before:
        log.info("cove db: schema upgraded from %s to %s", before or "(none)", after)
    return Status(after, head(), False)


def downgrade(engine: Engine, revision: str, secret_key: str | None = None) -> Status:
    """Take the schema back to ``revision`` (a failed deployment's rollback, and the tests that rebuild an
    older schema), under the migration lock. Data in what a downgrade drops is lost."""
    with _migration_connection(engine) as conn:
        command.downgrade(_config(conn, secret_key), revision)
        after = MigrationContext.configure(conn).get_current_revision()
    return Status(after, head(), False)
