"""Spaces: ``space_states`` (the stage each Space is in, the commit it runs, where its app answers) and
``space_settings`` (its secrets and variables).

Revision ID: 0007_spaces
Revises: 0006_webhooks
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_spaces"
down_revision = "0006_webhooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "space_states",
        sa.Column("repo_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=24), nullable=False),
        sa.Column("sha", sa.String(length=40), nullable=False),
        sa.Column("error", sa.String(length=1000), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("sleep_time", sa.Integer(), nullable=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("factory", sa.Boolean(), nullable=False),
        sa.Column("last_request_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["repo_id"], ["repos.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("repo_id"),
    )
    op.create_table(
        "space_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repo_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["repo_id"], ["repos.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("repo_id", "kind", "key"),
    )
    op.create_index("ix_space_settings_repo_id", "space_settings", ["repo_id"])


def downgrade() -> None:
    op.drop_table("space_settings")
    op.drop_table("space_states")
