"""Access requests to gated repos: one row per (repo, user), its status ``pending``, ``accepted`` or
``rejected``. A user may download a gated repo's files when theirs is ``accepted`` (or when they own it,
belong to its organization, or may write to it: see :meth:`cove.server.services.repos.Repos.get`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from cove.server.db import Account, Base, utcnow


class AccessRequest(Base):
    __tablename__ = "access_requests"
    __table_args__ = (UniqueConstraint("repo_id", "user_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    oid: Mapped[str] = mapped_column(String(24), unique=True, index=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(8))  # "pending" | "accepted" | "rejected"
    #: True when an admin granted access without a request (no e-mail is shared then).
    granted: Mapped[bool] = mapped_column(default=False)
    fields: Mapped[dict] = mapped_column(JSON, default=dict)
    rejection_reason: Mapped[str] = mapped_column(String(1000), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


def access_accepted(session: Session, repo_id: int, user_id: int) -> bool:
    return session.scalar(select(AccessRequest.id).where(
        AccessRequest.repo_id == repo_id, AccessRequest.user_id == user_id,
        AccessRequest.status == "accepted")) is not None


def requests_of(session: Session, repo_id: int, status: str) -> list[tuple[AccessRequest, Account]]:
    """The repo's requests with ``status`` and their users, the most recently changed first."""
    rows = session.execute(select(AccessRequest, Account).join(Account, Account.id == AccessRequest.user_id)
                           .where(AccessRequest.repo_id == repo_id, AccessRequest.status == status)
                           .order_by(AccessRequest.updated_at.desc(), AccessRequest.id.desc()))
    return [(r, a) for r, a in rows]


def find_request(session: Session, repo_id: int, *, user: str | None = None,
                 oid: str | None = None) -> AccessRequest | None:
    """The repo's request of the user named ``user``, or else the one whose id is ``oid``."""
    query = select(AccessRequest).where(AccessRequest.repo_id == repo_id)
    if user is not None:
        query = query.join(Account, Account.id == AccessRequest.user_id).where(Account.name == user)
    else:
        query = query.where(AccessRequest.oid == oid)
    return session.scalar(query)


def request_of(session: Session, repo_id: int, user_id: int) -> AccessRequest | None:
    return session.scalar(select(AccessRequest).where(AccessRequest.repo_id == repo_id,
                                                      AccessRequest.user_id == user_id))


def add_request(session: Session, **fields) -> None:
    session.add(AccessRequest(**fields))
