"""Shared fixtures: a real ``cove serve`` on 127.0.0.1 with its own data dir, and accounts made with the
real ``cove`` CLI."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests import postgres, s3

# The stock Hugging Face clients must never reach a public host from the tests.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_UPDATE_CHECK", "1")
os.environ.setdefault("DISABLE_SAFETENSORS_CONVERSION", "1")
os.environ.setdefault("HF_UPDATE_DOWNLOAD_COUNTS", "0")
# compiled decode steps go to a folder of this run, not the user's cache; test Hubs compile nothing in the
# background (tests/generation/test_compile_cache.py starts what it needs)
if "COVE_COMPILE_CACHE" not in os.environ:
    os.environ["COVE_COMPILE_CACHE"] = tempfile.mkdtemp(prefix="cove-compile-")
    atexit.register(shutil.rmtree, os.environ["COVE_COMPILE_CACHE"], ignore_errors=True)
os.environ.setdefault("COVE_INFERENCE_COMPILE", "0")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: ``{data dir: database URL}`` of the Hubs started on PostgreSQL (``COVE_TEST_DB=postgresql``), so that
#: ``cove ... --data-dir D`` reaches the database of the Hub whose data dir is D.
DATABASES: dict[Path, str] = {}


def database_env(data_dir: Path | str) -> dict[str, str]:
    """``COVE_DATABASE_URL`` for a Hub's data dir: the one registered in :data:`DATABASES`, else a new
    PostgreSQL database when the tests run on PostgreSQL, else nothing (SQLite in the data dir)."""
    key = Path(data_dir).resolve()
    if key not in DATABASES:
        if not postgres.enabled():
            return {}
        DATABASES[key] = postgres.shared_cluster().create_database()
    return {"COVE_DATABASE_URL": DATABASES[key]}


#: ``{data dir: COVE_* storage variables}`` of the Hubs started with their blobs on S3
#: (``COVE_TEST_STORAGE=s3``), so that ``cove ... --data-dir D`` reaches the same bucket.
STORAGES: dict[Path, dict[str, str]] = {}
_STORAGES_LOCK = threading.Lock()


def storage_env(data_dir: Path | str) -> dict[str, str]:
    """The blob store of a Hub's data dir: the one registered in :data:`STORAGES`, else a new bucket on
    the tests' S3 server when the tests run on S3, else nothing (the data dir)."""
    key = Path(data_dir).resolve()
    with _STORAGES_LOCK:  # replicas of one data dir start in parallel threads: one bucket for all
        if key not in STORAGES:
            if not s3.enabled():
                return {}
            server = s3.shared_server()
            STORAGES[key] = server.env(server.create_bucket(), presign=s3.presigning())
        return STORAGES[key]


def presigns(server: HubServer) -> bool:
    """Whether the Hub's downloads redirect to presigned URLs of its S3 store (they skip the Hub)."""
    return STORAGES.get(Path(server.data_dir).resolve(), {}).get("COVE_S3_PRESIGN") == "1"


def stored_blobs(server: HubServer, kind: str) -> dict[str, int]:
    """``{name: size}`` of a Hub's stored LFS objects (``kind`` "lfs") or Xet xorbs and their indexes
    ("xorbs"), in its data dir or in its bucket."""
    env = STORAGES.get(Path(server.data_dir).resolve())
    if env is None:
        root = Path(server.data_dir) / "lfs"
        paths = (root / "xet" / "xorbs").rglob("*") if kind == "xorbs" else root.glob("??/??/*")
        return {p.name: p.stat().st_size for p in paths if p.is_file()}
    bucket, prefix = env["COVE_STORAGE_URL"].removeprefix("s3://").split("/", 1)
    under = f"{prefix}/xet/xorbs/" if kind == "xorbs" else f"{prefix}/lfs/"
    return {key.rsplit("/", 1)[-1]: size for key, size in s3.shared_server().sizes(bucket, under).items()}


def cove_cli(*args: str, env: dict | None = None) -> str:
    """Run the real ``cove`` command and return its stdout."""
    if "--data-dir" in args:
        data_dir = args[args.index("--data-dir") + 1]
        env = {**database_env(data_dir), **storage_env(data_dir), **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "cove.cli.main", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"cove {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


@dataclass
class HubServer:
    url: str
    data_dir: Path
    proc: subprocess.Popen
    log: Path
    _users: dict = field(default_factory=dict)
    _user_specs: dict = field(default_factory=dict)

    def user(self, name: str, *, admin: bool = False, password: str | None = None) -> str:
        """A write token for ``name``, creating the user on first use.

        Modules share one session Hub: a name asked again with another password or admin flag would
        silently keep the first one, so that is refused here, with the fix in the message."""
        if name in self._user_specs:
            was_admin, was_password = self._user_specs[name]
            if (password is not None and password != was_password) or (admin and not was_admin):
                raise AssertionError(
                    f"test user {name!r} already exists on the shared Hub (admin={was_admin}, "
                    f"password={was_password!r}); asked now with admin={admin}, password={password!r}: "
                    "pick another name")
        self._user_specs.setdefault(name, (admin, password))
        if name not in self._users:
            args = ["users", "add", name, "--data-dir", str(self.data_dir)]
            if admin:
                args.append("--admin")
            if password:
                args += ["--password", password]
            self._users[name] = cove_cli(*args).strip().splitlines()[-1]
        return self._users[name]

    def token(self, name: str, *, read_only: bool = False) -> str:
        args = ["tokens", "add", name, "--data-dir", str(self.data_dir)]
        if read_only:
            args.append("--read-only")
        return cove_cli(*args).strip().splitlines()[-1]

    def cli(self, *args: str) -> str:
        return cove_cli(*args, "--data-dir", str(self.data_dir))


def start_server(data_dir: Path, env: dict | None = None, args: tuple[str, ...] = (),
                 log: Path | None = None) -> HubServer:
    """``cove serve`` on a free port (``args``: more flags, e.g. ``--log-level info`` to log each request;
    ``log``: where its output goes, by default next to the data dir)."""
    port = free_port()
    log = log or data_dir.parent / f"{data_dir.name}-server.log"
    full_env = {**os.environ, "COVE_DATA_DIR": str(data_dir), "COVE_ADMIN_PASSWORD": "admin-pass-123",
                **database_env(data_dir), **storage_env(data_dir), **(env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "cove.cli.main", "serve", "--port", str(port), *args],
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, env=full_env)
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(proc, f"{url}/api/agent-harnesses", "cove serve", log)
    return HubServer(url, data_dir, proc, log)


def wait_until_serving(proc: subprocess.Popen, url: str, what: str, log: Path, timeout: float = 60) -> None:
    """Wait until ``url`` answers 200 (``proc`` is killed if it never does; ``log`` says why)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited early:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{what} did not start:\n{log.read_text()}")


def stop_server(server: HubServer) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(10)
    except subprocess.TimeoutExpired:
        server.proc.kill()


def spaces_asset_env() -> dict[str, str]:
    """Spaces (the seeded Gradio demo, tests/spaces) build from the test asset cache's wheelhouse and venvs:
    Gradio is downloaded and installed once per machine."""
    from tests.formats.assets import ASSETS

    return {"COVE_SPACES_WHEELHOUSE": str(ASSETS / "spaces-wheelhouse"), "COVE_SPACES_ENVS": str(ASSETS / "spaces-envs")}


@pytest.fixture(scope="session")
def hub(tmp_path_factory) -> HubServer:
    """One Hub for the session (each test makes its own repos, with unique names). Every test connects
    from 127.0.0.1, so the failed sign-ins allowed per address are raised; tests of the limits start
    their own Hub."""
    server = start_server(tmp_path_factory.mktemp("hub") / "data",
                          env={"COVE_LOGIN_FAILURES_PER_IP": "100000", **spaces_asset_env()})
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def alice(hub) -> str:
    return hub.user("alice")


@pytest.fixture(scope="session")
def bob(hub) -> str:
    return hub.user("bob")


@pytest.fixture
def hf_home(tmp_path, monkeypatch) -> Path:
    """An empty Hugging Face cache for one test."""
    home = tmp_path / "hf-home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hub"))
    return home
