"""Spaces as the API and the proxy see them: the runtime object (§4.3 of the community spec), restart,
pause, sleep time, secrets and variables, the log streams, and where a request to a Space's app goes
(waking it first when it sleeps). The runner (:mod:`cove.server.spaces.runner`) does the work; this
records what is wanted in the database and reads back what happened."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from starlette.concurrency import run_in_threadpool

from cove.errors import BadRequest, CoveError
from cove.server.db import Repo, utcnow
from cove.server.db.spaces import (
    SpaceState,
    drop_space_setting,
    put_space_setting,
    space_settings,
    space_state,
)
from cove.server.services.accounts import Accounts, Principal
from cove.server.services.repos import Repos
from cove.server.settings import Settings
from cove.server.spaces.builder import SpaceDirs
from cove.server.spaces.logs import read_events
from cove.server.spaces.runner import ENV_KEY, Runner

#: Stages in which the app is (or is about to be) answering.
LIVE = ("RUNNING", "APP_STARTING", "SLEEPING")
#: Seconds between two keep-alives of a log stream: more than the client's 5 s no-follow read timeout,
#: less than its 120 s follow timeout (§4.5).
KEEPALIVE = 20
#: Seconds between two writes of a Space's last request time (each request would be a write otherwise).
TOUCH_EVERY = 5.0
MAX_VALUE = 64 * 1024


class SpaceUnavailable(CoveError):
    """The Space's app cannot answer now (building, paused, failed); the message says which.

    Example: ``SpaceUnavailable: alice/demo is BUILD_ERROR: pip install failed (exit code 1)``
    """

    status = 503
    code = "SpaceUnavailable"


@dataclass(frozen=True)
class Upstream:
    port: int  # the app's port (0 for a static Space)
    static_dir: Path | None
    index: str


class Spaces:
    def __init__(self, settings: Settings, sessions, repos: Repos, accounts: Accounts, runner: Runner) -> None:
        self.settings = settings
        self._sessions = sessions
        self._repos = repos
        self._accounts = accounts
        self.runner = runner
        self._touched: dict[int, float] = {}

    # -- reading --------------------------------------------------------------------------------

    def state(self, repo: Repo) -> SpaceState | None:
        with self._sessions() as s:
            return space_state(s, repo.id)

    def runtime(self, repo: Repo, state: SpaceState | None = None) -> dict:
        """The runtime object of §4.3 (``stage`` always present, ``hardware`` always an object)."""
        state = state or self.state(repo)
        stage = state.stage if state is not None else "BUILDING"
        sleep = state.sleep_time if state is not None and state.sleep_time is not None else self.settings.spaces_sleep_seconds
        card = repo.card_data or {}
        return {
            "stage": stage, "hardware": {"current": "cpu-basic", "requested": "cpu-basic"},
            "gcTimeout": None if sleep < 0 else sleep, "storage": None, "devMode": False, "hotReloading": None,
            "replicas": {"current": 1 if stage in LIVE else 0, "requested": 1},
            "sdk": card.get("sdk") or repo.sdk or None, "sdkVersion": card.get("sdk_version"),
            "errorMessage": (state.error or None) if state is not None else None,
        }

    def get(self, who: Principal | None, repo_id: str, need: str = "read") -> Repo:
        return self._repos.get(who, "space", repo_id, need)

    def runtime_of(self, who: Principal | None, repo_id: str) -> dict:
        return self.runtime(self.get(who, repo_id))

    # -- changing -------------------------------------------------------------------------------

    def _change(self, repo: Repo, **values) -> dict:
        with self._sessions.begin() as s:
            row = space_state(s, repo.id, create=True)
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
        self.runner.nudge()
        return self.runtime(repo)

    def restart(self, who: Principal | None, repo_id: str, *, factory: bool = False) -> dict:
        repo = self.get(who, repo_id, "write")
        with self._sessions.begin() as s:
            row = space_state(s, repo.id, create=True)
            row.generation += 1
            row.paused, row.factory, row.stage, row.error = False, factory, "BUILDING", ""
            row.updated_at = utcnow()
        self.runner.nudge()
        return self.runtime(repo)

    def pause(self, who: Principal | None, repo_id: str) -> dict:
        repo = self.get(who, repo_id, "write")
        return self._change(repo, paused=True, stage="PAUSED", port=0)

    def set_sleep_time(self, who: Principal | None, repo_id: str, seconds: object) -> dict:
        repo = self.get(who, repo_id, "write")
        if not isinstance(seconds, int) or isinstance(seconds, bool) or (seconds < 1 and seconds != -1):
            raise BadRequest("'seconds' must be a positive number of seconds, or -1 (never sleep)")
        return self._change(repo, sleep_time=seconds)

    def settings_of(self, who: Principal | None, repo_id: str, kind: str) -> dict:
        """Secrets: ``{KEY: {description, updatedAt}}`` (never the value); variables with ``value``."""
        repo = self.get(who, repo_id, "write")
        with self._sessions() as s:
            rows = space_settings(s, repo.id, kind)
        out = {}
        for row in rows:
            item = {"description": row.description, "updatedAt": row.updated_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")}
            if kind == "variable":
                item["value"] = row.value
            out[row.key] = item
        return out

    def put_setting(self, who: Principal | None, repo_id: str, kind: str, body: dict) -> None:
        repo = self.get(who, repo_id, "write")
        key, value, description = body.get("key"), body.get("value", ""), body.get("description")
        if not isinstance(key, str) or not ENV_KEY.match(key):
            raise BadRequest("'key' must be an environment variable name (letters, digits and _, not first a digit)")
        if not isinstance(value, str) or len(value) > MAX_VALUE:
            raise BadRequest(f"'value' must be a string of at most {MAX_VALUE} characters")
        if description is not None and (not isinstance(description, str) or len(description) > 500):
            raise BadRequest("'description' must be a string of at most 500 characters")
        with self._sessions.begin() as s:
            put_space_setting(s, repo.id, kind, key, value, description)
            self._restart_row(s, repo)
        self.runner.nudge()

    def drop_setting(self, who: Principal | None, repo_id: str, kind: str, body: dict) -> None:
        repo = self.get(who, repo_id, "write")
        key = body.get("key")
        if not isinstance(key, str):
            raise BadRequest("'key' must be a string")
        with self._sessions.begin() as s:
            if drop_space_setting(s, repo.id, kind, key):
                self._restart_row(s, repo)
        self.runner.nudge()

    @staticmethod
    def _restart_row(s, repo: Repo) -> None:
        """A new secret or variable restarts the app (a running one only: a paused Space stays paused)."""
        row = space_state(s, repo.id, create=True)
        if not row.paused:
            row.generation += 1

    # -- logs -----------------------------------------------------------------------------------

    def log_path(self, who: Principal | None, repo_id: str, which: str) -> tuple[Repo, Path]:
        if which not in ("build", "run"):
            raise BadRequest("Logs are 'build' or 'run'")
        repo = self.get(who, repo_id, "write")
        dirs = SpaceDirs(self.settings.data_dir / "spaces" / repo.storage_key)
        return repo, dirs.build_log if which == "build" else dirs.run_log

    async def log_stream(self, repo: Repo, path: Path, which: str) -> AsyncIterator[bytes]:
        """The log's history at once, then new lines as they come, a keep-alive every 20 s; ends when
        the build ends (build log) or the app stops (run log)."""
        offset, last = 0, time.monotonic()
        while True:
            events, offset = await run_in_threadpool(read_events, path, offset)
            for e in events:
                yield b"data: " + json.dumps(e).encode() + b"\n\n"
                last = time.monotonic()
            state = await run_in_threadpool(self.state, repo)
            stage = state.stage if state is not None else "BUILDING"
            if not events and ((which == "build" and stage != "BUILDING") or (which == "run" and stage not in LIVE)):
                return
            if time.monotonic() - last > KEEPALIVE:
                yield b"data:\n\n"
                last = time.monotonic()
            await asyncio.sleep(0.5)

    # -- the proxy ------------------------------------------------------------------------------

    def proxy_caller(self, who: Principal | None, hf_authorization: str | None) -> Principal | None:
        """Who asks the app: the request's own credentials, else ``X-HF-Authorization: Bearer`` (what
        gradio_client sends to apps)."""
        if who is None and hf_authorization:
            scheme, _, token = hf_authorization.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return self._accounts.authenticate_token(token.strip())
        return who

    def _touch(self, repo: Repo, *, now: bool = False) -> None:
        last = self._touched.get(repo.id, 0.0)
        if not now and time.monotonic() - last < TOUCH_EVERY:
            return
        self._touched[repo.id] = time.monotonic()
        with self._sessions.begin() as s:
            row = space_state(s, repo.id, create=True)
            row.last_request_at = utcnow()

    async def upstream(self, who: Principal | None, repo_id: str) -> Upstream:
        """Where a request to the Space's app goes: waits while the app starts (a sleeping app is woken
        first); a Space that cannot answer now raises SpaceUnavailable."""
        repo = await run_in_threadpool(self.get, who, repo_id, "read")
        deadline = time.monotonic() + self.settings.spaces_startup_timeout
        woke = False
        while True:
            state = await run_in_threadpool(self.state, repo)
            stage = state.stage if state is not None else "BUILDING"
            if stage == "RUNNING":
                await run_in_threadpool(self._touch, repo)
                if state.port:
                    return Upstream(state.port, None, "")
                dirs = SpaceDirs(self.settings.data_dir / "spaces" / repo.storage_key)
                return Upstream(0, dirs.src / state.sha, str((repo.card_data or {}).get("app_file") or "index.html"))
            if stage == "SLEEPING" and not woke:
                await run_in_threadpool(self._touch, repo, now=True)
                self.runner.nudge()
                woke = True
            elif stage not in ("SLEEPING", "APP_STARTING") or time.monotonic() > deadline:
                detail = f": {state.error}" if state is not None and state.error else ""
                raise SpaceUnavailable(f"{repo.repo_id} is {stage}{detail}")
            await asyncio.sleep(0.05)
