"""The LFS objects each repo may reference (``lfs_objects``, ``repo_lfs``): recording them, listing a
repo's, and forgetting them when a repo's owner deletes them.

Recording is safe when clients race: two uploads of the same content at once (to one repo or two)
both insert the object, and the loser of the insert sees the winner's row and goes on.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from cove.server.db import LfsObject, RepoLfs

#: Bound parameters per query, well under SQLite's limit.
_BATCH = 500


def record_lfs_object(sessions: sessionmaker, repo_id: int, oid: str, size: int, sha1: str = "") -> None:
    """Record object ``oid`` and that repo ``repo_id`` may reference it (both may exist already)."""
    for attempt in range(3):
        try:
            with sessions.begin() as s:
                obj = s.get(LfsObject, oid)
                if obj is None:
                    s.add(LfsObject(oid=oid, size=size, sha1=sha1))
                    s.flush()
                elif sha1 and not obj.sha1:
                    obj.sha1 = sha1
                if s.get(RepoLfs, (repo_id, oid)) is None:
                    s.add(RepoLfs(repo_id=repo_id, oid=oid))
            return
        except IntegrityError:  # a concurrent upload of the same content inserted it first
            if attempt == 2:
                raise


def repo_lfs_objects(sessions: sessionmaker, repo_id: int) -> dict[str, tuple[int, datetime]]:
    """``{oid: (size, first stored)}`` of every object repo ``repo_id`` may reference."""
    with sessions() as s:
        rows = s.execute(select(LfsObject.oid, LfsObject.size, LfsObject.created_at)
                         .join(RepoLfs, RepoLfs.oid == LfsObject.oid).where(RepoLfs.repo_id == repo_id))
        return {oid: (size, created) for oid, size, created in rows}


def forget_repo_lfs(sessions: sessionmaker, repo_id: int, oids: Iterable[str]) -> None:
    """Repo ``repo_id`` may no longer reference ``oids`` (the objects themselves stay)."""
    oids = sorted(set(oids))
    with sessions.begin() as s:
        for i in range(0, len(oids), _BATCH):
            s.execute(delete(RepoLfs).where(RepoLfs.repo_id == repo_id, RepoLfs.oid.in_(oids[i:i + _BATCH])))


def restore_repo_lfs(sessions: sessionmaker, repo_id: int, oids: Iterable[str]) -> None:
    """Undo :func:`forget_repo_lfs` for ``oids`` whose object rows still exist."""
    for oid in sorted(set(oids)):
        with sessions.begin() as s:
            if s.get(LfsObject, oid) is not None and s.get(RepoLfs, (repo_id, oid)) is None:
                s.add(RepoLfs(repo_id=repo_id, oid=oid))


def drop_unreferenced(sessions: sessionmaker, oids: Iterable[str]) -> list[str]:
    """Delete the rows of those ``oids`` that no repo may reference any more; returns them (the caller
    removes their content, holding the store's lock so that no upload records them meanwhile)."""
    oids = sorted(set(oids))
    dropped: list[str] = []
    with sessions.begin() as s:
        for i in range(0, len(oids), _BATCH):
            part = oids[i:i + _BATCH]
            used = set(s.scalars(select(RepoLfs.oid).where(RepoLfs.oid.in_(part)).group_by(RepoLfs.oid)))
            free = [oid for oid in part if oid not in used]
            if free:
                s.execute(delete(LfsObject).where(LfsObject.oid.in_(free)))
            dropped += free
    return dropped


def lfs_bytes_by_repo(sessions: sessionmaker, repo_ids: Iterable[int]) -> dict[int, int]:
    """``{repo id: total size of the LFS objects it may reference}``."""
    ids = sorted(set(repo_ids))
    out: dict[int, int] = {}
    with sessions() as s:
        for i in range(0, len(ids), _BATCH):
            rows = s.execute(select(RepoLfs.repo_id, func.sum(LfsObject.size))
                             .join(LfsObject, LfsObject.oid == RepoLfs.oid)
                             .where(RepoLfs.repo_id.in_(ids[i:i + _BATCH])).group_by(RepoLfs.repo_id))
            out.update({repo_id: int(total or 0) for repo_id, total in rows})
    return out


def repo_lfs_object(sessions: sessionmaker, repo_id: int, oid: str) -> LfsObject | None:
    """The object ``oid`` if repo ``repo_id`` may reference it."""
    with sessions() as s:
        return s.execute(
            select(LfsObject).join(RepoLfs, RepoLfs.oid == LfsObject.oid)
            .where(RepoLfs.repo_id == repo_id, LfsObject.oid == oid)
        ).scalar()


def lfs_sha1(sessions: sessionmaker, oid: str) -> str | None:
    """The git blob sha1 recorded for object ``oid`` ("" if not computed yet), None if no such object."""
    with sessions() as s:
        row = s.get(LfsObject, oid)
        return row.sha1 if row else None


def oids_without_sha1(sessions: sessionmaker) -> list[str]:
    with sessions() as s:
        return list(s.scalars(select(LfsObject.oid).where(LfsObject.sha1 == "")))


def set_sha1(sessions: sessionmaker, oid: str, sha1: str) -> None:
    with sessions.begin() as s:
        row = s.get(LfsObject, oid)
        if row is not None:
            row.sha1 = sha1
