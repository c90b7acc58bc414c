"""The supervisor: one thread that compares every Space's wanted state (the head of ``main``, restarts,
pause) with what runs here, and a worker thread per build or app start.

Every commit path (the commit API, git push, merged pull requests, history rewrites) moves
``repos.head_sha``; the supervisor sees the move within a second (sooner when nudged by this process)
and builds the new commit, cancelling a build still running for an older one. Stages go to the
database (``space_states``), so every replica answers the same. One process per data dir runs Spaces:
the one holding ``<data_dir>/spaces/runner.lock`` among those whose ``COVE_ROLES`` include ``spaces``.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import sessionmaker

from cove.server.db import Repo, utcnow
from cove.server.db.sealed import Sealer, WrongKey
from cove.server.db.spaces import space_environment, space_state, spaces_with_states
from cove.server.services.inference import Snapshots
from cove.server.settings import Settings
from cove.server.spaces.builder import Builder, BuildError, BuildJob, Built, Cancelled, ConfigError, SpaceDirs
from cove.server.spaces.logs import CappedLog, tail_text
from cove.server.spaces.sandbox import Limits, Sandbox, base_env, stop_group
from cove.server.spaces.wheelhouse import configured_indexes

log = logging.getLogger("cove.server.spaces")

ERROR_STAGES = ("NO_APP_FILE", "CONFIG_ERROR", "BUILD_ERROR", "RUNTIME_ERROR")
ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def proxy_prefix(repo_id: str) -> str:
    """The path the app is served under (``SPACE_ROOT_PATH``; streamlit's base path), without the trailing slash."""
    return f"/-/spaces/{repo_id}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def exit_reason(code: int) -> str:
    if code >= 0:
        return f"exit code {code}"
    name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
    hint = {"SIGXCPU": " (CPU time limit)", "SIGKILL": " (killed: memory or CPU limit?)",
            "SIGSEGV": " (crashed; a memory limit can cause it)"}.get(name, "")
    return f"signal {name}{hint}"


@dataclass
class Local:
    """What runs here for one Space."""

    want: tuple[str, int] | None  # (sha, generation); None while paused
    cancel: threading.Event = field(default_factory=threading.Event)
    built: Built | None = None
    proc: subprocess.Popen | None = None
    sleeping: bool = False
    slept_at: float = 0.0  # time.time() when it went to sleep
    deliberate: set = field(default_factory=set)  # processes stopped on purpose (sleep, new build)
    root: Path | None = None  # the Space's folder


class Runner:
    def __init__(self, settings: Settings, sessions: sessionmaker, repos, objects, content) -> None:
        self.settings = settings
        self.sessions = sessions
        self.repos = repos
        self.objects = objects
        self.content = content
        self.root = settings.data_dir / "spaces"
        self.sealer = Sealer(settings.secret_key)
        limits = Limits(settings.spaces_memory_mb, settings.spaces_cpu_seconds, settings.spaces_open_files)
        self.sandbox: Sandbox | None = None
        self._limits = limits
        self.locals: dict[int, Local] = {}
        self._lock = threading.RLock()
        self._nudge = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock_file = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> bool:
        """Run Spaces in this process if no other process of this data dir does. True if it does."""
        self.root.mkdir(parents=True, exist_ok=True)
        f = open(self.root / "runner.lock", "a")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            return False
        self._lock_file = f
        self.sandbox = Sandbox(self.settings.spaces_sandbox, self._limits)
        wheelhouse = Path(self.settings.spaces_wheelhouse or self.root / "wheelhouse")
        envs = Path(self.settings.spaces_envs or self.root / "envs")
        indexes = self.settings.spaces_index_urls.split() or configured_indexes()
        self.builder = Builder(self.sandbox, wheelhouse, envs, timeout=self.settings.spaces_build_timeout,
                               apt=self.settings.spaces_apt, indexes=indexes)
        log.info("Spaces: %s", self.sandbox.description)
        self._thread = threading.Thread(target=self._loop, name="spaces-supervisor", daemon=True)
        self._thread.start()
        return True

    @property
    def running(self) -> bool:
        return self._thread is not None

    def stop(self) -> None:
        self._stop.set()
        self._nudge.set()
        if self._thread is not None:
            self._thread.join(10)
        with self._lock:
            for local in self.locals.values():
                self._halt(local)
        if self._lock_file is not None:
            self._lock_file.close()

    def nudge(self) -> None:
        self._nudge.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.reconcile()
            except Exception:  # one bad pass must not stop the next
                log.exception("spaces: supervisor pass failed")
            self._nudge.wait(1.0)
            self._nudge.clear()

    # -- the state in the database --------------------------------------------------------------

    def _set(self, repo_id: int, local: Local | None = None, **values) -> None:
        """Write the Space's state; a worker whose Space moved on to another build writes nothing."""
        with self._lock:
            if local is not None and self.locals.get(repo_id) is not local:
                return
            with self.sessions.begin() as s:
                row = space_state(s, repo_id, create=True)
                if row.paused and values.get("stage", "PAUSED") != "PAUSED":
                    return  # paused since this worker started: the supervisor stops it next
                for key, value in values.items():
                    setattr(row, key, value)
                row.updated_at = utcnow()

    # -- reconciling ----------------------------------------------------------------------------

    def reconcile(self) -> None:
        with self.sessions() as s:
            rows = spaces_with_states(s)
        seen = set()
        for repo, state in rows:
            seen.add(repo.id)
            if repo.head_sha:
                with self._lock:
                    self._reconcile_one(repo, state)
        with self._lock:
            for gone in set(self.locals) - seen:  # deleted Spaces: stopped, their folder removed
                local = self.locals.pop(gone)
                self._halt(local)
                if local.root is not None:
                    shutil.rmtree(local.root, ignore_errors=True)

    def _reconcile_one(self, repo: Repo, state) -> None:
        local = self.locals.get(repo.id)
        if state is not None and state.paused:
            if local is None or local.want is not None:
                if local is not None:
                    self._halt(local)
                self.locals[repo.id] = Local(None, root=self.dirs(repo).root)
                self._set(repo.id, stage="PAUSED", port=0, error="")
            return
        want = (repo.head_sha, state.generation if state is not None else 0)
        if local is None and state is not None and state.sha == repo.head_sha and state.stage in ERROR_STAGES:
            # this process (re)started: an error stays until the next push or restart
            local = Local(want, root=self.dirs(repo).root)
            self.locals[repo.id] = local
        if local is None or local.want != want:
            if local is not None:
                self._halt(local)
            local = Local(want, root=self.dirs(repo).root)
            self.locals[repo.id] = local
            self._set(repo.id, local, stage="BUILDING", sha=repo.head_sha, error="", port=0)
            factory = bool(state is not None and state.factory)
            threading.Thread(target=self._build_and_run, args=(repo, local, factory), daemon=True,
                             name=f"space-build-{repo.id}").start()
            return
        if local.sleeping:
            frozen = local.proc is not None and local.proc.poll() is None
            if state is not None and self._asked_since(state, local):
                local.sleeping = False
                if frozen:  # thawed in place
                    os.killpg(local.proc.pid, signal.SIGCONT)
                    self._set(repo.id, local, stage="RUNNING", last_request_at=utcnow())
                    return
                threading.Thread(target=self._launch, args=(repo, local), daemon=True,
                                 name=f"space-wake-{repo.id}").start()
            elif frozen and self.settings.spaces_sleep_mode == "tiered" \
                    and time.time() - local.slept_at > self.settings.spaces_deep_sleep_seconds:
                self._halt(local, cancel=False)  # asleep long enough: its memory is given back
                self._set(repo.id, local, port=0)
            return
        if local.proc is not None and local.proc.poll() is None and state is not None and state.stage == "RUNNING":
            sleep = state.sleep_time if state.sleep_time is not None else self.settings.spaces_sleep_seconds
            if sleep > 0 and utcnow() - state.last_request_at > timedelta(seconds=sleep):
                if self.settings.spaces_sleep_mode in ("freeze", "tiered"):  # SIGSTOP: no CPU, memory kept, thaws at once
                    os.killpg(local.proc.pid, signal.SIGSTOP)
                else:  # the process stops: memory freed, the next request starts it again
                    self._halt(local, cancel=False)
                local.sleeping, local.slept_at = True, time.time()
                self._set(repo.id, local, stage="SLEEPING", port=state.port if local.proc is not None else 0)

    @staticmethod
    def _asked_since(state, local: Local) -> bool:
        from datetime import UTC

        return state.last_request_at.replace(tzinfo=UTC).timestamp() > local.slept_at

    def _halt(self, local: Local, *, cancel: bool = True) -> None:
        if cancel:
            local.cancel.set()
        proc = local.proc
        if proc is not None:
            local.deliberate.add(proc)
            stop_group(proc, grace=3)
            local.proc = None

    # -- workers --------------------------------------------------------------------------------

    def dirs(self, repo: Repo) -> SpaceDirs:
        return SpaceDirs(self.root / repo.storage_key)

    def _build_and_run(self, repo: Repo, local: Local, factory: bool) -> None:
        dirs = self.dirs(repo)
        sha = local.want[0]
        dirs.root.mkdir(parents=True, exist_ok=True)
        (dirs.home / "tmp").mkdir(parents=True, exist_ok=True)
        build_log = CappedLog(dirs.build_log, self.settings.spaces_log_bytes)
        try:
            build_log.write(f"Sandbox: {self.sandbox.description}")
            git = self.repos.open_git(repo)
            app_dir = Snapshots(dirs.src, self.objects, link=False).folder(git, sha)
            for old in dirs.src.iterdir():
                if old != app_dir:
                    shutil.rmtree(old, ignore_errors=True)
            card = self.content.card(git, sha, repo).get("cardData") or {}
            job = BuildJob(dirs, sha, card, repo.sdk, factory)
            local.built = self.builder.build(job, app_dir, build_log, local.cancel)
        except Cancelled:
            build_log.write("Cancelled: a newer commit or a restart replaced this build")
            return
        except ConfigError as e:
            build_log.write(str(e))
            self._set(repo.id, local, stage=e.stage, error=str(e)[:1000])
            return
        except BuildError as e:
            build_log.write(f"Build failed: {e}")
            self._set(repo.id, local, stage="BUILD_ERROR", error=str(e)[:1000])
            return
        except Exception as e:  # the Hub's own failure: say so rather than stay BUILDING forever
            log.exception("spaces: building %s failed", repo.repo_id)
            build_log.write(f"Build failed inside the Hub: {e}")
            self._set(repo.id, local, stage="BUILD_ERROR", error=f"Build failed inside the Hub: {e}"[:1000])
            return
        finally:
            build_log.write("Build finished")
            build_log.close()
            self._set(repo.id, local, factory=False)
        if not local.built.config.runs_process:
            self._set(repo.id, local, stage="RUNNING", port=0, last_request_at=utcnow())
            return
        self._launch(repo, local)

    def app_env(self, repo: Repo, built: Built, port: int, dirs: SpaceDirs) -> dict[str, str]:
        with self.sessions() as s:
            settings = space_environment(s, repo.id, self.sealer)
        env = base_env(dirs.home)
        for kind in ("variable", "secret"):  # a secret wins over a variable of the same name
            env.update({k: v for k, v in settings[kind].items() if ENV_KEY.match(k)})
        public = self.settings.public_url or f"http://{self.settings.host}:{self.settings.port}"
        prefix = proxy_prefix(repo.repo_id)
        venv_bin = str(built.venv / "bin")
        env.update({
            "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin", "VIRTUAL_ENV": str(built.venv),
            "TMPDIR": str(dirs.home / "tmp"), "GRADIO_TEMP_DIR": str(dirs.home / "tmp"),
            "SPACE_ID": repo.repo_id, "SPACE_AUTHOR_NAME": repo.namespace, "SPACE_REPO_NAME": repo.name,
            "SPACE_TITLE": str((repo.card_data or {}).get("title") or repo.name),
            "SPACE_HOST": f"{public}{prefix}/", "SPACE_ROOT_PATH": prefix, "HF_ENDPOINT": public,
            # no GRADIO_ROOT_PATH: gradio takes its root URL from X-Forwarded-Host, where the proxy puts the
            # prefix the request came under (a private Space's grant included)
            "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
            "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_SSR_MODE": "False", "PORT": str(port),
        })
        return env

    def _command(self, built: Built, port: int, prefix: str) -> list[str]:
        python = str(built.venv / "bin" / "python")
        if built.config.sdk == "streamlit":
            return [python, "-m", "streamlit", "run", built.config.app_file, "--server.port", str(port),
                    "--server.address", "127.0.0.1", "--server.baseUrlPath", prefix, "--server.headless", "true",
                    "--browser.gatherUsageStats", "false"]
        return [python, built.config.app_file]

    def _launch(self, repo: Repo, local: Local) -> None:
        built, dirs = local.built, self.dirs(repo)
        port = free_port()
        self._set(repo.id, local, stage="APP_STARTING", port=port, error="")
        run_log = CappedLog(dirs.run_log, self.settings.spaces_log_bytes)
        try:
            proc = self.sandbox.start(self._command(built, port, proxy_prefix(repo.repo_id)), cwd=built.app_dir,
                                      env=self.app_env(repo, built, port, dirs),
                                      writable=[built.app_dir, dirs.home], readable=[built.venv])
        except (OSError, WrongKey) as e:  # WrongKey: a secret that does not decrypt
            run_log.write(f"Could not start the app: {e}")
            run_log.close()
            self._set(repo.id, local, stage="RUNTIME_ERROR", error=f"Could not start the app: {e}", port=0)
            return
        with self._lock:
            if self.locals.get(repo.id) is not local or local.cancel.is_set():
                local.deliberate.add(proc)
                stop_group(proc, grace=1)
                return
            local.proc = proc
        pump = threading.Thread(target=run_log.pump, args=(proc.stdout,), daemon=True)
        pump.start()
        try:
            self._wait_ready(repo, local, proc, port, built, run_log)
        finally:
            code = proc.wait()
            pump.join(5)
            run_log.close()
        if proc not in local.deliberate and self.locals.get(repo.id) is local:
            reason = f"The app stopped ({exit_reason(code)}): {tail_text(dirs.run_log, 3)}"
            self._set(repo.id, local, stage="RUNTIME_ERROR", error=reason[:1000], port=0)

    def _wait_ready(self, repo: Repo, local: Local, proc: subprocess.Popen, port: int, built: Built,
                    run_log: CappedLog) -> None:
        timeout = min(built.config.startup_timeout or self.settings.spaces_startup_timeout,
                      self.settings.spaces_startup_timeout)
        deadline = time.monotonic() + timeout
        while proc.poll() is None:
            if _answers(port):
                self._set(repo.id, local, stage="RUNNING", last_request_at=utcnow())
                return
            if time.monotonic() > deadline:
                run_log.write(f"The app did not answer on its port within {timeout} s: stopped")
                local.deliberate.add(proc)
                stop_group(proc, grace=2)
                self._set(repo.id, local, stage="RUNTIME_ERROR", port=0,
                          error=f"The app did not open its port within {timeout} s (startup timeout)")
                return
            time.sleep(0.1)
