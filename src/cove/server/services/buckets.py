"""Storage buckets: mutable, unversioned storage on the Xet CAS, in the namespaces of users and orgs.

**Access** is decided in one place, :meth:`Buckets.get`, with the rules of repos: the namespace's
user and the Hub's admins may do anything, an org's members what their role allows, everyone may
read a public bucket, read-only tokens never write. A bucket the caller may not read raises
RepoNotFound exactly as a missing one: 404, or 401 to an anonymous caller (for both, as the Hub
answers), so private buckets are invisible. Ids are case-insensitive.

**Files** arrive as Xet files: the client uploads xorbs and a shard with a write token of the bucket
(``xet-write-token``; :mod:`cove.server.services.xet` registers the shard's files for the bucket),
then names them in a batch (``addFile``: path, file ID, mtime). A batch may only name a file ID that
the bucket registered or already holds; ``copyFile`` names another bucket or a repo the caller may
read and a file ID that source may read (the server copies no bytes). The size of a file is its
record's, never the client's. Deleting a bucket removes its records; the content goes with
``cove gc`` once nothing references it.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import sessionmaker

from cove.errors import BadRequest, Conflict, CoveError, Forbidden, RepoNotFound, Unauthorized
from cove.protocol import check_name_part, check_path, loads_json, repo_type_of
from cove.server.db.buckets import (
    Bucket,
    FileEntry,
    Stats,
    Write,
    bucket_and_role,
    create_bucket,
    delete_bucket,
    files_at,
    files_under,
    folder_time,
    held_files,
    rename_bucket,
    set_private,
    stats,
    visible_buckets,
    write_files,
)
from cove.server.db.xet import repo_may_read
from cove.server.services.accounts import Accounts, Principal
from cove.server.services.objects import Objects
from cove.server.services.repos import LEVELS, Repos

BUCKET_NOT_FOUND = "Bucket not found"
_FILE_ID = re.compile(r"[0-9a-f]{64}")
#: The mtimes a batch may give (milliseconds since the epoch): the years 1 to 9999.
MTIME_RANGE = (-62_135_596_800_000, 253_402_300_799_999)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Source types a copy may name.
SOURCE_TYPES = ("bucket", "model", "dataset", "space")


def mtime_of(ms: int) -> datetime:
    """A batch's mtime (milliseconds since the epoch) as a UTC datetime, exactly."""
    return EPOCH + timedelta(milliseconds=ms)


@dataclass(frozen=True)
class Folder:
    """A folder in a listing: its path and when a file below it was last written."""

    path: str
    uploaded_at: datetime | None


@dataclass(frozen=True)
class Failure:
    path: str
    error: str


@dataclass(frozen=True)
class BatchResult:
    operations: int
    failures: list[Failure]


@dataclass(frozen=True)
class _Op:
    kind: str  # addFile | copyFile | deleteFile
    path: str
    file_id: str = ""
    mtime: int = 0
    source: tuple[str, str] = ("", "")


class Buckets:
    def __init__(self, sessions: sessionmaker, accounts: Accounts, repos: Repos, objects: Objects, *,
                 max_files: int, max_operations: int, page_size: int, max_json_depth: int) -> None:
        self._sessions = sessions
        self._accounts = accounts
        self._repos = repos
        self.objects = objects
        self.max_files = max_files
        self.max_operations = max_operations
        self.page_size = page_size
        self.max_json_depth = max_json_depth

    # -- access ----------------------------------------------------------------------------------

    @staticmethod
    def _not_found(who: Principal | None) -> RepoNotFound:
        err = RepoNotFound(BUCKET_NOT_FOUND)
        if who is None:
            err.status = 401  # the Hub's answer to an anonymous caller, for a missing bucket too
        return err

    def get(self, who: Principal | None, bucket_id: str, need: str = "read") -> Bucket:
        """The bucket, if ``who`` may ``need`` it; else RepoNotFound (hidden), Unauthorized or Forbidden."""
        if not isinstance(bucket_id, str) or bucket_id.count("/") != 1:
            raise self._not_found(who)
        ns, name = bucket_id.split("/")
        row = bucket_and_role(self._sessions, ns, name, who.user_id if who is not None else None)
        level = 0
        if row is not None:
            bucket, owner_id, role = row
            if who is None:
                level = int(not bucket.private)
            elif who.is_admin or owner_id == who.user_id:
                level = 3
            elif role is not None:
                level = LEVELS[role]
            else:
                level = int(not bucket.private)
        if level == 0:
            raise self._not_found(who)
        if need != "read":
            if who is None:
                raise Unauthorized(f"You must be authenticated to change {bucket_id}: pass a write token")
            if not who.can_write:
                raise Forbidden("This token is read-only: create a write token to change buckets")
            if level < LEVELS[need]:
                raise Forbidden(f"You don't have {need} access to {bucket_id}")
        return row[0]

    def _namespace(self, who: Principal | None, namespace: str, what: str) -> str:
        """The namespace ``who`` writes ``what`` to ("me": their own), checked."""
        if who is None:
            raise Unauthorized(f"You must be authenticated to {what}: pass a write token")
        if namespace == "me":
            namespace = who.name
        check_name_part(namespace, "namespace")
        if not who.can_write:
            raise Forbidden(f"This token is read-only: create a write token to {what}")
        if who.is_admin and self._accounts.get(namespace) is not None:
            return namespace
        if self._accounts.role_in(who.user_id, namespace) not in ("write", "admin"):
            raise Forbidden(f"You don't have the rights to {what} under the namespace {namespace!r}")
        return namespace

    # -- buckets ---------------------------------------------------------------------------------

    def create(self, who: Principal | None, namespace: str, name: str, *, private: bool | None) -> tuple[Bucket, bool]:
        """``(bucket, created)``: an existing bucket of that name raises Conflict carrying it.
        ``private=None``: private if the namespace is an organization whose buckets are private by default."""
        namespace = self._namespace(who, namespace, "create a bucket")
        check_name_part(name, "bucket name")
        if private is None:
            private = self._accounts.private_by_default(namespace)
        bucket = create_bucket(self._sessions, namespace, name, private=private, storage_key=secrets.token_hex(16))
        if bucket is not None:
            return bucket, True
        err = Conflict(f"You already created this bucket: {namespace}/{name}")
        err.bucket = self.get(who, f"{namespace}/{name}")  # a writer of the namespace may read it
        raise err

    def info(self, who: Principal | None, bucket_id: str) -> tuple[Bucket, Stats]:
        bucket = self.get(who, bucket_id)
        return bucket, stats(self._sessions, [bucket.id])[bucket.id]

    def of_namespace(self, who: Principal | None, namespace: str, *, search: str | None,
                     offset: int = 0) -> tuple[list[tuple[Bucket, Stats]], bool]:
        """One page of the buckets of ``namespace`` ("me": the caller's) that ``who`` may see, and
        whether more follow."""
        if namespace == "me":
            if who is None:
                raise Unauthorized("Listing your own buckets needs a token: pass Authorization: Bearer <token>")
            namespace = who.name
        if self._accounts.get(namespace) is None:  # as the Hub: so that GET /api/buckets/{name} is a 404
            err = CoveError(f"No user or organization is called {namespace!r}")
            err.status, err.code = 404, "NotFound"
            raise err
        if search is not None and len(search) > 256:
            raise BadRequest("'search' holds at most 256 characters")
        rows = visible_buckets(self._sessions, namespace, user_id=who.user_id if who else None,
                               user_name=who.name if who else None, admin=bool(who and who.is_admin),
                               search=search, offset=offset, limit=self.page_size + 1)
        more, rows = len(rows) > self.page_size, rows[:self.page_size]
        counts = stats(self._sessions, [b.id for b in rows])
        return [(b, counts[b.id]) for b in rows], more

    def delete(self, who: Principal | None, bucket_id: str) -> Bucket:
        bucket = self.get(who, bucket_id, "admin")
        delete_bucket(self._sessions, bucket.id)
        return bucket

    def move(self, who: Principal | None, from_id: str, to_id: str) -> Bucket:
        bucket = self.get(who, from_id, "admin")
        if not isinstance(to_id, str) or to_id.count("/") != 1:
            raise BadRequest(f"Invalid bucket id {to_id!r}: use 'namespace/name'")
        ns, name = to_id.split("/")
        check_name_part(name, "bucket name")
        ns = self._namespace(who, ns, "move a bucket")
        moved = rename_bucket(self._sessions, bucket.id, ns, name)
        if moved is None:
            raise Conflict(f"A bucket called {to_id} already exists")
        return moved

    def update_settings(self, who: Principal | None, bucket_id: str, *, private: bool | None) -> Bucket:
        bucket = self.get(who, bucket_id, "admin")
        if private is not None:
            set_private(self._sessions, bucket.id, private)
        return bucket

    # -- files -----------------------------------------------------------------------------------

    def tree(self, who: Principal | None, bucket_id: str, prefix: str, *, recursive: bool,
             cursor: str | None) -> tuple[list[FileEntry | Folder], str | None]:
        """One page of the files (``recursive``: all of them; else the files and folders just below)
        under ``prefix``, and the cursor of the next page (None: the last one). A prefix that names a
        file lists that file."""
        bucket = self.get(who, bucket_id)
        folder = prefix.strip("/")
        if folder:
            check_path(folder)
        kind, _, after = (cursor or "").partition(":")
        if cursor and (kind not in ("f", "d") or not after or len(after) > 4096):
            raise BadRequest("Invalid cursor")
        out: list[FileEntry | Folder] = []
        if folder and not cursor:
            out += files_at(self._sessions, bucket.id, [folder])
        # the next rows start after the cursor's file, or after everything below the cursor's folder
        start, strict = (after, True) if kind != "d" else (after + "0", False)  # "0" follows "/"
        while len(out) <= self.page_size:
            rows = files_under(self._sessions, bucket.id, folder, start=start, strict=strict,
                               limit=self.page_size + 1)
            if not rows:
                break
            for row in rows:
                rest = row.path[len(folder) + 1:] if folder else row.path
                if recursive or "/" not in rest:
                    out.append(row)
                    start, strict = row.path, True
                else:
                    sub = row.path[:len(row.path) - len(rest)] + rest.split("/", 1)[0]
                    out.append(Folder(sub, folder_time(self._sessions, bucket.id, sub)))
                    start, strict = sub + "0", False
                    break  # go on after everything below this folder
                if len(out) > self.page_size:
                    break
        if len(out) <= self.page_size:
            return out, None
        out = out[:self.page_size]
        last = out[-1]
        return out, f"{'d' if isinstance(last, Folder) else 'f'}:{last.path}"

    def paths_info(self, who: Principal | None, bucket_id: str, paths: object) -> list[FileEntry]:
        """The files at ``paths`` (paths where there is none, or that no file could have, are left out)."""
        bucket = self.get(who, bucket_id)
        if not isinstance(paths, list) or len(paths) > self.max_operations or not all(isinstance(p, str) for p in paths):
            raise BadRequest(f"'paths' must be a list of at most {self.max_operations} paths")
        good = []
        for p in paths:
            try:
                good.append(check_path(p))
            except BadRequest:
                continue
        return files_at(self._sessions, bucket.id, good)

    def file(self, who: Principal | None, bucket_id: str, path: str) -> tuple[Bucket, FileEntry | None]:
        """The bucket and its file at ``path`` (None: there is none)."""
        bucket = self.get(who, bucket_id)
        check_path(path)
        found = files_at(self._sessions, bucket.id, [path])
        return bucket, found[0] if found else None

    def stream(self, entry: FileEntry, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``[start, end)`` of a bucket file, reconstructed from its xorbs."""
        return self.objects.stream_terms(self.objects.terms(entry.file_id), start, end)

    # -- batches ---------------------------------------------------------------------------------

    def _parse(self, body: bytes) -> list[_Op]:
        ops: list[_Op] = []
        now = int(time.time() * 1000)
        for number, line in enumerate(body.splitlines(), 1):
            if not line.strip():
                continue
            if len(ops) >= self.max_operations:
                raise BadRequest(f"A batch holds at most {self.max_operations} operations: send several")
            item = loads_json(line, max_depth=self.max_json_depth, what=f"Line {number}")
            kind = item.get("type") if isinstance(item, dict) else None
            if kind not in ("addFile", "copyFile", "deleteFile"):
                raise BadRequest(f"Line {number}: 'type' must be addFile, copyFile or deleteFile")
            path = item.get("path")
            if not isinstance(path, str) or len(path) > 4096:
                raise BadRequest(f"Line {number}: 'path' must be a path in the bucket")
            if kind == "deleteFile":
                ops.append(_Op(kind, path))
                continue
            file_id, mtime = item.get("xetHash"), item.get("mtime")
            if not isinstance(file_id, str) or not _FILE_ID.fullmatch(file_id.lower()):
                raise BadRequest(f"Line {number}: 'xetHash' must be a Xet file ID (64 hex digits)")
            if mtime is None:
                mtime = now
            if isinstance(mtime, bool) or not isinstance(mtime, int) or not MTIME_RANGE[0] <= mtime <= MTIME_RANGE[1]:
                raise BadRequest(f"Line {number}: 'mtime' must be milliseconds since the epoch (an integer)")
            source = ("", "")
            if kind == "copyFile":
                stype, sid = item.get("sourceRepoType"), item.get("sourceRepoId")
                if stype not in SOURCE_TYPES or not isinstance(sid, str) or len(sid) > 200:
                    raise BadRequest(f"Line {number}: 'sourceRepoType' must be one of {', '.join(SOURCE_TYPES)} "
                                     "and 'sourceRepoId' its id")
                source = (stype, sid)
            ops.append(_Op(kind, path, file_id.lower(), mtime, source))
        return ops

    def _readable(self, who: Principal | None, source: tuple[str, str], file_ids: set[str]) -> set[str] | None:
        """Of ``file_ids``, those the copy source may read (None: the caller may not read the source)."""
        stype, sid = source
        try:
            if stype == "bucket":
                return held_files(self._sessions, self.get(who, sid).id, file_ids)
            repo = self._repos.get(who, repo_type_of(stype), sid, "content")
        except CoveError:
            return None
        return {f for f in file_ids if repo_may_read(self._sessions, repo.id, f)}

    def batch(self, who: Principal | None, bucket_id: str, body: bytes) -> BatchResult:
        """Apply a batch (NDJSON lines ``addFile``, ``copyFile``, ``deleteFile``) in order, in one
        transaction; the operations that failed are listed, the others applied."""
        bucket = self.get(who, bucket_id, "write")
        ops = self._parse(body)
        failures: list[Failure] = []
        writes: list[Write] = []
        uploaded = held_files(self._sessions, bucket.id, {op.file_id for op in ops if op.kind == "addFile"})
        by_source: dict[tuple[str, str], set[str] | None] = {}
        for op in ops:
            if op.kind == "copyFile" and op.source not in by_source:
                wanted = {o.file_id for o in ops if o.kind == "copyFile" and o.source == op.source}
                by_source[op.source] = self._readable(who, op.source, wanted)
        for op in ops:
            try:
                path = check_path(op.path)
            except BadRequest as e:
                failures.append(Failure(op.path[:4096], e.message))
                continue
            if op.kind == "deleteFile":
                writes.append(Write(path))
            elif op.kind == "addFile" and op.file_id not in uploaded:
                failures.append(Failure(path, f"Xet file {op.file_id} was not uploaded to this bucket: upload it "
                                              "with the bucket's xet-write-token first"))
            elif op.kind == "copyFile" and by_source[op.source] is None:
                failures.append(Failure(path, f"source {op.source[0]} {op.source[1]} not found"))
            elif op.kind == "copyFile" and op.file_id not in by_source[op.source]:
                failures.append(Failure(path, f"Xet file {op.file_id} not found in {op.source[0]} {op.source[1]}"))
            else:
                writes.append(Write(path, op.file_id, op.mtime))
        refused = write_files(self._sessions, bucket.id, writes, max_files=self.max_files) if writes else []
        failures += [Failure(path, why) for path, why in refused]
        return BatchResult(len(ops), failures)
