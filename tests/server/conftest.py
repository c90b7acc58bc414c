"""Fixtures of the server's unit tests."""

from __future__ import annotations

import pytest

from tests import postgres


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """An empty database of each engine (PostgreSQL: a new database in this test process's cluster)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cove.db'}"
    if postgres.binaries() is None:
        pytest.skip(postgres.missing_reason())
    return postgres.shared_cluster().create_database("unit")
