"""Streaming parser for the commit body (``application/x-ndjson``), bounded in memory.

The stock client sends file contents base64-encoded inline, so one line can be gigabytes. Lines up
to ``SPOOL_AT`` bytes are parsed in memory; a longer line is spooled to a temporary file, its
``"content"`` string located with ``mmap`` and decoded in slices straight into a
:class:`~cove.server.storage.blobs.BlobWriter` (which hashes as it writes). Peak memory stays a few
MiB whatever the file size.
"""

from __future__ import annotations

import binascii
import mmap
import os
import re
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pybase64
from starlette.concurrency import run_in_threadpool

from cove.errors import BadRequest, PayloadTooLarge
from cove.protocol import AddLfsFile, DeleteFile, DeleteFolder, check_commit_path, loads_json
from cove.server.storage.blobs import Blobs, BlobWriter

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
    check_commit_path(path if isinstance(path, str) else "")
    if key in ("file", "lfsFile") and path in seen:
        raise BadRequest(f"{path} appears twice in the commit")
    if key == "file":
        if file is None:
            content = value.get("content")
            if not isinstance(content, str) or value.get("encoding", "base64") != "base64":
                raise BadRequest(f"File {path}: expected base64 'content'")
            try:
                file = NewFile(path, data=pybase64.b64decode(content, validate=True))
            except (binascii.Error, ValueError) as e:
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


def _parse_small(line: bytes, max_depth: int = 64) -> dict:
    return loads_json(line, max_depth=max_depth, what="A commit line")


def _parse_spooled(path: str, store: Blobs, max_depth: int) -> tuple[dict, NewFile | None]:
    """Parse one long line kept in a file; a ``file`` line's content is decoded into the store's temp."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        key_at = mm.find(b'"content"')
        start = mm.find(b'"', mm.find(b":", key_at) + 1) if key_at >= 0 else -1
        end = mm.find(b'"', start + 1) if start >= 0 else -1
        if key_at < 0 or start < 0 or end < 0:
            return _parse_small(mm[:], max_depth), None
        obj = _parse_small(mm[:start] + b'""' + mm[end + 1:], max_depth)
        writer = store.writer()
        try:
            if mm.find(b"\\", start, end) >= 0:  # escaped characters: rare, decode as one slice
                writer.write(pybase64.b64decode(mm[start + 1:end].replace(b"\\/", b"/"), validate=True))
            else:
                for at in range(start + 1, end, _DECODE_SLICE):
                    writer.write(pybase64.b64decode(mm[at:min(at + _DECODE_SLICE, end)], validate=True))
        except (binascii.Error, ValueError) as e:
            writer.discard()
            raise BadRequest(f"Invalid base64 content ({e})") from None
        except BaseException:
            writer.discard()
            raise
        return obj, NewFile("", writer=writer)


_FILE_PREFIX = re.compile(rb'\A\s*\{\s*"key"\s*:\s*"file"\s*,\s*"value"\s*:\s*\{\s*"content"\s*:\s*"')
STREAM_AT = 64 * 1024  # a file line longer than this is decoded as it arrives
WRITE_AT = 4 * 1024 * 1024  # decoded bytes are hashed and written in slices this large, off the event loop
TAIL_LIMIT = 64 * 1024


class _Parser:
    """The body as a stream of lines. Modes: "line" (short lines, parsed whole), "content" (inside the
    base64 ``content`` string of a long ``file`` line, decoded as it arrives), "tail" (the rest of that
    line after the string), "spool" (any other long line, kept in a temporary file)."""

    def __init__(self, store: Blobs, max_depth: int, max_ops: int) -> None:
        self.store = store
        self.max_depth = max_depth
        self.max_ops = max_ops
        self.commit = ParsedCommit()
        self.seen: set[str] = set()
        self.mode = "line"
        self.buf = bytearray()
        self.prefix = b""
        self.carry = b""
        self.pending = bytearray()
        self.writer: BlobWriter | None = None
        self.spool: tuple[str, object] | None = None

    async def feed(self, chunk: bytes) -> None:
        while chunk:
            if self.mode == "line":
                chunk = self._line(chunk)
            elif self.mode == "content":
                chunk = await self._content(chunk)
            elif self.mode == "tail":
                chunk = self._tail(chunk)
            else:
                chunk = await self._spooled(chunk)

    def _line(self, chunk: bytes) -> bytes:
        self.buf += chunk
        while (nl := self.buf.find(b"\n")) >= 0:
            line = bytes(self.buf[:nl])
            del self.buf[: nl + 1]
            if line.strip():
                self._add(_parse_small(line, self.max_depth))
        if len(self.buf) > STREAM_AT:
            m = _FILE_PREFIX.match(self.buf)
            rest = b""
            if m:
                self.prefix, rest = bytes(self.buf[: m.end()]), bytes(self.buf[m.end():])
                self.writer = self.store.writer()
                self.mode = "content"
            elif len(self.buf) > SPOOL_AT:
                fd, name = tempfile.mkstemp(dir=self.store.tmp_dir, suffix=".line")
                fobj = os.fdopen(fd, "wb")
                fobj.write(self.buf)
                self.spool = (name, fobj)
                self.mode = "spool"
            else:
                return b""
            self.buf.clear()
            return rest
        return b""

    async def _content(self, chunk: bytes) -> bytes:
        quote = chunk.find(b'"')
        data = self.carry + (chunk if quote < 0 else chunk[:quote])
        hold = b""
        if b"\\" in data:  # JSON may escape "/" as "\/"; a backslash that ends the chunk waits for the next
            if quote < 0 and data.endswith(b"\\"):
                data, hold = data[:-1], b"\\"
            data = data.replace(b"\\/", b"/")
        cut = len(data) if quote >= 0 else len(data) - len(data) % 4
        self.carry = data[cut:] + hold
        try:
            self.pending += pybase64.b64decode(data[:cut], validate=True)
        except (binascii.Error, ValueError) as e:
            raise BadRequest(f"Invalid base64 file content ({e})") from None
        if len(self.pending) >= WRITE_AT or quote >= 0:
            block, self.pending = bytes(self.pending), bytearray()
            await run_in_threadpool(self.writer.write, block)
        if quote < 0:
            return b""
        self.carry = b""
        self.mode = "tail"
        return chunk[quote + 1:]

    def _tail(self, chunk: bytes) -> bytes:
        nl = chunk.find(b"\n")
        self.buf += chunk if nl < 0 else chunk[:nl]
        if len(self.buf) > TAIL_LIMIT:
            raise BadRequest("Malformed NDJSON line: too much after the file content")
        if nl < 0:
            return b""
        writer, self.writer = self.writer, None
        try:
            obj = _parse_small(self.prefix + b'"' + bytes(self.buf), self.max_depth)  # prefix ends with '"'
            self.buf.clear()
            self._add(obj, NewFile("", writer=writer))
        except BaseException:
            writer.discard()
            raise
        self.mode = "line"
        return chunk[nl + 1:]

    async def _spooled(self, chunk: bytes) -> bytes:
        nl = chunk.find(b"\n")
        self.spool[1].write(chunk if nl < 0 else chunk[:nl])
        if nl < 0:
            return b""
        await self._finish_spool()
        return chunk[nl + 1:]

    async def _finish_spool(self) -> None:
        name, fobj = self.spool
        self.spool = None
        self.mode = "line"
        fobj.close()
        try:
            obj, file = await run_in_threadpool(_parse_spooled, name, self.store, self.max_depth)
            try:
                self._add(obj, file)
            except BaseException:
                if file is not None:
                    file.discard()
                raise
        finally:
            os.unlink(name)

    async def close(self) -> ParsedCommit:
        if self.mode == "spool":
            await self._finish_spool()
        elif self.mode == "tail":
            await self.feed(b"\n")
        elif self.mode == "content":
            raise BadRequest("Malformed NDJSON: the body ends inside a file's content")
        if self.buf.strip():
            self._add(_parse_small(bytes(self.buf), self.max_depth))
        if "\0header" not in self.seen:
            raise BadRequest("The commit has no header line")
        return self.commit

    def _add(self, obj: object, file: NewFile | None = None) -> None:
        _add_line(self.commit, obj, self.seen, file)
        if len(self.commit.ops) > self.max_ops:
            raise PayloadTooLarge(f"The commit has more than {self.max_ops} operations: split it into several")

    def discard(self) -> None:
        if self.spool is not None:
            self.spool[1].close()
            os.unlink(self.spool[0])
        if self.writer is not None:
            self.writer.discard()
        self.commit.discard()


async def parse_commit(chunks: AsyncIterator[bytes], store: Blobs, max_bytes: int, *, max_depth: int = 64,
                       max_ops: int = 100_000) -> ParsedCommit:
    """Read a whole NDJSON commit body. On any error, temporary files are removed and nothing is kept."""
    parser = _Parser(store, max_depth, max_ops)
    total = 0
    try:
        async for chunk in chunks:
            total += len(chunk)
            if total > max_bytes:
                raise PayloadTooLarge(f"Commit body over {max_bytes} bytes")
            await parser.feed(chunk)
        return await parser.close()
    except BaseException:
        parser.discard()
        raise
