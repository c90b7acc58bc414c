"""A throwaway PostgreSQL cluster for the tests: ``initdb`` in a temp dir, a server on a free loopback
port (no Unix socket outside that dir, trust auth for the one user), a database per Hub.

``COVE_TEST_DB=postgresql`` runs every Hub the tests start (``tests/conftest.py``: ``start_server``) on
a database of its own in this cluster instead of SQLite. The cluster is one per test process, started on
first use and stopped when the process exits. Without PostgreSQL's binaries (Debian: ``apt-get install
postgresql``; ``scripts/test-setup.sh`` does it as root) the tests that need it are skipped.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

USER = "cove"
_lock = threading.Lock()
_shared: Cluster | None = None


def binaries() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: on PATH, else Debian's ``/usr/lib/postgresql/<v>/bin``."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl", path=str(Path(found).parent)):
        return Path(found).parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]),
                         reverse=True):
        if Path(folder, "initdb").exists() and Path(folder, "pg_ctl").exists():
            return Path(folder)
    return None


def missing_reason() -> str:
    return "PostgreSQL's binaries (initdb, pg_ctl) are not installed: apt-get install postgresql"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        # not under pytest's tmp dirs: those are private to root, and as root the server runs as postgres
        self.root = Path(tempfile.mkdtemp(prefix="cove-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._as = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            import pwd

            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-U", USER, "--auth=trust", "--encoding=UTF8",
                  "--locale=C.UTF-8", "--no-sync")
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.root} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", options,
                  "-w", "-t", "60", "start")

    def _run(self, tool: str, *args: str) -> None:
        proc = subprocess.run([*self._as, str(self.bin / tool), *args], capture_output=True, text=True,
                              timeout=120)
        if proc.returncode != 0:
            log = self.root / "server.log"
            raise RuntimeError(f"{tool} failed: {proc.stdout}{proc.stderr}"
                               f"{log.read_text() if log.exists() else ''}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "hub") -> str:
        """A new empty database; its SQLAlchemy URL."""
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        for attempt in range(20):  # CREATE DATABASE copies template1, one at a time
            try:
                with psycopg.connect(f"host=127.0.0.1 port={self.port} user={USER} dbname=postgres",
                                     autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{name}"')
                return self.url(name)
            except psycopg.errors.ObjectInUse:
                time.sleep(0.1 * (attempt + 1))
        raise RuntimeError("could not create a database")

    def stop(self) -> None:
        subprocess.run([*self._as, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                        "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


def shared_cluster() -> Cluster:
    """This process's cluster, started on first use (raises when the binaries are missing)."""
    global _shared
    with _lock:
        if _shared is None:
            bin_dir = binaries()
            if bin_dir is None:
                raise RuntimeError(missing_reason())
            _shared = Cluster(bin_dir)
            atexit.register(_shared.stop)
        return _shared


def enabled() -> bool:
    """Whether the Hubs the tests start run on PostgreSQL (``COVE_TEST_DB=postgresql``)."""
    return os.environ.get("COVE_TEST_DB", "").lower() in ("postgresql", "postgres", "pg")
