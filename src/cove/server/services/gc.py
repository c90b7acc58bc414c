"""Garbage collection (``cove gc``): content no commit of any repo references any more.

Live is what a pointer in a commit reachable from any ref of any repo names (branches, tags, pull
requests; old revisions too), and the Xet files with those sha256s and every xorb their terms use;
and every Xet file a storage bucket holds, with its xorbs (a deleted bucket holds none).
Anything younger than the grace period (``COVE_STALE_UPLOAD_SECONDS``, a day, by default) is live
too, so an upload in flight is never collected: its xorbs arrive before its shard, its shard before
its commit, an LFS object before the commit that names it, a bucket's upload before the batch that
names it. A xorb named in a global dedup answer
counts as new again (its time is renewed), since the client that asked may be about to reference it.

Collected: xorbs (with their index), the records of Xet files nobody references and their dedup
entries, and LFS blobs. Reachability is computed twice, the second time right before anything is
deleted, so a commit made during the first pass keeps what it names. A dry run (the default) only
reports.

A client's own shard cache (``$HF_HOME/xet``) may still name a collected xorb; its next upload of
that content is refused (400: "not stored") until it uploads the chunks again, which it does once
that cache entry is gone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC

from cove.server.cas.hashes import from_hex, to_hex
from cove.server.db.attachments import all_oids as attached_oids
from cove.server.db.buckets import live_files, newest_registrations
from cove.server.db.repos import all_storage_keys
from cove.server.db.xet import all_files, forget, newest_links, unpack_terms
from cove.server.storage.reachable import lfs_pointers


@dataclass
class GcReport:
    xorbs: list[str] = field(default_factory=list)
    xorb_bytes: int = 0
    files: list[str] = field(default_factory=list)
    blobs: list[str] = field(default_factory=list)
    blob_bytes: int = 0
    applied: bool = False

    def summary(self) -> str:
        verb = "removed" if self.applied else "would remove"
        return (f"{verb} {len(self.xorbs)} xorbs ({self.xorb_bytes} bytes), {len(self.files)} Xet file records, "
                f"{len(self.blobs)} LFS blobs ({self.blob_bytes} bytes)")


def _reachable(hub) -> tuple[set[str], set[str]]:
    """The live LFS oids (what commits name, and images attached to comments) and the live Xet file IDs
    (what buckets hold)."""
    keys = all_storage_keys(hub.sessions)
    with hub.sessions() as s:
        live: set[str] = attached_oids(s)
    for key in keys:
        path = hub.git.path(key)
        if path.is_dir():
            live |= {oid for oid, _ in lfs_pointers(path)}
    return live, live_files(hub.sessions)


def _plan(hub, reachable: tuple[set[str], set[str]], grace: float, now: float) -> GcReport:
    report = GcReport()
    live_oids, live_ids = reachable
    links = newest_links(hub.sessions)
    for file_id, when in newest_registrations(hub.sessions).items():
        links[file_id] = max(when, links.get(file_id, when))
    live_xorbs: set[str] = set()
    for file_id, sha256, created, terms in all_files(hub.sessions):
        newest = max([created] + ([links[file_id]] if file_id in links else []))
        if sha256 in live_oids or file_id in live_ids or now - newest.replace(tzinfo=UTC).timestamp() < grace:
            live_xorbs |= {to_hex(xorb) for xorb, *_ in unpack_terms(terms)}
        else:
            report.files.append(file_id)
    for name, size, mtime in hub.cas.entries():
        if name not in live_xorbs and now - mtime >= grace:
            report.xorbs.append(name)
            report.xorb_bytes += size
    for oid, size, mtime in hub.blobs.oids():
        if oid not in live_oids and now - mtime >= grace:
            report.blobs.append(oid)
            report.blob_bytes += size
    return report


def collect(hub, *, apply: bool = False, grace: float | None = None) -> GcReport:
    """What is garbage (see the module docstring), deleted if ``apply``."""
    grace = hub.settings.stale_upload_seconds if grace is None else grace
    now = time.time()
    report = _plan(hub, _reachable(hub), grace, now)
    if not apply:
        return report
    live = _reachable(hub)  # again: what a commit made meanwhile names stays
    report = _plan(hub, live, grace, now)
    forget(hub.sessions, report.files, report.xorbs)
    for name in report.xorbs:
        hub.cas.forget(from_hex(name))
    for oid in report.blobs:
        hub.blobs.remove(oid)
    report.applied = True
    return report
