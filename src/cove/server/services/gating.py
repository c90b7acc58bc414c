"""Access requests of gated repos, handled by the repo's admins: list them by status, accept, reject or
send back to pending, and grant access to a user who never asked.

Who may read a gated repo's files is decided by :meth:`cove.server.services.repos.Repos.get`
(``need="content"``); this module only changes the requests it reads.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from cove.errors import BadRequest, Conflict, CoveError, Forbidden, GatedRepo, Unauthorized
from cove.server.db import Account, Repo, utcnow
from cove.server.db.accounts import account_named
from cove.server.db.gating import AccessRequest, add_request, find_request, request_of, requests_of
from cove.server.services.accounts import Principal
from cove.server.services.repos import Repos

STATUSES = ("pending", "accepted", "rejected")
MAX_REASON = 1000
#: Most fields a request form holds (the card's ``extra_gated_fields``), and characters per answer.
MAX_FIELDS = 20
MAX_ANSWER = 1000


class RequestNotFound(CoveError):
    """No access request of that user (or with that id) on the repo: a 404 without a repo-level code.

    Example: ``RequestNotFound: No access request from bob on alice/llama``
    """

    status = 404
    code = "NotFound"


class AccessRequests:
    def __init__(self, sessions: sessionmaker, repos: Repos) -> None:
        self._sessions = sessions
        self._repos = repos
        #: Told of each request a user submits: ``(repo, who, status)`` (notifications).
        self.listeners: list[Callable[[Repo, Principal, str], None]] = []

    def _repo(self, who: Principal | None, repo_type: str, repo_id: str) -> Repo:
        return self._repos.get(who, repo_type, repo_id, "admin")

    def list(self, who: Principal | None, repo_type: str, repo_id: str, status: str) -> list[tuple[AccessRequest, Account]]:
        if status not in STATUSES:
            raise BadRequest(f"Invalid status {status!r}: use pending, accepted or rejected")
        repo = self._repo(who, repo_type, repo_id)
        with self._sessions() as s:
            return requests_of(s, repo.id, status)

    def handle(self, who: Principal | None, repo_type: str, repo_id: str, *, user: object, request_id: object,
               status: object, reason: object = None) -> None:
        """Move a request to ``status``; moving it to the status it has is refused (400)."""
        if status not in STATUSES:
            raise BadRequest("'status' must be pending, accepted or rejected")
        if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON):
            raise BadRequest(f"'rejectionReason' must be a string of at most {MAX_REASON} characters")
        if (user is None) == (request_id is None) or not isinstance(user or request_id, str):
            raise BadRequest("Name the request by 'user' or by 'requestId' (one of them)")
        repo = self._repo(who, repo_type, repo_id)
        with self._sessions.begin() as s:
            row = find_request(s, repo.id, user=user, oid=request_id)
            if row is None:
                raise RequestNotFound(f"No access request from {user or request_id} on {repo.repo_id}")
            if row.status == status:
                raise BadRequest(f"The access request is {status} already")
            row.status = status
            row.rejection_reason = (reason or "") if status == "rejected" else ""
            row.updated_at = utcnow()

    def grant(self, who: Principal | None, repo_type: str, repo_id: str, user: object) -> None:
        """Give ``user`` access to the gated repo's files without a request (409 if they have it)."""
        if not isinstance(user, str):
            raise BadRequest("'user' must be a user name")
        repo = self._repo(who, repo_type, repo_id)
        if not repo.gated:
            raise BadRequest(f"{repo.repo_id} is not gated: everyone who sees it may read its files")
        with self._sessions.begin() as s:
            account = account_named(s, user, "user")
            if account is None:
                raise RequestNotFound(f"No user named {user!r}")
            row = request_of(s, repo.id, account.id)
            if row is None:
                add_request(s, oid=secrets.token_hex(12), repo_id=repo.id, user_id=account.id,
                            status="accepted", granted=True, fields={})
            elif row.status == "accepted":
                raise Conflict(f"{user} has access to {repo.repo_id} already")
            else:
                row.status, row.rejection_reason, row.updated_at = "accepted", "", utcnow()

    # -- the requester's side (web only on the Hub) ---------------------------------------------------

    @staticmethod
    def asked_fields(repo: Repo) -> list[tuple[str, str]]:
        """``(name, kind)`` of what the gated repo's card asks a requester (``extra_gated_fields``):
        ``checkbox`` (to tick), anything else is text."""
        fields = (repo.card_data or {}).get("extra_gated_fields")
        if not isinstance(fields, dict):
            return []
        out = []
        for name, kind in list(fields.items())[:MAX_FIELDS]:
            kind = kind.get("type") if isinstance(kind, dict) else kind
            out.append((str(name)[:200], "checkbox" if kind == "checkbox" else "text"))
        return out

    def state(self, who: Principal | None, repo: Repo) -> str:
        """Where ``who`` stands with the gated ``repo``: ``access``, ``pending``, ``rejected``, ``none``
        (may ask), or ``anonymous``."""
        if who is None:
            return "anonymous"
        try:
            self._repos.get(who, repo.type, repo.repo_id, "content")
            return "access"
        except GatedRepo:
            pass
        with self._sessions() as s:
            row = request_of(s, repo.id, who.user_id)
        return row.status if row is not None else "none"

    def submit(self, who: Principal | None, repo_type: str, repo_id: str, answers: dict[str, str]) -> str:
        """Ask for access to a gated repo's files with the ``answers`` its card asks for; returns the
        request's status: ``accepted`` at once when gating is ``auto``, else ``pending``. A rejected user
        may not ask again (403); asking twice is a 409."""
        repo = self._repos.get(who, repo_type, repo_id)
        if who is None:
            raise Unauthorized("Sign in to ask for access")
        if not repo.gated:
            raise BadRequest(f"{repo.repo_id} is not gated: its files are open to everyone who sees it")
        fields: dict[str, str] = {}
        for name, kind in self.asked_fields(repo):
            value = answers.get(name, "")
            if not isinstance(value, str) or len(value) > MAX_ANSWER:
                raise BadRequest(f"'{name}' takes at most {MAX_ANSWER} characters")
            if not value.strip():
                raise BadRequest(f"Please fill in '{name}'")
            fields[name] = "yes" if kind == "checkbox" else value.strip()
        state = self.state(who, repo)
        if state == "access":
            raise Conflict(f"You have access to {repo.repo_id} already")
        if state == "rejected":
            raise Forbidden(f"Your access request to {repo.repo_id} was rejected")
        if state == "pending":
            raise Conflict(f"Your access request to {repo.repo_id} is pending already")
        status = "accepted" if repo.gated == "auto" else "pending"
        try:
            with self._sessions.begin() as s:
                add_request(s, oid=secrets.token_hex(12), repo_id=repo.id, user_id=who.user_id, status=status,
                            granted=False, fields=fields)
        except IntegrityError:  # the same user asked twice at once
            raise Conflict(f"Your access request to {repo.repo_id} is pending already") from None
        for listener in self.listeners:
            listener(repo, who, status)
        return status
