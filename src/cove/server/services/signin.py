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

The counters live in this process (one per ``cove serve`` worker).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import OrderedDict, deque

from starlette.concurrency import run_in_threadpool

from cove.errors import TooManyRequests, Unauthorized
from cove.server.services.accounts import Accounts, Principal
from cove.server.services.audit import Audit
from cove.server.settings import Settings


class FailureWindow:
    """Failure times per key over a sliding window; at most ``max_keys`` keys are remembered."""

    def __init__(self, window: float, max_keys: int = 100_000) -> None:
        self.window = window
        self.max_keys = max_keys
        self._times: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _live(self, key: str, now: float) -> deque[float]:
        times = self._times.get(key)
        if times is None:
            times = self._times[key] = deque()
            if len(self._times) > self.max_keys:
                self._times.popitem(last=False)
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def wait(self, key: str, limit: int, now: float) -> float:
        """Seconds until ``key`` may try again (0: now)."""
        with self._lock:
            times = self._live(key, now)
            return 0.0 if len(times) < limit else times[len(times) - limit] + self.window - now

    def add(self, key: str, now: float) -> None:
        with self._lock:
            self._live(key, now).append(now)
            self._times.move_to_end(key)

    def forgive(self, key: str, at: float) -> None:
        """Take back the failure counted at ``at`` (the attempt succeeded)."""
        with self._lock:
            times = self._times.get(key)
            if times is not None and at in times:
                times.remove(at)


class SignIns:
    def __init__(self, accounts: Accounts, settings: Settings, audit: Audit) -> None:
        self._accounts = accounts
        self._audit = audit
        self._settings = settings
        self._failures = FailureWindow(settings.login_window)
        self._slots = asyncio.Semaphore(settings.password_checks_at_once)

    async def password(self, name: str, password: str, ip: str, *, via: str = "basic") -> Principal:
        """The user if ``password`` is theirs; ``Unauthorized`` if not, ``TooManyRequests`` if this
        name or address failed too often lately. Failures go to the audit log, and so do successes
        of the web form (``via="web"``; a git client sends its password with every request)."""
        s = self._settings
        keys = ((f"user:{name.lower()[:256]}", s.login_failures_per_user), (f"ip:{ip}", s.login_failures_per_ip))
        now = time.monotonic()
        wait = max(self._failures.wait(key, limit, now) for key, limit in keys)
        if wait > 0:
            raise TooManyRequests(
                f"Too many failed sign-ins for {name!r} or from {ip}: try again in {math.ceil(wait)} s "
                "(or use an access token)", retry_after=math.ceil(wait))
        for key, _ in keys:
            self._failures.add(key, now)
        async with self._slots:
            who = await run_in_threadpool(self._accounts.authenticate_password, name, password)
        if who is None:
            await run_in_threadpool(self._audit.record, "user.login_failed", actor=None, ip=ip, target=name[:100],
                                    detail={"via": via})
            raise Unauthorized("Invalid username or password")
        for key, _ in keys:
            self._failures.forgive(key, now)
        if via == "web":
            await run_in_threadpool(self._audit.record, "user.login", actor=who.name, ip=ip, target=who.name,
                                    detail={"via": via})
        return who
