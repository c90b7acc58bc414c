"""Finding repos by name (ids are case-insensitive, as on the Hub), the names a moved repo leaves
behind, and the repos a user likes.

A repo keeps the spelling it was created with; ``alice/BERT`` finds ``alice/bert``. The exact
spelling is looked up first (an index), the case-insensitive one only when that misses, so the
common case stays one indexed query. Names are ASCII (``[A-Za-z0-9_.-]``): SQL ``lower`` suffices.

A move leaves a :class:`RepoRedirect` at the old name, pointing at the repo (not at its new name), so
it follows the repo through later moves and goes with it when it is deleted. A repo created at that
name later takes it over.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Row, String, and_, bindparam, delete, func, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from cove.server.db import Account, Base, Like, Membership, Repo


class RepoRedirect(Base):
    __tablename__ = "repo_redirects"
    type: Mapped[str] = mapped_column(String(8), primary_key=True)
    #: The old name, lower-cased.
    namespace: Mapped[str] = mapped_column(String(96), primary_key=True)
    name: Mapped[str] = mapped_column(String(96), primary_key=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), index=True)


def same_name(repo_type: str, ns: str, name: str):
    """The SQL condition: a repo of ``repo_type`` named ``ns/name`` in any case."""
    return (Repo.type == repo_type, func.lower(Repo.namespace) == ns.lower(), func.lower(Repo.name) == name.lower())


def find_repo_any_case(session: Session, repo_type: str, ns: str, name: str) -> Repo | None:
    return session.scalar(select(Repo).where(*same_name(repo_type, ns, name)).order_by(Repo.id).limit(1))


def add_redirect(session: Session, repo_type: str, ns: str, name: str, repo_id: int) -> None:
    """In the move's own transaction: the old name ``ns/name`` leads to repo ``repo_id``."""
    key = (repo_type, ns.lower(), name.lower())
    row = session.get(RepoRedirect, key)
    if row is None:
        session.add(RepoRedirect(type=key[0], namespace=key[1], name=key[2], repo_id=repo_id))
    else:
        row.repo_id = repo_id


def drop_redirect(session: Session, repo_type: str, ns: str, name: str) -> None:
    """A repo now has the name ``ns/name``: it no longer leads elsewhere."""
    session.execute(delete(RepoRedirect).where(RepoRedirect.type == repo_type,
                                               RepoRedirect.namespace == ns.lower(),
                                               RepoRedirect.name == name.lower()))


def redirect_target(sessions: sessionmaker, repo_type: str, ns: str, name: str) -> Repo | None:
    """The repo that was moved away from ``ns/name``, if any."""
    with sessions() as s:
        return s.scalar(select(Repo).join(RepoRedirect, RepoRedirect.repo_id == Repo.id).where(
            RepoRedirect.type == repo_type, RepoRedirect.namespace == ns.lower(),
            RepoRedirect.name == name.lower()))


def liked_repos(sessions: sessionmaker, user_id: int) -> list[Repo]:
    """The repos user ``user_id`` likes, most recently created first."""
    with sessions() as s:
        return list(s.scalars(select(Repo).join(Like, Like.repo_id == Repo.id).where(Like.user_id == user_id)
                              .order_by(Repo.id.desc())))


def likers_of(sessions: sessionmaker, repo_id: int) -> list[Account]:
    """The users who like repo ``repo_id``, by name."""
    with sessions() as s:
        return list(s.scalars(select(Account).join(Like, Like.user_id == Account.id)
                              .where(Like.repo_id == repo_id).order_by(Account.name)))


def is_liked(sessions: sessionmaker, user_id: int, repo_id: int) -> bool:
    """Whether user ``user_id`` likes repo ``repo_id``."""
    with sessions() as s:
        return s.get(Like, (user_id, repo_id)) is not None


# Built once: composing a statement costs more Python time than running it on SQLite.
_WHERE = (Repo.type == bindparam("type"), Repo.namespace == bindparam("ns"), Repo.name == bindparam("name"))
_REPO_BY_NAME = select(Repo).where(*_WHERE)
_REPO_AND_ROLE = (
    select(Repo, Account.id, Membership.role)
    .outerjoin(Account, Account.name == Repo.namespace)
    .outerjoin(Membership, and_(Membership.org_id == Account.id, Membership.user_id == bindparam("uid")))
    .where(*_WHERE)
)

#: The orders a listing may ask for, by the Hub's names.
SORTS = {
    "downloads": Repo.downloads,
    "likes": Repo.likes,
    "trendingScore": Repo.likes,
    "lastModified": Repo.last_modified,
    "createdAt": Repo.created_at,
    "id": Repo.namespace,
}


def repo_named(session: Session, repo_type: str, ns: str, name: str) -> Repo | None:
    """The repo spelled exactly ``ns/name`` (one indexed read)."""
    return session.scalar(_REPO_BY_NAME, {"type": repo_type, "ns": ns, "name": name})


def repo_and_role(session: Session, user_id: int, repo_type: str, ns: str, name: str) -> Row | None:
    """(repo, its namespace's account id, the user's membership role there or None), spelled exactly."""
    return session.execute(_REPO_AND_ROLE, {"type": repo_type, "ns": ns, "name": name, "uid": user_id}).first()


def repo_by_id(session: Session, repo_id: int) -> Repo | None:
    return session.get(Repo, repo_id)


def add_repo(session: Session, **fields) -> Repo:
    repo = Repo(**fields)
    session.add(repo)
    return repo


def delete_repo(session: Session, repo_id: int) -> None:
    session.execute(delete(Repo).where(Repo.id == repo_id))


def other_repo_named(session: Session, repo_type: str, ns: str, name: str, repo_id: int) -> Repo | None:
    """A repo other than ``repo_id`` named ``ns/name`` in any case."""
    return session.scalar(select(Repo).where(*same_name(repo_type, ns, name), Repo.id != repo_id))


def set_like(session: Session, user_id: int, repo_id: int, liked: bool) -> None:
    """Like or unlike, and recount the repo's likes."""
    has = session.get(Like, (user_id, repo_id))
    if liked and has is None:
        session.add(Like(user_id=user_id, repo_id=repo_id))
    elif not liked and has is not None:
        session.delete(has)
    session.get(Repo, repo_id).likes = session.scalar(select(func.count()).where(Like.repo_id == repo_id))


def find_repos(session: Session, repo_type: str, viewer: tuple[int, str] | None, *, public_only: bool,
               author: str | None, search: list[str], sort: str | None) -> list[Repo]:
    """The repos of ``repo_type`` visible to ``viewer`` ((user id, name); every repo when None and not
    ``public_only``), of ``author``, matching every ``search`` term, in the order ``sort`` (a key of SORTS)."""
    q = select(Repo).where(Repo.type == repo_type)
    if public_only:
        q = q.where(Repo.private.is_(False))
    elif viewer is not None:
        member_of = select(Account.name).join(Membership, Membership.org_id == Account.id).where(
            Membership.user_id == viewer[0])
        q = q.where(or_(Repo.private.is_(False), Repo.namespace == viewer[1], Repo.namespace.in_(member_of)))
    if author:
        q = q.where(Repo.namespace == author)
    for term in search:
        if "/" in term:
            ns, _, rest = term.partition("/")
            q = q.where(and_(Repo.namespace.ilike(f"%{ns}"), Repo.name.ilike(f"{rest}%")))
        else:
            q = q.where(or_(Repo.name.ilike(f"%{term}%"), Repo.namespace.ilike(f"%{term}%")))
    column = SORTS.get(sort or "", None)
    q = q.order_by(column.desc(), Repo.id.desc()) if column is not None else q.order_by(Repo.id)
    return list(session.scalars(q))


def all_storage_keys(sessions: sessionmaker) -> list[str]:
    """The storage key of every repo."""
    with sessions() as s:
        return list(s.scalars(select(Repo.storage_key)))
