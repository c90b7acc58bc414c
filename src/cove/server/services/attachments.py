"""Images attached to discussion comments (from the web UI's comment form).

An image is accepted only when its first bytes say PNG, JPEG, GIF or WebP (what the browser sent as its
type does not count), up to :data:`MAX_BYTES`; it is stored in the blob store under its sha256 and
recorded for the repo. It is served from its own path under the repo (``.../discussions/attachments/
<sha256>``) to whoever may read the repo, with the type found here, ``nosniff``, and a sandboxing CSP:
never as HTML, whatever the bytes hold past their header.
"""

from __future__ import annotations

from typing import BinaryIO

from sqlalchemy.orm import sessionmaker

from cove.errors import BadRequest, CoveError, PayloadTooLarge
from cove.server.db import attachments as q
from cove.server.services.accounts import Principal
from cove.server.services.discussions import Discussions
from cove.server.services.repos import Repos
from cove.server.storage.blobs import Blobs

MAX_BYTES = 5 * 1024 * 1024
#: First bytes -> content type served.
MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF87a", "image/gif"),
         (b"GIF89a", "image/gif"))


class AttachmentNotFound(CoveError):
    """No such image attached in a repo the caller may see (404 without a repo-level code).

    Example: ``AttachmentNotFound: No attachment 9f86d0... in alice/bert``
    """

    status = 404
    code = "NotFound"


def image_type(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in MAGIC if data.startswith(magic)), None)


class Attachments:
    def __init__(self, sessions: sessionmaker, repos: Repos, blobs: Blobs) -> None:
        self._sessions = sessions
        self._repos = repos
        self._blobs = blobs

    def add(self, who: Principal | None, repo_type: str, repo_id: str, data: bytes) -> str:
        """Store an image for the repo's discussions; returns its sha256."""
        repo = self._repos.get(who, repo_type, repo_id)
        who = Discussions.require_token(who, "attach an image")
        if len(data) > MAX_BYTES:
            raise PayloadTooLarge(f"An image may be at most {MAX_BYTES // (1024 * 1024)} MiB")
        kind = image_type(data)
        if kind is None:
            raise BadRequest("Only PNG, JPEG, GIF and WebP images can be attached")
        with self._blobs.guard():
            oid, size = self._blobs.put([data])
        with self._sessions.begin() as s:
            q.add(s, repo_id=repo.id, oid=oid, content_type=kind, size=size, uploader_id=who.user_id)
        return oid

    def open(self, who: Principal | None, repo_type: str, repo_id: str, oid: str) -> tuple[str, int, BinaryIO]:
        """``(content type, size, its bytes)`` of an image attached in a repo ``who`` may read."""
        repo = self._repos.get(who, repo_type, repo_id)
        with self._sessions() as s:
            row = q.find(s, repo.id, oid.lower()) if len(oid) == 64 else None
        if row is None:
            raise AttachmentNotFound(f"No attachment {oid[:64]} in {repo.repo_id}")
        return row.content_type, row.size, self._blobs.open(row.oid, row.size)
