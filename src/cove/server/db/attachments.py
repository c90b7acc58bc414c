"""Images attached to discussion comments: the bytes live in the blob store under their sha256; a row
says which repo's discussions may show them (an image is served only under that repo, to its readers)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from cove.server.db import Base, utcnow


class Attachment(Base):
    __tablename__ = "discussion_attachments"
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    oid: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the bytes
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(BigInteger)
    uploader_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


def find(s: Session, repo_id: int, oid: str) -> Attachment | None:
    return s.get(Attachment, (repo_id, oid))


def add(s: Session, **fields) -> None:
    if find(s, fields["repo_id"], fields["oid"]) is None:
        s.add(Attachment(**fields))


def all_oids(s: Session) -> set[str]:
    """Every attached blob (garbage collection keeps them)."""
    return set(s.scalars(select(Attachment.oid)))
