"""Schema migrations on both engines (SQLite, and PostgreSQL in a cluster of the test's own): the models
and the migrated schema agree, a database from before migrations is adopted with its rows, starts race
safely, and ``cove db`` reports and upgrades."""

from __future__ import annotations

import importlib
import subprocess
import sys
import threading
from datetime import datetime

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from cove.server.db import make_engine, migrate, open_database

baseline = importlib.import_module("cove.server.db.migrations.versions.0001_baseline")


def _diff(url: str, metadata: sa.MetaData) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": migrate.compare_type})
            return [d for d in compare_metadata(ctx, metadata)
                    if not (d[0] == "remove_table" and d[1].name == "alembic_version")]
    finally:
        engine.dispose()


def test_models_need_no_migration(db_url):
    """A model changed without a migration fails here: write one in cove/server/db/migrations/versions."""
    open_database(db_url).kw["bind"].dispose()
    diff = _diff(db_url, migrate.metadata())
    assert not diff, (
        "The models differ from the schema the migrations make. Add a migration for this change "
        "(src/cove/server/db/migrations/versions/, next number, down_revision = the current head; "
        "see docs/deploy.md). Differences:\n" + "\n".join(map(repr, diff)))


def _legacy(url: str) -> None:
    """A database as Cove made it before migrations: the frozen baseline models' ``create_all``, the
    ``schema_version`` row, and rows in every part."""
    engine = make_engine(url)
    baseline.SCHEMA.create_all(engine)
    t = baseline.SCHEMA.tables
    now = datetime(2026, 12, 1, 12, 0)
    with engine.begin() as c:
        c.execute(t["meta"].insert(), [{"key": "schema_version", "value": "1"}])
        c.execute(t["accounts"].insert(), [
            {"id": 1, "name": "alice", "kind": "user", "fullname": "Alice", "email": "a@example.org",
             "password_hash": "x", "is_admin": True, "created_at": now},
            {"id": 2, "name": "acme", "kind": "org", "fullname": "", "email": "", "password_hash": "",
             "is_admin": False, "created_at": now}])
        c.execute(t["memberships"].insert(), [{"org_id": 2, "user_id": 1, "role": "admin"}])
        c.execute(t["tokens"].insert(), [{"id": 1, "user_id": 1, "name": "t", "token_hash": "h" * 64,
                                          "role": "write", "prefix": "hf_x", "created_at": now}])
        c.execute(t["repos"].insert(), [
            {"id": 1, "type": "model", "namespace": "alice", "name": "bert", "storage_key": "k1",
             "private": False, "gated": "", "sdk": "", "created_at": now, "last_modified": now,
             "downloads": 3, "likes": 1, "card_data": {"license": "mit"}, "tags": ["a"],
             "pipeline_tag": "", "library_name": "", "head_sha": "0" * 40}])
        c.execute(t["likes"].insert(), [{"user_id": 1, "repo_id": 1}])
        c.execute(t["lfs_objects"].insert(), [{"oid": "a" * 64, "size": 2**31 - 1, "sha1": "", "created_at": now}])
        c.execute(t["repo_lfs"].insert(), [{"repo_id": 1, "oid": "a" * 64}])
        c.execute(t["xet_files"].insert(), [{"file_id": "f" * 64, "sha256": "a" * 64, "size": 2**40,
                                             "terms": b"\x01\x02", "created_at": now}])
        c.execute(t["buckets"].insert(), [{"id": 1, "namespace": "alice", "name": "b", "storage_key": "bk",
                                           "private": True, "created_at": now, "updated_at": now}])
        c.execute(t["bucket_files"].insert(), [{"bucket_id": 1, "path": "x/y.bin", "file_id": "f" * 64,
                                                "size": 2**40, "mtime": 1, "uploaded_at": now}])
        c.execute(t["audit_events"].insert(), [{"at": now, "action": "token.create", "actor": "alice",
                                                "ip": "127.0.0.1", "target": "alice", "detail": {"n": 1}}])
    engine.dispose()


def test_database_from_before_migrations_is_adopted_with_its_rows(db_url):
    from cove.server.db import Account, LfsObject, Repo, Token
    from cove.server.db.buckets import files_under

    _legacy(db_url)
    assert migrate.status(make_engine(db_url)).legacy
    sessions = open_database(db_url)
    assert migrate.status(sessions.kw["bind"]).up_to_date
    with sessions.begin() as s:
        assert [a.name for a in s.scalars(sa.select(Account).order_by(Account.id))] == ["alice", "acme"]
        assert s.get(Token, 1).token_hash == "h" * 64
        repo = s.get(Repo, 1)
        assert (repo.repo_id, repo.card_data, repo.downloads) == ("alice/bert", {"license": "mit"}, 3)
        assert s.get(LfsObject, "a" * 64).size == 2**31 - 1
        s.add(LfsObject(oid="b" * 64, size=5 * 2**30))  # past 2 GiB: a BIGINT now on PostgreSQL too
    with sessions() as s:
        assert s.get(LfsObject, "b" * 64).size == 5 * 2**30
    assert [f.size for f in files_under(sessions, 1, "x")] == [2**40]
    assert not _diff(db_url, migrate.metadata())
    sessions.kw["bind"].dispose()


def test_starts_that_race_migrate_once(db_url):
    """Several servers starting together on one new database: all come up, the schema is made once."""
    errors: list[BaseException] = []

    def start():
        try:
            open_database(db_url).kw["bind"].dispose()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    engine = make_engine(db_url)
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() == [migrate.head()]
    engine.dispose()


def _cove_db(*args: str, url: str, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cove.cli.main", "db", *args, "--data-dir", str(tmp_path / "d"),
                           "--database-url", url], capture_output=True, text=True, timeout=120)


def test_cove_db_current_and_upgrade(db_url, tmp_path):
    _legacy(db_url)
    before = _cove_db("current", url=db_url, tmp_path=tmp_path)
    assert before.returncode == 1, before.stderr
    assert "from before migrations" in before.stdout and "needs `cove db upgrade`" in before.stdout
    up = _cove_db("upgrade", url=db_url, tmp_path=tmp_path)
    assert up.returncode == 0, up.stderr
    assert "adopted at the baseline" in up.stdout and f"to {migrate.head()}" in up.stdout
    after = _cove_db("current", url=db_url, tmp_path=tmp_path)
    assert after.returncode == 0 and f"current: {migrate.head()}" in after.stdout and "up to date" in after.stdout
    again = _cove_db("upgrade", url=db_url, tmp_path=tmp_path)
    assert again.returncode == 0 and "already at" in again.stdout
