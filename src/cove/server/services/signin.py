"""Password sign-ins: rate-limited, off the event loop, and the same cost whether the user exists or not.

A password check is scrypt (~50 ms of CPU and 16 MiB), so it is what an unauthenticated caller can
make the server do most cheaply. Three rules bound it:

- every attempt counts as a failure for its user name and its client address *before* the check runs,
  and is forgiven if the password was right; past ``login_failures_per_user`` or
  ``login_failures_per_ip`` failures in ``login_window`` seconds the next attempt gets
  ``TooManyRequests`` (429, ``Retry-After``) without any scrypt, so a flood of concurrent attempts
  cannot all get through before the first one fails;
- at most ``password_checks_at_once`` checks run at once, in worker threads: the event loop never
  hashes, and waiting attempts hold no thread;
- an unknown user name, or a user without a password, is checked against a dummy hash, so the time
  an answer takes does not tell which names exist.

The failures are rows in the database (:mod:`cove.server.db.signins`), so the limits hold across every
replica of one Hub and across restarts: an attempt writes its failures first, then counts what every
replica wrote, so concurrent attempts on several replicas cannot all pass (some may be refused that
one process alone would have let through, never the reverse). The number of checks at once is a bound
of each process's CPU and memory, so it stays per process.
"""

from __future__ import annotations

import asyncio
import math
import time

from sqlalchemy.orm import sessionmaker
from starlette.concurrency import run_in_threadpool

from cove.errors import TooManyRequests, Unauthorized
from cove.server.db.signins import add_failures, failure_times, prune, remove_failures
from cove.server.services.accounts import Accounts, Principal
from cove.server.services.audit import Audit
from cove.server.settings import Settings


class FailureWindow:
    """Failures per key over a sliding window of ``window`` seconds, kept in the database."""

    def __init__(self, sessions: sessionmaker, window: float) -> None:
        self._sessions = sessions
        self.window = window

    def attempt(self, limits: dict[str, int], now: float) -> tuple[list[int], float]:
        """Count an attempt as a failure of each key in ``limits`` (key -> failures allowed); the rows
        written, and the seconds until the attempt may be made (0: now). An attempt that must wait is
        not counted (its rows are removed again)."""
        since = now - self.window
        ids = add_failures(self._sessions, limits, now, since=since)
        wait = 0.0
        for key, limit in limits.items():
            times = failure_times(self._sessions, key, since)
            if len(times) > limit:  # this attempt's own row is among them
                wait = max(wait, times[len(times) - 1 - limit] + self.window - now, 1.0)
        if wait > 0:
            remove_failures(self._sessions, ids)
        return ids, wait

    def forgive(self, ids: list[int]) -> None:
        """Take back an attempt's failures (the password was right)."""
        remove_failures(self._sessions, ids)

    def prune(self, now: float) -> int:
        """Remove the failures past the window (of keys nobody tried again)."""
        return prune(self._sessions, now - self.window)


class SignIns:
    def __init__(self, sessions: sessionmaker, accounts: Accounts, settings: Settings, audit: Audit) -> None:
        self._accounts = accounts
        self._audit = audit
        self._settings = settings
        self.failures = FailureWindow(sessions, settings.login_window)
        self._slots = asyncio.Semaphore(settings.password_checks_at_once)

    async def password(self, name: str, password: str, ip: str, *, via: str = "basic") -> Principal:
        """The user if ``password`` is theirs; ``Unauthorized`` if not, ``TooManyRequests`` if this
        name or address failed too often lately. Failures go to the audit log, and so do successes
        of the web form (``via="web"``; a git client sends its password with every request)."""
        s = self._settings
        limits = {f"user:{name.lower()[:256]}": s.login_failures_per_user, f"ip:{ip[:256]}": s.login_failures_per_ip}
        ids, wait = await run_in_threadpool(self.failures.attempt, limits, time.time())
        if wait > 0:
            raise TooManyRequests(
                f"Too many failed sign-ins for {name!r} or from {ip}: try again in {math.ceil(wait)} s "
                "(or use an access token)", retry_after=math.ceil(wait))
        async with self._slots:
            who = await run_in_threadpool(self._accounts.authenticate_password, name, password)
        if who is None:
            await run_in_threadpool(self._audit.record, "user.login_failed", actor=None, ip=ip, target=name[:100],
                                    detail={"via": via})
            raise Unauthorized("Invalid username or password")
        await run_in_threadpool(self.failures.forgive, ids)
        if via == "web":
            await run_in_threadpool(self._audit.record, "user.login", actor=who.name, ip=ip, target=who.name,
                                    detail={"via": via})
        return who
