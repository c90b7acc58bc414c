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

from sqlalchemy import ForeignKey, String, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from cove.server.db import Base, Like, Repo


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
