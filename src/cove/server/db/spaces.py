"""Spaces: the runtime of each Space (its stage, the commit it runs, where its app answers) and the
secrets and variables its owners set. Every replica reads the stage here; the one that runs Spaces
writes it (:mod:`cove.server.spaces.runner`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from cove.server.db import Base, Repo, utcnow
from cove.server.db.sealed import Sealer, secret_context


class SpaceState(Base):
    """One row per Space that has been seen by the runner or changed by its owners."""

    __tablename__ = "space_states"
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    #: BUILDING, APP_STARTING, RUNNING, SLEEPING, PAUSED, STOPPED, NO_APP_FILE, CONFIG_ERROR,
    #: BUILD_ERROR, RUNTIME_ERROR
    stage: Mapped[str] = mapped_column(String(24), default="BUILDING")
    #: The commit being built or run ("" before the first build).
    sha: Mapped[str] = mapped_column(String(40), default="")
    error: Mapped[str] = mapped_column(String(1000), default="")
    #: Where the app answers on the runner's machine (0: no process).
    port: Mapped[int] = mapped_column(Integer, default=0)
    #: Seconds without a proxied request before the app sleeps (None: the Hub's default; -1: never).
    sleep_time: Mapped[int | None] = mapped_column(Integer, nullable=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Bumped by each restart (and each secret or variable change): the runner rebuilds when it moves.
    generation: Mapped[int] = mapped_column(Integer, default=0)
    #: A restart that also throws the Space's venv away.
    factory: Mapped[bool] = mapped_column(Boolean, default=False)
    last_request_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class SpaceSetting(Base):
    """A secret or a variable: given to the app as an environment variable; a secret's value is never
    shown back, and stored encrypted (:mod:`cove.server.db.sealed`, bound to its Space and name)."""

    __tablename__ = "space_settings"
    __table_args__ = (UniqueConstraint("repo_id", "kind", "key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # "secret" | "variable"
    key: Mapped[str] = mapped_column(String(128))
    value: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(String(500), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


def space_state(s: Session, repo_id: int, *, create: bool = False) -> SpaceState | None:
    row = s.get(SpaceState, repo_id)
    if row is None and create:
        row = SpaceState(repo_id=repo_id, stage="BUILDING", sha="", error="", port=0, paused=False,
                         generation=0, factory=False, last_request_at=utcnow(), updated_at=utcnow())
        s.add(row)
        s.flush()
    return row


def spaces_with_states(s: Session) -> list[tuple[Repo, SpaceState | None]]:
    """Every Space repo and its state row (None when it has none yet)."""
    rows = s.execute(select(Repo, SpaceState).outerjoin(SpaceState, SpaceState.repo_id == Repo.id)
                     .where(Repo.type == "space").order_by(Repo.id))
    return [(repo, state) for repo, state in rows]


def stages_of(s: Session, repo_ids: list[int]) -> dict[int, str]:
    """``{repo id: stage}`` of those of ``repo_ids`` that have a state row."""
    if not repo_ids:
        return {}
    return dict(s.execute(select(SpaceState.repo_id, SpaceState.stage).where(SpaceState.repo_id.in_(repo_ids))).all())


def space_settings(s: Session, repo_id: int, kind: str | None = None) -> list[SpaceSetting]:
    cond = [SpaceSetting.repo_id == repo_id] + ([SpaceSetting.kind == kind] if kind else [])
    return list(s.scalars(select(SpaceSetting).where(*cond).order_by(SpaceSetting.key)))


def space_environment(s: Session, repo_id: int, sealer: Sealer) -> dict[str, dict[str, str]]:
    """``{kind: {key: value}}`` of the Space's variables and secrets, the secrets decrypted."""
    out: dict[str, dict[str, str]] = {"variable": {}, "secret": {}}
    for row in space_settings(s, repo_id):
        value = sealer.open(row.value, secret_context(repo_id, row.key)) if row.kind == "secret" else row.value
        out.setdefault(row.kind, {})[row.key] = value
    return out


def check_sealed(s: Session, sealer: Sealer) -> None:
    """Raise :class:`~cove.server.db.sealed.WrongKey` when the secrets were sealed with another key."""
    row = s.scalar(select(SpaceSetting).where(SpaceSetting.kind == "secret").limit(1))
    if row is not None:
        sealer.open(row.value, secret_context(row.repo_id, row.key))


def put_space_setting(s: Session, repo_id: int, kind: str, key: str, value: str, description: str | None,
                      sealer: Sealer) -> None:
    row = s.scalar(select(SpaceSetting).where(SpaceSetting.repo_id == repo_id, SpaceSetting.kind == kind,
                                              SpaceSetting.key == key))
    if row is None:
        row = SpaceSetting(repo_id=repo_id, kind=kind, key=key, description="")
        s.add(row)
    row.value = sealer.seal(value, secret_context(repo_id, key)) if kind == "secret" else value
    if description is not None:
        row.description = description
    row.updated_at = utcnow()


def drop_space_setting(s: Session, repo_id: int, kind: str, key: str) -> bool:
    result = s.execute(delete(SpaceSetting).where(SpaceSetting.repo_id == repo_id, SpaceSetting.kind == kind,
                                                  SpaceSetting.key == key))
    return bool(result.rowcount)
