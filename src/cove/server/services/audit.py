"""The audit log of security events: who did what, to what, from where and when.

Events are recorded where an action has succeeded (a failed sign-in is its own event). Each one is
a time (UTC), an action name, the actor (a user name, or None for the server's own CLI and for a
failed sign-in), the client IP, a target and a small JSON detail. Secrets never go in: callers pass
no token values or passwords, and detail keys that look like one are dropped as a second guard.

Actions:

=====================  =================================================  ==========================
action                 when                                               target
=====================  =================================================  ==========================
``user.login``         web sign-in succeeded                              the user
``user.login_failed``  a wrong password, web form or HTTP Basic (via)     the name that was tried
``user.create``        ``cove users add``, first start                    the user
``user.password``      ``cove users passwd`` (web sessions signed out)    the user
``token.create``       web settings, ``cove tokens add`` / ``users add``  ``user/token name``
``token.revoke``       web settings, end of ``cove serve --seed``,        ``user/token name``
                       ``POST /api/credentials/revoke`` (via)
``repo.visibility``    settings API with ``private`` (detail: private)    ``models/ns/name``
``repo.gated``         settings API with ``gated`` (detail: gated)        ``models/ns/name``
``repo.access``        a gated repo's access request handled or access    ``models/ns/name``
                       granted (detail: user or request, status)
``repo.delete``        repo deleted                                       ``models/ns/name``
``repo.move``          repo moved (detail: to)                            ``models/ns/name`` (old)
``repo.lfs.delete``    LFS files deleted for good (detail: objects,       ``models/ns/name``
                       rewrite)
``bucket.visibility``  bucket settings with ``private`` (detail: private)  ``buckets/ns/name``
``bucket.delete``      bucket deleted                                     ``buckets/ns/name``
``bucket.move``        bucket moved (detail: to)                          ``buckets/ns/name`` (old)
``org.create``         API or ``cove orgs add`` (detail: owner)           the organization
``org.member``         ``cove orgs add-member`` (detail: user, role)      the organization
``org.settings``       ``cove orgs set`` (detail: private_by_default)     the organization
``admin.override``     a Hub admin changed a repo through admin rights    ``models/ns/name``
                       only: any repo event above, an API commit, a
                       branch or tag made or deleted, a super-squash
                       (detail: action, e.g. ``repo.commit``,
                       ``repo.branch.delete``, ``repo.squash``)
=====================  =================================================  ==========================

:meth:`Audit.record` never raises: a failure to record is logged and the action goes on.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy.orm import sessionmaker

from cove.protocol import repo_type_of
from cove.server.db import utcnow
from cove.server.db.audit import AuditEvent, AuditQuery, add_event, find_events
from cove.server.services.accounts import Accounts, Principal

log = logging.getLogger("cove.server.audit")

#: Detail keys containing any of these are never stored.
SECRET_WORDS = ("password", "secret", "token_value", "authorization", "cookie", "credential")
MAX_DETAIL_VALUE = 300

__all__ = ["Audit", "AuditQuery", "as_json", "parse_time"]


def _clean(detail: dict | None) -> dict:
    out: dict = {}
    for key, value in (detail or {}).items():
        key = str(key)[:64]
        if any(word in key.lower() for word in SECRET_WORDS):
            continue
        if not isinstance(value, str | int | float | bool | None):
            value = str(value)
        out[key] = value[:MAX_DETAIL_VALUE] if isinstance(value, str) else value
    return out


def repo_target(repo_type: str, repo_id: str) -> str:
    """``models/alice/bert``: the repo as the Hub names it in URLs."""
    return f"{repo_type_of(repo_type)}s/{repo_id}"


def parse_time(text: str) -> datetime:
    """ISO 8601 (``2027-01-31``, ``2027-01-31T12:00:00Z``, with an offset) -> naive UTC; ValueError otherwise."""
    dt = datetime.fromisoformat(text.strip())
    return dt.astimezone(UTC).replace(tzinfo=None) if dt.tzinfo is not None else dt


def as_json(event: AuditEvent) -> dict:
    return {"id": event.id, "time": event.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "action": event.action,
            "actor": event.actor, "ip": event.ip or None, "target": event.target, "detail": event.detail or {}}


class Audit:
    def __init__(self, sessions: sessionmaker, accounts: Accounts) -> None:
        self._sessions = sessions
        self._accounts = accounts

    def record(self, action: str, *, actor: str | None = None, ip: str | None = None, target: str = "",
               detail: dict | None = None) -> None:
        """Record one event, now. Never raises.

        Args:
            action: what happened, e.g. ``"user.login_failed"`` (the table in this module's docstring).
            actor: the user who did it; None for the server's own CLI or an unknown caller.
            ip: the client's address (``request.client.host``); None where there is no client.
            target: what it was done to: a user, ``user/token name``, ``models/ns/name``, an org.
            detail: a few JSON scalars (never a secret: keys that look like one are dropped).
        """
        try:
            add_event(self._sessions, at=utcnow(), action=action[:64], actor=actor[:96] if actor else None,
                      ip=(ip or "")[:64], target=target[:300], detail=_clean(detail))
        except Exception:
            log.exception("could not record the audit event %s (actor %s, target %s)", action, actor, target)

    def record_repo(self, action: str, who: Principal | None, ip: str | None, repo_type: str, repo_id: str, *,
                    detail: dict | None = None) -> None:
        """Record a repo event by ``who``, and :meth:`record_override` for it."""
        self.record(action, actor=who.name if who else None, ip=ip, target=repo_target(repo_type, repo_id),
                    detail=detail)
        self.record_override(action, who, ip, repo_type, repo_id)

    def record_override(self, action: str, who: Principal | None, ip: str | None, repo_type: str,
                        repo_id: str, *, need: str = "admin") -> None:
        """Record ``admin.override`` if ``who`` is a Hub admin whose role in the repo's namespace is
        below ``need`` ("write" or "admin"): the action passed only through Hub-admin rights."""
        if who is None or not who.is_admin:
            return
        try:
            role = self._accounts.role_in(who.user_id, repo_id.split("/")[0])
            if role == "admin" or (need == "write" and role == "write"):
                return
        except Exception:  # when in doubt, keep the admin event
            log.exception("could not tell whether %s acted on %s as an admin", who.name, repo_id)
        self.record("admin.override", actor=who.name, ip=ip, target=repo_target(repo_type, repo_id),
                    detail={"action": action})

    # -- reading --------------------------------------------------------------------------------

    def log(self, query: AuditQuery, *, limit: int) -> list[AuditEvent]:
        """Events in time order, as a log reads: the first ``limit`` at or after ``query.since``;
        without ``since``, the last ``limit``."""
        if query.since is not None:
            return find_events(self._sessions, query, limit=limit, newest_first=False)
        return find_events(self._sessions, query, limit=limit, newest_first=True)[::-1]

    def page(self, query: AuditQuery, *, offset: int, limit: int) -> tuple[list[AuditEvent], bool]:
        """One page, newest first, and whether more follow."""
        rows = find_events(self._sessions, query, limit=limit + 1, offset=offset, newest_first=True)
        return rows[:limit], len(rows) > limit
