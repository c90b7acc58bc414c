"""Security scans of file content: one row per content hash, whichever repos hold that content.

``content_id`` is the LFS sha256 of a file stored in LFS, or the git blob id of a file kept in git
(64 and 40 hex digits: the two never collide). A row from an older scanner ``version`` counts as
missing, so a change to the scanner's lists rescans content as it is next looked at.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import JSON, DateTime, Integer, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from cove.server.db import Base, utcnow


class SecurityScan(Base):
    __tablename__ = "security_scans"
    content_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # "safe" | "suspicious" | "error" | "unsafe"
    #: ``[{"module", "name", "safety"}]``, as the Hub's ``pickleImports``.
    imports: Mapped[list] = mapped_column(JSON, default=list)
    message: Mapped[str] = mapped_column(String(500), default="")
    version: Mapped[int] = mapped_column(Integer)
    scanned_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


def scans_of(sessions: sessionmaker, content_ids: Iterable[str], version: int) -> dict[str, SecurityScan]:
    """The stored scans (of this scanner ``version``) of ``content_ids``."""
    ids = sorted(set(content_ids))
    out: dict[str, SecurityScan] = {}
    if not ids:
        return out
    with sessions() as s:
        for i in range(0, len(ids), 500):  # under SQLite's bound-parameter limit
            rows = s.scalars(select(SecurityScan).where(SecurityScan.content_id.in_(ids[i:i + 500]),
                                                        SecurityScan.version == version))
            out.update((row.content_id, row) for row in rows)
    return out


def save_scan(sessions: sessionmaker, content_id: str, *, status: str, imports: list[dict], message: str,
              version: int) -> None:
    """Store (or replace) the scan of ``content_id``. Two replicas may scan the same content at once: the
    second to insert finds the first's row and replaces it."""
    for attempt in range(2):
        try:
            with sessions.begin() as s:
                s.merge(SecurityScan(content_id=content_id, status=status, imports=imports, message=message[:500],
                                     version=version, scanned_at=utcnow()))
            return
        except IntegrityError:
            if attempt:
                raise
