"""The per-repo write lock, injected into the git store: a file lock by default, a PostgreSQL session
advisory lock with several replicas (cove.server.db.locks). Two stores on one folder stand for two
replicas on a shared volume; each has an engine (a pool) of its own, as each replica has."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from cove.errors import Conflict
from cove.protocol import AddFile
from cove.server.db import make_engine
from cove.server.db.locks import AdvisoryLocks, lock_key, repo_locks
from cove.server.storage.git import GitStore, Identity
from cove.server.storage.locks import FileLocks
from tests import postgres

ME = Identity("alice", "")


@pytest.fixture
def pg_url() -> str:
    if postgres.binaries() is None:
        pytest.skip(postgres.missing_reason())
    return postgres.shared_cluster().create_database("locks")


def test_sqlite_keeps_the_file_lock(tmp_path):
    assert repo_locks(make_engine(f"sqlite:///{tmp_path / 'cove.db'}")) is None
    assert isinstance(GitStore(tmp_path / "git")._locks, FileLocks)


def test_keys_are_stable_signed_64_bit_and_differ_per_repo():
    assert lock_key("abc") == lock_key("abc") != lock_key("abd")
    assert all(-2**63 <= lock_key(k) < 2**63 for k in ("a", "b" * 64, ""))


def test_advisory_lock_excludes_another_replica_and_dies_with_its_connection(pg_url):
    one, two = AdvisoryLocks(make_engine(pg_url)), AdvisoryLocks(make_engine(pg_url))
    events: list[str] = []
    with one("repo"):
        waiter = threading.Thread(target=lambda: [two("repo").__enter__(), events.append("two got it")])
        waiter.start()
        time.sleep(0.5)
        with two("other-repo"):  # another repo's lock is free meanwhile
            events.append("other repo")
        assert events == ["other repo"]
    waiter.join(10)
    assert events == ["other repo", "two got it"]  # released on exit; "two" still holds it (never exited)

    # a replica that dies holding the lock: its connection ends, and so does the lock
    victim = make_engine(pg_url)
    held = victim.connect().execution_options(isolation_level="AUTOCOMMIT")
    held.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": lock_key("crash")})
    pid = held.execute(sa.text("SELECT pg_backend_pid()")).scalar()
    with make_engine(pg_url).connect() as admin:
        admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    got = threading.Event()
    threading.Thread(target=lambda: [AdvisoryLocks(make_engine(pg_url))("crash").__enter__(), got.set()],
                     daemon=True).start()
    assert got.wait(20)


def test_two_replicas_commit_to_one_branch_and_lose_nothing(tmp_path, pg_url):
    root = tmp_path / "git"
    GitStore(root).init("repo", ME)
    stores = [GitStore(root, locks=AdvisoryLocks(make_engine(pg_url))) for _ in range(2)]
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(15):
                stores[n].open("repo").commit("main", [AddFile(f"r{n}/{i}.txt", b"x")], ME, f"r{n} {i}")
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(write, range(2)))
    assert errors == []
    git = stores[0].open("repo")
    head = git.resolve("main")
    names = {e.path for e in git.list_tree(head, recursive=True) if e.type == "file"}
    assert names == {".gitattributes"} | {f"r{n}/{i}.txt" for n in range(2) for i in range(15)}
    assert len(git.log(head)[0]) == 31  # a straight line: the initial commit and 30 more


def test_a_hub_on_postgresql_commits_under_advisory_locks(tmp_path, pg_url):
    from cove.server.services import Hub
    from cove.server.settings import Settings

    hub = Hub(Settings(data_dir=tmp_path / "data", database_url=pg_url))
    assert isinstance(hub.git._locks, AdvisoryLocks)
    held = threading.Event()
    with hub.git.lock("some-repo"):  # visible to the database as an advisory lock
        with make_engine(pg_url).connect() as conn:
            count = conn.execute(sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")).scalar()
        held.set()
    assert held.is_set() and count == 1


def test_a_lock_held_too_long_is_a_conflict_to_retry(pg_url):
    holder = AdvisoryLocks(make_engine(pg_url))
    impatient = AdvisoryLocks(make_engine(pg_url), wait_seconds=1)
    with holder("busy"):
        with pytest.raises(Conflict, match="try again"):
            with impatient("busy"):
                pass
    with impatient("busy"):  # free again
        pass
