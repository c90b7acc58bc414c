"""Work that every replica may do at the same time, on one data dir and one database: two Hubs in one
process stand for two replicas (or, on SQLite, two worker processes) (each has its own engine, caches and queues, as a replica has)."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from cove.server.db import make_engine
from cove.server.db.scans import save_scan, scans_of
from cove.server.db.xet import XetFile
from cove.server.services import Hub
from cove.server.settings import Settings


@pytest.fixture
def two_hubs(tmp_path, db_url) -> tuple[Hub, Hub]:
    """On SQLite these are two worker processes of one machine (``cove serve --workers 2``)."""
    settings = Settings(data_dir=tmp_path / "data", database_url=db_url)
    return Hub(settings), Hub(settings)


def test_both_convert_one_object_to_xet_at_once(two_hubs):
    one, two = two_hubs
    oid, size = one.blobs.put([os.urandom(3 * 1024 * 1024)])
    with ThreadPoolExecutor(4) as pool:
        refs = list(pool.map(lambda hub: hub.objects.convert(oid), [one, two, one, two]))
    assert len({r.file_id for r in refs}) == 1 and refs[0].size == size
    with one.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(XetFile).where(XetFile.sha256 == oid)) == 1
    with two.objects.open(two.objects.locate(oid)) as f:  # readable as Xet on either
        assert f.read(16) == open(one.blobs.path(oid), "rb").read(16)


def test_both_store_one_scan_at_once(two_hubs):
    one, two = two_hubs
    cid = "ab" * 32

    def save(n: int) -> None:
        hub = (one, two)[n % 2]
        save_scan(hub.sessions, cid, status="safe", imports=[], message=f"scan {n}", version=1)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(save, range(8)))
    assert scans_of(one.sessions, [cid], 1)[cid].status == "safe"


def test_failed_signins_count_on_every_replica(two_hubs):
    one, two = two_hubs
    limits = {"user:kim": 3, "ip:10.0.0.1": 100}
    now = time.time()
    for hub in (one, two, one):
        ids, wait = hub.signins.failures.attempt(limits, now)
        assert wait == 0 and len(ids) == 2
    ids, wait = two.signins.failures.attempt(limits, now)  # the fourth, on either: refused, not counted
    assert ids and wait >= 1
    _, wait = one.signins.failures.attempt(limits, now + one.settings.login_window + 1)  # the window moved on
    assert wait == 0
    assert one.signins.failures.prune(now + 10 * one.settings.login_window) >= 1


def test_a_new_sqlite_database_busy_in_a_migration_is_waited_for(tmp_path):
    """A replica that connects while another creates the schema (one BEGIN IMMEDIATE transaction, before
    the database is in WAL mode) waits for it, instead of failing its start with "database is locked"."""
    path = tmp_path / "cove.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("CREATE TABLE t (x)")
    threading.Timer(0.5, lambda: holder.execute("COMMIT")).start()
    with make_engine(f"sqlite:///{path}").connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


@pytest.mark.parametrize("text, roles", [("web", {"web"}), ("inference", {"inference"}),
                                         (" Web , inference ", {"web", "inference"}), ("web,spaces", {"web", "spaces"})])
def test_roles_setting(tmp_path, text, roles):
    assert Settings.from_env({"COVE_DATA_DIR": str(tmp_path), "COVE_ROLES": text}).roles == roles
    assert Settings.from_env({"COVE_DATA_DIR": str(tmp_path)}).roles == {"web", "inference", "spaces"}


@pytest.mark.parametrize("text", ["", "gpu", "web,gpu", " , "])
def test_roles_setting_refuses_unknown_roles(tmp_path, text):
    with pytest.raises(ValueError, match="COVE_ROLES"):
        Settings.from_env({"COVE_DATA_DIR": str(tmp_path), "COVE_ROLES": text})


def test_replicas_starting_together_agree_on_one_secret(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    with ThreadPoolExecutor(8) as pool:
        secrets = set(pool.map(lambda _: settings.with_secret().secret_key, range(32)))
    assert len(secrets) == 1 and list((tmp_path / "data").glob(".secret-*")) == []
