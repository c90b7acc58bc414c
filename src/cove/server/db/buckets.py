"""Storage buckets: mutable, unversioned folders of Xet files in the namespaces of users and orgs.

* ``buckets``: one row per bucket. ``storage_key`` is fixed at creation and never reused: Xet access
  tokens name the bucket by it, so a token survives a move and dies with the bucket.
* ``bucket_files``: a bucket's files: path -> Xet file ID (``xet_files``), its size (the server's own,
  from the file record, never a client's), the client's ``mtime`` (milliseconds since the epoch) and
  when it was written. A path is unique within its bucket; writing it again replaces it.
* ``bucket_xet_files``: the Xet files a shard uploaded with a write token of the bucket registered:
  what a batch's ``addFile`` may name. Files the bucket holds may be named again too (and read).

Names are matched case-insensitively (``alice/Data`` is ``alice/data``) in one query whatever the
spelling, so a bucket that is hidden from the caller costs what a missing one costs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    and_,
    delete,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from cove.server.db import Account, Base, Membership, utcnow
from cove.server.db.xet import NewFile, XetFile, record_files


class Bucket(Base):
    __tablename__ = "buckets"
    __table_args__ = (UniqueConstraint("namespace", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    namespace: Mapped[str] = mapped_column(String(96), index=True)
    name: Mapped[str] = mapped_column(String(96))
    storage_key: Mapped[str] = mapped_column(String(64), unique=True)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    @property
    def bucket_id(self) -> str:
        return f"{self.namespace}/{self.name}"


class BucketFileRow(Base):
    __tablename__ = "bucket_files"
    __table_args__ = (Index("ix_bucket_files_bucket_file", "bucket_id", "file_id"),)
    bucket_id: Mapped[int] = mapped_column(ForeignKey("buckets.id", ondelete="CASCADE"), primary_key=True)
    #: Compared by bytes on every engine (ordered listings resume after a path): SQLite's BINARY, "C" here.
    path: Mapped[str] = mapped_column(String(4096).with_variant(String(4096, collation="C"), "postgresql"),
                                      primary_key=True)
    file_id: Mapped[str] = mapped_column(ForeignKey("xet_files.file_id"))
    size: Mapped[int] = mapped_column(BigInteger)
    mtime: Mapped[int] = mapped_column(BigInteger)
    uploaded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class BucketXetFile(Base):
    __tablename__ = "bucket_xet_files"
    bucket_id: Mapped[int] = mapped_column(ForeignKey("buckets.id", ondelete="CASCADE"), primary_key=True)
    file_id: Mapped[str] = mapped_column(ForeignKey("xet_files.file_id", ondelete="CASCADE"), primary_key=True,
                                         index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


@dataclass(frozen=True)
class FileEntry:
    """A file of a bucket."""

    path: str
    file_id: str
    size: int
    mtime: int  # milliseconds since the epoch
    uploaded_at: datetime


@dataclass(frozen=True)
class Stats:
    size: int = 0
    files: int = 0


def _same_name(ns: str, name: str):
    return func.lower(Bucket.namespace) == ns.lower(), func.lower(Bucket.name) == name.lower()


def _chunks(items: list, n: int = 500):
    for i in range(0, len(items), n):  # a bounded number of SQL parameters per query
        yield items[i:i + n]


# -- buckets -----------------------------------------------------------------------------------------


def bucket_and_role(sessions: sessionmaker, ns: str, name: str,
                    user_id: int | None) -> tuple[Bucket, int | None, str | None] | None:
    """``(bucket, id of its namespace's account, the user's role in that org)`` for ``ns/name`` in any
    case, or None."""
    q = (select(Bucket, Account.id, Membership.role)
         .outerjoin(Account, Account.name == Bucket.namespace)
         .outerjoin(Membership, and_(Membership.org_id == Account.id, Membership.user_id == (user_id or 0)))
         .where(*_same_name(ns, name)).order_by(Bucket.id).limit(1))
    with sessions() as s:
        row = s.execute(q).first()
    return None if row is None else (row[0], row[1], row[2])


def bucket_by_key(sessions: sessionmaker, storage_key: str) -> Bucket | None:
    with sessions() as s:
        return s.scalar(select(Bucket).where(Bucket.storage_key == storage_key))


def bucket_by_id(sessions: sessionmaker, bucket_id: int) -> Bucket | None:
    with sessions() as s:
        return s.get(Bucket, bucket_id)


def create_bucket(sessions: sessionmaker, ns: str, name: str, *, private: bool, storage_key: str) -> Bucket | None:
    """A new bucket, or None when one of that name (in any case) exists; the existing one is then
    :func:`bucket_and_role`'s to find."""
    try:
        with sessions.begin() as s:
            if s.scalar(select(exists().where(*_same_name(ns, name)))):
                return None
            bucket = Bucket(namespace=ns, name=name, private=private, storage_key=storage_key)
            s.add(bucket)
            s.flush()
            return bucket
    except IntegrityError:  # created meanwhile
        return None


def delete_bucket(sessions: sessionmaker, bucket_id: int) -> None:
    """The bucket and its records (files, registrations); the content stays for ``cove gc``."""
    with sessions.begin() as s:
        s.execute(delete(BucketFileRow).where(BucketFileRow.bucket_id == bucket_id))
        s.execute(delete(BucketXetFile).where(BucketXetFile.bucket_id == bucket_id))
        s.execute(delete(Bucket).where(Bucket.id == bucket_id))


def rename_bucket(sessions: sessionmaker, bucket_id: int, ns: str, name: str) -> Bucket | None:
    """The moved bucket, or None when another bucket has that name (in any case)."""
    try:
        with sessions.begin() as s:
            if s.scalar(select(exists().where(*_same_name(ns, name), Bucket.id != bucket_id))):
                return None
            row = s.get(Bucket, bucket_id)
            row.namespace, row.name = ns, name
            return row
    except IntegrityError:
        return None


def set_private(sessions: sessionmaker, bucket_id: int, private: bool) -> None:
    with sessions.begin() as s:
        row = s.get(Bucket, bucket_id)
        if row is not None:
            row.private = private
            row.updated_at = utcnow()


def visible_buckets(sessions: sessionmaker, namespace: str, *, user_id: int | None, user_name: str | None,
                    admin: bool, search: str | None, offset: int, limit: int) -> list[Bucket]:
    """The buckets of ``namespace`` a caller may see (anonymous: ``user_id`` None) whose name holds
    ``search``, oldest first, from ``offset`` on, at most ``limit``."""
    q = select(Bucket).where(func.lower(Bucket.namespace) == namespace.lower())
    if user_id is None:
        q = q.where(Bucket.private.is_(False))
    elif not admin:
        member_of = select(Account.name).join(Membership, Membership.org_id == Account.id).where(
            Membership.user_id == user_id)
        q = q.where(or_(Bucket.private.is_(False), Bucket.namespace == user_name, Bucket.namespace.in_(member_of)))
    if search:
        q = q.where(func.lower(Bucket.name).contains(search.lower(), autoescape=True))
    with sessions() as s:
        return list(s.scalars(q.order_by(Bucket.id).offset(offset).limit(limit)))


def stats(sessions: sessionmaker, bucket_ids: Iterable[int]) -> dict[int, Stats]:
    """``{bucket: (total bytes, file count)}``."""
    ids = sorted(set(bucket_ids))
    out = {i: Stats() for i in ids}
    with sessions() as s:
        for batch in _chunks(ids):
            rows = s.execute(select(BucketFileRow.bucket_id, func.coalesce(func.sum(BucketFileRow.size), 0),
                                    func.count()).where(BucketFileRow.bucket_id.in_(batch))
                             .group_by(BucketFileRow.bucket_id))
            out.update({b: Stats(int(size), int(n)) for b, size, n in rows})
    return out


# -- files -------------------------------------------------------------------------------------------


def _entry(row) -> FileEntry:
    return FileEntry(row.path, row.file_id, row.size, row.mtime, row.uploaded_at)


_FILE_COLUMNS = (BucketFileRow.path, BucketFileRow.file_id, BucketFileRow.size, BucketFileRow.mtime,
                 BucketFileRow.uploaded_at)


def _below(folder: str):
    """The SQL condition: a path below ``folder`` (exactly: ``substr``, not ``LIKE``, which SQLite folds)."""
    return func.substr(BucketFileRow.path, 1, len(folder) + 1) == folder + "/"


def files_under(sessions: sessionmaker, bucket_id: int, folder: str, *, start: str = "", strict: bool = True,
                limit: int | None = None) -> list[FileEntry]:
    """The files below ``folder`` ('': all) by path, from ``start`` on (``strict``: after it), at most
    ``limit``."""
    q = select(*_FILE_COLUMNS).where(BucketFileRow.bucket_id == bucket_id)
    if folder:
        q = q.where(_below(folder))
    if start:
        q = q.where(BucketFileRow.path > start if strict else BucketFileRow.path >= start)
    q = q.order_by(BucketFileRow.path)
    if limit is not None:
        q = q.limit(limit)
    with sessions() as s:
        return [_entry(r) for r in s.execute(q)]


def folder_time(sessions: sessionmaker, bucket_id: int, folder: str) -> datetime | None:
    """When a file below ``folder`` was last written."""
    with sessions() as s:
        return s.scalar(select(func.max(BucketFileRow.uploaded_at)).where(
            BucketFileRow.bucket_id == bucket_id, _below(folder)))


def files_at(sessions: sessionmaker, bucket_id: int, paths: Iterable[str]) -> list[FileEntry]:
    """The files at these paths (those that exist), by path."""
    out: list[FileEntry] = []
    with sessions() as s:
        for batch in _chunks(sorted(set(paths))):
            out += [_entry(r) for r in s.execute(select(*_FILE_COLUMNS).where(
                BucketFileRow.bucket_id == bucket_id, BucketFileRow.path.in_(batch)))]
    return sorted(out, key=lambda e: e.path)


def held_files(sessions: sessionmaker, bucket_id: int, file_ids: Iterable[str], *,
               uploads: bool = True) -> set[str]:
    """Of ``file_ids``, those the bucket holds at some path or (``uploads``) that a shard uploaded for it
    registered."""
    ids = sorted(set(file_ids))
    out: set[str] = set()
    with sessions() as s:
        for batch in _chunks(ids):
            out.update(s.scalars(select(BucketFileRow.file_id).where(
                BucketFileRow.bucket_id == bucket_id, BucketFileRow.file_id.in_(batch))))
            if uploads:
                out.update(s.scalars(select(BucketXetFile.file_id).where(
                    BucketXetFile.bucket_id == bucket_id, BucketXetFile.file_id.in_(batch))))
    return out


def bucket_may_read(sessions: sessionmaker, bucket_id: int, file_id: str) -> bool:
    """Whether a Xet token of the bucket may reconstruct ``file_id``: the bucket holds it or uploaded it."""
    return bool(held_files(sessions, bucket_id, [file_id]))


@dataclass(frozen=True)
class Write:
    """A file to write at ``path`` (``file_id`` None: delete the path)."""

    path: str
    file_id: str | None = None
    mtime: int = 0


def write_files(sessions: sessionmaker, bucket_id: int, writes: list[Write], *,
                max_files: int) -> list[tuple[str, str]]:
    """Apply writes in order, in one transaction: ``(path, why)`` of those refused (a file where a
    folder is, or the reverse; the bucket full). Sizes come from the file records."""
    refused: list[tuple[str, str]] = []
    with sessions.begin() as s:
        bucket = s.get(Bucket, bucket_id, with_for_update=True)
        if bucket is None:
            return [(w.path, "the bucket no longer exists") for w in writes]
        count = s.scalar(select(func.count()).where(BucketFileRow.bucket_id == bucket_id)) or 0
        sizes: dict[str, int] = {}
        for batch in _chunks(sorted({w.file_id for w in writes if w.file_id})):
            sizes.update(s.execute(select(XetFile.file_id, XetFile.size).where(XetFile.file_id.in_(batch))).all())
        now = utcnow()
        for w in writes:
            row = s.get(BucketFileRow, (bucket_id, w.path))
            if w.file_id is None:
                if row is not None:
                    s.delete(row)
                    s.flush()
                    count -= 1
                continue
            if w.file_id not in sizes:
                refused.append((w.path, "this Xet file is no longer stored"))
                continue
            if row is None:
                clash = _clash(s, bucket_id, w.path)
                if clash is not None:
                    refused.append((w.path, clash))
                    continue
                if count >= max_files:
                    refused.append((w.path, f"a bucket holds at most {max_files} files"))
                    continue
                s.add(BucketFileRow(bucket_id=bucket_id, path=w.path, file_id=w.file_id, size=sizes[w.file_id],
                                    mtime=w.mtime, uploaded_at=now))
                s.flush()
                count += 1
            else:
                row.file_id, row.size, row.mtime, row.uploaded_at = w.file_id, sizes[w.file_id], w.mtime, now
        bucket.updated_at = now
    return refused


def _clash(s: Session, bucket_id: int, path: str) -> str | None:
    """Why a new file cannot be at ``path`` (a file holds one of its folders, or it is a folder), or None."""
    parts = path.split("/")
    folders = ["/".join(parts[:i]) for i in range(1, len(parts))]
    if folders:
        file = s.scalar(select(BucketFileRow.path).where(BucketFileRow.bucket_id == bucket_id,
                                                         BucketFileRow.path.in_(folders)).limit(1))
        if file is not None:
            return f"'{file}' is a file, so it cannot hold files"
    if s.scalar(select(exists().where(BucketFileRow.bucket_id == bucket_id, _below(path)))):
        return f"'{path}' is a folder: delete its files first"
    return None


# -- Xet registrations and garbage collection ----------------------------------------------------------


def record_bucket_files(sessions: sessionmaker, bucket_id: int, files: list[NewFile],
                        dedup: list[tuple[str, str, str | None]]) -> int:
    """Record a shard's files (:func:`cove.server.db.xet.record_files`) and register them for the bucket."""

    def link(s: Session, file_id: str) -> bool:
        row = s.get(BucketXetFile, (bucket_id, file_id))
        if row is None:
            s.add(BucketXetFile(bucket_id=bucket_id, file_id=file_id))
            return True
        row.created_at = utcnow()  # registered again: in flight again, for gc's grace period
        return False

    return record_files(sessions, None, files, dedup, link=link)


def live_files(sessions: sessionmaker) -> set[str]:
    """The Xet files some bucket holds (garbage collection)."""
    with sessions() as s:
        return set(s.scalars(select(BucketFileRow.file_id).distinct()))


def newest_registrations(sessions: sessionmaker) -> dict[str, datetime]:
    """``{file_id: when a bucket last registered it}`` (garbage collection: an upload in flight)."""
    with sessions() as s:
        return dict(s.execute(select(BucketXetFile.file_id, func.max(BucketXetFile.created_at))
                              .group_by(BucketXetFile.file_id)).all())
