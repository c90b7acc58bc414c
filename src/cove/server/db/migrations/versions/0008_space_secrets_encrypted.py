"""Space secrets encrypted at rest: every ``space_settings`` row of kind ``secret`` stored in clear is
sealed (AES-256-GCM, :mod:`cove.server.db.sealed`) with the key of the Hub's ``secret``; a downgrade
opens them again. No schema change: the column keeps ``aesgcm1:...`` text.

The key reaches the migration as ``secret_key`` in the Alembic config's attributes (the Hub's start and
``cove db upgrade`` pass it); a database with secrets to convert and no key refuses to upgrade.

Revision ID: 0008_space_secrets_encrypted
Revises: 0007_spaces
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from cove.server.db.sealed import Sealer, is_sealed, secret_context

revision = "0008_space_secrets_encrypted"
down_revision = "0007_spaces"
branch_labels = None
depends_on = None

SETTINGS = sa.table("space_settings", sa.column("id", sa.Integer), sa.column("repo_id", sa.Integer),
                    sa.column("kind", sa.String), sa.column("key", sa.String), sa.column("value", sa.Text))


def _convert(sealing: bool) -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(SETTINGS.c.id, SETTINGS.c.repo_id, SETTINGS.c.key, SETTINGS.c.value)
                        .where(SETTINGS.c.kind == "secret")).all()
    todo = [r for r in rows if is_sealed(r.value) != sealing]
    if not todo:
        return
    secret = context.config.attributes.get("secret_key") if context.config is not None else None
    if not secret:
        raise RuntimeError("Migration 0008 encrypts Space secrets with the Hub's key: run it from `cove serve` "
                           "or `cove db upgrade` with the Hub's data dir (its `secret` file) or COVE_SECRET_KEY")
    sealer = Sealer(secret)
    for r in todo:
        ctx = secret_context(r.repo_id, r.key)
        value = sealer.seal(r.value, ctx) if sealing else sealer.open(r.value, ctx)
        conn.execute(SETTINGS.update().where(SETTINGS.c.id == r.id).values(value=value))


def upgrade() -> None:
    _convert(sealing=True)


def downgrade() -> None:
    _convert(sealing=False)
