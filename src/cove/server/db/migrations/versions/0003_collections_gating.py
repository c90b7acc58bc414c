"""Collections, gated repos and organization settings.

* ``collections`` and ``collection_items``: an account's ordered lists of repos and collections.
* ``access_requests``: who may download a gated repo's files (``repos.gated`` is ``"auto"`` or
  ``"manual"``).
* ``org_settings``: ``private_by_default`` for the repos and buckets an organization creates.

Revision ID: 0003_collections_gating
Revises: 0002_portable_types
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_collections_gating"
down_revision = "0002_portable_types"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "collections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("oid", sa.String(length=24), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column("theme", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_collections_oid", "collections", ["oid"], unique=True)
    op.create_index("ix_collections_owner_id", "collections", ["owner_id"])
    op.create_table(
        "collection_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("oid", sa.String(length=24), nullable=False),
        sa.Column("collection_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("repo_id", sa.Integer(), nullable=True),
        sa.Column("target_id", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(["collection_id"], ["collections.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["repo_id"], ["repos.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["target_id"], ["collections.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("collection_id", "repo_id"),
        sa.UniqueConstraint("collection_id", "target_id"),
    )
    op.create_index("ix_collection_items_oid", "collection_items", ["oid"], unique=True)
    for column in ("collection_id", "repo_id", "target_id"):
        op.create_index(f"ix_collection_items_{column}", "collection_items", [column])
    op.create_table(
        "access_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("oid", sa.String(length=24), nullable=False),
        sa.Column("repo_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("rejection_reason", sa.String(length=1000), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["repo_id"], ["repos.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("repo_id", "user_id"),
    )
    op.create_index("ix_access_requests_oid", "access_requests", ["oid"], unique=True)
    op.create_index("ix_access_requests_repo_id", "access_requests", ["repo_id"])
    op.create_index("ix_access_requests_user_id", "access_requests", ["user_id"])
    op.create_table(
        "org_settings",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("private_by_default", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("org_id"),
    )


def downgrade() -> None:
    op.drop_table("org_settings")
    op.drop_table("access_requests")
    op.drop_table("collection_items")
    op.drop_table("collections")
