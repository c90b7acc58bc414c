"""Users, organizations, memberships, access tokens and web sessions.

Tokens and session ids are random 160-bit+ strings; only their sha256 is stored. Passwords are
hashed with scrypt and a per-user salt. Every token is looked up in the database on every request
(an indexed read, ~0.1 ms), so a revoked token stops working at once in every worker process.
Rate limits and the event loop are :mod:`cove.server.services.signin`'s concern.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from cove.errors import BadRequest, Conflict, Forbidden, RepoNotFound, Unauthorized
from cove.protocol import check_name_part
from cove.server.db import Account, Membership, OrgSettings, Token, WebSession, utcnow

ROLES = ("read", "write", "admin")
TOKEN_PREFIX = "cove_"
RESERVED_NAMES = {"api", "v1", "datasets", "spaces", "models", "settings", "login", "logout", "new",
                  "static", "search", "organizations", "docs", "join"}


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user, how (token or web session), and with which token role."""

    user_id: int
    name: str
    is_admin: bool
    role: str  # "read" | "write" (web sessions are "write")
    token_name: str = ""
    token_created: str = ""
    #: The token's row id (None for a web session or a password): signed URLs it asks for die with it.
    token_id: int | None = None

    @property
    def can_write(self) -> bool:
        return self.role == "write"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


#: The rules a new password follows (sign-up, ``cove users add --password``, resets).
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 1024  # scrypt's cost grows with the input


def password_problem(password: str) -> str | None:
    """Why ``password`` may not be set, or None."""
    if len(password) < PASSWORD_MIN_LENGTH:
        return f"A password needs at least {PASSWORD_MIN_LENGTH} characters"
    if len(password) > PASSWORD_MAX_LENGTH:
        return f"A password has at most {PASSWORD_MAX_LENGTH} characters"
    if not password.strip():
        return "A password cannot be only spaces"
    return None


def check_password(password: str, stored: str) -> bool:
    try:
        algo, salt, digest = stored.split("$")
        salt_bytes = bytes.fromhex(salt)
    except ValueError:
        return False
    if algo != "scrypt":
        return False
    got = hashlib.scrypt(password.encode("utf-8", "surrogatepass"), salt=salt_bytes, n=2**14, r=8, p=1)
    return hmac.compare_digest(got.hex(), digest)


#: The shortest password a user may choose on the settings page.
MIN_PASSWORD = 8

#: Checked instead when there is no user or no password, so that the answer takes as long.
_DUMMY_HASH = f"scrypt${'00' * 16}${'00' * 64}"


# Built once: composing a statement costs more Python time than running it on SQLite.
_TOKEN_BY_HASH = (
    select(Token.id.label("token_id"), Token.name.label("token_name"), Token.role, Token.created_at,
           Token.last_used_at, Account.id.label("user_id"), Account.name.label("user_name"), Account.is_admin)
    .join(Account, Account.id == Token.user_id)
    .where(Token.token_hash == bindparam("hash"))
)


class Accounts:
    def __init__(self, sessions: sessionmaker) -> None:
        self._sessions = sessions

    # -- accounts --------------------------------------------------------------------------------

    def _new_account(self, s: Session, name: str, kind: str, **fields) -> Account:
        check_name_part(name, "account name")
        if name.lower() in RESERVED_NAMES:
            raise BadRequest(f"{name!r} is a reserved name")
        if s.scalar(select(Account).where(Account.name == name)) is not None:
            raise Conflict(f"The name {name!r} is already taken")
        acc = Account(name=name, kind=kind, **fields)
        s.add(acc)
        s.flush()
        return acc

    def create_user(self, name: str, *, password: str | None = None, admin: bool = False,
                    email: str = "", fullname: str = "") -> Account:
        with self._sessions.begin() as s:
            return self._new_account(
                s, name, "user", is_admin=admin, email=email, fullname=fullname or name,
                password_hash=hash_password(password) if password else "",
            )

    def set_password(self, name: str, password: str) -> None:
        with self._sessions.begin() as s:
            acc = self._user(s, name)
            acc.password_hash = hash_password(password)

    def reset_password(self, name: str, password: str) -> int:
        """Give the user ``name`` a new password (checked by :func:`password_problem`) and sign them out
        of every web session; returns how many sessions ended. Their tokens keep working.

        Raises:
            BadRequest for a password that breaks the rules; RepoNotFound when there is no such user.
        """
        problem = password_problem(password)
        if problem:
            raise BadRequest(problem)
        with self._sessions.begin() as s:
            acc = self._user(s, name)
            acc.password_hash = hash_password(password)
            ended = s.execute(delete(WebSession).where(WebSession.user_id == acc.id))
            return ended.rowcount or 0

    def create_org(self, name: str, owner: str, *, fullname: str = "") -> Account:
        with self._sessions.begin() as s:
            user = self._user(s, owner)
            org = self._new_account(s, name, "org", fullname=fullname or name)
            s.add(Membership(org_id=org.id, user_id=user.id, role="admin"))
            return org

    def set_private_by_default(self, org: str, value: bool) -> None:
        """Whether repos and buckets created in ``org`` without a visibility are private."""
        with self._sessions.begin() as s:
            o = s.scalar(select(Account).where(Account.name == org, Account.kind == "org"))
            if o is None:
                raise RepoNotFound(f"No organization named {org!r}")
            row = s.get(OrgSettings, o.id)
            if row is None:
                s.add(OrgSettings(org_id=o.id, private_by_default=value))
            else:
                row.private_by_default = value

    def private_by_default(self, namespace: str) -> bool:
        with self._sessions() as s:
            return bool(s.scalar(select(OrgSettings.private_by_default).join(Account, Account.id == OrgSettings.org_id)
                                 .where(Account.name == namespace)))

    def add_member(self, org: str, user: str, role: str) -> None:
        if role not in ROLES:
            raise BadRequest(f"Invalid role {role!r}: use one of {', '.join(ROLES)}")
        with self._sessions.begin() as s:
            o = s.scalar(select(Account).where(Account.name == org, Account.kind == "org"))
            if o is None:
                raise RepoNotFound(f"No organization named {org!r}")
            u = self._user(s, user)
            m = s.get(Membership, (o.id, u.id))
            if m is None:
                s.add(Membership(org_id=o.id, user_id=u.id, role=role))
            else:
                m.role = role

    def _user(self, s: Session, name: str) -> Account:
        acc = s.scalar(select(Account).where(Account.name == name, Account.kind == "user"))
        if acc is None:
            raise RepoNotFound(f"No user named {name!r}")
        return acc

    def get(self, name: str) -> Account | None:
        with self._sessions() as s:
            return s.scalar(select(Account).where(Account.name == name))

    def count_users(self) -> int:
        with self._sessions() as s:
            return len(s.scalars(select(Account.id).where(Account.kind == "user")).all())

    def orgs_of(self, user_id: int) -> list[tuple[Account, str]]:
        with self._sessions() as s:
            rows = s.execute(
                select(Account, Membership.role)
                .join(Membership, Membership.org_id == Account.id)
                .where(Membership.user_id == user_id)
                .order_by(Account.name)
            ).all()
            return [(a, r) for a, r in rows]

    def members_of(self, org_id: int) -> list[tuple[Account, str]]:
        with self._sessions() as s:
            rows = s.execute(
                select(Account, Membership.role)
                .join(Membership, Membership.user_id == Account.id)
                .where(Membership.org_id == org_id)
                .order_by(Account.name)
            ).all()
            return [(a, r) for a, r in rows]

    def role_in(self, user_id: int, namespace: str) -> str | None:
        """The user's role in ``namespace``: "admin" for their own, the membership role for an org."""
        with self._sessions() as s:
            acc = s.scalar(select(Account).where(Account.name == namespace))
            if acc is None:
                return None
            if acc.id == user_id:
                return "admin"
            m = s.get(Membership, (acc.id, user_id))
            return m.role if m else None

    # -- tokens ----------------------------------------------------------------------------------

    def create_token(self, user: str, name: str = "token", *, role: str = "write") -> str:
        """A new token for ``user``; the only time its value is seen."""
        if role not in ("read", "write"):
            raise BadRequest(f"Invalid token role {role!r}: use read or write")
        value = TOKEN_PREFIX + secrets.token_urlsafe(30)
        with self._sessions.begin() as s:
            u = self._user(s, user)
            s.add(Token(user_id=u.id, name=name[:100] or "token", token_hash=_sha256(value), role=role,
                        prefix=value[:9]))
        return value

    def list_tokens(self, user_id: int) -> list[Token]:
        with self._sessions() as s:
            return list(s.scalars(select(Token).where(Token.user_id == user_id).order_by(Token.id)))

    def revoke_token(self, user_id: int, token_id: int) -> str:
        """Delete one of the user's tokens; returns its name."""
        with self._sessions.begin() as s:
            t = s.get(Token, token_id)
            if t is None or t.user_id != user_id:
                raise Forbidden("No such token")
            name = t.name
            s.delete(t)
        return name

    def token_alive(self, token_id: int) -> bool:
        with self._sessions() as s:
            return s.get(Token, token_id) is not None

    def principal_of(self, user_id: int, token_id: int | None) -> Principal | None:
        """The caller a signed grant (a Xet token) was made for, as it is now: through its token, or,
        without one (a web session), as the user; None if the token was revoked or the user deleted."""
        with self._sessions() as s:
            if token_id:
                row = s.execute(
                    select(Token.id, Token.name, Token.role, Token.created_at, Account.id, Account.name,
                           Account.is_admin).join(Account, Account.id == Token.user_id)
                    .where(Token.id == token_id, Token.user_id == user_id)).first()
                if row is None:
                    return None
                return Principal(row[4], row[5], row[6], row[2], row[1], row[3].isoformat(), row[0])
            acc = s.get(Account, user_id)
        return None if acc is None or acc.kind != "user" else Principal(acc.id, acc.name, acc.is_admin, "write", "web")

    def authenticate_token(self, value: str) -> Principal:
        """The token's user and role; ``Unauthorized`` if no such token exists (any more). One indexed
        read (a write only to note ``last_used_at``, at most once a minute)."""
        key = _sha256(value)
        with self._sessions() as s:
            row = s.execute(_TOKEN_BY_HASH, {"hash": key}).first()
        if row is None:
            raise Unauthorized("Invalid credentials in Authorization header")
        now = utcnow()
        if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
            with self._sessions.begin() as s:
                s.execute(update(Token).where(Token.id == row.token_id).values(last_used_at=now))
        return Principal(row.user_id, row.user_name, row.is_admin, row.role, row.token_name,
                         row.created_at.isoformat(), row.token_id)

    def authenticate_password(self, name: str, password: str) -> Principal | None:
        """The user if ``password`` is theirs. Slow on purpose (scrypt) and as slow for a name that does
        not exist: call it off the event loop, through :class:`~cove.server.services.signin.SignIns`."""
        with self._sessions() as s:
            acc = s.scalar(select(Account).where(Account.name == name, Account.kind == "user"))
        stored = acc.password_hash if acc is not None and acc.password_hash else _DUMMY_HASH
        if not check_password(password, stored) or stored is _DUMMY_HASH:
            return None
        return Principal(acc.id, acc.name, acc.is_admin, "write")

    # -- web sessions ----------------------------------------------------------------------------

    def create_session(self, user_id: int, days: int = 14) -> str:
        value = secrets.token_urlsafe(32)
        with self._sessions.begin() as s:
            s.add(WebSession(session_hash=_sha256(value), user_id=user_id,
                             expires_at=utcnow() + timedelta(days=days)))
        return value

    def authenticate_session(self, value: str) -> Principal | None:
        with self._sessions() as s:
            row = s.execute(
                select(WebSession, Account).join(Account, Account.id == WebSession.user_id)
                .where(WebSession.session_hash == _sha256(value))
            ).first()
        if row is None or row[0].expires_at < utcnow():
            return None
        acc = row[1]
        return Principal(acc.id, acc.name, acc.is_admin, "write", "web")

    def change_password(self, user_id: int, password: str, *, keep_session: str) -> int:
        """Set the user's password and end every web session of theirs but ``keep_session`` (the browser
        that changed it); returns how many sessions ended. Tokens are kept: they are revoked one by one."""
        if len(password) < MIN_PASSWORD:
            raise BadRequest(f"The new password is too short: use at least {MIN_PASSWORD} characters")
        with self._sessions.begin() as s:
            acc = s.get(Account, user_id)
            if acc is None or acc.kind != "user":
                raise BadRequest("No such user")
            acc.password_hash = hash_password(password)
            ended = s.execute(delete(WebSession).where(WebSession.user_id == user_id,
                                                       WebSession.session_hash != _sha256(keep_session)))
            return ended.rowcount or 0

    def delete_session(self, value: str) -> None:
        with self._sessions.begin() as s:
            ws = s.get(WebSession, _sha256(value))
            if ws is not None:
                s.delete(ws)
