"""Notifications in the web UI: one row per user per thing that concerns them (a new discussion or pull
request on their repo, a reply where they took part, a mention, an access request on their repo)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from cove.server.db import Account, Base, Repo, utcnow


class Notification(Base):
    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # discussion | pull_request | reply | mention | access_request
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), index=True)
    num: Mapped[int] = mapped_column(Integer, default=0)  # the discussion's number (0: none)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    read: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


def add(s: Session, **fields) -> None:
    s.add(Notification(**fields))


def unread_count(s: Session, user_id: int) -> int:
    return s.scalar(select(func.count()).where(Notification.user_id == user_id, Notification.read.is_(False))) or 0


def latest(s: Session, user_id: int, limit: int) -> list[tuple[Notification, Repo, str | None]]:
    """The user's newest notifications with their repo and the actor's name."""
    rows = s.execute(select(Notification, Repo, Account.name).join(Repo, Repo.id == Notification.repo_id)
                     .outerjoin(Account, Account.id == Notification.actor_id)
                     .where(Notification.user_id == user_id)
                     .order_by(Notification.id.desc()).limit(limit))
    return [(n, r, a) for n, r, a in rows]


def mark_read(s: Session, user_id: int, ids: list[int] | None) -> int:
    """Mark the user's notifications ``ids`` (None: all) read; returns how many changed."""
    query = update(Notification).where(Notification.user_id == user_id, Notification.read.is_(False))
    if ids is not None:
        query = query.where(Notification.id.in_(ids))
    return s.execute(query.values(read=True)).rowcount or 0
