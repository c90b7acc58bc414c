"""Alembic's environment for Cove: always online, on the connection :mod:`cove.server.db.migrate` opened
(in a transaction that holds the migration lock). No ``alembic.ini``: the configuration is in code."""

from __future__ import annotations

from alembic import context

from cove.server.db.migrate import compare_type, metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run Cove's migrations through `cove db upgrade` (cove.server.db.migrate), "
                       "not the alembic command")
context.configure(connection=connection, target_metadata=metadata(), compare_type=compare_type)
with context.begin_transaction():
    context.run_migrations()
