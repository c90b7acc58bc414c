"""A Hub whose database is from before migrations (the schema ``create_all`` made, with real data in it)
starts on this Cove, adopts it, and everything in it is still there and usable through the stock client;
on SQLite and on PostgreSQL.

The data is made by a real server (users, an org, tokens, public and private repos, LFS and Xet files,
likes), then the database is taken back to that old form: the migrations after the baseline undone, no
``alembic_version``, the ``schema_version`` row; the test checks that it is then exactly the frozen
baseline models' ``create_all`` schema, so the git repos on disk and the rows agree as on a real upgrade.
"""

from __future__ import annotations

import hashlib
import importlib
import os

import httpx
import pytest
import sqlalchemy as sa
from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download

from cove.server.db import make_engine, migrate
from tests import postgres
from tests.conftest import DATABASES, start_server, stop_server
from tests.server.test_migrations import _diff

baseline = importlib.import_module("cove.server.db.migrations.versions.0001_baseline")

WEIGHTS = os.urandom(64 * 1024)  # over COVE_LFS_THRESHOLD: stored in LFS (through Xet by hf_xet)
DATA = b"a,b\n1,2\n" * 300


@pytest.fixture(params=["sqlite", "postgresql"])
def data_dir(request, tmp_path):
    data = tmp_path / "data"
    if request.param == "postgresql":
        if postgres.binaries() is None:
            pytest.skip(postgres.missing_reason())
        DATABASES[data.resolve()] = postgres.shared_cluster().create_database("upgrade")
    else:  # even when the suite runs on PostgreSQL
        DATABASES[data.resolve()] = f"sqlite:///{data / 'cove.db'}"
    yield data
    DATABASES.pop(data.resolve(), None)


def _to_pre_migration_form(url: str) -> None:
    engine = make_engine(url)
    migrate.downgrade(engine, "0001_baseline")
    with engine.begin() as c:
        c.execute(sa.text("DROP TABLE alembic_version"))
        c.execute(sa.text("INSERT INTO meta (key, value) VALUES ('schema_version', '1')"))
    assert migrate.status(engine).legacy
    engine.dispose()
    assert not _diff(url, baseline.SCHEMA), "not the schema create_all made before migrations"


def test_hub_on_a_database_from_before_migrations(data_dir, tmp_path):
    env = {"COVE_LFS_THRESHOLD": "1024"}
    url = DATABASES[data_dir.resolve()]
    server = start_server(data_dir, env=env)
    try:
        alice = server.user("alice")
        bob = server.user("bob")
        reader = server.token("alice", read_only=True)
        api = HfApi(endpoint=server.url, token=alice)
        api.create_repo("alice/old-model")
        api.create_commit("alice/old-model", operations=[
            CommitOperationAdd("config.json", b'{"model_type": "bert"}'),
            CommitOperationAdd("model.safetensors", WEIGHTS)], commit_message="weights")
        api.create_repo("alice/secret-data", repo_type="dataset", private=True)
        api.upload_file(path_or_fileobj=DATA, path_in_repo="train.csv", repo_id="alice/secret-data",
                        repo_type="dataset")
        r = httpx.post(f"{server.url}/api/models/alice/old-model/like", headers={"authorization": f"Bearer {bob}"})
        assert r.status_code == 200, r.text
    finally:
        stop_server(server)

    _to_pre_migration_form(url)

    server = start_server(data_dir, env=env)
    try:
        assert f"current: {migrate.head()}" in server.cli("db", "current")
        api = HfApi(endpoint=server.url, token=alice)
        assert api.whoami()["name"] == "alice"
        assert HfApi(endpoint=server.url, token=reader).whoami()["name"] == "alice"  # tokens kept
        info = api.model_info("alice/old-model", files_metadata=True)
        assert info.likes == 1
        lfs = {s.rfilename: s.lfs for s in info.siblings}
        assert lfs["model.safetensors"] is not None and lfs["model.safetensors"].size == len(WEIGHTS)
        got = hf_hub_download("alice/old-model", "model.safetensors", endpoint=server.url, token=alice,
                              cache_dir=tmp_path / "cache")
        assert hashlib.sha256(open(got, "rb").read()).digest() == hashlib.sha256(WEIGHTS).digest()
        # privacy kept: bob does not see alice's private dataset, alice does
        assert [d.id for d in HfApi(endpoint=server.url, token=bob).list_datasets(author="alice")] == []
        got = hf_hub_download("alice/secret-data", "train.csv", repo_type="dataset", endpoint=server.url,
                              token=alice, cache_dir=tmp_path / "cache")
        assert open(got, "rb").read() == DATA
        # and it keeps working: a new commit with a large file, on the upgraded schema
        more = os.urandom(48 * 1024)
        api.upload_file(path_or_fileobj=more, path_in_repo="more.bin", repo_id="alice/old-model")
        got = hf_hub_download("alice/old-model", "more.bin", endpoint=server.url, cache_dir=tmp_path / "c2")
        assert open(got, "rb").read() == more
        assert sorted(api.list_repo_files("alice/old-model")) == [
            ".gitattributes", "config.json", "model.safetensors", "more.bin"]
    finally:
        stop_server(server)
