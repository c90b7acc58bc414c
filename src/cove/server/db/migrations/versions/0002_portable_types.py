"""What PostgreSQL needs that SQLite never asked for.

* ``lfs_objects.size`` becomes a BIGINT: files past 2 GiB overflow PostgreSQL's INTEGER. SQLite's
  INTEGER already holds 64 bits, so there is nothing to do there (and nothing to copy).
* ``bucket_files.path`` compares by bytes (``COLLATE "C"``) on PostgreSQL, as SQLite's BINARY does: a
  bucket's listing is ordered by path and resumes after a path, which a locale's collation (that
  ignores punctuation, folds case) would get wrong.

Revision ID: 0002_portable_types
Revises: 0001_baseline
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_portable_types"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.alter_column("lfs_objects", "size", type_=sa.BigInteger(), existing_type=sa.Integer(),
                    existing_nullable=False)
    op.alter_column("bucket_files", "path", type_=sa.String(4096, collation="C"),
                    existing_type=sa.String(4096), existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.alter_column("bucket_files", "path", type_=sa.String(4096), existing_nullable=False)
    op.alter_column("lfs_objects", "size", type_=sa.Integer(), existing_nullable=False)
