"""The Hub's services: repo, commit, revision and permission logic. Routes call these; nothing
here knows about HTTP. :class:`Hub` wires them to one data dir (database, git, LFS store)."""

from __future__ import annotations

from cove.server.db import open_database
from cove.server.services.accounts import Accounts, Principal
from cove.server.services.commits import Commits
from cove.server.services.content import Content
from cove.server.services.inference import Inference
from cove.server.services.lfs import Lfs
from cove.server.services.repos import Repos
from cove.server.settings import Settings
from cove.server.storage.blobs import BlobStore
from cove.server.storage.git import GitStore

__all__ = ["Hub", "Principal"]


class Hub:
    def __init__(self, settings: Settings) -> None:
        settings = settings.with_secret()
        self.settings = settings
        self.sessions = open_database(settings.database_url)
        self.blobs = BlobStore(settings.storage_url)
        self.git = GitStore(settings.data_dir / "git", hook_env={"COVE_DATABASE_URL": settings.database_url,
                                                                 "COVE_STORAGE_URL": settings.storage_url})
        self.accounts = Accounts(self.sessions)
        self.repos = Repos(self.sessions, self.accounts, self.git, self.blobs)
        self.content = Content(self.blobs)
        self.commits = Commits(self.sessions, self.blobs, settings.lfs_threshold)
        self.lfs = Lfs(settings.secret_key, self.blobs, self.commits, settings.multipart_part_size)
        self.inference = Inference(settings, self.repos, self.content, self.blobs)
