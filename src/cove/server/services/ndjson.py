"""Streaming parser for the commit body (``application/x-ndjson``), bounded in memory.

The stock client sends file contents base64-encoded inline, so one line can be gigabytes. Lines up
to ``SPOOL_AT`` bytes are parsed in memory; a longer line is spooled to a temporary file, its
``"content"`` string located with ``mmap`` and decoded in slices straight into a
:class:`~cove.server.storage.blobs.BlobWriter` (which hashes as it writes). Peak memory stays a few
MiB whatever the file size.
"""

from __future__ import annotations

import base64
import binascii
import json
import mmap
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from cove.errors import BadRequest, PayloadTooLarge
from cove.protocol import AddLfsFile, DeleteFile, DeleteFolder, check_path
from cove.server.storage.blobs import BlobStore, BlobWriter

SPOOL_AT = 1024 * 1024
_DECODE_SLICE = 8 * 1024 * 1024  # a multiple of 4


@dataclass
class NewFile:
    """A file whose content came in the commit: small ones in memory, large ones in a BlobWriter."""

    path: str
    data: bytes | None = None
    writer: BlobWriter | None = None

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else self.writer.size

    def sample(self) -> bytes:
        if self.data is not None:
            return self.data[:8000]
        with open(self.writer.path, "rb") as f:
            return f.read(8000)

    def read(self) -> bytes:
        return self.data if self.data is not None else self.writer.read_bytes()

    def discard(self) -> None:
        if self.writer is not None:
            self.writer.discard()


@dataclass
class ParsedCommit:
    summary: str = ""
    description: str = ""
    parent_commit: str | None = None
    ops: list = field(default_factory=list)  # NewFile | AddLfsFile | DeleteFile | DeleteFolder

    def discard(self) -> None:
        for op in self.ops:
            if isinstance(op, NewFile):
                op.discard()


def _value(obj: object) -> dict:
    if not isinstance(obj, dict) or not isinstance(obj.get("value"), dict):
        raise BadRequest("Malformed NDJSON commit line: expected {\"key\": ..., \"value\": {...}}")
    return obj["value"]


def _add_line(commit: ParsedCommit, obj: dict, seen: set[str], file: NewFile | None = None) -> None:
    key = obj.get("key") if isinstance(obj, dict) else None
    value = _value(obj)
    if key == "header":
        if commit.ops or seen:
            raise BadRequest("The commit header must be the first line")
        summary = value.get("summary", "")
        if not isinstance(summary, str) or not isinstance(value.get("description", ""), str):
            raise BadRequest("Commit summary and description must be strings")
        commit.summary = summary
        commit.description = value.get("description") or ""
        parent = value.get("parentCommit")
        if parent is not None and (not isinstance(parent, str) or not 4 <= len(parent) <= 40):
            raise BadRequest(f"Invalid parentCommit {parent!r}")
        commit.parent_commit = parent
        seen.add("\0header")
        return
    path = value.get("path")
    if key == "deletedFolder" and isinstance(path, str):
        path = path.rstrip("/")
    check_path(path if isinstance(path, str) else "")
    if key in ("file", "lfsFile") and path in seen:
        raise BadRequest(f"{path} appears twice in the commit")
    if key == "file":
        if file is None:
            content = value.get("content")
            if not isinstance(content, str) or value.get("encoding", "base64") != "base64":
                raise BadRequest(f"File {path}: expected base64 'content'")
            try:
                file = NewFile(path, data=base64.b64decode(content, validate=True))
            except binascii.Error as e:
                raise BadRequest(f"File {path}: invalid base64 content ({e})") from None
        file.path = path
        commit.ops.append(file)
    elif key == "lfsFile":
        oid = value.get("oid")
        size = value.get("size")
        if value.get("algo", "sha256") != "sha256" or not isinstance(oid, str) or len(oid) != 64:
            raise BadRequest(f"LFS file {path}: expected a sha256 'oid'")
        if size is not None and (not isinstance(size, int) or size < 0):
            raise BadRequest(f"LFS file {path}: invalid size {size!r}")
        commit.ops.append(AddLfsFile(path, oid.lower(), size))
    elif key == "deletedFile":
        commit.ops.append(DeleteFile(path))
    elif key == "deletedFolder":
        commit.ops.append(DeleteFolder(path))
    else:
        raise BadRequest(f"Unknown commit line key {key!r}")
    seen.add(path)


def _parse_small(line: bytes) -> dict:
    try:
        return json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadRequest(f"Malformed NDJSON line: {e}") from None


def _parse_spooled(path: str, store: BlobStore) -> tuple[dict, NewFile | None]:
    """Parse one long line kept in a file; a ``file`` line's content is decoded into the store's temp."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        key_at = mm.find(b'"content"')
        start = mm.find(b'"', mm.find(b":", key_at) + 1) if key_at >= 0 else -1
        end = mm.find(b'"', start + 1) if start >= 0 else -1
        if key_at < 0 or start < 0 or end < 0:
            return _parse_small(mm[:]), None
        obj = _parse_small(mm[:start] + b'""' + mm[end + 1:])
        writer = store.writer()
        try:
            if mm.find(b"\\", start, end) >= 0:  # escaped characters: rare, decode as one slice
                writer.write(base64.b64decode(mm[start + 1:end].replace(b"\\/", b"/"), validate=False))
            else:
                for at in range(start + 1, end, _DECODE_SLICE):
                    writer.write(binascii.a2b_base64(mm[at:min(at + _DECODE_SLICE, end)], strict_mode=True))
        except binascii.Error as e:
            writer.discard()
            raise BadRequest(f"Invalid base64 content ({e})") from None
        except BaseException:
            writer.discard()
            raise
        return obj, NewFile("", writer=writer)


async def parse_commit(chunks: AsyncIterator[bytes], store: BlobStore, max_bytes: int) -> ParsedCommit:
    """Read a whole NDJSON commit body. On any error, temporary files are removed and nothing is kept."""
    commit = ParsedCommit()
    seen: set[str] = set()
    buf = bytearray()
    spool: tuple[str, object] | None = None  # (path, file object) of a long line in progress
    total = 0

    def finish_spooled() -> None:
        nonlocal spool
        name, fobj = spool
        spool = None
        fobj.close()
        try:
            obj, file = _parse_spooled(name, store)
            _add_line(commit, obj, seen, file)
        finally:
            os.unlink(name)

    try:
        async for chunk in chunks:
            total += len(chunk)
            if total > max_bytes:
                raise PayloadTooLarge(f"Commit body over {max_bytes} bytes")
            if spool is not None:
                nl = chunk.find(b"\n")
                if nl < 0:
                    spool[1].write(chunk)
                    continue
                spool[1].write(chunk[:nl])
                finish_spooled()
                chunk = chunk[nl + 1:]
            buf += chunk
            while (nl := buf.find(b"\n")) >= 0:
                line = bytes(buf[:nl])
                del buf[: nl + 1]
                if line.strip():
                    _add_line(commit, _parse_small(line), seen)
            if len(buf) > SPOOL_AT:
                fd, name = tempfile.mkstemp(dir=store.tmp_dir, suffix=".line")
                fobj = os.fdopen(fd, "wb")
                fobj.write(buf)
                buf.clear()
                spool = (name, fobj)
        if spool is not None:
            finish_spooled()
        if buf.strip():
            _add_line(commit, _parse_small(bytes(buf)), seen)
    except BaseException:
        if spool is not None:
            spool[1].close()
            os.unlink(spool[0])
        commit.discard()
        raise
    if "\0header" not in seen:
        commit.discard()
        raise BadRequest("The commit has no header line")
    return commit
