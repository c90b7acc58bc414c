"""Spaces as the API and the proxy see them: the runtime object (§4.3 of the community spec), restart,
pause, sleep time, secrets and variables, the log streams, and where a request to a Space's app goes
(waking it first when it sleeps). The runner (:mod:`cove.server.spaces.runner`) does the work; this
records what is wanted in the database and reads back what happened."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from starlette.concurrency import run_in_threadpool

from cove.errors import BadRequest, CoveError
from cove.protocol import is_digits
from cove.server.db import Repo, lfs_sizes, utcnow
from cove.server.db.spaces import (
    SpaceState,
    check_sealed,
    drop_space_setting,
    put_space_setting,
    space_settings,
    space_state,
    stages_of,
)
from cove.server.db.xet import link_objects
from cove.server.services.accounts import Accounts, Principal
from cove.server.services.repos import Repos
from cove.server.settings import Settings
from cove.server.spaces.builder import SpaceDirs
from cove.server.spaces.logs import read_events
from cove.server.spaces.runner import ENV_KEY, Runner, proxy_prefix

#: Stages in which the app is (or is about to be) answering.
LIVE = ("RUNNING", "APP_STARTING", "SLEEPING")
#: Seconds between two keep-alives of a log stream: more than the client's 5 s no-follow read timeout,
#: less than its 120 s follow timeout (§4.5).
KEEPALIVE = 20
#: Seconds between two writes of a Space's last request time (each request would be a write otherwise).
TOUCH_EVERY = 5.0
MAX_VALUE = 64 * 1024
#: Seconds a running app's address is reused for one caller without asking the database again.
UPSTREAM_TTL = 1.0
#: A private Space in its viewer's browser: the app's frame has an opaque origin, so its requests carry no
#: cookie at all; the page's iframe loads the app under ``{prefix}/~grant/{token}/``, a grant (signed:
#: viewer, Space, expiry) that the app's relative URLs and its root URL keep.
GRANT_SEGMENT = "~grant"
GRANT_SECONDS = 4 * 3600
#: Seconds a checked grant is trusted without asking the database again.
GRANT_TTL = 10.0


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
    #: What the app's paths start with: "" (gradio is served at its root and told its public prefix in
    #: X-Forwarded-Host) or the public prefix (streamlit serves under its --server.baseUrlPath)
    mount: str = ""


class Spaces:
    def __init__(self, settings: Settings, sessions, repos: Repos, accounts: Accounts, runner: Runner) -> None:
        self.settings = settings
        self._sessions = sessions
        self._repos = repos
        self._accounts = accounts
        self.runner = runner
        self._touched: dict[int, float] = {}
        self._upstreams: dict[tuple, tuple[float, Upstream, Repo]] = {}
        self._grants: dict[tuple[str, str], tuple[float, Principal | None]] = {}

    def check_key(self) -> None:
        """Raise WrongKey when the Space secrets were encrypted with another key than this Hub's."""
        with self._sessions() as s:
            check_sealed(s, self.runner.sealer)

    # -- reading --------------------------------------------------------------------------------

    def state(self, repo: Repo) -> SpaceState | None:
        with self._sessions() as s:
            return space_state(s, repo.id)

    def runtime(self, repo: Repo, state: SpaceState | None = None) -> dict:
        """The runtime object of §4.3 (``stage`` always present, ``hardware`` always an object)."""
        row = state or self.state(repo)
        stage = row.stage if row is not None else "BUILDING"
        error = (row.error or None) if row is not None else None
        if row is not None and row.paused:  # the owner's pause wins over a worker's late write of its stage
            stage, error = "PAUSED", None
        if row is not None and stage != "PAUSED" and repo.head_sha and row.sha != repo.head_sha:
            stage, error = "BUILDING", None  # a push the runner has not picked up yet: not the old commit's stage
        sleep = row.sleep_time if row is not None and row.sleep_time is not None else self.settings.spaces_sleep_seconds
        card = repo.card_data or {}
        return {
            "stage": stage, "hardware": {"current": "cpu-basic", "requested": "cpu-basic"},
            "gcTimeout": None if sleep < 0 else sleep, "storage": None, "devMode": False, "hotReloading": None,
            "replicas": {"current": 1 if stage in LIVE else 0, "requested": 1},
            "sdk": card.get("sdk") or repo.sdk or None, "sdkVersion": card.get("sdk_version"),
            "errorMessage": error,
        }

    def stages(self, repos: list[Repo]) -> dict[int, str]:
        """``{repo id: stage}`` of the Spaces among ``repos`` (for listings' badges), in one query."""
        with self._sessions() as s:
            return stages_of(s, [r.id for r in repos if r.type == "space"][:1000])

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
        self._upstreams.clear()
        self.runner.nudge()
        return self.runtime(repo)

    def restart(self, who: Principal | None, repo_id: str, *, factory: bool = False) -> dict:
        repo = self.get(who, repo_id, "write")
        with self._sessions.begin() as s:
            row = space_state(s, repo.id, create=True)
            row.generation += 1
            row.paused, row.factory, row.stage, row.error = False, factory, "BUILDING", ""
            row.updated_at = utcnow()
        self._upstreams.clear()
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
            put_space_setting(s, repo.id, kind, key, value, description, self.runner.sealer)
            self._restart_row(s, repo)
        self._upstreams.clear()
        self.runner.nudge()

    def drop_setting(self, who: Principal | None, repo_id: str, kind: str, body: dict) -> None:
        repo = self.get(who, repo_id, "write")
        key = body.get("key")
        if not isinstance(key, str):
            raise BadRequest("'key' must be a string")
        with self._sessions.begin() as s:
            if drop_space_setting(s, repo.id, kind, key):
                self._restart_row(s, repo)
        self._upstreams.clear()
        self.runner.nudge()

    @staticmethod
    def _restart_row(s, repo: Repo) -> None:
        """A new secret or variable restarts the app (a running one only: a paused Space stays paused)."""
        row = space_state(s, repo.id, create=True)
        if not row.paused:
            row.generation += 1

    # -- duplicating ----------------------------------------------------------------------------

    def duplicate(self, who: Principal | None, from_id: str, body: dict) -> Repo:
        """``duplicate_repo`` for a Space: a new Space with the files of the source's ``main`` (its history
        too) and its README config; secrets and variables from the body, never the source's secrets.
        An existing target raises Conflict carrying it (the route answers 409 with its url)."""
        source = self.get(who, from_id, "content")
        target = body.get("repository")
        if not isinstance(target, str) or target.count("/") != 1:
            raise BadRequest("'repository' must be 'namespace/name'")
        private = body.get("visibility") == "private" if "visibility" in body else body.get("private")
        if private is not None and not isinstance(private, bool):
            raise BadRequest("'private' must be true or false")
        extra = {kind: body.get(key) or [] for kind, key in (("secret", "secrets"), ("variable", "variables"))}
        for items in extra.values():
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise BadRequest("'secrets' and 'variables' must be lists of {key, value, description?}")
        ns, name = target.split("/")
        repo, _ = self._repos.create(who, "space", ns, name, private=private, sdk=source.sdk)
        src_git = self._repos.open_git(source)
        sha = src_git.ref_target("refs/heads/main")
        if sha:
            store = self._repos.git
            with store.lock(repo.storage_key):
                subprocess.run(["git", "-C", str(store.path(repo.storage_key)), "fetch", "--quiet", "--no-tags",
                                str(store.path(source.storage_key)), "+refs/heads/main:refs/heads/main"],
                               check=True, capture_output=True, timeout=600)
            oids = {e.lfs_oid for e in src_git.list_tree(sha, recursive=True) if e.lfs_oid}
            link_objects(self._sessions, repo.id, lfs_sizes(self._sessions, source.storage_key, oids))
            self._repos.touch(repo, head_sha=sha, card={"cardData": source.card_data, "tags": source.tags,
                                                        "pipeline_tag": "", "library_name": ""})
        for kind, items in extra.items():
            for item in items:
                self.put_setting(who, repo.repo_id, kind, item)
        if isinstance(body.get("sleepTimeSeconds"), int):
            self.set_sleep_time(who, repo.repo_id, body["sleepTimeSeconds"])
        self.runner.nudge()
        return repo

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

    # -- a private Space in the browser ---------------------------------------------------------

    def _grant_mac(self, payload: str) -> str:
        key = self.settings.secret_key.encode()
        return hmac.new(key, b"space-grant:" + payload.encode(), hashlib.sha256).hexdigest()[:40]

    def app_src(self, who: Principal | None, repo: Repo, stage: str) -> str:
        """The Space page's iframe URL for ``who`` (who may read ``repo``): a private Space's carries a
        grant for this viewer and this Space, valid GRANT_SECONDS (never the viewer's own credentials).
        A sleeping app is woken now, while the page loads, not at the iframe's first request."""
        if stage == "SLEEPING":
            self._touch(repo, now=True)
            self.runner.nudge()
        src = f"/-/spaces/{repo.repo_id}/"
        if not repo.private or who is None:
            return src
        payload = f"{who.user_id}.{repo.id}.{int(time.time()) + GRANT_SECONDS}"
        return f"{src}{GRANT_SEGMENT}/{payload}.{self._grant_mac(payload)}/"

    def grant_caller(self, token: str, repo_id: str) -> Principal | None:
        """The viewer a grant for the Space ``repo_id`` was made for, if it is genuine, unexpired, for this
        very Space, and its viewer may still read it; else None (anonymous: a private Space is a 404)."""
        hit = self._grants.get((token, repo_id))
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        who = self._check_grant(token, repo_id)
        if len(self._grants) > 10_000:
            self._grants.clear()
        self._grants[(token, repo_id)] = (time.monotonic() + GRANT_TTL, who)
        return who

    def _check_grant(self, token: str, repo_id: str) -> Principal | None:
        parts = token.split(".")
        if len(parts) != 4 or not all(is_digits(p) for p in parts[:3]):
            return None
        payload = ".".join(parts[:3])
        if not hmac.compare_digest(parts[3], self._grant_mac(payload)) or int(parts[2]) < time.time():
            return None
        who = self._accounts.principal_of(int(parts[0]), None)
        if who is None:
            return None
        try:
            repo = self.get(who, repo_id)
        except CoveError:
            return None
        return who if repo.id == int(parts[1]) else None

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
        first); a Space that cannot answer now raises SpaceUnavailable. A running app's answer is kept
        for a second per caller, so a page's burst of requests costs the database one lookup."""
        key = (who.user_id if who is not None else None, repo_id)
        hit = self._upstreams.get(key)
        if hit is not None and hit[0] > time.monotonic():
            if time.monotonic() - self._touched.get(hit[2].id, 0.0) >= TOUCH_EVERY:
                await run_in_threadpool(self._touch, hit[2])
            return hit[1]
        found, repo = await self._upstream(who, repo_id)
        if len(self._upstreams) > 10_000:
            self._upstreams.clear()
        self._upstreams[key] = (time.monotonic() + UPSTREAM_TTL, found, repo)
        return found

    async def _upstream(self, who: Principal | None, repo_id: str) -> tuple[Upstream, Repo]:
        repo = await run_in_threadpool(self.get, who, repo_id, "read")
        deadline = time.monotonic() + self.settings.spaces_startup_timeout
        woke = False
        while True:
            state = await run_in_threadpool(self.state, repo)
            stage = state.stage if state is not None else "BUILDING"
            if stage == "RUNNING":
                await run_in_threadpool(self._touch, repo)
                if state.port:
                    sdk = (repo.card_data or {}).get("sdk") or repo.sdk
                    return Upstream(state.port, None, "", proxy_prefix(repo.repo_id) if sdk == "streamlit" else ""), repo
                dirs = SpaceDirs(self.settings.data_dir / "spaces" / repo.storage_key)
                index = str((repo.card_data or {}).get("app_file") or "index.html")
                return Upstream(0, dirs.src / state.sha, index), repo
            if stage == "SLEEPING" and not woke:
                await run_in_threadpool(self._touch, repo, now=True)
                self.runner.nudge()
                woke = True
            elif stage not in ("SLEEPING", "APP_STARTING") or time.monotonic() > deadline:
                detail = f": {state.error}" if state is not None and state.error else ""
                raise SpaceUnavailable(f"{repo.repo_id} is {stage}{detail}")
            await asyncio.sleep(0.05)
