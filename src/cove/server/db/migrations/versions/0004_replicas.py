"""Failed sign-ins in the database, so that their limits hold across Hub replicas.

* ``signin_failures``: one row per failed password check, by key (``user:<name>`` or ``ip:<address>``)
  and Unix time (:mod:`cove.server.db.signins`). Nothing moves here from before: the counters lived in
  each process's memory, and a window of minutes starts empty.

Revision ID: 0004_replicas
Revises: 0003_collections_gating
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_replicas"
down_revision = "0003_collections_gating"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signin_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_signin_failures_key_at", "signin_failures", ["key", "at"])


def downgrade() -> None:
    op.drop_index("ix_signin_failures_key_at", table_name="signin_failures")
    op.drop_table("signin_failures")
