"""Collections: an account's ordered lists of repos and other collections, as on the Hub.

A collection is named by its slug ``owner/<slugified title>-<oid>``: only the 24-hex ``oid`` identifies
it, so the slug of an old title still finds it. An item points at its repo or collection by row id, so it
follows a moved repo and goes with a deleted one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    Result,
    String,
    UniqueConstraint,
    delete,
    func,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from cove.server.db import Account, Base, utcnow


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


def collection_by_oid(s: Session, oid: str) -> Collection | None:
    return s.scalar(select(Collection).where(Collection.oid == oid))


def collection_by_id(s: Session, collection_id: int) -> Collection | None:
    return s.get(Collection, collection_id)


def items_of(s: Session, collection_id: int) -> list[CollectionItem]:
    """The collection's items in their order."""
    return list(s.scalars(select(CollectionItem).where(CollectionItem.collection_id == collection_id)
                          .order_by(CollectionItem.position, CollectionItem.id)))


def count_collections(s: Session, owner_id: int) -> int:
    return s.scalar(select(func.count()).select_from(Collection).where(Collection.owner_id == owner_id))


def add_collection(s: Session, **fields) -> Collection:
    row = Collection(**fields)
    s.add(row)
    s.flush()
    return row


def delete_collection(s: Session, row: Collection) -> None:
    """The collection, its items and the items that point at it."""
    s.execute(delete(CollectionItem).where(CollectionItem.collection_id == row.id))
    s.execute(delete(CollectionItem).where(CollectionItem.target_id == row.id))
    s.delete(row)


def collections_holding(s: Session, owners: list[str], repo_ids: list[int]) -> Result:
    """(collection, owner) rows of ``owners`` (any if empty, names in any case) that hold every repo of
    ``repo_ids``, the most recently changed first."""
    query = select(Collection, Account).join(Account, Account.id == Collection.owner_id)
    if owners:
        query = query.where(func.lower(Account.name).in_([o.lower() for o in owners]))
    for repo_id in repo_ids:
        query = query.where(Collection.id.in_(select(CollectionItem.collection_id)
                                              .where(CollectionItem.repo_id == repo_id)))
    return s.execute(query.order_by(Collection.updated_at.desc(), Collection.id.desc()))


def holds(s: Session, collection_id: int, *, repo_id: int | None = None, target_id: int | None = None) -> bool:
    """Whether the collection holds the repo ``repo_id`` (or else the collection ``target_id``)."""
    same = (CollectionItem.repo_id == repo_id) if repo_id is not None else (CollectionItem.target_id == target_id)
    return s.scalar(select(CollectionItem.id).where(CollectionItem.collection_id == collection_id, same)) is not None


def count_items(s: Session, collection_id: int) -> int:
    return s.scalar(select(func.count()).select_from(CollectionItem)
                    .where(CollectionItem.collection_id == collection_id))


def add_item(s: Session, **fields) -> None:
    s.add(CollectionItem(**fields))


def delete_item(s: Session, item: CollectionItem) -> None:
    s.delete(item)
