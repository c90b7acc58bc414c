"""Discussions and pull requests: one numbered sequence per repo, shared by both, and their events.

A pull request owns the git ref ``refs/pr/{num}``; its commits are read from git (every commit on
that ref since ``base_sha``, the head of the base branch when it was opened), so a git push to the ref
shows up without a row here. Comments, title and status changes are rows of ``discussion_events``,
each with a 24-hex ``oid`` (the client puts a lowercased comment id in URLs).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from cove.server.db import Account, Base, Repo, utcnow


class Discussion(Base):
    __tablename__ = "discussions"
    __table_args__ = (UniqueConstraint("repo_id", "num"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), index=True)
    num: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(8))  # "open" | "closed" | "merged" | "draft"
    is_pr: Mapped[bool] = mapped_column(Boolean, default=False)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True,
                                                  index=True)
    #: For a pull request: the branch it merges into (``refs/heads/main``), the head of that branch when
    #: the PR was opened, the merge commit, and the paths that conflicted at the last merge attempt.
    base_ref: Mapped[str] = mapped_column(String(255), default="")
    base_sha: Mapped[str] = mapped_column(String(40), default="")
    merge_sha: Mapped[str] = mapped_column(String(40), default="")
    conflicts: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class DiscussionEvent(Base):
    """A ``comment``, ``status-change`` or ``title-change``; ``data`` holds what the Hub's event holds
    (a comment: ``raw``, ``hidden``, ``updatedAt`` and ``history``, its earlier versions)."""

    __tablename__ = "discussion_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    oid: Mapped[str] = mapped_column(String(24), unique=True, index=True)
    discussion_id: Mapped[int] = mapped_column(ForeignKey("discussions.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(16))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    data: Mapped[dict] = mapped_column(JSON, default=dict)


def next_num(s: Session, repo_id: int) -> int:
    """The repo's next discussion number, its row locked until the transaction ends (PostgreSQL: two
    discussions opened at once take turns; SQLite has one writer at a time anyway)."""
    s.execute(select(Repo.id).where(Repo.id == repo_id).with_for_update())
    return (s.scalar(select(func.max(Discussion.num)).where(Discussion.repo_id == repo_id)) or 0) + 1


def created_since(s: Session, repo_id: int, since: datetime) -> int:
    return s.scalar(select(func.count()).where(Discussion.repo_id == repo_id, Discussion.created_at >= since)) or 0


def find(s: Session, repo_id: int, num: int) -> Discussion | None:
    return s.scalar(select(Discussion).where(Discussion.repo_id == repo_id, Discussion.num == num))


def search(s: Session, repo_id: int, *, is_pr: bool | None, statuses: tuple[str, ...] | None,
           author_id: int | None, offset: int, limit: int) -> tuple[list[Discussion], int]:
    """One page of a repo's discussions, newest first, and how many match in all."""
    where = [Discussion.repo_id == repo_id]
    if is_pr is not None:
        where.append(Discussion.is_pr.is_(is_pr))
    if statuses is not None:
        where.append(Discussion.status.in_(statuses))
    if author_id is not None:
        where.append(Discussion.author_id == author_id)
    total = s.scalar(select(func.count()).select_from(Discussion).where(*where)) or 0
    rows = list(s.scalars(select(Discussion).where(*where).order_by(Discussion.num.desc())
                          .offset(offset).limit(limit)))
    return rows, total


def events_of(s: Session, discussion_id: int) -> list[DiscussionEvent]:
    return list(s.scalars(select(DiscussionEvent).where(DiscussionEvent.discussion_id == discussion_id)
                          .order_by(DiscussionEvent.id)))


def event_by_oid(s: Session, discussion_id: int, oid: str) -> DiscussionEvent | None:
    return s.scalar(select(DiscussionEvent).where(DiscussionEvent.discussion_id == discussion_id,
                                                  DiscussionEvent.oid == oid))


def comment_counts(s: Session, ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    rows = s.execute(select(DiscussionEvent.discussion_id, func.count()).where(
        DiscussionEvent.discussion_id.in_(ids), DiscussionEvent.type == "comment")
        .group_by(DiscussionEvent.discussion_id))
    return {i: n for i, n in rows}


def names_of(s: Session, ids: set[int | None]) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return {i: n for i, n in s.execute(select(Account.id, Account.name).where(Account.id.in_(ids)))}


def add_discussion(s: Session, **fields) -> Discussion:
    row = Discussion(**fields)
    s.add(row)
    s.flush()
    return row


def add_event(s: Session, **fields) -> DiscussionEvent:
    event = DiscussionEvent(**fields)
    s.add(event)
    return event


def by_id(s: Session, discussion_id: int) -> Discussion | None:
    return s.get(Discussion, discussion_id)


def event_by_id(s: Session, event_id: int) -> DiscussionEvent | None:
    return s.get(DiscussionEvent, event_id)


def delete(s: Session, row: Discussion) -> None:
    s.delete(row)
