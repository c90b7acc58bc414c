"""The queries of users, organizations, memberships, access tokens and web sessions
(:mod:`cove.server.services.accounts` owns the transactions and the rules)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Row, bindparam, delete, select, update
from sqlalchemy.orm import Session

from cove.server.db import Account, Membership, OrgSettings, Token, WebSession

# Built once: composing a statement costs more Python time than running it on SQLite.
_TOKEN_BY_HASH = (
    select(Token.id.label("token_id"), Token.name.label("token_name"), Token.role, Token.created_at,
           Token.last_used_at, Account.id.label("user_id"), Account.name.label("user_name"), Account.is_admin)
    .join(Account, Account.id == Token.user_id)
    .where(Token.token_hash == bindparam("hash"))
)


def account_named(s: Session, name: str, kind: str | None = None) -> Account | None:
    """The account ``name`` (only of ``kind``, "user" or "org", when given)."""
    cond = [Account.name == name] if kind is None else [Account.name == name, Account.kind == kind]
    return s.scalar(select(Account).where(*cond))


def account_by_id(s: Session, account_id: int) -> Account | None:
    return s.get(Account, account_id)


def add_account(s: Session, name: str, kind: str, **fields) -> Account:
    acc = Account(name=name, kind=kind, **fields)
    s.add(acc)
    s.flush()
    return acc


def count_users(s: Session) -> int:
    return len(s.scalars(select(Account.id).where(Account.kind == "user")).all())


def set_membership(s: Session, org_id: int, user_id: int, role: str) -> None:
    """Add the member or change their role."""
    m = s.get(Membership, (org_id, user_id))
    if m is None:
        s.add(Membership(org_id=org_id, user_id=user_id, role=role))
    else:
        m.role = role


def membership_role(s: Session, org_id: int, user_id: int) -> str | None:
    m = s.get(Membership, (org_id, user_id))
    return m.role if m else None


def _with_roles(s: Session, account_side, condition) -> list[tuple[Account, str]]:
    """The accounts at ``account_side`` of the memberships that meet ``condition``, with their roles, by name."""
    rows = s.execute(
        select(Account, Membership.role)
        .join(Membership, account_side == Account.id)
        .where(condition)
        .order_by(Account.name)
    ).all()
    return [(a, r) for a, r in rows]


def orgs_of(s: Session, user_id: int) -> list[tuple[Account, str]]:
    """The user's organizations and their role in each."""
    return _with_roles(s, Membership.org_id, Membership.user_id == user_id)


def members_of(s: Session, org_id: int) -> list[tuple[Account, str]]:
    """The organization's members and their roles."""
    return _with_roles(s, Membership.user_id, Membership.org_id == org_id)


def set_private_by_default(s: Session, org_id: int, value: bool) -> None:
    row = s.get(OrgSettings, org_id)
    if row is None:
        s.add(OrgSettings(org_id=org_id, private_by_default=value))
    else:
        row.private_by_default = value


def private_by_default(s: Session, namespace: str) -> bool:
    return bool(s.scalar(select(OrgSettings.private_by_default).join(Account, Account.id == OrgSettings.org_id)
                         .where(Account.name == namespace)))


# -- tokens --------------------------------------------------------------------------------------

def add_token(s: Session, user_id: int, name: str, token_hash: str, role: str, prefix: str) -> None:
    s.add(Token(user_id=user_id, name=name, token_hash=token_hash, role=role, prefix=prefix))


def tokens_of(s: Session, user_id: int) -> list[Token]:
    return list(s.scalars(select(Token).where(Token.user_id == user_id).order_by(Token.id)))


def token_by_id(s: Session, token_id: int) -> Token | None:
    return s.get(Token, token_id)


def delete_row(s: Session, row: Token | WebSession) -> None:
    s.delete(row)


def token_with_user(s: Session, token_id: int, user_id: int) -> Row | None:
    """(token id, name, role, created_at, user id, user name, is_admin) of the user's token."""
    return s.execute(
        select(Token.id, Token.name, Token.role, Token.created_at, Account.id, Account.name,
               Account.is_admin).join(Account, Account.id == Token.user_id)
        .where(Token.id == token_id, Token.user_id == user_id)).first()


def token_by_hash(s: Session, token_hash: str) -> Row | None:
    """The token and its user, by the token's sha256 (one indexed read)."""
    return s.execute(_TOKEN_BY_HASH, {"hash": token_hash}).first()


def note_token_used(s: Session, token_id: int, now: datetime) -> None:
    s.execute(update(Token).where(Token.id == token_id).values(last_used_at=now))


# -- web sessions --------------------------------------------------------------------------------

def add_web_session(s: Session, session_hash: str, user_id: int, expires_at: datetime) -> None:
    s.add(WebSession(session_hash=session_hash, user_id=user_id, expires_at=expires_at))


def web_session_with_account(s: Session, session_hash: str) -> Row | None:
    """(WebSession, Account) of the session, or None."""
    return s.execute(
        select(WebSession, Account).join(Account, Account.id == WebSession.user_id)
        .where(WebSession.session_hash == session_hash)
    ).first()


def web_session(s: Session, session_hash: str) -> WebSession | None:
    return s.get(WebSession, session_hash)


def end_web_sessions(s: Session, user_id: int, *, keep_hash: str | None = None) -> int:
    """Delete the user's web sessions (all but ``keep_hash``'s); returns how many ended."""
    cond = [WebSession.user_id == user_id]
    if keep_hash is not None:
        cond.append(WebSession.session_hash != keep_hash)
    return s.execute(delete(WebSession).where(*cond)).rowcount or 0
