"""Baseline: the schema as ``Base.metadata.create_all`` made it before migrations (December 2026).

Frozen here, never to change: later schema changes are later revisions. :data:`SCHEMA` is that schema as
plain tables. The upgrade creates each of its tables that is missing, so it serves a new database (all of
them), and a database made by ``create_all`` before migrations (none of them; or, for one last opened
by an older Cove, the tables added since) keeps its rows and joins the migration history here.

Revision ID: 0001_baseline
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = sa.MetaData()
_t = SCHEMA.tables.__getitem__

sa.Table(
    'accounts', SCHEMA,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=96), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('fullname', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=300), nullable=False),
    sa.Column('is_admin', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
)
sa.Index('ix_accounts_name', _t('accounts').c.name, unique=True)
sa.Table(
    'audit_events', SCHEMA,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('actor', sa.String(length=96), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=300), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
)
sa.Index('ix_audit_events_action', _t('audit_events').c.action)
sa.Index('ix_audit_events_actor', _t('audit_events').c.actor)
sa.Index('ix_audit_events_at', _t('audit_events').c.at)
sa.Table(
    'buckets', SCHEMA,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('namespace', sa.String(length=96), nullable=False),
    sa.Column('name', sa.String(length=96), nullable=False),
    sa.Column('storage_key', sa.String(length=64), nullable=False),
    sa.Column('private', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('namespace', 'name'),
    sa.UniqueConstraint('storage_key')
)
sa.Index('ix_buckets_namespace', _t('buckets').c.namespace)
sa.Table(
    'lfs_objects', SCHEMA,
    sa.Column('oid', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha1', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('oid')
)
sa.Table(
    'meta', SCHEMA,
    sa.Column('key', sa.String(length=32), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('key')
)
sa.Table(
    'repos', SCHEMA,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=8), nullable=False),
    sa.Column('namespace', sa.String(length=96), nullable=False),
    sa.Column('name', sa.String(length=96), nullable=False),
    sa.Column('storage_key', sa.String(length=64), nullable=False),
    sa.Column('private', sa.Boolean(), nullable=False),
    sa.Column('gated', sa.String(length=8), nullable=False),
    sa.Column('sdk', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_modified', sa.DateTime(), nullable=False),
    sa.Column('downloads', sa.Integer(), nullable=False),
    sa.Column('likes', sa.Integer(), nullable=False),
    sa.Column('card_data', sa.JSON(), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('pipeline_tag', sa.String(length=64), nullable=False),
    sa.Column('library_name', sa.String(length=64), nullable=False),
    sa.Column('head_sha', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('storage_key'),
    sa.UniqueConstraint('type', 'namespace', 'name')
)
sa.Index('ix_repos_namespace', _t('repos').c.namespace)
sa.Table(
    'security_scans', SCHEMA,
    sa.Column('content_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('imports', sa.JSON(), nullable=False),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('scanned_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('content_id')
)
sa.Table(
    'xet_chunks', SCHEMA,
    sa.Column('chunk', sa.String(length=64), nullable=False),
    sa.Column('xorb', sa.String(length=64), nullable=False),
    sa.Column('file_id', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('chunk')
)
sa.Index('ix_xet_chunks_xorb', _t('xet_chunks').c.xorb)
sa.Table(
    'xet_files', SCHEMA,
    sa.Column('file_id', sa.String(length=64), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('terms', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('file_id')
)
sa.Index('ix_xet_files_sha256', _t('xet_files').c.sha256)
sa.Table(
    'bucket_files', SCHEMA,
    sa.Column('bucket_id', sa.Integer(), nullable=False),
    sa.Column('path', sa.String(length=4096), nullable=False),
    sa.Column('file_id', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('mtime', sa.BigInteger(), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['bucket_id'], ['buckets.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['file_id'], ['xet_files.file_id']),
    sa.PrimaryKeyConstraint('bucket_id', 'path')
)
sa.Index('ix_bucket_files_bucket_file', _t('bucket_files').c.bucket_id, _t('bucket_files').c.file_id)
sa.Table(
    'bucket_xet_files', SCHEMA,
    sa.Column('bucket_id', sa.Integer(), nullable=False),
    sa.Column('file_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['bucket_id'], ['buckets.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['file_id'], ['xet_files.file_id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('bucket_id', 'file_id')
)
sa.Index('ix_bucket_xet_files_file_id', _t('bucket_xet_files').c.file_id)
sa.Table(
    'likes', SCHEMA,
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('repo_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['repo_id'], ['repos.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['accounts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'repo_id')
)
sa.Table(
    'memberships', SCHEMA,
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=8), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['accounts.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['accounts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('org_id', 'user_id')
)
sa.Table(
    'repo_lfs', SCHEMA,
    sa.Column('repo_id', sa.Integer(), nullable=False),
    sa.Column('oid', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['oid'], ['lfs_objects.oid']),
    sa.ForeignKeyConstraint(['repo_id'], ['repos.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('repo_id', 'oid')
)
sa.Table(
    'repo_redirects', SCHEMA,
    sa.Column('type', sa.String(length=8), nullable=False),
    sa.Column('namespace', sa.String(length=96), nullable=False),
    sa.Column('name', sa.String(length=96), nullable=False),
    sa.Column('repo_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['repo_id'], ['repos.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('type', 'namespace', 'name')
)
sa.Index('ix_repo_redirects_repo_id', _t('repo_redirects').c.repo_id)
sa.Table(
    'tokens', SCHEMA,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=8), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['accounts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
)
sa.Index('ix_tokens_token_hash', _t('tokens').c.token_hash, unique=True)
sa.Index('ix_tokens_user_id', _t('tokens').c.user_id)
sa.Table(
    'web_sessions', SCHEMA,
    sa.Column('session_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['accounts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('session_hash')
)
sa.Table(
    'xet_repo_files', SCHEMA,
    sa.Column('repo_id', sa.Integer(), nullable=False),
    sa.Column('file_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['file_id'], ['xet_files.file_id']),
    sa.ForeignKeyConstraint(['repo_id'], ['repos.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('repo_id', 'file_id')
)
sa.Index('ix_xet_repo_files_file_id', _t('xet_repo_files').c.file_id)


def upgrade() -> None:
    SCHEMA.create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    SCHEMA.drop_all(op.get_bind())
