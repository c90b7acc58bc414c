"""Webhooks: ``webhooks`` (one per target URL a user registered), the ``webhook_watches`` each one has
(a repo, user or org it listens to), and ``webhook_deliveries``, the queue and log of what was sent.

A delivery is a row from the moment its event happens (in the transaction of nothing else: the event
has already landed), so a restart loses none. Any replica delivers: it *claims* due rows by moving
``claimed_until`` forward with an ``UPDATE ... WHERE`` that only one replica's statement can win, sends,
then records the outcome; a replica that died mid-send leaves a claim that expires and is taken again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text, delete, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from cove.server.db import Base, Repo, utcnow


class Webhook(Base):
    __tablename__ = "webhooks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    oid: Mapped[str] = mapped_column(String(24), unique=True, index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    secret: Mapped[str] = mapped_column(String(256), default="")
    domains: Mapped[list] = mapped_column(JSON, default=list)  # ⊆ ["repo", "discussion"]
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class WebhookWatch(Base):
    """One watched item: ``kind`` is model, dataset, space (``name`` a repo id) or user, org (a name)."""

    __tablename__ = "webhook_watches"
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True, index=True)


class WebhookDelivery(Base):
    """One event for one webhook: ``status`` is pending (to send at ``next_at``), delivered or failed
    (every attempt used). The last attempt's answer is kept: HTTP status (0: no answer), latency,
    the start of the response body or the error."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    oid: Mapped[str] = mapped_column(String(24), unique=True, index=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(40))  # "repo.content/update"
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    response_status: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    response_excerpt: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


# -- webhooks ----------------------------------------------------------------------------------------


def add_webhook(s: Session, watched: list[tuple[str, str]], **fields) -> Webhook:
    hook = Webhook(**fields)
    s.add(hook)
    s.flush()
    set_watches(s, hook, watched)
    return hook


def set_watches(s: Session, hook: Webhook, watched: list[tuple[str, str]]) -> None:
    s.execute(delete(WebhookWatch).where(WebhookWatch.webhook_id == hook.id))
    s.add_all(WebhookWatch(webhook_id=hook.id, kind=k, name=n) for k, n in dict.fromkeys(watched))


def watches_of(s: Session, hook_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
    out: dict[int, list[tuple[str, str]]] = {i: [] for i in hook_ids}
    rows = s.execute(select(WebhookWatch).where(WebhookWatch.webhook_id.in_(hook_ids))
                     .order_by(WebhookWatch.kind, WebhookWatch.name)) if hook_ids else []
    for (w,) in rows:
        out[w.webhook_id].append((w.kind, w.name))
    return out


def webhooks_of(s: Session, owner_id: int) -> list[Webhook]:
    return list(s.scalars(select(Webhook).where(Webhook.owner_id == owner_id).order_by(Webhook.id)))


def find_webhook(s: Session, owner_id: int, oid: str) -> Webhook | None:
    return s.scalar(select(Webhook).where(Webhook.owner_id == owner_id, Webhook.oid == oid))


def delete_webhook(s: Session, hook: Webhook) -> None:
    s.execute(delete(WebhookDelivery).where(WebhookDelivery.webhook_id == hook.id))
    s.execute(delete(WebhookWatch).where(WebhookWatch.webhook_id == hook.id))
    s.delete(hook)


def watching(s: Session, repo_type: str, repo_id: str, namespace: str) -> list[Webhook]:
    """The enabled webhooks that watch the repo, or its owner (a user or an org)."""
    match = or_((WebhookWatch.kind == repo_type) & (WebhookWatch.name == repo_id),
                WebhookWatch.kind.in_(("user", "org")) & (WebhookWatch.name == namespace))
    ids = select(WebhookWatch.webhook_id).where(match)
    return list(s.scalars(select(Webhook).where(Webhook.id.in_(ids), Webhook.disabled.is_(False))
                          .order_by(Webhook.id)))


# -- deliveries --------------------------------------------------------------------------------------


def add_delivery(s: Session, **fields) -> WebhookDelivery:
    row = WebhookDelivery(**fields)
    s.add(row)
    return row


def due(s: Session, now: datetime, limit: int) -> list[int]:
    """Ids of pending deliveries due now and claimed by nobody (or by a replica whose claim ran out)."""
    return list(s.scalars(select(WebhookDelivery.id).where(
        WebhookDelivery.status == "pending", WebhookDelivery.next_at <= now,
        or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now))
        .order_by(WebhookDelivery.next_at, WebhookDelivery.id).limit(limit)))


def claim(s: Session, delivery_id: int, now: datetime, hold: timedelta) -> bool:
    """Take one delivery until ``now + hold``; False when another replica took it first."""
    result = s.execute(update(WebhookDelivery).where(
        WebhookDelivery.id == delivery_id, WebhookDelivery.status == "pending",
        or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now))
        .values(claimed_until=now + hold))
    return result.rowcount == 1


def delivery(s: Session, delivery_id: int) -> tuple[WebhookDelivery, Webhook] | None:
    row = s.execute(select(WebhookDelivery, Webhook).join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                    .where(WebhookDelivery.id == delivery_id)).first()
    return (row[0], row[1]) if row else None


def record(s: Session, delivery_id: int, **fields) -> None:
    s.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(claimed_until=None, **fields))


def deliveries_of(s: Session, webhook_id: int, limit: int) -> list[WebhookDelivery]:
    return list(s.scalars(select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
                          .order_by(WebhookDelivery.id.desc()).limit(limit)))


def find_delivery(s: Session, webhook_id: int, oid: str) -> WebhookDelivery | None:
    return s.scalar(select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id,
                                                  WebhookDelivery.oid == oid))


def prune(s: Session, before: datetime) -> int:
    """Forget finished deliveries older than ``before`` (the log keeps recent ones)."""
    return s.execute(delete(WebhookDelivery).where(WebhookDelivery.status != "pending",
                                                   WebhookDelivery.created_at < before)).rowcount or 0


def repo_by_storage_key(s: Session, storage_key: str) -> Repo | None:
    return s.scalar(select(Repo).where(Repo.storage_key == storage_key))
