"""Repos: who may see and change them, create / delete / move / settings, listing and search.

Access is decided in one place, :meth:`Repos.get`: a repo the caller may not read raises
``RepoNotFound`` exactly as a repo that does not exist, so private repos are invisible. Ids are
case-insensitive (``alice/BERT`` is ``alice/bert``), and the old id of a moved repo raises
:class:`RepoMoved` (a redirect) only to a caller who may read the repo: to anyone else it is missing.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable

from sqlalchemy.orm import sessionmaker

from cove.errors import BadRequest, Conflict, CoveError, Forbidden, GatedRepo, RepoNotFound, Unauthorized
from cove.protocol import REPO_TYPES, SPACE_SDKS, check_name_part, repo_type_of
from cove.server.db import Account, Repo, utcnow
from cove.server.db.gating import access_accepted
from cove.server.db.repos import (
    SORTS,
    add_redirect,
    add_repo,
    delete_repo,
    drop_redirect,
    find_repo_any_case,
    find_repos,
    is_liked,
    liked_repos,
    likers_of,
    other_repo_named,
    redirect_target,
    repo_and_role,
    repo_by_id,
    repo_named,
    set_like,
)
from cove.server.services.accounts import Accounts, Principal
from cove.server.services.lfs_scope import LfsScopes
from cove.server.services.objects import Objects
from cove.server.services.seed_status import SeedProgress
from cove.server.storage.git import GitRepo, GitStore, Identity

LEVELS = {"read": 1, "write": 2, "admin": 3}
#: The Hub's text, word for word: the client's own message ("Repository Not Found for url: ...") then
#: holds it and does not repeat it; the same for a missing repo and one the caller may not see.
REPO_NOT_FOUND = "Repository not found"


def space_readme(name: str, sdk: str) -> bytes:
    """The card a new Space starts with, as on the Hub: the metadata its runner reads."""
    return (f"---\ntitle: {json.dumps(name)}\nemoji: \U0001f680\ncolorFrom: blue\ncolorTo: purple\n"
            f"sdk: {sdk or 'static'}\npinned: false\n---\n\n"
            "Check out the configuration reference at https://huggingface.co/docs/hub/spaces-config-reference\n"
            ).encode()


class RepoMoved(CoveError):
    """The repo named in the request was moved: the caller, who may read it, is sent to ``new_id``
    (a 307 redirect to the same URL with the new id; see ``routes._common.moved_location``)."""

    status = 307
    code = "RepoMoved"

    def __init__(self, old_id: str, new_id: str) -> None:
        super().__init__(f"{old_id} was moved to {new_id}")
        self.old_id, self.new_id = old_id, new_id


def gated_error(who: Principal | None, repo: Repo) -> GatedRepo:
    """The Hub's answer to a caller without access to a gated repo's files: 401 to an anonymous caller,
    403 to a signed-in one (the client raises ``GatedRepoError`` and quotes the message)."""
    if who is None:
        err = GatedRepo(f"Access to {repo.type} {repo.repo_id} is restricted. You must have access to it and be "
                        "authenticated to access it. Please log in.")
        err.status = 401
        return err
    return GatedRepo(f"Access to {repo.type} {repo.repo_id} is restricted and you are not in the authorized list. "
                     f"Ask its owner for access, or visit /{'' if repo.type == 'model' else repo.type + 's/'}"
                     f"{repo.repo_id} to request it.")


class Repos:
    def __init__(self, sessions: sessionmaker, accounts: Accounts, git: GitStore, objects: Objects, *,
                 seed: SeedProgress | None = None) -> None:
        self._sessions = sessions
        self._accounts = accounts
        self.git = git
        self.lfs_scopes = LfsScopes(sessions, objects)
        self._seed = seed
        #: Told of repo events once they landed (a deletion just before): ``(repo, scope, action, extra)``
        #: with the scopes and actions of webhooks (:mod:`cove.server.services.webhooks`).
        self.listener: Callable[[Repo, str, str, dict | None], object] = lambda *_args: None

    # -- access ----------------------------------------------------------------------------------

    def _lookup(self, who: Principal | None, repo_type: str, ns: str, name: str, *,
                any_case: bool = True) -> tuple[Repo | None, int]:
        """The repo and what ``who`` may do with it: 0 none, 1 read, 2 write, 3 admin (one query when
        the id is spelled as the repo was named; one more, case-insensitive, when it is not)."""
        with self._sessions() as s:
            if who is None:
                repo = repo_named(s, repo_type, ns, name)
                row = (repo,) if repo is not None else None
            else:
                row = repo_and_role(s, who.user_id, repo_type, ns, name)
            level = self._level(who, row)
            if level == 0 and any_case:
                # asked for a hidden repo too, so that it costs what a missing one costs
                other = find_repo_any_case(s, repo_type, ns, name)
                if row is None and other is not None:
                    return self._lookup(who, repo_type, other.namespace, other.name, any_case=False)
        return (row[0] if row is not None else None), level

    @staticmethod
    def _level(who: Principal | None, row) -> int:
        if row is None:
            return 0
        if who is None:
            return int(not row[0].private)
        repo, owner_id, role = row
        if who.is_admin or owner_id == who.user_id:
            return 3
        if role is not None:
            return LEVELS[role]
        return 0 if repo.private else 1

    def get(self, who: Principal | None, repo_type: str, repo_id: str, need: str = "read") -> Repo:
        """The repo, if ``who`` may ``need`` it; else RepoNotFound (hidden), Unauthorized or Forbidden.

        ``need="content"``: read its files. That is reading, except in a gated repo, whose files only
        its owner, its organization's members, its writers and users whose access request was accepted
        may read; others get GatedRepo (401 without a token, 403 with one). Its metadata stays readable.
        """
        repo_type = repo_type_of(repo_type)
        if repo_id.count("/") != 1:
            raise RepoNotFound(REPO_NOT_FOUND)
        ns, name = repo_id.split("/")
        repo, level = self._lookup(who, repo_type, ns, name)
        if level == 0:
            moved = redirect_target(self._sessions, repo_type, ns, name)  # asked for hidden repos too
            if repo is None and moved is not None and self._lookup(
                    who, repo_type, moved.namespace, moved.name, any_case=False)[1] > 0:
                raise RepoMoved(repo_id, moved.repo_id)
            note = self._seed.not_ready(repo_type, repo_id) if repo is None and self._seed else None
            raise RepoNotFound(f"{REPO_NOT_FOUND}: {note}" if note else REPO_NOT_FOUND)
        if need == "content":
            if repo.gated and level < LEVELS["write"] and not self._gate_open(who, repo):
                raise gated_error(who, repo)
            return repo
        if need != "read":
            if who is None:
                raise Unauthorized(f"You must be authenticated to change {repo_id}: pass a write token")
            if not who.can_write:
                raise Forbidden("This token is read-only: create a write token to change repos")
            if level < LEVELS[need]:
                raise Forbidden(f"You don't have {need} access to {repo_id}")
        return repo

    def allows(self, who: Principal | None, repo: Repo, need: str) -> bool:
        """Whether ``who`` may ``need`` (``write`` or ``admin``) ``repo``, as :meth:`get` would decide
        (a page asks it to offer its edit and settings links)."""
        if who is None or not who.can_write:
            return False
        return self._lookup(who, repo.type, repo.namespace, repo.name, any_case=False)[1] >= LEVELS[need]

    def visible_to(self, user_id: int, repo: Repo) -> bool:
        """Whether the user (as themself, whatever their tokens) may see ``repo``: who webhook deliveries
        and notifications about a private repo may reach."""
        if not repo.private:
            return True
        try:
            self.get(self._accounts.principal_of(user_id, None), repo.type, repo.repo_id)
        except CoveError:
            return False
        return True

    def _gate_open(self, who: Principal | None, repo: Repo) -> bool:
        """Whether ``who`` (who may read ``repo`` but not write it) may read the files of the gated ``repo``."""
        if who is None:
            return False
        if who.is_admin or self._accounts.role_in(who.user_id, repo.namespace) is not None:
            return True
        with self._sessions() as s:
            return access_accepted(s, repo.id, who.user_id)

    def by_id(self, repo_id: int) -> Repo | None:
        with self._sessions() as s:
            return repo_by_id(s, repo_id)

    def open_git(self, repo: Repo) -> GitRepo:
        """The repo's git content, in which an LFS pointer is an LFS file only if the repo may
        reference its object (:mod:`cove.server.services.lfs_scope`)."""
        return self.git.open(repo.storage_key, self.lfs_scopes.of(repo.storage_key))

    def _check_namespace(self, who: Principal | None, namespace: str) -> None:
        if who is None:
            raise Unauthorized("You must be authenticated to create a repo: pass a write token")
        if not who.can_write:
            raise Forbidden("This token is read-only: create a write token to create repos")
        if who.is_admin and self._accounts.get(namespace) is not None:
            return
        role = self._accounts.role_in(who.user_id, namespace)
        if role not in ("write", "admin"):
            raise Forbidden(f"You don't have the rights to create a repo under the namespace {namespace!r}")

    # -- lifecycle -------------------------------------------------------------------------------

    def create(self, who: Principal | None, repo_type: str, namespace: str, name: str, *,
               private: bool | None = None, sdk: str = "") -> tuple[Repo, bool]:
        """Create a repo; returns ``(repo, created)``. An existing repo raises Conflict carrying it.
        ``private=None``: private if the namespace is an organization whose repos are private by default."""
        repo_type = repo_type_of(repo_type)
        check_name_part(namespace, "namespace")
        check_name_part(name, "repo name")
        if name.endswith(".git"):
            raise BadRequest(f"Invalid repo name {name!r}: must not end in .git")
        self._check_namespace(who, namespace)
        if repo_type == "space" and sdk and sdk not in SPACE_SDKS:
            raise BadRequest(f"Invalid space sdk {sdk!r}: use one of {', '.join(SPACE_SDKS)}")
        if private is None:
            private = self._accounts.private_by_default(namespace)
        key = secrets.token_hex(16)
        with self._sessions.begin() as s:
            existing = find_repo_any_case(s, repo_type, namespace, name)
            if existing is not None:
                err = Conflict(f"You already created this {repo_type} repo: {namespace}/{name}")
                s.expunge(existing)  # keep its loaded fields through the rollback
                err.repo = existing
                raise err
            repo = add_repo(s, type=repo_type, namespace=namespace, name=name, storage_key=key,
                            private=private, sdk=sdk if repo_type == "space" else "")
            drop_redirect(s, repo_type, namespace, name)  # the name is this repo's now
            s.flush()
            # git first, inside the transaction: if it fails, the row is rolled back
            files = {"README.md": space_readme(name, sdk)} if repo_type == "space" else None
            git = self.git.init(key, Identity(who.name, ""), files)
            repo.head_sha = git.resolve("main")
        self.listener(repo, "repo", "create", None)
        return repo, True

    def delete(self, who: Principal | None, repo_type: str, repo_id: str) -> None:
        repo = self.get(who, repo_type, repo_id, "admin")
        self.listener(repo, "repo", "delete", None)
        with self._sessions.begin() as s:
            delete_repo(s, repo.id)
        self.git.delete(repo.storage_key)

    def move(self, who: Principal | None, repo_type: str, from_id: str, to_id: str) -> Repo:
        repo = self.get(who, repo_type, from_id, "admin")
        if to_id.count("/") != 1:
            raise BadRequest(f"Invalid repo id {to_id!r}: use 'namespace/name'")
        ns, name = to_id.split("/")
        check_name_part(ns, "namespace")
        check_name_part(name, "repo name")
        self._check_namespace(who, ns)
        with self._sessions.begin() as s:
            clash = other_repo_named(s, repo.type, ns, name, repo.id)
            if clash is not None:
                raise Conflict(f"A {repo.type} repository called {to_id} already exists")
            row = repo_by_id(s, repo.id)
            add_redirect(s, repo.type, row.namespace, row.name, repo.id)
            drop_redirect(s, repo.type, ns, name)
            row.namespace, row.name = ns, name
        owner = self._accounts.get(ns)
        self.listener(row, "repo", "move", {"movedTo": {"name": row.repo_id,
                                                         "owner": {"id": f"{owner.id if owner else 0:024x}"}}})
        return row

    def update_settings(self, who: Principal | None, repo_type: str, repo_id: str, *,
                        private: bool | None = None, gated: str | bool | None = None) -> Repo:
        repo = self.get(who, repo_type, repo_id, "admin")
        if gated not in (None, False, "auto", "manual"):
            raise BadRequest(f"Invalid gated value {gated!r}: use 'auto', 'manual' or false")
        with self._sessions.begin() as s:
            row = repo_by_id(s, repo.id)
            if private is not None:
                row.private = private
            if gated is not None:
                row.gated = gated or ""
        changed = {k: v for k, v in (("private", private), ("gated", gated)) if v is not None}
        self.listener(row, "repo.config", "update", {"updatedConfig": changed})
        return row

    def touch(self, repo: Repo, *, head_sha: str | None, card: dict | None = None) -> None:
        """Record a change to the repo (and, for its default branch, the new head and card)."""
        with self._sessions.begin() as s:
            row = repo_by_id(s, repo.id)
            if row is None:
                return
            row.last_modified = utcnow()
            if head_sha is not None:
                row.head_sha = head_sha
            if card is not None:
                row.card_data = card.get("cardData", {})
                row.tags = card.get("tags", [])
                row.pipeline_tag = card.get("pipeline_tag", "")
                row.library_name = card.get("library_name", "")

    def count_download(self, repo: Repo) -> None:
        with self._sessions.begin() as s:
            row = repo_by_id(s, repo.id)
            if row is not None:
                row.downloads += 1

    def like(self, who: Principal, repo: Repo, liked: bool) -> None:
        with self._sessions.begin() as s:
            set_like(s, who.user_id, repo.id, liked)

    def likes(self, who: Principal | None, repo: Repo) -> bool:
        """Whether ``who`` (a signed-in user; None is anonymous) likes ``repo``."""
        return who is not None and is_liked(self._sessions, who.user_id, repo.id)

    def likers(self, who: Principal | None, repo_type: str, repo_id: str) -> list[Account]:
        """The users who like the repo (a 404 to whoever may not see it)."""
        return likers_of(self._sessions, self.get(who, repo_type, repo_id).id)

    def liked_by(self, who: Principal | None, user_id: int) -> list[Repo]:
        """The repos user ``user_id`` likes that ``who`` may see."""
        return [r for r in liked_repos(self._sessions, user_id)
                if self._lookup(who, r.type, r.namespace, r.name, any_case=False)[1] > 0]

    # -- listing ---------------------------------------------------------------------------------

    def search(self, who: Principal | None, repo_type: str, *, search: list[str] | None = None,
               author: str | None = None, filters: list[str] | None = None, sort: str | None = None,
               offset: int = 0, limit: int = 100) -> tuple[list[Repo], bool]:
        """One page of the repos ``who`` may see, and whether more follow."""
        repo_type = repo_type_of(repo_type)
        if sort and sort not in SORTS:
            raise BadRequest(f"Invalid sort {sort!r}: use one of {', '.join(SORTS)}")
        viewer = None if who is None or who.is_admin else (who.user_id, who.name)
        with self._sessions() as s:
            rows = find_repos(s, repo_type, viewer, public_only=who is None, author=author, search=search or [],
                              sort=sort)
        if filters:
            rows = [r for r in rows if all(f in r.tags or f == r.pipeline_tag or f == r.library_name
                                           for f in filters)]
        page = rows[offset: offset + limit]
        return page, offset + limit < len(rows)

    def facets(self, who: Principal | None, repo_type: str, *, limit: int = 5000) -> dict[str, list[str]]:
        """The values the listing of ``repo_type`` can be filtered by, among the repos ``who`` may see:
        tasks, libraries, licenses and languages (from each repo's card metadata)."""
        rows, _ = self.search(who, repo_type, sort="lastModified", limit=limit)
        out: dict[str, set[str]] = {"task": set(), "library": set(), "license": set(), "language": set()}
        for r in rows:
            if r.pipeline_tag:
                out["task"].add(r.pipeline_tag)
            if r.library_name:
                out["library"].add(r.library_name)
            data = r.card_data or {}
            if isinstance(data.get("license"), str):
                out["license"].add(data["license"])
            langs = data.get("language")
            for lang in [langs] if isinstance(langs, str) else langs if isinstance(langs, list) else []:
                if isinstance(lang, str):
                    out["language"].add(lang)
        return {k: sorted(v) for k, v in out.items()}

    def of_namespace(self, who: Principal | None, namespace: str) -> list[Repo]:
        out = []
        for t in REPO_TYPES:
            out += self.search(who, t, author=namespace, sort="lastModified", limit=1000)[0]
        return out
