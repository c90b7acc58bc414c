"""Discussions and pull requests on a repo: open, list, read, comment, edit, hide, rename, close, reopen.

Who may do what follows the repo's roles. Whoever may read a repo may open a discussion or a pull
request on it and comment (with a write token: these are writes). The author of a comment may edit it;
the author of a discussion may rename, close and reopen it; writers may do all of that on anyone's,
hide comments, and merge (:mod:`cove.server.services.pulls`). A repo the caller may not see is
``RepoNotFound``; a missing discussion or comment is :class:`DiscussionNotFound`, a 404 without the
repo-level code, as the Hub answers.

A pull request owns the git ref ``refs/pr/{num}`` from its creation; its ``commit`` events are read
from git (:func:`cove.server.storage.merge.pr_commits`), so a push to the ref shows up too.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from cove.errors import BadRequest, Conflict, CoveError, Forbidden, GatedRepo, TooManyRequests, Unauthorized
from cove.server.db import Repo, utcnow
from cove.server.db import discussions as q
from cove.server.db.discussions import Discussion, DiscussionEvent
from cove.server.services import markdown
from cove.server.services.accounts import Accounts, Principal
from cove.server.services.repos import Repos
from cove.server.storage import merge
from cove.server.storage.git import GitRepo

PR_REF = re.compile(r"refs/pr/([1-9][0-9]{0,8})")
MAX_TITLE = 200
MAX_COMMENT = 65_536
PAGE_SIZE = 50
STATUS_FILTERS = {"all": None, "open": ("open", "draft"), "closed": ("closed", "merged")}
TYPE_FILTERS = {"all": None, "discussion": False, "pull_request": True}


class DiscussionNotFound(CoveError):
    """No such discussion or comment in a repo the caller may see (404 without a repo-level code: the
    client raises a plain ``HfHubHTTPError``).

    Example: ``DiscussionNotFound: Discussion #7 not found in alice/bert``
    """

    status = 404
    code = "NotFound"




def pr_num(rev: str) -> int | None:
    """N of ``refs/pr/N``, else None."""
    m = PR_REF.fullmatch(rev)
    return int(m.group(1)) if m else None

@dataclass
class Event:
    oid: str
    type: str
    author: str | None
    created_at: datetime
    data: dict
    html: str = ""  # a comment's text rendered (:mod:`cove.server.services.markdown`)


@dataclass
class Thread:
    """A discussion as read: its row, repo, author's name, and (for details) its events and PR state."""

    row: Discussion
    repo: Repo
    author: str | None
    num_comments: int = 0
    events: list[Event] = field(default_factory=list)
    diff: str | None = None

    @property
    def ref(self) -> str:
        return f"refs/pr/{self.row.num}"


def text_arg(value: object, what: str, limit: int, *, strip: bool = False) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"'{what}' must be a non-empty string")
    value = value.strip() if strip else value
    if len(value) > limit:
        raise BadRequest(f"'{what}' may hold at most {limit} characters (it has {len(value)})")
    return value


def new_oid() -> str:
    return secrets.token_hex(12)


class Discussions:
    def __init__(self, sessions: sessionmaker, accounts: Accounts, repos: Repos, *, per_minute: int = 30) -> None:
        self._sessions = sessions
        self._accounts = accounts
        self._repos = repos
        self.per_minute = per_minute
        #: Told of each change after it landed: ``(repo, discussion, scope, action, comment or None)``,
        #: scope ``discussion`` or ``discussion.comment`` (webhooks, notifications). They log their own
        #: failures: the change has landed whatever they do.
        self.listeners: list[Callable[[Repo, Discussion, str, str, DiscussionEvent | None], None]] = []

    # -- access ----------------------------------------------------------------------------------

    def repo(self, who: Principal | None, repo_type: str, repo_id: str) -> Repo:
        return self._repos.get(who, repo_type, repo_id)

    def can_write(self, who: Principal | None, repo: Repo) -> bool:
        try:
            self._repos.get(who, repo.type, repo.repo_id, "write")
        except (Forbidden, Unauthorized):
            return False
        return True

    @staticmethod
    def require_token(who: Principal | None, what: str) -> Principal:
        if who is None:
            raise Unauthorized(f"You must be authenticated to {what}: pass a write token")
        if not who.can_write:
            raise Forbidden(f"This token is read-only: create a write token to {what}")
        return who

    def _owner_or_writer(self, who: Principal, repo: Repo, author_id: int | None, what: str) -> None:
        if author_id != who.user_id and not self.can_write(who, repo):
            raise Forbidden(f"Only its author or a writer of {repo.repo_id} may {what}")

    def commit_target(self, who: Principal | None, repo_type: str, repo_id: str, rev: str, *,
                      create_pr: bool) -> Repo:
        """The repo, if ``who`` may commit to ``rev`` (or open a pull request against it with ``create_pr``):
        a branch needs write access; opening a PR needs read access and a write token; ``refs/pr/N`` needs
        write access or to be the author of that open (or draft) PR."""
        if not create_pr and pr_num(rev) is None:
            return self._repos.get(who, repo_type, repo_id, "write")
        repo = self._repos.get(who, repo_type, repo_id)
        who = self.require_token(who, "open or update a pull request")
        if create_pr or self.can_write(who, repo):
            return repo
        row = self.row(repo, pr_num(rev))
        if not row.is_pr or row.author_id != who.user_id:
            raise Forbidden(f"Only writers of {repo.repo_id} and the author of pull request #{row.num} may "
                            "commit to it")
        if row.status not in ("open", "draft"):
            raise BadRequest(f"Pull request #{row.num} is {row.status}: reopen it before committing to it")
        return repo

    def pushable_refs(self, who: Principal | None, repo: Repo) -> list[str]:
        """The ``refs/pr/N`` a caller who may not write ``repo`` may still push to with git: those
        :meth:`commit_target` allows (their own open or draft pull requests)."""
        if who is None:
            return []
        with self._sessions() as s:
            rows, _ = q.search(s, repo.id, is_pr=True, statuses=("open", "draft"), author_id=who.user_id,
                               offset=0, limit=1000)
        out = []
        for row in rows:
            try:
                self.commit_target(who, repo.type, repo.repo_id, f"refs/pr/{row.num}", create_pr=False)
            except (Forbidden, Unauthorized, BadRequest):
                continue
            out.append(f"refs/pr/{row.num}")
        return out

    def _tell(self, repo: Repo, row: Discussion, scope: str, action: str, comment: DiscussionEvent | None) -> None:
        for listener in self.listeners:
            listener(repo, row, scope, action, comment)

    def row(self, repo: Repo, num: int) -> Discussion:
        with self._sessions() as s:
            found = q.find(s, repo.id, num)
        if found is None:
            raise DiscussionNotFound(f"Discussion #{num} not found in {repo.repo_id}")
        return found

    # -- creating --------------------------------------------------------------------------------

    def check_rate(self, repo: Repo) -> None:
        with self._sessions() as s:
            recent = q.created_since(s, repo.id, utcnow() - timedelta(minutes=1))
        if recent >= self.per_minute:
            raise TooManyRequests(f"{repo.repo_id} received {recent} discussions in the last minute (at most "
                                  f"{self.per_minute}): try again in a minute", retry_after=60)

    def insert(self, who: Principal, repo: Repo, title: str, description: str, *, is_pr: bool,
               status: str = "open", base_ref: str = "", base_sha: str = "", git: GitRepo | None = None) -> int:
        """Add a discussion with its first comment; for a PR (``git`` given) create ``refs/pr/N`` at
        ``base_sha`` in the same transaction (a failure leaves neither). Returns its number."""
        title = text_arg(title, "title", MAX_TITLE, strip=True)
        description = text_arg(description, "description", MAX_COMMENT)
        self.check_rate(repo)
        for attempt in range(5):  # two discussions opened at once may take the same number: the later retries
            try:
                num = self._insert(who, repo, title, description, is_pr, status, base_ref, base_sha, git)
            except IntegrityError:
                if attempt == 4:
                    raise Conflict(f"Too many discussions opened at once on {repo.repo_id}: try again") from None
                continue
            with self._sessions() as s:
                row = q.find(s, repo.id, num)
                first = q.events_of(s, row.id)[0]
            self._tell(repo, row, "discussion", "create", first)
            return num
        raise AssertionError("unreachable")

    def _insert(self, who: Principal, repo: Repo, title: str, description: str, is_pr: bool, status: str,
                base_ref: str, base_sha: str, git: GitRepo | None) -> int:
        with self._sessions.begin() as s:
            num = q.next_num(s, repo.id)
            now = utcnow()
            row = q.add_discussion(s, repo_id=repo.id, num=num, title=title, status=status, is_pr=is_pr,
                                   author_id=who.user_id, base_ref=base_ref, base_sha=base_sha, merge_sha="",
                                   conflicts=[], created_at=now, updated_at=now)
            q.add_event(s, oid=new_oid(), discussion_id=row.id, type="comment", author_id=who.user_id,
                        created_at=now, data={"raw": description, "hidden": False, "history": [],
                                              "updatedAt": now.isoformat(), "editor": who.name})
            if git is not None:
                git.update_ref(f"refs/pr/{num}", base_sha, None)
        return num

    def create(self, who: Principal | None, repo_type: str, repo_id: str, title: object, description: object,
               pull_request: object) -> int:
        """A new discussion (or a draft PR whose ``refs/pr/N`` starts at ``main``); returns its number."""
        repo = self.repo(who, repo_type, repo_id)
        who = self.require_token(who, "open a discussion")
        if description is None or description == "":
            description = "(no description)"
        if not isinstance(pull_request, bool):
            raise BadRequest("'pullRequest' must be true or false")
        if not pull_request:
            return self.insert(who, repo, title, description, is_pr=False)
        git = self._repos.open_git(repo)
        base = git.ref_target("refs/heads/main")
        if base is None:
            raise BadRequest(f"{repo.repo_id} has no main branch to open a pull request against")
        return self.insert(who, repo, title, description, is_pr=True, status="draft",
                           base_ref="refs/heads/main", base_sha=base, git=git)

    def forget(self, repo: Repo, num: int) -> None:
        """Remove a PR that could not get its first commit (``create_commit(create_pr=True)`` failed)."""
        with self._sessions.begin() as s:
            row = q.find(s, repo.id, num)
            if row is not None:
                q.delete(s, row)

    # -- reading ---------------------------------------------------------------------------------

    def list(self, who: Principal | None, repo_type: str, repo_id: str, *, kind: str | None, status: str | None,
             author: str | None, page: int) -> tuple[list[Thread], int, int]:
        """``(threads, total matching, index of the first)``: page ``page`` of :data:`PAGE_SIZE`, newest first."""
        repo = self.repo(who, repo_type, repo_id)
        if (kind or "all") not in TYPE_FILTERS:
            raise BadRequest(f"Invalid type {kind!r}: use all, discussion or pull_request")
        if (status or "all") not in STATUS_FILTERS:
            raise BadRequest(f"Invalid status {status!r}: use all, open or closed")
        if page < 0:
            raise BadRequest("Invalid page: p must be 0 or more")
        author_id = None
        if author:
            account = self._accounts.get(author)
            if account is None:
                return [], 0, page * PAGE_SIZE
            author_id = account.id
        with self._sessions() as s:
            rows, total = q.search(s, repo.id, is_pr=TYPE_FILTERS[kind or "all"],
                                   statuses=STATUS_FILTERS[status or "all"], author_id=author_id,
                                   offset=page * PAGE_SIZE, limit=PAGE_SIZE)
            names = q.names_of(s, {r.author_id for r in rows})
            counts = q.comment_counts(s, [r.id for r in rows])
        threads = [Thread(r, repo, names.get(r.author_id), counts.get(r.id, 0)) for r in rows]
        return threads, total, page * PAGE_SIZE

    def thread(self, repo: Repo, row: Discussion, git: GitRepo | None) -> Thread:
        """Everything about one discussion: its events in order (a PR's commits merged in by time)."""
        with self._sessions() as s:
            rows = q.events_of(s, row.id)
            names = q.names_of(s, {e.author_id for e in rows} | {row.author_id})
        events = [self._event(e.oid, e.type, names.get(e.author_id), e.created_at, e.data) for e in rows]
        comments = sum(1 for e in events if e.type == "comment")
        if row.is_pr and git is not None:
            head = git.ref_target(f"refs/pr/{row.num}")
            if head is not None:
                first = events[0].created_at if events else row.created_at
                for c in merge.pr_commits(git, head, row.base_sha):
                    when = max(c.date.replace(tzinfo=None), first)
                    events.append(Event(c.id, "commit", c.author, when,
                                        {"subject": c.title, "oid": c.id}))
                events.sort(key=lambda e: (e.created_at, e.type == "commit"))
        return Thread(row, repo, names.get(row.author_id), comments, events)

    def details(self, who: Principal | None, repo_type: str, repo_id: str, num: int, *,
                with_diff: bool) -> Thread:
        repo = self.repo(who, repo_type, repo_id)
        row = self.row(repo, num)
        git = self._repos.open_git(repo) if row.is_pr else None
        thread = self.thread(repo, row, git)
        if row.is_pr and with_diff and git is not None and self.may_read_files(who, repo):
            head, base = git.ref_target(thread.ref), git.ref_target(row.base_ref)
            if head is not None and base is not None:
                thread.diff = merge.diff(git, row.base_sha if row.status == "merged" else base, head)
        return thread

    def may_read_files(self, who: Principal | None, repo: Repo) -> bool:
        """Whether ``who`` may read the repo's files: a gated repo's diff is its content."""
        try:
            self._repos.get(who, repo.type, repo.repo_id, "content")
        except GatedRepo:
            return False
        return True

    def user_exists(self, name: str) -> bool:
        return self._accounts.get(name) is not None

    def _event(self, oid: str, kind: str, author: str | None, created_at: datetime, data: dict) -> Event:
        html = ""
        if kind == "comment" and not data.get("hidden"):
            html = markdown.render(data.get("raw", ""), user_exists=self.user_exists)
        return Event(oid, kind, author, created_at, data, html)

    # -- changing --------------------------------------------------------------------------------

    def _changing(self, who: Principal | None, repo_type: str, repo_id: str, num: int,
                  what: str) -> tuple[Principal, Repo, Discussion]:
        repo = self.repo(who, repo_type, repo_id)
        row = self.row(repo, num)
        return self.require_token(who, what), repo, row

    def add_event(self, row: Discussion, who: Principal, kind: str, data: dict, **changes) -> Event:
        """Append an event to ``row`` and apply ``changes`` (title, status, ...) in one transaction."""
        with self._sessions.begin() as s:
            now = utcnow()
            event = q.add_event(s, oid=new_oid(), discussion_id=row.id, type=kind, author_id=who.user_id,
                                created_at=now, data=data)
            current = q.by_id(s, row.id)
            for key, value in changes.items():
                setattr(current, key, value)
            current.updated_at = now
        repo = self._repos.by_id(current.repo_id)
        if repo is not None:
            if kind == "comment":
                self._tell(repo, current, "discussion.comment", "create", event)
            else:
                self._tell(repo, current, "discussion", "update", None)
        return self._event(event.oid, kind, who.name, now, data)

    def comment(self, who: Principal | None, repo_type: str, repo_id: str, num: int, text: object) -> Event:
        who, repo, row = self._changing(who, repo_type, repo_id, num, "comment")
        text = text_arg(text, "comment", MAX_COMMENT)
        return self.add_event(row, who, "comment", {"raw": text, "hidden": False, "history": [],
                                                    "updatedAt": utcnow().isoformat(), "editor": who.name})

    def set_conflicts(self, row: Discussion, paths: list[str]) -> None:
        with self._sessions.begin() as s:
            q.by_id(s, row.id).conflicts = paths

    def _comment(self, row: Discussion, oid: str) -> DiscussionEvent:
        with self._sessions() as s:
            event = q.event_by_oid(s, row.id, oid.lower())
        if event is None or event.type != "comment":
            raise DiscussionNotFound(f"Comment {oid} not found in discussion #{row.num}")
        return event

    def _rewrite(self, repo: Repo, row: Discussion, event: DiscussionEvent, data: dict) -> None:
        with self._sessions.begin() as s:
            q.event_by_id(s, event.id).data = data
        event.data = data
        self._tell(repo, row, "discussion.comment", "update", event)

    def edit_comment(self, who: Principal | None, repo_type: str, repo_id: str, num: int, oid: str,
                     text: object) -> Event:
        who, repo, row = self._changing(who, repo_type, repo_id, num, "edit a comment")
        event = self._comment(row, oid)
        if event.author_id != who.user_id:
            raise Forbidden("Only the author of a comment may edit it")
        if event.data.get("hidden"):
            raise BadRequest("This comment was hidden: it cannot be edited")
        text = text_arg(text, "content", MAX_COMMENT)
        old = event.data
        past = {"raw": old["raw"], "updatedAt": old["updatedAt"], "editor": old.get("editor")}
        data = {**old, "raw": text, "updatedAt": utcnow().isoformat(), "editor": who.name,
                "history": [past, *old.get("history", [])]}
        self._rewrite(repo, row, event, data)
        return self._event(event.oid, "comment", self._accounts_name(event.author_id), event.created_at, data)

    def hide_comment(self, who: Principal | None, repo_type: str, repo_id: str, num: int, oid: str) -> Event:
        who, repo, row = self._changing(who, repo_type, repo_id, num, "hide a comment")
        event = self._comment(row, oid)
        if not self.can_write(who, repo):
            raise Forbidden(f"Only writers of {repo.repo_id} may hide comments")
        # hidden for good, as on the Hub: the text and its history are gone
        data = {"raw": "", "hidden": True, "history": [], "updatedAt": utcnow().isoformat(), "editor": who.name,
                "edited": bool(event.data.get("history"))}
        self._rewrite(repo, row, event, data)
        return self._event(event.oid, "comment", self._accounts_name(event.author_id), event.created_at, data)

    def _accounts_name(self, user_id: int | None) -> str | None:
        with self._sessions() as s:
            return q.names_of(s, {user_id}).get(user_id)

    def rename(self, who: Principal | None, repo_type: str, repo_id: str, num: int, title: object) -> Event:
        who, repo, row = self._changing(who, repo_type, repo_id, num, "rename a discussion")
        self._owner_or_writer(who, repo, row.author_id, "rename this discussion")
        title = text_arg(title, "title", MAX_TITLE, strip=True)
        return self.add_event(row, who, "title-change", {"from": row.title, "to": title}, title=title)

    def set_status(self, who: Principal | None, repo_type: str, repo_id: str, num: int, status: object,
                   comment: object = None) -> Event:
        """Close or (re)open; ``open`` on a draft PR publishes it. A merged PR stays merged."""
        who, repo, row = self._changing(who, repo_type, repo_id, num, "change a discussion's status")
        if status not in ("open", "closed"):
            raise BadRequest(f"Invalid status {status!r}: use open or closed")
        self._owner_or_writer(who, repo, row.author_id, "close or reopen this discussion")
        if row.status == "merged":
            raise BadRequest(f"Pull request #{num} is merged: its status cannot change")
        if comment:
            self.comment(who, repo_type, repo_id, num, comment)
        return self.add_event(row, who, "status-change", {"status": status}, status=status)
