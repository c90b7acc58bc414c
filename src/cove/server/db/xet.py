"""Xet storage metadata: the files the CAS can reconstruct, which repos may reach them, and the
chunk index that answers global dedup queries. The xorbs themselves live in the blob store.

* ``xet_files``: one row per file ID (the Xet file hash): its size, its sha256 (computed by the
  server from the file's bytes, never taken from a client), and its terms (which chunks of which
  xorbs make it, packed, :func:`pack_terms`).
* ``xet_repo_files``: a file a repo may reach through the CAS and link in its commits, because a
  shard uploaded with a write token of that repo registered it (or it was copied to the repo).
  A repo may also reach the Xet form of any LFS object it may reference (``repo_lfs``).
* ``xet_chunks``: chunk hash -> the xorb holding it and a file using that xorb, for the dedup
  answers (first registration wins).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, LargeBinary, String, delete, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from cove.server.db import Base, LfsObject, Repo, RepoLfs, utcnow

_TERM = struct.Struct("<32sIII")  # xorb hash, first chunk, end chunk, raw bytes


class XetFile(Base):
    __tablename__ = "xet_files"
    file_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    terms: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class XetRepoFile(Base):
    __tablename__ = "xet_repo_files"
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    file_id: Mapped[str] = mapped_column(ForeignKey("xet_files.file_id"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class XetChunk(Base):
    __tablename__ = "xet_chunks"
    chunk: Mapped[str] = mapped_column(String(64), primary_key=True)
    xorb: Mapped[str] = mapped_column(String(64), index=True)
    #: A file whose terms use the xorb: a dedup answer also lists that file's other xorbs.
    file_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


@dataclass(frozen=True)
class NewFile:
    """A file to record: its ID and sha256 (hex), size and packed terms."""

    file_id: str
    sha256: str
    size: int
    terms: bytes


@dataclass(frozen=True)
class FileRef:
    """What a lookup by sha256 returns: enough to answer a HEAD, without the terms."""

    file_id: str
    sha256: str
    size: int


def pack_terms(terms: Iterable[tuple[bytes, int, int, int]]) -> bytes:
    return b"".join(_TERM.pack(*t) for t in terms)


def unpack_terms(data: bytes) -> list[tuple[bytes, int, int, int]]:
    return list(_TERM.iter_unpack(data))


def _chunks(items: list, n: int = 500):
    for i in range(0, len(items), n):  # a bounded number of SQL parameters per query
        yield items[i:i + n]


def record_files(sessions: sessionmaker, repo_id: int | None, files: Iterable[NewFile],
                 dedup: Iterable[tuple[str, str, str | None]] = (), *,
                 link: Callable[[Session, str], bool] | None = None) -> int:
    """Record files (known ones are kept as they are) and, for ``repo_id``, the right to reach them;
    add dedup entries ``(chunk, xorb, file)``. ``link(session, file_id)`` records that right elsewhere
    (a bucket, :mod:`cove.server.db.buckets`) and says whether it was new. One transaction; returns how
    many links or files were new."""
    files, dedup = list(files), list(dedup)
    for attempt in range(3):  # a concurrent writer may insert the same rows first
        try:
            with sessions.begin() as s:
                new = 0
                for f in files:
                    if s.get(XetFile, f.file_id) is None:
                        s.add(XetFile(file_id=f.file_id, sha256=f.sha256, size=f.size, terms=f.terms))
                        new += 1
                    if repo_id is not None and s.get(XetRepoFile, (repo_id, f.file_id)) is None:
                        s.add(XetRepoFile(repo_id=repo_id, file_id=f.file_id))
                        new += 1
                    if link is not None:
                        s.flush()
                        new += link(s, f.file_id)
                s.flush()
                seen = set()
                for batch in _chunks(sorted({c for c, _, _ in dedup})):
                    seen.update(s.scalars(select(XetChunk.chunk).where(XetChunk.chunk.in_(batch))))
                for chunk, xorb, file_id in dedup:
                    if chunk not in seen:
                        seen.add(chunk)
                        s.add(XetChunk(chunk=chunk, xorb=xorb, file_id=file_id))
                return new
        except IntegrityError:
            if attempt == 2:
                raise
    return 0


def known_files(sessions: sessionmaker, file_ids: Iterable[str]) -> dict[str, FileRef]:
    ids = sorted(set(file_ids))
    out: dict[str, FileRef] = {}
    with sessions() as s:
        for batch in _chunks(ids):
            rows = s.execute(select(XetFile.file_id, XetFile.sha256, XetFile.size)
                             .where(XetFile.file_id.in_(batch)))
            out.update({r.file_id: FileRef(r.file_id, r.sha256, r.size) for r in rows})
    return out


def file_terms(sessions: sessionmaker, file_id: str) -> tuple[FileRef, bytes] | None:
    with sessions() as s:
        row = s.get(XetFile, file_id)
        return None if row is None else (FileRef(row.file_id, row.sha256, row.size), row.terms)


def by_sha256(sessions: sessionmaker, oids: Iterable[str]) -> dict[str, FileRef]:
    """``{sha256: file}`` for the LFS objects among ``oids`` that have a Xet form (the first file ID
    in order if several chunkings of one content were uploaded)."""
    oids = sorted(set(oids))
    out: dict[str, FileRef] = {}
    with sessions() as s:
        for batch in _chunks(oids):
            rows = s.execute(select(XetFile.file_id, XetFile.sha256, XetFile.size)
                             .where(XetFile.sha256.in_(batch)).order_by(XetFile.file_id))
            for r in rows:
                out.setdefault(r.sha256, FileRef(r.file_id, r.sha256, r.size))
    return out


def repo_file_for(sessions: sessionmaker, repo_id: int, sha256: str) -> FileRef | None:
    """A file with this sha256 that a shard uploaded for ``repo_id`` registered (what a commit's
    ``lfsFile`` line may name)."""
    with sessions() as s:
        row = s.execute(select(XetFile.file_id, XetFile.sha256, XetFile.size)
                        .join(XetRepoFile, XetRepoFile.file_id == XetFile.file_id)
                        .where(XetRepoFile.repo_id == repo_id, XetFile.sha256 == sha256)
                        .order_by(XetFile.file_id).limit(1)).first()
    return None if row is None else FileRef(row.file_id, row.sha256, row.size)


def repo_may_read(sessions: sessionmaker, repo_id: int, file_id: str) -> bool:
    """Whether ``repo_id`` may reach ``file_id``: registered for it, or the Xet form of an LFS object
    it may reference."""
    with sessions() as s:
        linked = s.scalar(select(exists().where(XetRepoFile.repo_id == repo_id, XetRepoFile.file_id == file_id)))
        if linked:
            return True
        return bool(s.scalar(select(exists().where(
            RepoLfs.repo_id == repo_id, RepoLfs.oid == XetFile.sha256, XetFile.file_id == file_id))))


def unlink_sha256(sessions: sessionmaker, repo_id: int, oids: Iterable[str]) -> None:
    """``repo_id`` may no longer reach the Xet files of these sha256s through its own registrations (its
    LFS files were deleted); other repos keep theirs, and ``cove gc`` collects what nobody reaches."""
    oids = sorted(set(oids))
    with sessions.begin() as s:
        for batch in _chunks(oids):
            ids = select(XetFile.file_id).where(XetFile.sha256.in_(batch))
            s.execute(delete(XetRepoFile).where(XetRepoFile.repo_id == repo_id, XetRepoFile.file_id.in_(ids)))


def link_objects(sessions: sessionmaker, repo_id: int, objects: dict[str, int]) -> None:
    """Let ``repo_id`` reference these LFS objects ``{sha256: size}`` (a cross-repo copy)."""
    with sessions.begin() as s:
        for oid, size in objects.items():
            if s.get(LfsObject, oid) is None:
                s.add(LfsObject(oid=oid, size=size))
            if s.get(RepoLfs, (repo_id, oid)) is None:
                s.add(RepoLfs(repo_id=repo_id, oid=oid))


def find_chunk(sessions: sessionmaker, chunk: str) -> tuple[str, str | None] | None:
    """``(xorb, file)`` indexed under a chunk hash, or None."""
    with sessions() as s:
        row = s.get(XetChunk, chunk)
        return None if row is None else (row.xorb, row.file_id)


def repo_by_key(sessions: sessionmaker, storage_key: str) -> Repo | None:
    with sessions() as s:
        return s.scalar(select(Repo).where(Repo.storage_key == storage_key))


def all_files(sessions: sessionmaker) -> Iterable[tuple[str, str, datetime, bytes]]:
    """``(file_id, sha256, created_at, terms)`` of every recorded file (garbage collection)."""
    with sessions() as s:
        yield from s.execute(select(XetFile.file_id, XetFile.sha256, XetFile.created_at, XetFile.terms))


def newest_links(sessions: sessionmaker) -> dict[str, datetime]:
    """``{file_id: when a repo last got it}`` (garbage collection: recent registrations are in flight)."""
    from sqlalchemy import func

    with sessions() as s:
        return dict(s.execute(select(XetRepoFile.file_id, func.max(XetRepoFile.created_at))
                              .group_by(XetRepoFile.file_id)).all())


def forget(sessions: sessionmaker, file_ids: Iterable[str], xorbs: Iterable[str]) -> None:
    """Drop file records and the dedup entries of deleted xorbs (garbage collection)."""
    from sqlalchemy import delete

    with sessions.begin() as s:
        for batch in _chunks(sorted(set(file_ids))):
            s.execute(delete(XetRepoFile).where(XetRepoFile.file_id.in_(batch)))
            s.execute(delete(XetFile).where(XetFile.file_id.in_(batch)))
        for batch in _chunks(sorted(set(xorbs))):
            s.execute(delete(XetChunk).where(XetChunk.xorb.in_(batch)))
