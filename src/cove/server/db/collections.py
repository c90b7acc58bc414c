"""Collections: an account's ordered lists of repos and other collections, as on the Hub.

A collection is named by its slug ``owner/<slugified title>-<oid>``: only the 24-hex ``oid`` identifies
it, so the slug of an old title still finds it. An item points at its repo or collection by row id, so it
follows a moved repo and goes with a deleted one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cove.server.db import Base, utcnow


class Collection(Base):
    __tablename__ = "collections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    oid: Mapped[str] = mapped_column(String(24), unique=True, index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    theme: Mapped[str] = mapped_column(String(16), default="orange")
    #: Where the owner shows it among their collections.
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class CollectionItem(Base):
    """One entry of a collection: a repo (``repo_id``) or another collection (``target_id``)."""

    __tablename__ = "collection_items"
    __table_args__ = (UniqueConstraint("collection_id", "repo_id"), UniqueConstraint("collection_id", "target_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    oid: Mapped[str] = mapped_column(String(24), unique=True, index=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(16))  # "model" | "dataset" | "space" | "collection"
    repo_id: Mapped[int | None] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), nullable=True,
                                                index=True)
    target_id: Mapped[int | None] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"),
                                                  nullable=True, index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str | None] = mapped_column(String(1000), nullable=True)
