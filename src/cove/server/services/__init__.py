"""The Hub's services: repo, commit, revision and permission logic. Routes call these; nothing
here knows about HTTP. :class:`Hub` wires them to one data dir (database, git, LFS store)."""

from __future__ import annotations

import logging
import os
import time
from datetime import timedelta
from pathlib import Path

from cove.server.db import open_database, utcnow
from cove.server.db.locks import repo_locks
from cove.server.db.removal_lock import removal_lock
from cove.server.services.accounts import Accounts, Principal
from cove.server.services.attachments import Attachments
from cove.server.services.audit import Audit
from cove.server.services.buckets import Buckets
from cove.server.services.collections import Collections
from cove.server.services.commits import Commits
from cove.server.services.content import Content
from cove.server.services.discussions import Discussions
from cove.server.services.gating import AccessRequests
from cove.server.services.history import History
from cove.server.services.inference import Inference
from cove.server.services.lfs import Lfs
from cove.server.services.notifications import Notifications
from cove.server.services.objects import Objects
from cove.server.services.pulls import Pulls
from cove.server.services.refs import Refs
from cove.server.services.repos import Repos
from cove.server.services.scans import Scans
from cove.server.services.seed_status import SeedProgress
from cove.server.services.signin import SignIns
from cove.server.services.spaces import Spaces
from cove.server.services.webhook_delivery import Deliverer
from cove.server.services.webhooks import Webhooks
from cove.server.services.weights import Weights
from cove.server.services.xet import Xet
from cove.server.settings import Settings
from cove.server.spaces.runner import Runner
from cove.server.storage.git import GitStore
from cove.server.storage.stores import open_stores
from cove.server.storage.xet import XorbStore

__all__ = ["Hub", "Principal"]
#: Days a finished webhook delivery stays in the log.
DELIVERY_LOG_DAYS = 14
log = logging.getLogger("cove.server")


def private_data_dir(path: Path) -> None:
    """Only the server's own user may read the data dir (repos, the database, the secret): the folder
    is 0700 and the SQLite files 0600, whatever the umask was when they were created."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    for db in path.glob("cove.db*"):
        os.chmod(db, 0o600)


class Hub:
    def __init__(self, settings: Settings) -> None:
        settings = settings.with_secret()
        self.settings = settings
        private_data_dir(settings.data_dir)
        self.sessions = open_database(settings.database_url, secret_key=settings.secret_key)
        private_data_dir(settings.data_dir)  # the database files exist now
        self.blobs, cas_blobs = open_stores(settings, removal_lock(self.sessions.kw["bind"]))
        self.cas = XorbStore(cas_blobs)
        self.objects = Objects(self.blobs, self.cas, self.sessions)
        self.git = GitStore(settings.data_dir / "git", max_entries=settings.max_repo_files, hook_env={
            "COVE_DATABASE_URL": settings.database_url, **settings.storage_env(),
            "COVE_MAX_REPO_FILES": str(settings.max_repo_files)}, locks=repo_locks(self.sessions.kw["bind"]))
        self.accounts = Accounts(self.sessions)
        self.seed = SeedProgress(settings.data_dir)
        self.repos = Repos(self.sessions, self.accounts, self.git, self.objects, seed=self.seed)
        self.content = Content(self.objects)
        self.weights = Weights(self.content)
        self.discussions = Discussions(self.sessions, self.accounts, self.repos,
                                       per_minute=settings.discussions_per_minute)
        self.collections = Collections(self.sessions, self.accounts, self.repos)
        self.access_requests = AccessRequests(self.sessions, self.repos)
        self.history = History(self.sessions, self.blobs, self.git, self.repos.lfs_scopes)
        self.buckets = Buckets(self.sessions, self.accounts, self.repos, self.objects,
                               max_files=settings.max_repo_files, max_operations=settings.max_batch_objects,
                               page_size=settings.page_size, max_json_depth=settings.max_json_depth)
        self.xet = Xet(settings.secret_key, self.sessions, self.accounts, self.repos, self.buckets, self.cas,
                       self.objects, lifetime=settings.xet_token_seconds, max_file_bytes=settings.max_file_bytes)
        self.lfs = Lfs(settings.secret_key, self.sessions, self.objects, self.repos,
                       part_size=settings.multipart_part_size, max_file_bytes=settings.max_file_bytes,
                       max_objects=settings.max_batch_objects, token_alive=self.accounts.token_alive, xet=self.xet)
        self.scans = Scans(self.sessions, self.objects, self.git)
        self.commits = Commits(settings, self.objects, self.lfs, self.repos, self.content, self.scans,
                               self.discussions)
        self.attachments = Attachments(self.sessions, self.repos, self.blobs)
        self.pulls = Pulls(self.discussions, self.repos, self.content, self.commits)
        self.refs = Refs(self.repos)
        self.inference = Inference(settings, self.repos, self.content, self.objects)
        self.runner = Runner(settings, self.sessions, self.repos, self.objects, self.content)
        self.spaces = Spaces(settings, self.sessions, self.repos, self.accounts, self.runner)
        self.spaces.check_key()  # another key than the one that sealed the secrets: a clear error now
        self.audit = Audit(self.sessions, self.accounts)
        self.signins = SignIns(self.sessions, self.accounts, settings, self.audit)
        self.webhooks = Webhooks(self.sessions, self.accounts, self.repos, settings)
        self.deliverer = Deliverer(self.sessions, self.webhooks, settings)
        # events, after they landed: refs moved by this process are queued from the worker thread (the
        # mover holds the repo's lock, maybe a transaction); the others at once
        # handed to the worker with the time it happened: a webhook created after the move does not get it
        self.git.ref_listener = lambda *args: self.deliverer.later(self.webhooks.ref_moved, *args, utcnow())
        self.notifications = Notifications(self.sessions, self.accounts, self.repos)
        self.discussions.listeners += [self.webhooks.discussion_event, self.notifications.discussion_event]
        self.access_requests.listeners.append(self.notifications.access_requested)
        self.repos.listener = self.webhooks.emit

    def sweep(self) -> None:
        """Remove upload temporaries nobody wrote to for ``stale_upload_seconds`` (abandoned uploads) and
        failed sign-ins past their window. Every replica runs it; two at once remove each file once."""
        self.signins.failures.prune(time.time())
        self.webhooks.prune(utcnow() - timedelta(days=DELIVERY_LOG_DAYS))
        files, nbytes = self.blobs.sweep(self.settings.stale_upload_seconds)
        if files:
            log.warning("removed %d stale upload temporaries (%d bytes on disk)", files, nbytes)
