"""Notifications for the web UI: what concerns a user, written when it happens, read on ``/notifications``.

- a new discussion or pull request on a repo they own (a user's repo: that user; an org's repo: its
  members who may write);
- a comment in a discussion they took part in (opened it or commented);
- a mention, ``@name`` in a discussion's opening text or a comment;
- an access request on a gated repo they administer.

Nobody is told of their own actions, and nobody is told of a repo they may not see (a mention in a
private repo reaches only its readers); the list is filtered again when read, for repos that have since
become hidden from them.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import sessionmaker

from cove.server.db import Repo
from cove.server.db import discussions as dq
from cove.server.db import notifications as q
from cove.server.db.discussions import Discussion, DiscussionEvent
from cove.server.db.notifications import Notification
from cove.server.services.accounts import Accounts, Principal
from cove.server.services.markdown import MENTION
from cove.server.services.repos import Repos

log = logging.getLogger("cove.server.notifications")
#: Most mentions one text notifies.
MAX_MENTIONS = 20
PAGE = 100


class Notifications:
    def __init__(self, sessions: sessionmaker, accounts: Accounts, repos: Repos) -> None:
        self._sessions = sessions
        self._accounts = accounts
        self._repos = repos

    # -- who is concerned --------------------------------------------------------------------------

    def _owners(self, repo: Repo, roles: tuple[str, ...] = ("write", "admin")) -> set[int]:
        """The users a repo's news goes to: its owner, or its org's members with one of ``roles``."""
        account = self._accounts.get(repo.namespace)
        if account is None:
            return set()
        if account.kind == "user":
            return {account.id}
        return {member.id for member, role in self._accounts.members_of(account.id) if role in roles}

    def _mentioned(self, text: str) -> set[int]:
        ids = set()
        for name in list(dict.fromkeys(m.group(1) for m in MENTION.finditer(text)))[:MAX_MENTIONS]:
            account = self._accounts.get(name)
            if account is not None and account.kind == "user":
                ids.add(account.id)
        return ids

    def _send(self, repo: Repo, actor_id: int | None, by_kind: dict[str, set[int]], *, num: int = 0,
              title: str = "") -> None:
        """One notification per user, of the first kind that names them (mention before reply ...)."""
        told: set[int] = {actor_id} if actor_id is not None else set()
        rows = []
        for kind, users in by_kind.items():
            for user_id in sorted(users - told):
                told.add(user_id)
                if self._repos.visible_to(user_id, repo):
                    rows.append(dict(user_id=user_id, kind=kind, repo_id=repo.id, num=num, actor_id=actor_id,
                                     title=title[:200], read=False))
        if rows:
            with self._sessions.begin() as s:
                for row in rows:
                    q.add(s, **row)

    # -- listeners (told after the event landed; a failure is logged, never raised) -----------------

    def discussion_event(self, repo: Repo, row: Discussion, scope: str, action: str,
                         comment: DiscussionEvent | None) -> None:
        try:
            if action != "create" or comment is None:
                return
            mentioned = self._mentioned(comment.data.get("raw", ""))
            if scope == "discussion":
                kind = "pull_request" if row.is_pr else "discussion"
                self._send(repo, comment.author_id, {"mention": mentioned, kind: self._owners(repo)},
                           num=row.num, title=row.title)
            else:
                with self._sessions() as s:
                    taking_part = {e.author_id for e in dq.events_of(s, row.id)
                                   if e.type == "comment" and e.author_id is not None}
                if row.author_id is not None:
                    taking_part.add(row.author_id)
                self._send(repo, comment.author_id, {"mention": mentioned, "reply": taking_part},
                           num=row.num, title=row.title)
        except Exception:
            log.exception("notifications of discussion #%s on %s failed", row.num, repo.repo_id)

    def access_requested(self, repo: Repo, who: Principal, status: str) -> None:
        try:
            self._send(repo, who.user_id, {"access_request": self._owners(repo, ("admin",))},
                       title=f"{who.name} asked for access ({status})")
        except Exception:
            log.exception("notifications of an access request on %s failed", repo.repo_id)

    # -- reading -----------------------------------------------------------------------------------

    def unread(self, who: Principal | None) -> int:
        if who is None:
            return 0
        with self._sessions() as s:
            return q.unread_count(s, who.user_id)

    def latest(self, who: Principal) -> list[tuple[Notification, Repo, str | None]]:
        """The newest notifications (those of repos ``who`` may still see)."""
        with self._sessions() as s:
            rows = q.latest(s, who.user_id, PAGE)
        return [(n, repo, actor) for n, repo, actor in rows if self._repos.visible_to(who.user_id, repo)]

    def mark_read(self, who: Principal, ids: list[int] | None) -> int:
        with self._sessions.begin() as s:
            return q.mark_read(s, who.user_id, ids)
