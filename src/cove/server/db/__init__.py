"""The Hub's metadata database: the only place SQL (through SQLAlchemy) is written.

Accounts (users and organizations share one namespace), memberships, access tokens (stored as
sha256 hashes), web sessions, repos, likes and the LFS objects each repo may reference. Git
content lives in git; this holds what git does not.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker, validates


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Account(Base):
    """A user or an organization; both own repos under their ``name``."""

    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(96), unique=True, index=True)
    kind: Mapped[str] = mapped_column(String(8))  # "user" | "org"
    fullname: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(300), default="")
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class OrgSettings(Base):
    """An organization's settings: ``private_by_default`` makes the repos and buckets created in it
    without a visibility private (the Hub's Enterprise setting)."""

    __tablename__ = "org_settings"
    org_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    private_by_default: Mapped[bool] = mapped_column(Boolean, default=False)


class Membership(Base):
    __tablename__ = "memberships"
    org_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(8))  # "read" | "write" | "admin"


class Token(Base):
    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    role: Mapped[str] = mapped_column(String(8))  # "read" | "write"
    prefix: Mapped[str] = mapped_column(String(16))  # first characters, to recognise it in the UI
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class WebSession(Base):
    __tablename__ = "web_sessions"
    session_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class Repo(Base):
    __tablename__ = "repos"
    __table_args__ = (UniqueConstraint("type", "namespace", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(8))
    namespace: Mapped[str] = mapped_column(String(96), index=True)
    name: Mapped[str] = mapped_column(String(96))
    #: Folder of the bare git repo under ``<data_dir>/git``; fixed at creation, so a move is a rename
    #: in this table only.
    storage_key: Mapped[str] = mapped_column(String(64), unique=True)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    gated: Mapped[str] = mapped_column(String(8), default="")  # "" | "auto" | "manual"
    sdk: Mapped[str] = mapped_column(String(16), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_modified: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    downloads: Mapped[int] = mapped_column(Integer, default=0)
    likes: Mapped[int] = mapped_column(Integer, default=0)
    #: Read from the default branch's README.md front matter at each commit to it.
    card_data: Mapped[dict] = mapped_column(JSON, default=dict)
    tags: Mapped[list] = mapped_column(JSON, default=list)
    pipeline_tag: Mapped[str] = mapped_column(String(64), default="")
    library_name: Mapped[str] = mapped_column(String(64), default="")
    head_sha: Mapped[str] = mapped_column(String(40), default="")

    @property
    def repo_id(self) -> str:
        return f"{self.namespace}/{self.name}"

    @validates("pipeline_tag", "library_name")
    def _bounded(self, key: str, value: str) -> str:
        """Free text from a README's front matter, cut to the column: PostgreSQL refuses a longer value
        (SQLite would keep it), which would fail the commit that wrote the README."""
        return value[:64]


class Like(Base):
    __tablename__ = "likes"
    user_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)


class LfsObject(Base):
    """A blob in the content store; ``sha1`` is its git blob id, for preupload's ``oid``."""

    __tablename__ = "lfs_objects"
    oid: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    sha1: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class RepoLfs(Base):
    """An LFS object a repo may reference: uploaded to it or committed in it. Keeps a user who
    learned an oid from someone else's private repo from committing (and so reading) it."""

    __tablename__ = "repo_lfs"
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    oid: Mapped[str] = mapped_column(ForeignKey("lfs_objects.oid"), primary_key=True)


class Meta(Base):
    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


#: Seconds a new connection keeps trying to put a busy SQLite database in WAL mode.
WAL_WAIT = 30.0


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=30000")
    # Switching a new database to WAL needs it to itself, and SQLite answers "database is locked" at
    # once, without its busy handler, when another process has it open: processes that start together
    # on one data dir (replicas, `cove` commands next to a starting server) try again.
    deadline = time.monotonic() + WAL_WAIT
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str) -> Engine:
    kwargs: dict = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def connect(url: str) -> sessionmaker:
    """The session factory of an existing database, creating nothing: for short-lived processes such
    as the push hook."""
    return sessionmaker(make_engine(url), expire_on_commit=False)


def open_database(url: str, secret_key: str | None = None) -> sessionmaker:
    """Connect, bring the schema to the newest migration (:mod:`cove.server.db.migrate`: creating it in a
    new database, upgrading an older one with its rows; ``secret_key`` for the migrations that encrypt
    values), and return the session factory."""
    from cove.server.db import migrate

    engine = make_engine(url)
    migrate.upgrade(engine, secret_key=secret_key)
    return sessionmaker(engine, expire_on_commit=False)


def lfs_sizes(sessions: sessionmaker, storage_key: str, oids: Iterable[str]) -> dict[str, int]:
    """``{oid: recorded size}`` for the LFS objects among ``oids`` that the repo stored under
    ``storage_key`` may reference (a RepoLfs row: uploaded to it or committed in it)."""
    oids = sorted(set(oids))
    out: dict[str, int] = {}
    with sessions() as s:
        for i in range(0, len(oids), 500):  # a bounded number of SQL parameters per query
            rows = s.execute(
                select(LfsObject.oid, LfsObject.size)
                .join(RepoLfs, RepoLfs.oid == LfsObject.oid)
                .join(Repo, Repo.id == RepoLfs.repo_id)
                .where(Repo.storage_key == storage_key, LfsObject.oid.in_(oids[i:i + 500]))
            )
            out.update({oid: size for oid, size in rows})
    return out
