"""Collections: create, read, change and delete an account's collections and their items.

Who may see what follows the repos' rule: a private collection is visible to its owner (a user, or the
members of an organization) and to Hub admins, and is missing to everyone else; writes need a write
token of the owner or of an org member with the write or admin role. An item whose repo or collection
the caller may not see is left out of what they read, and cannot be added by them (it is missing).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from sqlalchemy.orm import sessionmaker

from cove.errors import BadRequest, Conflict, CoveError, Forbidden, RepoNotFound, Unauthorized
from cove.protocol import repo_type_of
from cove.server.db import Account, Repo, utcnow
from cove.server.db import collections as q
from cove.server.db.accounts import account_by_id, account_named, membership_role
from cove.server.db.collections import Collection, CollectionItem
from cove.server.db.repos import repo_by_id
from cove.server.services.accounts import Accounts, Principal
from cove.server.services.repos import Repos

THEMES = ("orange", "blue", "green", "purple", "pink", "indigo")
MAX_TITLE = 200
MAX_DESCRIPTION = 2000
MAX_NOTE = 1000
#: Most items in one collection.
MAX_ITEMS = 1000
REPO_ITEM_TYPES = ("model", "dataset", "space")
_OID = re.compile(r"[0-9a-f]{24}")


class CollectionNotFound(CoveError):
    """No such collection, or one the caller may not see (a 404 without a repo-level code, as the Hub
    answers: the client raises a plain ``HfHubHTTPError``).

    Example: ``CollectionNotFound: Collection not found: alice/my-models-65a1...``
    """

    status = 404
    code = "NotFound"


@dataclass
class Item:
    oid: str
    type: str
    id: str  # a repo id, or the oid of a collection
    position: int
    note: str | None
    slug: str | None = None  # a collection item's slug


@dataclass
class View:
    """A collection as one caller sees it (items they may not see left out)."""

    row: Collection
    owner: Account
    items: list[Item]

    @property
    def slug(self) -> str:
        return slug_of(self.owner.name, self.row.title, self.row.oid)


def slugify(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:64].strip("-") or "collection"


def slug_of(owner: str, title: str, oid: str) -> str:
    return f"{owner}/{slugify(title)}-{oid}"


def _text(value: object, what: str, limit: int, *, empty_ok: bool = True) -> str:
    if not isinstance(value, str) or (not empty_ok and not value.strip()):
        raise BadRequest(f"'{what}' must be a {'' if empty_ok else 'non-empty '}string")
    if len(value) > limit:
        raise BadRequest(f"'{what}' may hold at most {limit} characters")
    return value


class Collections:
    def __init__(self, sessions: sessionmaker, accounts: Accounts, repos: Repos) -> None:
        self._sessions = sessions
        self._accounts = accounts
        self._repos = repos

    # -- access ----------------------------------------------------------------------------------

    def _role(self, s, who: Principal | None, owner: Account) -> str | None:
        """``who``'s role over what ``owner`` owns: "admin" for their own, else the org membership."""
        if who is None:
            return None
        if who.is_admin or owner.id == who.user_id:
            return "admin"
        return membership_role(s, owner.id, who.user_id)

    def _find(self, s, who: Principal | None, slug: str, need: str = "read") -> tuple[Collection, Account]:
        ns, _, rest = slug.partition("/")
        oid = rest.rsplit("-", 1)[-1]
        row = q.collection_by_oid(s, oid) if _OID.fullmatch(oid) else None
        owner = account_by_id(s, row.owner_id) if row is not None else None
        role = self._role(s, who, owner) if owner is not None else None
        if row is None or owner.name.lower() != ns.lower() or (row.private and role is None):
            raise CollectionNotFound(f"Collection not found: {slug}")
        if need == "write":
            if who is None:
                raise Unauthorized("You must be authenticated to change a collection: pass a write token")
            if not who.can_write:
                raise Forbidden("This token is read-only: create a write token to change collections")
            if role not in ("write", "admin"):
                raise Forbidden(f"You don't have write access to the collection {slug}")
        return row, owner

    def _may_read_repo(self, who: Principal | None, repo: Repo) -> bool:
        if not repo.private:
            return True
        try:
            self._repos.get(who, repo.type, repo.repo_id)
        except CoveError:
            return False
        return True

    def _may_read(self, s, who: Principal | None, row: Collection) -> bool:
        return not row.private or self._role(s, who, account_by_id(s, row.owner_id)) is not None

    def _view(self, s, who: Principal | None, row: Collection, owner: Account, *, limit: int | None = None) -> View:
        items: list[Item] = []
        for it in q.items_of(s, row.id):
            if limit is not None and len(items) >= limit:
                break
            if it.repo_id is not None:
                repo = repo_by_id(s, it.repo_id)
                if repo is None or not self._may_read_repo(who, repo):
                    continue
                items.append(Item(it.oid, it.type, repo.repo_id, len(items), it.note))
            else:
                target = q.collection_by_id(s, it.target_id)
                if target is None or not self._may_read(s, who, target):
                    continue
                t_owner = account_by_id(s, target.owner_id)
                items.append(Item(it.oid, "collection", target.oid, len(items), it.note,
                                  slug_of(t_owner.name, target.title, target.oid)))
        return View(row, owner, items)

    # -- collections -----------------------------------------------------------------------------

    def create(self, who: Principal | None, namespace: str, title: object, *, description: object = None,
               private: object = False) -> View:
        if who is None:
            raise Unauthorized("You must be authenticated to create a collection: pass a write token")
        if not who.can_write:
            raise Forbidden("This token is read-only: create a write token to create collections")
        title = _text(title, "title", MAX_TITLE, empty_ok=False)
        if description is not None:
            description = _text(description, "description", MAX_DESCRIPTION)
        if not isinstance(private, bool):
            raise BadRequest("'private' must be a boolean")
        with self._sessions.begin() as s:
            owner = account_named(s, namespace) if isinstance(namespace, str) else None
            if owner is None or self._role(s, who, owner) not in ("write", "admin"):
                raise Forbidden(f"You don't have the rights to create a collection under the namespace "
                                f"{namespace!r}")
            position = q.count_collections(s, owner.id)
            row = q.add_collection(s, oid=secrets.token_hex(12), owner_id=owner.id, title=title,
                                   description=description, private=private, position=position)
            return self._view(s, who, row, owner)

    def get(self, who: Principal | None, slug: str) -> View:
        with self._sessions() as s:
            row, owner = self._find(s, who, slug)
            return self._view(s, who, row, owner)

    def update(self, who: Principal | None, slug: str, body: dict) -> View:
        with self._sessions.begin() as s:
            row, owner = self._find(s, who, slug, "write")
            if body.get("title") is not None:
                row.title = _text(body["title"], "title", MAX_TITLE, empty_ok=False)
            if body.get("description") is not None:
                row.description = _text(body["description"], "description", MAX_DESCRIPTION)
            if body.get("private") is not None:
                if not isinstance(body["private"], bool):
                    raise BadRequest("'private' must be a boolean")
                row.private = body["private"]
            if body.get("theme") is not None:
                if body["theme"] not in THEMES:
                    raise BadRequest(f"'theme' must be one of {', '.join(THEMES)}")
                row.theme = body["theme"]
            if body.get("position") is not None:
                if not isinstance(body["position"], int) or isinstance(body["position"], bool) \
                        or not 0 <= body["position"] <= 1_000_000:
                    raise BadRequest("'position' must be an integer from 0")
                row.position = body["position"]
            row.updated_at = utcnow()
            s.flush()
            return self._view(s, who, row, owner)

    def delete(self, who: Principal | None, slug: str) -> None:
        with self._sessions.begin() as s:
            row, _ = self._find(s, who, slug, "write")
            q.delete_collection(s, row)

    def list(self, who: Principal | None, *, owners: list[str], items: list[str], sort: str | None,
             offset: int, limit: int) -> tuple[list[View], bool]:
        """Collections the caller may see, of ``owners`` (any if empty) holding every one of ``items``
        (``models/ns/name``, ``datasets/...``, ``spaces/...``), with a preview of their first 4 items."""
        if sort not in (None, "lastModified", "trending", "upvotes"):  # no upvotes here: all by last change
            raise BadRequest("'sort' must be one of lastModified, trending, upvotes")
        with self._sessions() as s:
            repo_ids = [self._item_repo(who, spec).id for spec in items]
            out: list[View] = []
            skipped = 0
            for row, owner in q.collections_holding(s, owners, repo_ids):
                if row.private and self._role(s, who, owner) is None:
                    continue
                if skipped < offset:
                    skipped += 1
                    continue
                if len(out) == limit:
                    return out, True
                out.append(self._view(s, who, row, owner, limit=4))
            return out, False

    def _item_repo(self, who: Principal | None, spec: str) -> Repo:
        kind, _, repo_id = spec.partition("/")
        if kind not in ("models", "datasets", "spaces"):
            raise BadRequest(f"Invalid item {spec!r}: use models/ns/name, datasets/ns/name or spaces/ns/name")
        try:
            return self._repos.get(who, repo_type_of(kind), repo_id)
        except RepoNotFound:
            raise CollectionNotFound(f"Item not found: {spec}") from None

    # -- items -----------------------------------------------------------------------------------

    def add_item(self, who: Principal | None, slug: str, item: object, note: object = None) -> View:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not isinstance(item.get("type"), str):
            raise BadRequest("'item' must be {\"id\": ..., \"type\": \"model\"|\"dataset\"|\"space\"|\"collection\"}")
        if note is not None:
            note = _text(note, "note", MAX_NOTE)
        kind, item_id = item["type"], item["id"]
        repo = target = None
        if kind in REPO_ITEM_TYPES:
            try:
                repo = self._repos.get(who, kind, item_id)
            except RepoNotFound:
                raise CollectionNotFound(f"Item not found: {kind} {item_id}") from None
        elif kind != "collection":
            raise BadRequest(f"Item type {kind!r} is not supported here: use model, dataset, space or collection")
        with self._sessions.begin() as s:
            row, owner = self._find(s, who, slug, "write")
            if kind == "collection":
                try:
                    target, _ = self._find(s, who, item_id)
                except CollectionNotFound:
                    raise CollectionNotFound(f"Item not found: collection {item_id}") from None
                if target.id == row.id:
                    raise BadRequest("A collection cannot hold itself")
            if q.holds(s, row.id, repo_id=repo.id if repo is not None else None,
                       target_id=target.id if target is not None else None):
                raise Conflict(f"{kind} {item_id} is already in the collection")
            count = q.count_items(s, row.id)
            if count >= MAX_ITEMS:
                raise BadRequest(f"A collection holds at most {MAX_ITEMS} items")
            q.add_item(s, oid=secrets.token_hex(12), collection_id=row.id, type=kind,
                       repo_id=repo.id if repo is not None else None,
                       target_id=target.id if target is not None else None, position=count, note=note)
            row.updated_at = utcnow()
            s.flush()
            return self._view(s, who, row, owner)

    def _items(self, s, row: Collection) -> list[CollectionItem]:
        return q.items_of(s, row.id)

    def update_item(self, who: Principal | None, slug: str, item_oid: str, body: dict) -> None:
        with self._sessions.begin() as s:
            row, _ = self._find(s, who, slug, "write")
            items = self._items(s, row)
            found = next((it for it in items if it.oid == item_oid), None)
            if found is None:
                raise CollectionNotFound(f"Item not found: {item_oid}")
            if body.get("note") is not None:
                found.note = _text(body["note"], "note", MAX_NOTE)
            position = body.get("position")
            if position is not None:
                if not isinstance(position, int) or isinstance(position, bool) or position < 0:
                    raise BadRequest("'position' must be an integer from 0")
                items.remove(found)
                items.insert(min(position, len(items)), found)
            for i, it in enumerate(items):
                it.position = i
            row.updated_at = utcnow()

    def delete_item(self, who: Principal | None, slug: str, item_oid: str) -> None:
        with self._sessions.begin() as s:
            row, _ = self._find(s, who, slug, "write")
            items = self._items(s, row)
            found = next((it for it in items if it.oid == item_oid), None)
            if found is None:
                raise CollectionNotFound(f"Item not found: {item_oid}")
            q.delete_item(s, found)
            items.remove(found)
            for i, it in enumerate(items):
                it.position = i
            row.updated_at = utcnow()
