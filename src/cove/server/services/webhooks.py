"""Webhooks (hub-community-spaces.md §5): a user's webhooks, and the events that queue deliveries to them.

Management is per token owner: each user sees and changes only their own webhooks. A webhook watches
repos (``model``, ``dataset``, ``space`` and a repo id) and accounts (``user``, ``org`` and a name: every
repo in that namespace), for the ``repo`` and/or ``discussion`` domains. Watching a repo needs read access
to it; at each event the owner's access is checked again, so a private repo's events reach only webhooks
whose owners may still see it.

Events come from the services that make them (repos, refs, discussions): each calls :meth:`emit`,
which writes one delivery row per matching webhook with its payload in the shape the client's
``WebhookPayload`` model reads; :mod:`cove.server.services.webhook_delivery` sends them.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import sessionmaker

from cove.errors import BadRequest, CoveError, Forbidden, Unauthorized
from cove.protocol import URL_PREFIX
from cove.server.db import Repo, utcnow
from cove.server.db import webhooks as q
from cove.server.db.discussions import Discussion, DiscussionEvent
from cove.server.db.webhooks import Webhook, WebhookDelivery
from cove.server.services.accounts import Accounts, Principal
from cove.server.services.repos import Repos
from cove.server.services.webhook_targets import Allow, check, origin_of
from cove.server.settings import Settings

log = logging.getLogger("cove.server.webhooks")
DOMAINS = ("repo", "discussion")
REPO_KINDS = ("model", "dataset", "space")
ACCOUNT_KINDS = ("user", "org")
MAX_WATCHED = 100
MAX_WEBHOOKS = 100
MAX_SECRET = 256
#: The payload version the client's model accepts (any other fails its validation).
VERSION = 3


class WebhookNotFound(CoveError):
    """No webhook with that id among the caller's (404 without a repo-level code).

    Example: ``WebhookNotFound: Webhook 6390e855e30d9209411de93b not found``
    """

    status = 404
    code = "NotFound"


@dataclass
class WebhookView:
    hook: Webhook
    watched: list[tuple[str, str]]


def object_id(number: int) -> str:
    """A row id as the 24-hex object id the Hub's payloads carry."""
    return f"{number:024x}"


def _watched_arg(value: object) -> list[tuple[str, str]]:
    if not isinstance(value, list) or len(value) > MAX_WATCHED:
        raise BadRequest(f"'watched' must be a list of at most {MAX_WATCHED} {{'type', 'name'}} items")
    out = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise BadRequest("Each watched item needs a 'type' and a 'name'")
        if item.get("type") not in REPO_KINDS + ACCOUNT_KINDS:
            raise BadRequest(f"Invalid watched type {item.get('type')!r}: use one of "
                             f"{', '.join(REPO_KINDS + ACCOUNT_KINDS)}")
        out.append((item["type"], item["name"][:200]))
    return out


def _domains_arg(value: object) -> list[str]:
    if value is None:
        return list(DOMAINS)
    if not isinstance(value, list) or not value or any(d not in DOMAINS for d in value):
        raise BadRequest("'domains' must be a non-empty list of 'repo' and 'discussion'")
    return [d for d in DOMAINS if d in value]


def _secret_arg(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_SECRET or any(ord(c) < 32 or ord(c) > 126 for c in value):
        raise BadRequest(f"'secret' must be printable ASCII of at most {MAX_SECRET} characters")
    return value


class Webhooks:
    def __init__(self, sessions: sessionmaker, accounts: Accounts, repos: Repos, settings: Settings) -> None:
        self._sessions = sessions
        self._accounts = accounts
        self._repos = repos
        self.allow = Allow.parse(settings.webhook_allow)
        self.port = settings.port
        self.public_url = (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")
        #: Called after deliveries were queued (the delivery worker's wake-up).
        self.queued: Callable[[], None] = lambda: None

    # -- management ------------------------------------------------------------------------------

    def hub_origins(self, *urls: str) -> tuple[str, ...]:
        """The origins that are this Hub (its public URL and the ones it was reached at)."""
        return tuple(origin_of(u) for u in (self.public_url, *urls) if u)

    def target(self, url: str, *hub_urls: str):
        return check(url, self.allow, self.port, self.hub_origins(*hub_urls))

    @staticmethod
    def _owner(who: Principal | None, *, write: bool = False) -> Principal:
        if who is None:
            raise Unauthorized("You must be authenticated to manage webhooks: pass a token")
        if write and not who.can_write:
            raise Forbidden("This token is read-only: create a write token to change webhooks")
        return who

    def _check_watched(self, who: Principal, watched: list[tuple[str, str]]) -> None:
        for kind, name in watched:
            if kind in REPO_KINDS:
                self._repos.get(who, kind, name)  # RepoNotFound for a repo the owner may not see
            else:
                account = self._accounts.get(name)
                if account is None or account.kind != kind:
                    raise BadRequest(f"No {kind} named {name!r} to watch")

    def _view(self, hook: Webhook) -> WebhookView:
        with self._sessions() as s:
            return WebhookView(hook, q.watches_of(s, [hook.id])[hook.id])

    def _find(self, who: Principal, oid: str) -> Webhook:
        with self._sessions() as s:
            hook = q.find_webhook(s, who.user_id, oid)
        if hook is None:
            raise WebhookNotFound(f"Webhook {oid} not found")
        return hook

    def list(self, who: Principal | None) -> list[WebhookView]:
        who = self._owner(who)
        with self._sessions() as s:
            hooks = q.webhooks_of(s, who.user_id)
            watches = q.watches_of(s, [h.id for h in hooks])
        return [WebhookView(h, watches[h.id]) for h in hooks]

    def get(self, who: Principal | None, oid: str) -> WebhookView:
        return self._view(self._find(self._owner(who), oid))

    def create(self, who: Principal | None, *, url: object, watched: object, domains: object = None,
               secret: object = None, hub_urls: tuple[str, ...] = ()) -> WebhookView:
        who = self._owner(who, write=True)
        items = _watched_arg(watched)
        if not items:
            raise BadRequest("A webhook must watch at least one user, org or repo")
        domain_list, secret_text = _domains_arg(domains), _secret_arg(secret)
        self._check_watched(who, items)  # a repo the owner may not see is a 404 whatever the url
        self.target(url, *hub_urls)  # type: ignore[arg-type]
        with self._sessions.begin() as s:
            if len(q.webhooks_of(s, who.user_id)) >= MAX_WEBHOOKS:
                raise BadRequest(f"A user may have at most {MAX_WEBHOOKS} webhooks")
            hook = q.add_webhook(s, items, oid=secrets.token_hex(12), owner_id=who.user_id, url=url,
                                 secret=secret_text, domains=domain_list, disabled=False, created_at=utcnow())
        return self._view(hook)

    def update(self, who: Principal | None, oid: str, *, url: object = None, watched: object = None,
               domains: object = None, secret: object = None, hub_urls: tuple[str, ...] = ()) -> WebhookView:
        """Change what was given. huggingface_hub 2.5 sends the whole watch list and domains each time
        (they replace); before 2.5 it sent ``watched=[]`` when the caller gave none, which keeps the list."""
        who = self._owner(who, write=True)
        hook = self._find(who, oid)
        items = _watched_arg(watched if watched is not None else [])
        self._check_watched(who, items)
        if url is not None:
            self.target(url, *hub_urls)  # type: ignore[arg-type]
        with self._sessions.begin() as s:
            row = q.find_webhook(s, who.user_id, hook.oid)
            if row is None:
                raise WebhookNotFound(f"Webhook {oid} not found")
            if url is not None:
                row.url = url
            if domains is not None:
                row.domains = _domains_arg(domains)
            if secret is not None:
                row.secret = _secret_arg(secret)
            if items:
                q.set_watches(s, row, items)
        return self._view(row)

    def set_disabled(self, who: Principal | None, oid: str, disabled: bool) -> WebhookView:
        who = self._owner(who, write=True)
        with self._sessions.begin() as s:
            row = q.find_webhook(s, who.user_id, oid)
            if row is None:
                raise WebhookNotFound(f"Webhook {oid} not found")
            row.disabled = disabled
        return self._view(row)

    def delete(self, who: Principal | None, oid: str) -> None:
        who = self._owner(who, write=True)
        with self._sessions.begin() as s:
            row = q.find_webhook(s, who.user_id, oid)
            if row is None:
                raise WebhookNotFound(f"Webhook {oid} not found")
            q.delete_webhook(s, row)

    def deliveries(self, who: Principal | None, oid: str, *, limit: int = 50) -> list[WebhookDelivery]:
        """The webhook's most recent deliveries, newest first (the delivery log)."""
        hook = self._find(self._owner(who), oid)
        with self._sessions() as s:
            return q.deliveries_of(s, hook.id, min(max(limit, 1), 500))

    def redeliver(self, who: Principal | None, oid: str, delivery_oid: str) -> WebhookDelivery:
        """Queue a delivery's payload again, as a new delivery (the Hub's replay)."""
        hook = self._find(self._owner(who, write=True), oid)
        with self._sessions.begin() as s:
            old = q.find_delivery(s, hook.id, delivery_oid)
            if old is None:
                raise WebhookNotFound(f"Delivery {delivery_oid} not found")
            row = q.add_delivery(s, oid=secrets.token_hex(12), webhook_id=hook.id, event=old.event,
                                 payload=old.payload, status="pending", attempts=0, next_at=utcnow(),
                                 response_status=0, latency_ms=0, response_excerpt="", created_at=utcnow())
        self.queued()
        return row

    # -- events ----------------------------------------------------------------------------------

    def repo_payload(self, repo: Repo) -> dict:
        web = f"{self.public_url}/{URL_PREFIX[repo.type]}{repo.repo_id}"
        owner = self._accounts.get(repo.namespace)
        out = {"type": repo.type, "name": repo.repo_id, "id": object_id(repo.id), "private": repo.private,
               "url": {"web": web, "api": f"{self.public_url}/api/{repo.type}s/{repo.repo_id}"},
               "owner": {"id": object_id(owner.id if owner else 0)}}
        try:  # the head now (the row's copy may not have caught up with the event yet)
            head = self._repos.open_git(repo).ref_target("refs/heads/main")
        except (KeyError, CoveError):
            head = repo.head_sha or None
        if head:
            out["headSha"] = out["head_sha"] = head
        return out

    def emit(self, repo: Repo, scope: str, action: str, extra: dict | None = None,
             at: datetime | None = None) -> int:
        """Queue ``scope``/``action`` on ``repo`` for every webhook that watches it (payload: the common
        part, plus ``extra``); returns how many deliveries were queued. ``at``: when the event happened,
        for events queued on the worker (a webhook created after it does not get it). The event has
        landed already: a failure here is logged, never raised to the request that made it."""
        try:
            return self._emit(repo, scope, action, extra, at)
        except Exception:
            log.exception("queuing webhook deliveries of %s/%s on %s failed", scope, action, repo.repo_id)
            return 0

    def _emit(self, repo: Repo, scope: str, action: str, extra: dict | None, at: datetime | None) -> int:
        domain = "discussion" if scope.startswith("discussion") else "repo"
        with self._sessions() as s:
            hooks = [h for h in q.watching(s, repo.type, repo.repo_id, repo.namespace)
                     if domain in h.domains and (at is None or h.created_at <= at)]
        hooks = [h for h in hooks if self._repos.visible_to(h.owner_id, repo)]
        if not hooks:
            return 0
        base = {"event": {"action": action, "scope": scope}, "repo": self.repo_payload(repo), **(extra or {})}
        now = utcnow()
        with self._sessions.begin() as s:
            for hook in hooks:
                q.add_delivery(s, oid=secrets.token_hex(12), webhook_id=hook.id, event=f"{scope}/{action}",
                               payload={**base, "webhook": {"id": hook.oid, "version": VERSION}},
                               status="pending", attempts=0, next_at=now, response_status=0, latency_ms=0,
                               response_excerpt="", created_at=now)
        self.queued()
        return len(hooks)

    def refs_moved(self, repo: Repo, updates: list[tuple[str, str | None, str | None]],
                   at: datetime | None = None) -> None:
        """``repo.content`` / ``update`` for ref moves ``(ref, old sha or None, new sha or None)``."""
        if updates:
            refs = [{"ref": ref, "oldSha": old, "newSha": new} for ref, old, new in updates]
            self.emit(self._fresh(repo), "repo.content", "update", {"updatedRefs": refs}, at)

    def refs_changed(self, repo: Repo, before: dict[str, str], after: dict[str, str]) -> None:
        """Refs moved by a git push, from the refs before it and after it (``{"heads/main": sha}``)."""
        moved = [(f"refs/{name}", before.get(name), after.get(name)) for name in sorted(set(before) | set(after))
                 if before.get(name) != after.get(name)]
        self.refs_moved(repo, moved)

    def ref_moved(self, storage_key: str, ref: str, old: str | None, new: str | None,
                  at: datetime | None = None) -> None:
        """The git store's listener: one ref of the repo stored under ``storage_key`` moved (at ``at``)."""
        with self._sessions() as s:
            repo = q.repo_by_storage_key(s, storage_key)
        if repo is not None:
            self.refs_moved(repo, [(ref, old, new)], at)

    def _fresh(self, repo: Repo) -> Repo:
        """The repo's row as it is now (its head moved with the event)."""
        return self._repos.by_id(repo.id) or repo

    def discussion_event(self, repo: Repo, row: Discussion, scope: str, action: str,
                         comment: DiscussionEvent | None = None) -> None:
        """The Discussions service's listener: ``discussion`` or ``discussion.comment`` events."""
        web = f"{self.public_url}/{URL_PREFIX[repo.type]}{repo.repo_id}/discussions/{row.num}"
        extra: dict = {"discussion": {
            "id": object_id(row.id), "num": row.num, "author": {"id": object_id(row.author_id or 0)},
            "url": {"web": web, "api": f"{self.public_url}/api/{repo.type}s/{repo.repo_id}/discussions/{row.num}"},
            "title": row.title, "isPullRequest": row.is_pr, "status": row.status}}
        if row.is_pr:
            extra["discussion"]["changes"] = {"base": row.base_ref, "mergeCommitId": row.merge_sha or None}
        if comment is not None:
            hidden = bool(comment.data.get("hidden"))
            extra["comment"] = {"id": comment.oid, "author": {"id": object_id(comment.author_id or 0)},
                                "hidden": hidden, "url": {"web": f"{web}#{comment.oid}"}}
            if not hidden:
                extra["comment"]["content"] = comment.data.get("raw", "")
        self.emit(self._fresh(repo), scope, action, extra)

    def prune(self, before: datetime) -> int:
        with self._sessions.begin() as s:
            return q.prune(s, before)
