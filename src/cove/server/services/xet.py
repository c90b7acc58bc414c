"""Xet storage (spec ``xet-protocol.md``): the Hub's token routes and the CAS behind ``casUrl``.

**Tokens.** ``xet-read-token`` / ``xet-write-token`` hand out an opaque access token: the repo or
storage bucket (by its storage key, never reused; a bucket's is marked ``bucket:``), the scope, the user and Hub token that asked, an expiry, and the
revision, signed with the server's secret (HMAC-SHA256). Every CAS request checks the signature and
the expiry, then the caller as they are now: the Hub token still exists (a token dies with the Hub
token that asked for it, as signed LFS URLs do) and still may read, or write, the repo. A bad or
expired token is a 401, a read token on a write route a 403 (the client retries neither).

**Uploads.** A xorb is verified in full before it is kept (:class:`~cove.server.storage.xet.XorbStore`).
A shard is parsed and validated against the stored xorbs (every term's chunks exist, its
verification hash and the file ID match), then the server reconstructs each file it does not know
yet and hashes it: the sha256 a commit's ``lfsFile`` line names is the server's own, and a shard
whose claimed sha256 differs is refused. Only then are the files registered, for the token's repo
only: a commit of that repo may name their sha256 (:meth:`Xet.link_for_commit`), no other repo's
(for a bucket token: a batch of that bucket may name their file IDs, :mod:`cove.server.services.buckets`).
Any refusal is a 400 and registers nothing.

**Downloads.** A reconstruction (v1 or v2 JSON) is answered for a file the token's repo may reach
(registered for it, or the Xet form of an LFS object it may reference; anything else is a 404, as a
missing file), with fetch URLs that carry their own signature: the xorb, the byte range, an expiry
and the Hub token (403 once expired or revoked). Global dedup answers come from the chunk index of
all accepted shards, keyed by a random HMAC key per answer: they only confirm chunks the caller
already has (see docs/security.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy.orm import sessionmaker

from cove.errors import BadRequest, CoveError, EntryNotFound, Forbidden, Unauthorized
from cove.protocol import is_sha256
from cove.server.cas.dedup import dedup_entries, dedup_response
from cove.server.cas.errors import InvalidXetData
from cove.server.cas.hashes import from_hex, to_hex
from cove.server.cas.reconstruct import parse_range, plan_range, reconstruction_v1, reconstruction_v2
from cove.server.cas.shard import parse_shard, validate_shard
from cove.server.db import Repo, lfs_sizes
from cove.server.db.buckets import Bucket, bucket_by_key, bucket_may_read, record_bucket_files
from cove.server.db.xet import (
    FileRef,
    NewFile,
    file_terms,
    find_chunk,
    known_files,
    link_objects,
    pack_terms,
    record_files,
    repo_by_key,
    repo_file_for,
    repo_may_read,
    unpack_terms,
)
from cove.server.services.accounts import Accounts, Principal
from cove.server.services.buckets import Buckets
from cove.server.services.objects import Objects
from cove.server.services.repos import Repos
from cove.server.storage.xet import XorbStore, XorbUpload

TOKEN_PREFIX = "xet1."
#: A bucket's storage key in a token, told from a repo's.
BUCKET_KEY = "bucket:"
MAX_TOKEN_CHARS = 2048
MAX_REVISION_CHARS = 255
#: Most files in one lfs-files/duplicate call (the client sends batches of 500).
MAX_DUPLICATES = 1000
#: Most chunks listed in one dedup answer (48 bytes each: about 3 MB, 64 full xorbs).
MAX_DEDUP_CHUNKS = 65536
_RANGE = re.compile(r"bytes=(\d{1,19})-(\d{1,19})")


@dataclass(frozen=True)
class XetGrant:
    """What a Xet access token allows: ``scope`` ("read" or "write") on the repo stored under
    ``repo_key``, for ``user_id`` (0: anonymous) through Hub token ``token_id`` (0: none), until ``exp``."""

    scope: str
    repo_key: str
    user_id: int
    token_id: int
    exp: int
    revision: str


@dataclass(frozen=True)
class Fetch:
    """A checked fetch URL: bytes ``[first, last]`` (inclusive) of a stored xorb of ``stored_size`` bytes."""

    xorb: bytes
    first: int
    last: int
    stored_size: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


#: The revision of a write token asked with ``create_pr=1``: uploads for a pull request not opened yet.
PR_UPLOAD = "create_pr"


def _need(scope: str, revision: str = "") -> str:
    """What a Xet token of ``scope`` needs of its repo: reading its content (a gated repo's files) or
    writing. Uploads for a pull request (``refs/pr/N``, or one ``create_pr`` opens) need only read
    access: anyone who may read a repo may propose a change, and who may commit to the PR is decided
    by the commit (:meth:`cove.server.services.discussions.Discussions.commit_target`)."""
    if scope == "write" and (revision == PR_UPLOAD or revision.startswith("refs/pr/")):
        return "read"
    return "content" if scope == "read" else scope


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Xet:
    def __init__(self, secret: str, sessions: sessionmaker, accounts: Accounts, repos: Repos, buckets: Buckets,
                 cas: XorbStore, objects: Objects, *, lifetime: int, max_file_bytes: int) -> None:
        self._secret = secret.encode()
        self._sessions = sessions
        self._accounts = accounts
        self._repos = repos
        self._buckets = buckets
        self.cas = cas
        self.objects = objects
        self.lifetime = lifetime
        self.max_file_bytes = max_file_bytes

    # -- tokens ------------------------------------------------------------------------------------

    def _sign(self, kind: str, text: str) -> str:
        return _b64(hmac.new(self._secret, f"{kind}:{text}".encode(), hashlib.sha256).digest())

    def token(self, who: Principal | None, repo_type: str, repo_id: str, scope: str, revision: str, *,
              create_pr: bool = False) -> tuple[str, int]:
        """``(access token, expiry)`` for ``scope`` on a repo (``repo_type`` "bucket": a storage bucket)
        ``who`` may read (or write)."""
        if scope not in ("read", "write"):
            raise BadRequest(f"Invalid Xet token scope {scope!r}")
        if len(revision) > MAX_REVISION_CHARS:
            raise BadRequest(f"Invalid revision: over {MAX_REVISION_CHARS} characters")
        if create_pr:
            revision = PR_UPLOAD
        if repo_type == "bucket":
            key = BUCKET_KEY + self._buckets.get(who, repo_id, scope).storage_key
        else:
            key = self._repos.get(who, repo_type, repo_id, _need(scope, revision)).storage_key
            if _need(scope, revision) == "read" and scope == "write":
                if who is None:
                    raise Unauthorized("You must be authenticated to upload to a pull request: pass a write token")
                if not who.can_write:
                    raise Forbidden("This token is read-only: uploads to a pull request need a write token")
        exp = int(time.time()) + self.lifetime
        user = who.user_id if who is not None else 0
        token = (who.token_id or 0) if who is not None else 0
        payload = "\n".join((scope, key, str(user), str(token), str(exp), revision))
        return f"{TOKEN_PREFIX}{_b64(payload.encode())}.{self._sign('token', payload)}", exp

    def _grant(self, header: str | None) -> XetGrant:
        scheme, _, value = (header or "").partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value.startswith(TOKEN_PREFIX) or len(value) > MAX_TOKEN_CHARS:
            raise Unauthorized("This CAS takes a Xet access token from the Hub's xet-read-token or "
                               "xet-write-token route: Authorization: Bearer <token>")
        try:
            body, sig = value[len(TOKEN_PREFIX):].split(".")
            payload = _unb64(body).decode()
            if not hmac.compare_digest(self._sign("token", payload), sig):
                raise ValueError
            scope, key, user, token, exp, revision = payload.split("\n", 5)
            grant = XetGrant(scope, key, int(user), int(token), int(exp), revision)
        except ValueError:
            raise Unauthorized("Invalid Xet access token: ask the Hub for a new one") from None
        if grant.exp < time.time():
            raise Unauthorized("This Xet access token expired: ask the Hub for a new one")
        return grant

    def authorize(self, header: str | None, need: str) -> tuple[XetGrant, Repo | Bucket]:
        """The grant of a CAS request's token and its repo or bucket, checked as of now (see the module
        docstring)."""
        grant = self._grant(header)
        if need == "write" and grant.scope != "write":
            raise Forbidden("This Xet token is read-only: uploads need a token from xet-write-token")
        gone = Unauthorized("This Xet token no longer grants access to its repo: ask the Hub for a new one")
        bucket_key = grant.repo_key.removeprefix(BUCKET_KEY) if grant.repo_key.startswith(BUCKET_KEY) else None
        target = (bucket_by_key(self._sessions, bucket_key) if bucket_key is not None
                  else repo_by_key(self._sessions, grant.repo_key))
        who = self._accounts.principal_of(grant.user_id, grant.token_id) if grant.user_id else None
        if target is None or (grant.user_id and who is None):
            raise gone
        try:
            if isinstance(target, Bucket):
                self._buckets.get(who, target.bucket_id, grant.scope)
            else:
                self._repos.get(who, target.type, target.repo_id, _need(grant.scope, grant.revision))
        except CoveError:
            raise gone from None
        return grant, target

    # -- uploads -----------------------------------------------------------------------------------

    def upload(self) -> XorbUpload:
        """Where an uploaded xorb's bytes go while they arrive (:meth:`put_xorb` then keeps them or not)."""
        return self.cas.upload()

    def put_xorb(self, xorb_hex: str, upload: XorbUpload) -> bool:
        """Keep an uploaded xorb if it verifies against its hash; whether it was new."""
        try:
            xorb = from_hex(xorb_hex)
        except InvalidXetData:
            upload.discard()
            raise
        return self.cas.put_upload(xorb, upload)[1]

    def put_shard(self, repo: Repo | Bucket, body: bytes) -> int:
        """Validate a shard and register its files for ``repo`` (or bucket): 1 if anything was new, else 0."""
        shard = validate_shard(parse_shard(body), self.cas.index)
        known = known_files(self._sessions, (to_hex(f.hash) for f in shard.files))
        files = []
        for f in shard.files:
            file_id, size = to_hex(f.hash), f.size
            if size > self.max_file_bytes:
                raise InvalidXetData(f"file {file_id} is {size} bytes: this Hub accepts files of at most "
                                     f"{self.max_file_bytes} bytes")
            ref = known.get(file_id)
            sha256 = ref.sha256 if ref is not None else self.objects.sha256(f.terms, size)
            claimed = to_hex(f.sha256) if f.sha256 is not None else None
            if claimed is not None and size and claimed != sha256:
                raise InvalidXetData(f"file {file_id}: the shard gives sha256 {claimed}, its content hashes to "
                                     f"{sha256}")
            terms = b"" if ref is not None else pack_terms((t.xorb, t.start, t.end, t.size) for t in f.terms)
            files.append(NewFile(file_id, sha256, size, terms))
        user_of = {}  # xorb -> a file of this shard whose terms use it
        for f in shard.files:
            for t in f.terms:
                user_of.setdefault(t.xorb, to_hex(f.hash))
        dedup = [(to_hex(c), to_hex(x), user_of.get(x)) for c, x in dedup_entries(shard, self.cas.index)]
        if isinstance(repo, Bucket):
            return 1 if record_bucket_files(self._sessions, repo.id, files, dedup) else 0
        return 1 if record_files(self._sessions, repo.id, files, dedup) else 0

    def duplicate(self, who: Principal | None, repo_type: str, repo_id: str, target: object, files: object) -> list[dict]:
        """``POST lfs-files/duplicate`` (§2.4): let the target repo reference LFS objects of this one, so a
        commit there may name them (a cross-repo copy). Each file must be an LFS object the source may
        reference, and its Xet file ID the one given; the answer lists the others with the reason."""
        source = self._repos.get(who, repo_type, repo_id, "content")
        if not isinstance(target, dict) or not isinstance(target.get("name"), str):
            raise BadRequest("'target' must be {\"type\": ..., \"name\": \"namespace/name\"}")
        if not isinstance(files, list) or len(files) > MAX_DUPLICATES:
            raise BadRequest(f"'files' must be a list of at most {MAX_DUPLICATES} files")
        dest = self._repos.get(who, str(target.get("type") or "model"), target["name"], "write")
        wanted = {f.get("sha256"): f.get("xetHash") for f in files if isinstance(f, dict)}
        oids = {oid for oid in wanted if isinstance(oid, str) and is_sha256(oid)}
        held = self.objects.sizes(lfs_sizes(self._sessions, source.storage_key, oids))
        ids = self.objects.xet_hashes(set(held))
        failed, copied = [], {}
        for f in files:
            oid = f.get("sha256") if isinstance(f, dict) else None
            if not isinstance(oid, str) or oid not in held:
                failed.append({"sha256": str(oid)[:64], "error": "not an LFS object of the source repo"})
            elif f.get("xetHash") not in (None, ids.get(oid)):
                failed.append({"sha256": oid, "error": "this xetHash is not the Xet file of that sha256"})
            else:
                copied[oid] = held[oid]
        link_objects(self._sessions, dest.id, copied)
        return failed

    def link_for_commit(self, repo: Repo, oid: str) -> FileRef | None:
        """The Xet file a commit of ``repo`` may name by ``oid``: one a shard uploaded for this repo registered."""
        return repo_file_for(self._sessions, repo.id, oid)

    # -- downloads ---------------------------------------------------------------------------------

    def reconstruction(self, grant: XetGrant, repo: Repo | Bucket, file_hex: str, range_header: str | None,
                       version: int, cas_url: str) -> dict:
        """The v1 or v2 reconstruction of a file the repo (or bucket) may reach, for the ``Range`` asked (§8)."""
        file_id = to_hex(from_hex(file_hex))
        may_read = bucket_may_read if isinstance(repo, Bucket) else repo_may_read
        found = file_terms(self._sessions, file_id) if may_read(self._sessions, repo.id, file_id) else None
        if found is None:
            raise EntryNotFound(f"Xet file {file_id} is not in this repo")
        ref, _ = found
        start, end = parse_range(range_header, ref.size)
        plan = plan_range(self.objects.terms(file_id), self.cas.index, start, end)
        exp = int(time.time()) + self.lifetime

        def url(xorb: bytes, first: int, last: int) -> str:
            presigned = self.cas.presign(xorb, first, last)  # the store's own short-lived URL, or None
            if presigned is not None:
                return presigned
            x = to_hex(xorb)
            sig = self._sign("fetch", f"{x}:{first}:{last}:{exp}:{grant.token_id}")
            return f"{cas_url}/v1/fetch/{x}?r={first}-{last}&exp={exp}&tok={grant.token_id}&sig={sig}"

        build = reconstruction_v2 if version == 2 else reconstruction_v1
        return build(plan, self.cas.index, url)

    def fetch(self, xorb_hex: str, query: dict[str, str], range_header: str | None) -> Fetch:
        """Check a fetch URL (its own signature, no Authorization) and the ``Range`` asked."""
        expired = Forbidden("This fetch URL is invalid or expired: ask for the reconstruction again")
        try:
            xorb = from_hex(xorb_hex)
            first, last = (int(v) for v in query.get("r", "")[:40].split("-"))
            exp, token = int(query.get("exp", "")[:20]), int(query.get("tok", "")[:20])
        except (ValueError, InvalidXetData):
            raise expired from None
        good = self._sign("fetch", f"{to_hex(xorb)}:{first}:{last}:{exp}:{token}")
        if not hmac.compare_digest(good, query.get("sig", "")) or exp < time.time():
            raise expired
        if token and not self._accounts.token_alive(token):
            raise expired
        index = self.cas.index(xorb)
        if index is None or last >= index.stored_size:
            raise EntryNotFound(f"xorb {to_hex(xorb)} is not stored")
        if range_header is not None:
            m = _RANGE.fullmatch(range_header.strip())
            if m is None:
                raise BadRequest("A fetch takes one range: Range: bytes=start-end")
            start, stop = int(m[1]), int(m[2])
            if not first <= start <= stop <= last:
                raise Forbidden(f"Range {start}-{stop} is outside the bytes {first}-{last} this URL grants")
            first, last = start, stop
        return Fetch(xorb, first, last, index.stored_size)

    @property
    def reads_block(self) -> bool:
        """Whether iterating :meth:`read` blocks on I/O (S3: run it off the event loop); a disk's memory
        maps do not."""
        return self.cas.store.blocking

    def read(self, fetch: Fetch) -> Iterator[memoryview | bytes]:
        """The fetched bytes, mapped from the stored xorb or read from the bucket (opened now: a xorb
        collected since is a 404)."""
        try:
            return self.cas.read_range(fetch.xorb, fetch.first, fetch.last - fetch.first + 1)
        except FileNotFoundError:
            raise EntryNotFound(f"xorb {to_hex(fetch.xorb)} is not stored") from None

    def dedup(self, chunk_hex: str) -> bytes | None:
        """The answer to a global dedup query, or None (404): a shard (§7.5) with the xorb indexed under
        the chunk and the other xorbs of a file that uses it (so that one hit on a file's first chunk
        dedups all of a fine-tune's unchanged parts, not only the first 64 MiB), at most
        :data:`MAX_DEDUP_CHUNKS` chunks in all."""
        found = find_chunk(self._sessions, to_hex(from_hex(chunk_hex)))
        if found is None:
            return None
        names = [found[0]]
        if found[1] is not None:
            terms = file_terms(self._sessions, found[1])
            for xorb, *_ in unpack_terms(terms[1]) if terms is not None else ():
                if to_hex(xorb) not in names:
                    names.append(to_hex(xorb))
        indexes, chunks = [], 0
        for name in names:
            index = self.cas.index(from_hex(name))
            if index is None:
                continue
            chunks += len(index.chunks)
            if indexes and chunks > MAX_DEDUP_CHUNKS:
                break
            indexes.append(index)
            self.cas.touch(index.hash)  # the asker may reference it next: not garbage for a while
        return dedup_response(indexes) if indexes else None
