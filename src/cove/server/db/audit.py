"""The audit log of security events: sign-ins, tokens, repo visibility, deletions and moves,
organizations and admin overrides. Rows are only ever added; nothing here updates or deletes one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import JSON, DateTime, Integer, String, func, select
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from cove.server.db import Base


class AuditEvent(Base):
    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)  # UTC
    action: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[str | None] = mapped_column(String(96), nullable=True, index=True)
    ip: Mapped[str] = mapped_column(String(64), default="")
    target: Mapped[str] = mapped_column(String(300), default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


@dataclass(frozen=True)
class AuditQuery:
    """Which events: ``action`` is exact, or a prefix when it ends in ``*`` (``repo.*``)."""

    since: datetime | None = None
    action: str | None = None
    actor: str | None = None


def add_event(sessions: sessionmaker, *, at: datetime, action: str, actor: str | None, ip: str, target: str,
              detail: dict) -> None:
    with sessions.begin() as s:
        s.add(AuditEvent(at=at, action=action, actor=actor, ip=ip, target=target, detail=detail))


def find_events(sessions: sessionmaker, query: AuditQuery, *, limit: int, offset: int = 0,
                newest_first: bool = True) -> list[AuditEvent]:
    q = select(AuditEvent)
    if query.since is not None:
        q = q.where(AuditEvent.at >= query.since)
    if query.action:
        if query.action.endswith("*"):
            # substr, not LIKE: SQLite's LIKE folds case, PostgreSQL's does not
            prefix = query.action[:-1]
            q = q.where(func.substr(AuditEvent.action, 1, len(prefix)) == prefix)
        else:
            q = q.where(AuditEvent.action == query.action)
    if query.actor:
        q = q.where(AuditEvent.actor == query.actor)
    q = q.order_by(AuditEvent.id.desc() if newest_first else AuditEvent.id.asc()).offset(offset).limit(limit)
    with sessions() as s:
        return list(s.scalars(q))
