"""The git-lfs batch API: upload (basic and multipart) and download actions with signed URLs; and the
bookkeeping every LFS reader and writer shares: which objects a repo may reference (RepoLfs rows, for
uploads, commits, preupload and downloads).

The stock client sends no ``Authorization`` on the upload PUTs and the multipart completion, so
each action URL carries its own proof: an HMAC over (repo, oid, size, expiry, token) with the server's
secret. A URL dies with the token that asked for it: revoking the token revokes its URLs. Every upload
is hashed on arrival and kept only if its sha256 is its oid.

Sizes are bounded before anything is allocated: an object over ``max_file_bytes`` is refused in the
batch answer, and a multipart upload never has more than :data:`MAX_PARTS` parts (the part size grows
for very large objects, as S3's limit of 10,000 parts makes clients expect).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from sqlalchemy.orm import sessionmaker

from cove.errors import BadRequest, Forbidden, RepoNotFound, Unprocessable
from cove.protocol import is_sha256, parse_lfs_pointer
from cove.server.db import LfsObject, Repo
from cove.server.db.lfs import lfs_sha1, oids_without_sha1, record_lfs_object, repo_lfs_object, set_sha1
from cove.server.services.objects import Objects, Stored
from cove.server.services.repos import Repos
from cove.server.storage.blobs import BlobWriter

if TYPE_CHECKING:
    from cove.server.services.xet import Xet
    from cove.server.storage.s3 import S3Upload

URL_LIFETIME = 24 * 3600
MAX_PARTS = 10_000


def _staging_name(repo_id: int, oid: str, nonce: str) -> str:
    """The name of a multipart upload's staging: one per grant."""
    return f"multipart-{repo_id}-{oid}-{nonce}"


@dataclass(frozen=True)
class Grant:
    """What a signed URL allows: ``op`` ("upload" or "download") of ``oid`` in repo ``repo_id``, for
    as long as token ``token`` (0: none, e.g. an anonymous download) exists. ``nonce`` tells apart two
    grants of the same object in the same second (two clients uploading the same file at once), so
    their multipart uploads never share a staging; ``upload`` names a multipart upload's staging in
    the store (what :meth:`~cove.server.storage.blobs.Blobs.begin_staging` answered, "" for a file)."""

    op: str
    repo_id: int
    oid: str
    size: int
    expires: int
    token: int
    sig: str
    nonce: str = ""
    upload: str = ""

    def query(self) -> str:
        staged = f"&u={quote(self.upload, safe='')}" if self.upload else ""
        return f"size={self.size}&exp={self.expires}&tok={self.token}&n={self.nonce}{staged}&sig={self.sig}"


class Lfs:
    """The batch API and its action URLs, and the bookkeeping of which LFS objects each repo may
    reference (what commits, preupload and the readers of pointers ask)."""

    def __init__(self, secret: str, sessions: sessionmaker, objects: Objects, repos: Repos, *, part_size: int,
                 max_file_bytes: int, max_objects: int, token_alive: Callable[[int], bool],
                 xet: Xet | None = None) -> None:
        self._secret = secret.encode()
        self._sessions = sessions
        self.objects = objects
        self.blobs = objects.blobs
        self._repos = repos
        self._xet = xet
        self.part_size = part_size
        self.max_file_bytes = max_file_bytes
        self.max_objects = max_objects
        self._token_alive = token_alive

    def _sign(self, op: str, repo_id: int, oid: str, size: int, expires: int, token: int, nonce: str,
              upload: str = "") -> str:
        msg = (f"{op}:{repo_id}:{oid}:{size}:{expires}:{token}" + (f":{nonce}" if nonce else "")
               + (f":u={upload}" if upload else ""))
        return hmac.new(self._secret, msg.encode(), hashlib.sha256).hexdigest()

    def grant(self, op: str, repo: Repo, oid: str, size: int, token: int | None, *, staged: bool = False) -> Grant:
        """A signed grant; ``staged``: for a multipart upload, whose staging in the store opens now (so
        that every replica finds the same one from the URL)."""
        expires, token, nonce = int(time.time()) + URL_LIFETIME, token or 0, secrets.token_hex(8)
        upload = self.blobs.begin_staging(_staging_name(repo.id, oid, nonce), self.part_size_for(size)) if staged else ""
        sig = self._sign(op, repo.id, oid, size, expires, token, nonce, upload)
        return Grant(op, repo.id, oid, size, expires, token, sig, nonce, upload)

    def check(self, op: str, repo_id: int, oid: str, size: int, expires: int, token: int, sig: str,
              nonce: str = "", upload: str = "") -> Grant:
        good = self._sign(op, repo_id, oid, size, expires, token, nonce, upload)
        if not hmac.compare_digest(good, sig or "") or expires < time.time():
            raise Forbidden("This LFS URL is invalid or expired: ask the batch API for a new one")
        if token and not self._token_alive(token):
            raise Forbidden("The token that asked for this LFS URL was revoked: ask the batch API for a new one")
        return Grant(op, repo_id, oid, size, expires, token, sig, nonce, upload)

    def part_size_for(self, size: int) -> int:
        """The part size of a multipart upload of ``size`` bytes: at most MAX_PARTS parts."""
        return max(self.part_size, math.ceil(size / MAX_PARTS))

    # -- what each repo may reference (RepoLfs rows) ---------------------------------------------

    def repo_has(self, repo: Repo, oid: str) -> LfsObject | None:
        """The LFS object if ``repo`` may reference it (uploaded to or committed in it) and it is stored
        with its recorded size (as a blob or a Xet file)."""
        row = repo_lfs_object(self._sessions, repo.id, oid)
        return row if row is not None and self.objects.holds(oid, row.size) else None

    def lfs_object(self, repo: Repo, oid: str) -> LfsObject | None:
        """:meth:`repo_has`, or else the file a Xet upload to ``repo`` registered under that sha256,
        recorded as one of the repo's LFS objects (what a commit's ``lfsFile`` line may name)."""
        obj = self.repo_has(repo, oid)
        if obj is None and self._xet is not None:
            ref = self._xet.link_for_commit(repo, oid)
            if ref is not None:
                self.record_object(repo, oid, ref.size)
                obj = self.repo_has(repo, oid)
        return obj

    def check_pointer(self, repo: Repo, path: str, data: bytes) -> None:
        """Refuse a regular file whose content is an LFS pointer to an object ``repo`` may not
        reference, that is not stored, or whose size is not the pointer's: it would be read as that
        object by anyone who learned its sha256 (see :mod:`cove.server.services.lfs_scope`)."""
        pointer = parse_lfs_pointer(data) if len(data) <= 1024 else None
        if pointer is None:
            return
        obj = self.repo_has(repo, pointer[0])
        if obj is None or obj.size != pointer[1]:
            raise Unprocessable(
                f"{path} is an LFS pointer to {pointer[0]} ({pointer[1]} bytes), which this repo does not "
                "hold with that size: commit the file's content instead, or upload the object to this repo "
                "through the LFS batch API first")

    def known_sha1(self, oid: str) -> str | None:
        return lfs_sha1(self._sessions, oid)

    def fill_sha1(self) -> None:
        """Compute the git blob sha1 of stored objects that lack it (preupload compares it with the
        client's file in "regular" mode, so an unchanged large file is not sent again)."""
        # blobs only: a Xet-stored object has none (its sha1 serves "regular" preuploads only)
        for oid in oids_without_sha1(self._sessions):
            size = self.blobs.size(oid)
            if size is None:
                continue
            h = hashlib.sha1(b"blob %d\x00" % size)
            for block in self.blobs.blocks(oid, 0, size):
                h.update(block)
            set_sha1(self._sessions, oid, h.hexdigest())

    def record_object(self, repo: Repo, oid: str, size: int, sha1: str = "") -> None:
        """Record that ``repo`` may reference object ``oid``; the caller holds ``blobs.guard()`` from
        storing the object until this returns (see :class:`~cove.server.storage.locks.RemovalLock`)."""
        record_lfs_object(self._sessions, repo.id, oid, size, sha1)

    # -- the batch API ---------------------------------------------------------------------------

    def batch(self, repo: Repo, operation: str, objects: list, base_url: str, transfers: list[str],
              can_write: bool, token: int | None = None) -> dict:
        """The batch response for ``objects`` (each ``{"oid", "size"}``); URLs under ``base_url``, signed
        for ``token`` (the caller's token id)."""
        if operation not in ("upload", "download"):
            raise BadRequest(f"Invalid LFS operation {operation!r}")
        if not isinstance(objects, list) or len(objects) > self.max_objects:
            raise BadRequest(f"'objects' must be a list of at most {self.max_objects} objects")
        multipart = "multipart" in (transfers or [])
        out, transfer = [], "basic"
        for obj in objects:
            oid = obj.get("oid") if isinstance(obj, dict) else None
            size = obj.get("size") if isinstance(obj, dict) else None
            if not isinstance(oid, str) or not is_sha256(oid) or type(size) is not int or size < 0:
                out.append({"oid": str(oid)[:64], "size": size if type(size) is int else 0,
                            "error": {"code": 422, "message": "oid must be a sha256 and size an integer"}})
                continue
            item: dict = {"oid": oid, "size": size, "authenticated": True}
            if operation == "upload" and size > self.max_file_bytes:
                item["error"] = {"code": 422, "message": f"Object {oid} is {size} bytes: this Hub accepts files "
                                                         f"of at most {self.max_file_bytes} bytes"}
                out.append(item)
                continue
            if operation == "download":
                if self.repo_has(repo, oid) is None:
                    item["error"] = {"code": 404, "message": f"Object {oid} does not exist"}
                elif (presigned := self._presigned(oid)) is not None:  # the store serves it
                    item["actions"] = {"download": {"href": presigned, "expires_in": self.blobs.presign_seconds}}
                else:
                    g = self.grant("download", repo, oid, size, token)
                    item["actions"] = {"download": {"href": f"{base_url}/api/lfs/objects/{repo.id}/{oid}?{g.query()}",
                                                    "expires_in": URL_LIFETIME}}
                out.append(item)
                continue
            if not can_write:
                item["error"] = {"code": 403, "message": "You don't have write access to this repo"}
                out.append(item)
                continue
            if self.repo_has(repo, oid) is not None:
                out.append(item)  # no actions: already stored
                continue
            staged = multipart and size > self.part_size
            g = self.grant("upload", repo, oid, size, token, staged=staged)
            href = f"{base_url}/api/lfs/objects/{repo.id}/{oid}"
            verify = {"href": f"{href}/verify?{g.query()}"}
            if staged:
                transfer = "multipart"
                part_size = self.part_size_for(size)
                parts = math.ceil(size / part_size)
                header = {"chunk_size": str(part_size)}
                header.update({str(i): f"{href}/part/{i}?{g.query()}" for i in range(1, parts + 1)})
                item["actions"] = {"upload": {"href": f"{href}/complete?{g.query()}", "header": header},
                                   "verify": verify}
            else:
                item["actions"] = {"upload": {"href": f"{href}?{g.query()}"}, "verify": verify}
            out.append(item)
        return {"transfer": transfer, "objects": out, "hash_algo": "sha256"}

    def _presigned(self, oid: str) -> str | None:
        """A presigned URL of the store for a stored blob, when downloads go there (a Xet-only object
        is reconstructed by the Hub)."""
        return self.blobs.presign(oid) if self.blobs.presigns and self.blobs.exists(oid) else None

    # -- the action URLs -------------------------------------------------------------------------

    def open_grant(self, op: str, repo_id: int, oid: str, query: dict[str, str]) -> tuple[Repo, Grant]:
        """The repo and the grant of a signed action URL (``query``: its parameters), checked."""
        if not is_sha256(oid):
            raise BadRequest(f"Invalid LFS oid {oid!r}")
        try:
            size, exp, token = (int(query.get(key, "")[:32]) for key in ("size", "exp", "tok"))
        except ValueError:
            raise Forbidden("This LFS URL is incomplete: ask the batch API for a new one") from None
        grant = self.check(op, repo_id, oid, size, exp, token, query.get("sig", ""), query.get("n", "")[:32],
                           query.get("u", "")[:1024])
        repo = self._repos.by_id(repo_id)
        if repo is None:
            raise RepoNotFound("The repository of this upload no longer exists")
        return repo, grant

    def receiver(self, grant: Grant) -> BlobWriter | S3Upload:
        """Where the body of an upload ``PUT`` goes: straight to the store, hashed on the way (kept by
        :meth:`accept`, else discarded)."""
        return self.blobs.receiver(grant.oid)

    def download(self, repo: Repo, oid: str) -> tuple[Iterator[bytes], int]:
        """The content of ``oid`` (a blob, or a Xet file reconstructed as it is sent) and its size, if
        ``repo`` may reference it."""
        if self.repo_has(repo, oid) is None:
            raise RepoNotFound(f"Object {oid} is not in this repo")
        stored: Stored = self.objects.require(oid, oid)
        return self.objects.stream(stored), stored.size

    def accept(self, repo: Repo, grant: Grant, writer: BlobWriter | S3Upload) -> None:
        """Keep a received upload if it has the granted size and its sha256 is the granted oid."""
        if writer.size != grant.size:
            writer.discard()
            raise Unprocessable(f"LFS object {grant.oid}: received {writer.size} bytes, expected {grant.size}")
        with self.blobs.guard():
            writer.finish(grant.oid)
            self.record_object(repo, grant.oid, grant.size)

    def _staging(self, grant: Grant):
        return self.blobs.staging(_staging_name(grant.repo_id, grant.oid, grant.nonce or grant.sig[:16]),
                                  grant.size, grant.upload)

    def part_span(self, grant: Grant, number: int) -> tuple[int, int]:
        """``(offset, length)`` of part ``number`` (1-based) in the object."""
        part_size = self.part_size_for(grant.size)
        parts = math.ceil(grant.size / part_size)
        if not 1 <= number <= parts:
            raise BadRequest(f"Part {number} is out of range 1..{parts}")
        offset = (number - 1) * part_size
        return offset, min(part_size, grant.size - offset)

    def part_writer(self, grant: Grant, number: int):
        """Where part ``number`` goes: the upload's staging in the store, which every replica reaches
        (a file in the shared data dir, or the store's own multipart upload: see
        :meth:`~cove.server.storage.blobs.Blobs.begin_staging`). ``write`` each block, then ``finish()``
        (off the event loop: it may send the part on) for its ETag, or ``abort()``."""
        offset, length = self.part_span(grant, number)
        return self._staging(grant).part(number, offset, length)

    def complete(self, repo: Repo, grant: Grant, parts: list) -> None:
        """Join the parts (all received, on whichever replicas), check the object's sha256 and size and
        keep it; the staging is gone afterwards either way."""
        staging = self._staging(grant)
        count = math.ceil(grant.size / self.part_size_for(grant.size))
        numbers = sorted(p.get("partNumber") for p in parts if isinstance(p, dict)) if isinstance(parts, list) else []
        if numbers != list(range(1, count + 1)):
            raise BadRequest(f"Completion must list parts 1..{count}")
        missing = sorted(set(numbers) - staging.received(count))
        if missing:
            raise BadRequest(f"Parts never received: {missing}")
        try:
            got = staging.assemble()
            if got != grant.oid:
                raise Unprocessable(f"LFS object {grant.oid} does not match its content "
                                    f"({'sha256 ' + got if got else 'another size'})")
            with self.blobs.guard():
                staging.publish(grant.oid)
                self.record_object(repo, grant.oid, grant.size)
        finally:
            staging.discard(count)

    def verify(self, repo: Repo, oid: str, size: int) -> None:
        obj = self.repo_has(repo, oid)
        if obj is None or obj.size != size:
            raise Unprocessable(f"LFS object {oid} ({size} bytes) is not stored in this repo")
