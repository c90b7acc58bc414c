"""Failed sign-ins, shared by every replica: one row per failure, by key (``user:<name>``, ``ip:<addr>``).

Rows older than the sign-in window count for nothing; each attempt removes its keys' old rows, and the
housekeeping sweep (:func:`prune`) the rows of keys nobody tries again. Times are Unix seconds from each
replica's clock (replicas keep their clocks in step with NTP; a skew of a few seconds shifts a window of
minutes by that much).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Float, Index, Integer, String, delete, select
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from cove.server.db import Base


class SigninFailure(Base):
    __tablename__ = "signin_failures"
    __table_args__ = (Index("ix_signin_failures_key_at", "key", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(300))
    at: Mapped[float] = mapped_column(Float)


def add_failures(sessions: sessionmaker, keys: Iterable[str], at: float, *, since: float) -> list[int]:
    """Count a failure at ``at`` for each of ``keys`` (committed at once, so that every replica sees it),
    dropping their failures older than ``since``; the new rows' ids."""
    keys = list(keys)
    with sessions.begin() as s:
        s.execute(delete(SigninFailure).where(SigninFailure.key.in_(keys), SigninFailure.at < since))
        rows = [SigninFailure(key=key, at=at) for key in keys]
        s.add_all(rows)
        s.flush()
        return [row.id for row in rows]


def failure_times(sessions: sessionmaker, key: str, since: float) -> list[float]:
    """The times of ``key``'s failures since ``since``, oldest first."""
    with sessions() as s:
        return list(s.scalars(select(SigninFailure.at).where(SigninFailure.key == key, SigninFailure.at >= since)
                              .order_by(SigninFailure.at, SigninFailure.id)))


def remove_failures(sessions: sessionmaker, ids: Iterable[int]) -> None:
    """Take back the failures ``ids`` (the attempt succeeded, or was refused before any check)."""
    with sessions.begin() as s:
        s.execute(delete(SigninFailure).where(SigninFailure.id.in_(list(ids))))


def prune(sessions: sessionmaker, before: float) -> int:
    """Remove every failure older than ``before``; how many."""
    with sessions.begin() as s:
        return s.execute(delete(SigninFailure).where(SigninFailure.at < before)).rowcount
