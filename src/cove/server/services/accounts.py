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

from sqlalchemy.orm import Session, sessionmaker

from cove.errors import BadRequest, Conflict, Forbidden, RepoNotFound, Unauthorized
from cove.protocol import check_name_part
from cove.server.db import Account, Token, utcnow
from cove.server.db import accounts as q

ROLES = ("read", "write", "admin")
TOKEN_PREFIX = "cove_"
RESERVED_NAMES = {"api", "v1", "datasets", "spaces", "models", "kernels", "settings", "login", "logout", "new",
                  "static", "search", "organizations", "docs", "join",
                  "collections"}


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


class Accounts:
    def __init__(self, sessions: sessionmaker) -> None:
        self._sessions = sessions

    # -- accounts --------------------------------------------------------------------------------

    def _new_account(self, s: Session, name: str, kind: str, **fields) -> Account:
        check_name_part(name, "account name")
        if name.lower() in RESERVED_NAMES:
            raise BadRequest(f"{name!r} is a reserved name")
        if q.account_named(s, name) is not None:
            raise Conflict(f"The name {name!r} is already taken")
        return q.add_account(s, name, kind, **fields)

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
            return q.end_web_sessions(s, acc.id)

    def create_org(self, name: str, owner: str, *, fullname: str = "") -> Account:
        with self._sessions.begin() as s:
            user = self._user(s, owner)
            org = self._new_account(s, name, "org", fullname=fullname or name)
            q.set_membership(s, org.id, user.id, "admin")
            return org

    def set_private_by_default(self, org: str, value: bool) -> None:
        """Whether repos and buckets created in ``org`` without a visibility are private."""
        with self._sessions.begin() as s:
            o = q.account_named(s, org, "org")
            if o is None:
                raise RepoNotFound(f"No organization named {org!r}")
            q.set_private_by_default(s, o.id, value)

    def private_by_default(self, namespace: str) -> bool:
        with self._sessions() as s:
            return q.private_by_default(s, namespace)

    def add_member(self, org: str, user: str, role: str) -> None:
        if role not in ROLES:
            raise BadRequest(f"Invalid role {role!r}: use one of {', '.join(ROLES)}")
        with self._sessions.begin() as s:
            o = q.account_named(s, org, "org")
            if o is None:
                raise RepoNotFound(f"No organization named {org!r}")
            u = self._user(s, user)
            q.set_membership(s, o.id, u.id, role)

    def _user(self, s: Session, name: str) -> Account:
        acc = q.account_named(s, name, "user")
        if acc is None:
            raise RepoNotFound(f"No user named {name!r}")
        return acc

    def get(self, name: str) -> Account | None:
        with self._sessions() as s:
            return q.account_named(s, name)

    def count_users(self) -> int:
        with self._sessions() as s:
            return q.count_users(s)

    def orgs_of(self, user_id: int) -> list[tuple[Account, str]]:
        with self._sessions() as s:
            return q.orgs_of(s, user_id)

    def members_of(self, org_id: int) -> list[tuple[Account, str]]:
        with self._sessions() as s:
            return q.members_of(s, org_id)

    def role_in(self, user_id: int, namespace: str) -> str | None:
        """The user's role in ``namespace``: "admin" for their own, the membership role for an org."""
        with self._sessions() as s:
            acc = q.account_named(s, namespace)
            if acc is None:
                return None
            if acc.id == user_id:
                return "admin"
            return q.membership_role(s, acc.id, user_id)

    # -- tokens ----------------------------------------------------------------------------------

    def create_token(self, user: str, name: str = "token", *, role: str = "write") -> str:
        """A new token for ``user``; the only time its value is seen."""
        if role not in ("read", "write"):
            raise BadRequest(f"Invalid token role {role!r}: use read or write")
        value = TOKEN_PREFIX + secrets.token_urlsafe(30)
        with self._sessions.begin() as s:
            u = self._user(s, user)
            q.add_token(s, u.id, name[:100] or "token", _sha256(value), role, value[:9])
        return value

    def list_tokens(self, user_id: int) -> list[Token]:
        with self._sessions() as s:
            return q.tokens_of(s, user_id)

    def revoke_token(self, user_id: int, token_id: int) -> str:
        """Delete one of the user's tokens; returns its name."""
        with self._sessions.begin() as s:
            t = q.token_by_id(s, token_id)
            if t is None or t.user_id != user_id:
                raise Forbidden("No such token")
            name = t.name
            q.delete_row(s, t)
        return name

    def revoke_leaked(self, values: list[str]) -> list[tuple[str, str]]:
        """Delete the tokens whose values these are, whoever reports them (a leaked token is revoked
        by anyone who holds it: huggingface_hub's ``revoke_tokens``); returns (user, token name) of
        each one deleted. Values that are no token are skipped without a trace."""
        gone: list[tuple[str, str]] = []
        with self._sessions.begin() as s:
            for key in dict.fromkeys(_sha256(v) for v in values if v.startswith(TOKEN_PREFIX)):
                row = q.token_by_hash(s, key)
                if row is not None:
                    q.delete_row(s, q.token_by_id(s, row.token_id))
                    gone.append((row.user_name, row.token_name))
        return gone

    def token_alive(self, token_id: int) -> bool:
        with self._sessions() as s:
            return q.token_by_id(s, token_id) is not None

    def principal_of(self, user_id: int, token_id: int | None) -> Principal | None:
        """The caller a signed grant (a Xet token) was made for, as it is now: through its token, or,
        without one (a web session), as the user; None if the token was revoked or the user deleted."""
        with self._sessions() as s:
            if token_id:
                row = q.token_with_user(s, token_id, user_id)
                if row is None:
                    return None
                return Principal(row[4], row[5], row[6], row[2], row[1], row[3].isoformat(), row[0])
            acc = q.account_by_id(s, user_id)
        return None if acc is None or acc.kind != "user" else Principal(acc.id, acc.name, acc.is_admin, "write", "web")

    def authenticate_token(self, value: str) -> Principal:
        """The token's user and role; ``Unauthorized`` if no such token exists (any more). One indexed
        read (a write only to note ``last_used_at``, at most once a minute)."""
        key = _sha256(value)
        with self._sessions() as s:
            row = q.token_by_hash(s, key)
        if row is None:
            raise Unauthorized("Invalid credentials in Authorization header")
        now = utcnow()
        if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
            with self._sessions.begin() as s:
                q.note_token_used(s, row.token_id, now)
        return Principal(row.user_id, row.user_name, row.is_admin, row.role, row.token_name,
                         row.created_at.isoformat(), row.token_id)

    def authenticate_password(self, name: str, password: str) -> Principal | None:
        """The user if ``password`` is theirs. Slow on purpose (scrypt) and as slow for a name that does
        not exist: call it off the event loop, through :class:`~cove.server.services.signin.SignIns`."""
        with self._sessions() as s:
            acc = q.account_named(s, name, "user")
        stored = acc.password_hash if acc is not None and acc.password_hash else _DUMMY_HASH
        if not check_password(password, stored) or stored is _DUMMY_HASH:
            return None
        return Principal(acc.id, acc.name, acc.is_admin, "write")

    # -- web sessions ----------------------------------------------------------------------------

    def create_session(self, user_id: int, days: int = 14) -> str:
        value = secrets.token_urlsafe(32)
        with self._sessions.begin() as s:
            q.add_web_session(s, _sha256(value), user_id, utcnow() + timedelta(days=days))
        return value

    def authenticate_session(self, value: str) -> Principal | None:
        with self._sessions() as s:
            row = q.web_session_with_account(s, _sha256(value))
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
            acc = q.account_by_id(s, user_id)
            if acc is None or acc.kind != "user":
                raise BadRequest("No such user")
            acc.password_hash = hash_password(password)
            return q.end_web_sessions(s, user_id, keep_hash=_sha256(keep_session))

    def delete_session(self, value: str) -> None:
        with self._sessions.begin() as s:
            ws = q.web_session(s, _sha256(value))
            if ws is not None:
                q.delete_row(s, ws)
