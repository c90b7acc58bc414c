"""Space secrets encrypted at rest (AES-GCM with a key from the Hub's secret): a value is bound to its
Space and name, migration 0008 seals the rows a 0007 database kept in clear (and a downgrade opens them),
on SQLite and PostgreSQL, and a Hub started with another key refuses to start rather than hand apps garbage."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from cove.server.db import Repo, make_engine, migrate
from cove.server.db.sealed import Sealer, WrongKey, is_sealed, secret_context
from cove.server.db.spaces import SpaceSetting, space_environment
from cove.server.services import Hub
from cove.server.settings import Settings

KEY = "a" * 64


def test_sealed_values_open_only_with_their_key_and_place():
    sealer = Sealer(KEY)
    stored = sealer.seal("hunter2", secret_context(1, "API_KEY"))
    assert is_sealed(stored) and "hunter2" not in stored
    assert stored != sealer.seal("hunter2", secret_context(1, "API_KEY"))  # a fresh nonce each time
    assert sealer.open(stored, secret_context(1, "API_KEY")) == "hunter2"
    with pytest.raises(WrongKey):
        sealer.open(stored, secret_context(2, "API_KEY"))  # copied onto another Space's row
    with pytest.raises(WrongKey):
        sealer.open(stored, secret_context(1, "OTHER"))
    with pytest.raises(WrongKey, match="another key"):
        Sealer("b" * 64).open(stored, secret_context(1, "API_KEY"))


def _rows(engine) -> dict[tuple[str, str], str]:
    with engine.connect() as c:
        return {(k, key): v for k, key, v in c.execute(sa.text("SELECT kind, key, value FROM space_settings"))}


def test_migration_0008_encrypts_existing_secrets(db_url):
    engine = make_engine(db_url)
    try:
        migrate.upgrade(engine, "0007_spaces")
        with Session(engine) as s, s.begin():  # the models are the 0007 schema (0008 changes no column)
            s.add(Repo(id=7, type="space", namespace="alice", name="demo", storage_key="k7", sdk="gradio"))
            s.flush()
            s.add_all([SpaceSetting(repo_id=7, kind="secret", key="API_KEY", value="plain-secret-1", description=""),
                       SpaceSetting(repo_id=7, kind="variable", key="COLOR", value="blue", description="")])
        with pytest.raises(RuntimeError, match="Hub's key"):  # secrets to convert and no key: refused
            migrate.upgrade(engine, secret_key=None)
        assert migrate.status(engine).current == "0007_spaces" and _rows(engine)[("secret", "API_KEY")] == "plain-secret-1"

        migrate.upgrade(engine, secret_key=KEY)
        rows = _rows(engine)
        assert is_sealed(rows[("secret", "API_KEY")]) and "plain-secret-1" not in rows[("secret", "API_KEY")]
        assert rows[("variable", "COLOR")] == "blue"  # variables are shown back: kept in clear
        assert Sealer(KEY).open(rows[("secret", "API_KEY")], secret_context(7, "API_KEY")) == "plain-secret-1"

        migrate.downgrade(engine, "0007_spaces", secret_key=KEY)
        assert _rows(engine)[("secret", "API_KEY")] == "plain-secret-1"
    finally:
        engine.dispose()


def test_a_hub_with_another_key_refuses_to_start(tmp_path):
    data = tmp_path / "data"
    hub = Hub(Settings(data_dir=data, secret_key=KEY))
    hub.accounts.create_user("sealer")
    who = hub.accounts.authenticate_token(hub.accounts.create_token("sealer"))
    repo, _ = hub.repos.create(who, "space", "sealer", "demo", sdk="static")
    hub.spaces.put_setting(who, "sealer/demo", "secret", {"key": "API_KEY", "value": "top-secret-2"})
    hub.spaces.put_setting(who, "sealer/demo", "variable", {"key": "API_KEY", "value": "shown"})
    assert b"top-secret-2" not in b"".join(p.read_bytes() for p in data.glob("cove.db*"))
    with hub.sessions() as s:  # what the runner gives the app: decrypted
        assert space_environment(s, repo.id, hub.runner.sealer) == {"secret": {"API_KEY": "top-secret-2"},
                                                                    "variable": {"API_KEY": "shown"}}
    Hub(Settings(data_dir=data, secret_key=KEY)).spaces.check_key()  # the same key: starts
    with pytest.raises(WrongKey, match="another key"):
        Hub(Settings(data_dir=data, secret_key="c" * 64))
