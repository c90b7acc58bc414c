"""The LFS content store: files addressed by their sha256, written once, never half-visible.

Layout (filesystem, the default): ``<root>/<oid[:2]>/<oid[2:4]>/<oid>``. Writes go to a temporary
file in ``<root>/tmp`` and are renamed into place only after the sha256 matched, so a reader or a
crash never sees a partial object. :class:`~cove.server.storage.s3.S3BlobStore` is the same interface
on an S3-compatible store (``COVE_STORAGE_URL=s3://...``); :func:`cove.server.storage.stores.open_stores`
picks one by URL. Readers go through :meth:`BlobStore.open` and :meth:`BlobStore.blocks`;
:meth:`BlobStore.local_path` is there for those that can do better with a file on this disk (link it,
map it) and is None on S3.

Temporaries of uploads that never finish (a client that went away, a refused multipart part, a
crash) are removed by :meth:`BlobStore.sweep` once nobody has written to them for a while.

Objects are removed only when no repo may reference them any more (a repo's owner deleted its LFS
files), under the removal lock (:mod:`cove.server.storage.locks`), so that a removal never races an
upload of the same content.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlparse

from cove.errors import Unprocessable
from cove.server.storage.locks import RemovalLock

_OID = re.compile(r"[0-9a-f]{64}")
BLOCK = 1 << 20


class SeekableReader(io.RawIOBase):
    """A read-only, seekable binary file of ``size`` bytes; a read of bytes ``[start, end)`` copies
    what ``parts(start, end)`` yields (a ranged GET, a Xet reconstruction)."""

    def __init__(self, size: int, parts: Callable[[int, int], Iterable[bytes]]) -> None:
        super().__init__()
        self._size, self._parts, self._pos = size, parts, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer) -> int:
        end = min(self._size, self._pos + len(buffer))
        if end <= self._pos:
            return 0
        view = memoryview(buffer).cast("B")
        n = 0
        for part in self._parts(self._pos, end):
            view[n:n + len(part)] = part
            n += len(part)
        self._pos += n
        return n


class BlobWriter:
    """A temporary file that hashes (sha256) what is written to it."""

    def __init__(self, store: Blobs) -> None:
        self._store = store
        fd, name = tempfile.mkstemp(dir=store.tmp_dir)
        self.path = Path(name)
        self._file = os.fdopen(fd, "wb", buffering=1024 * 1024)
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self.sha256.update(data)
        self.size += len(data)

    def ready(self) -> bool:
        """Whether :meth:`flush` has work (never: a file write does not block for long)."""
        return False

    def flush(self) -> None:
        pass

    def finish(self, expected_oid: str | None = None) -> str:
        """Close, check the sha256 against ``expected_oid`` and move into the store; returns the oid."""
        self._file.close()
        oid = self.sha256.hexdigest()
        if expected_oid is not None and oid != expected_oid:
            self.discard()
            raise Unprocessable(
                f"LFS object {expected_oid} does not match its content (sha256 {oid}, {self.size} bytes)"
            )
        self._store.adopt(self.path, oid)
        return oid

    def read_bytes(self) -> bytes:
        self._file.flush()
        return self.path.read_bytes()

    def discard(self) -> None:
        if not self._file.closed:
            self._file.close()
        self.path.unlink(missing_ok=True)


def sweep_dir(folder: Path, max_idle: float) -> tuple[int, int]:
    """Remove the files in ``folder`` not written to for ``max_idle`` seconds; ``(files, bytes)`` removed
    (bytes as allocated on disk: a multipart upload's file is sparse until its parts arrive)."""
    cutoff = time.time() - max_idle
    files = nbytes = 0
    for entry in os.scandir(folder):
        try:
            st = entry.stat(follow_symlinks=False)
            if st.st_mtime < cutoff:
                os.unlink(entry.path)
                files, nbytes = files + 1, nbytes + st.st_blocks * 512
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            continue  # finished or removed meanwhile
    return files, nbytes


class PartWriter:
    """Writes one part of a multipart upload at its offset in the staged file, and marks it done when it
    is whole."""

    def __init__(self, path: Path, total: int, number: int, offset: int, length: int) -> None:
        self.path, self.number, self.offset, self.length = path, number, offset, length
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if os.fstat(self._fd).st_size != total:
            os.ftruncate(self._fd, total)
        self.written = 0
        self._md5 = hashlib.md5(usedforsecurity=False)

    def write(self, data: bytes) -> None:
        if self.written + len(data) > self.length:
            raise Unprocessable(f"Part {self.number} is larger than {self.length} bytes")
        os.pwrite(self._fd, data, self.offset + self.written)
        self._md5.update(data)
        self.written += len(data)

    def finish(self) -> str:
        """Close; the part's ETag (its md5, as S3 answers) if it is whole."""
        os.close(self._fd)
        if self.written != self.length:
            raise Unprocessable(f"Part {self.number} has {self.written} bytes, expected {self.length}")
        Path(f"{self.path}.{self.number}.done").touch()
        return self._md5.hexdigest()

    def abort(self) -> None:
        try:
            os.close(self._fd)
        except OSError:
            pass


class FileStaging:
    """The parts of one LFS multipart upload, written at their offsets into one file in the store's
    ``tmp_dir`` (``<name>``, and ``<name>.<n>.done`` once part ``n`` is whole). That folder is in the
    data dir every replica shares, so any replica may take any part and any may complete: completing
    hashes the file once and moves it into place, copying nothing on disk."""

    def __init__(self, store: Blobs, name: str, size: int) -> None:
        self._store, self.size = store, size
        self.path = store.tmp_dir / name

    def part(self, number: int, offset: int, length: int) -> PartWriter:
        return PartWriter(self.path, self.size, number, offset, length)

    def received(self, count: int) -> set[int]:
        """The numbers among ``1..count`` of the parts received whole."""
        return {n for n in range(1, count + 1) if Path(f"{self.path}.{n}.done").exists()}

    def assemble(self) -> str:
        """The sha256 of the object the parts make."""
        h = hashlib.sha256()
        with open(self.path, "rb") as f:
            while block := f.read(1 << 22):
                h.update(block)
        return h.hexdigest()

    def publish(self, oid: str) -> None:
        """Move the verified object into the store as ``oid`` (under the store's removal lock)."""
        self._store.adopt(self.path, oid)

    def discard(self, count: int) -> None:
        self.path.unlink(missing_ok=True)
        for n in range(1, count + 1):
            Path(f"{self.path}.{n}.done").unlink(missing_ok=True)


class Blobs:
    """The blob store interface, implemented on this disk (:class:`BlobStore`) and on S3
    (:class:`~cove.server.storage.s3.S3BlobStore`), with what both share written once."""

    tmp_dir: Path  # upload temporaries, always on this disk
    guard: RemovalLock  # ``with store.guard(exclusive=...)``: see :mod:`cove.server.storage.locks`
    presigns: bool  # whether :meth:`presign` hands out URLs
    presign_seconds: int

    def size(self, oid: str) -> int | None:
        """The stored object's size, or None if it is not stored."""
        raise NotImplementedError

    def local_path(self, oid: str) -> Path | None:
        """The object's file on this disk, if it is one."""
        raise NotImplementedError

    def receiver(self, oid: str):
        """Where an upload of object ``oid`` is received: ``write``, ``ready``/``flush``, then
        ``finish(oid)`` (which checks the sha256) or ``discard``."""
        raise NotImplementedError

    def adopt(self, path: Path, oid: str) -> None:
        """Move a finished, verified file (in ``tmp_dir``) into the store as ``oid``."""
        raise NotImplementedError

    def open(self, oid: str, size: int) -> BinaryIO:
        """The object as a seekable binary file (FileNotFoundError if it is not stored)."""
        raise NotImplementedError

    def blocks(self, oid: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``[start, end)`` of the object, a block at a time."""
        raise NotImplementedError

    def presign(self, oid: str, filename: str | None = None) -> str | None:
        """A short-lived URL that serves the object, or None (the store has none or was not asked to)."""
        raise NotImplementedError

    def remove(self, oid: str) -> None:
        """Remove object ``oid`` (hold the removal lock exclusively, having checked no repo uses it)."""
        raise NotImplementedError

    def oids(self) -> Iterator[tuple[str, int, float]]:
        """``(oid, size, mtime)`` of every stored object."""
        raise NotImplementedError

    def sweep(self, max_idle: float) -> tuple[int, int]:
        """Remove what uploads left behind ``max_idle`` seconds ago or more; ``(items, bytes)`` removed."""
        raise NotImplementedError

    def begin_staging(self, name: str, part_size: int) -> str:
        """Open the staging of a multipart upload named ``name`` whose parts are ``part_size`` bytes;
        what :meth:`staging` needs besides the name to find it again on any replica ("" here: a file)."""
        return ""

    def staging(self, name: str, size: int, upload: str = ""):
        """The staging of a multipart upload of ``size`` bytes opened by :meth:`begin_staging`."""
        return FileStaging(self, name, size)

    def exists(self, oid: str) -> bool:
        return self.size(oid) is not None

    def holds(self, oid: str, size: int) -> bool:
        """Whether ``oid`` is stored with exactly ``size`` bytes."""
        return self.size(oid) == size

    def writer(self) -> BlobWriter:
        """A temporary file on this disk for content whose sha256 is not known yet; ``finish`` moves it
        into the store."""
        return BlobWriter(self)

    def put(self, chunks: Iterable[bytes], expected_oid: str | None = None) -> tuple[str, int]:
        w = self.writer()
        try:
            for chunk in chunks:
                w.write(chunk)
        except BaseException:
            w.discard()
            raise
        return w.finish(expected_oid), w.size


class BlobStore(Blobs):
    """LFS objects in files on this disk (see the module docstring)."""

    #: Downloads are never handed to another host: a disk has no presigned URLs.
    presigns = False
    presign_seconds = 0

    def __init__(self, url: str, guard: RemovalLock | None = None) -> None:
        parsed = urlparse(url)
        if parsed.scheme != "file":
            raise ValueError(f"Unsupported storage URL {url!r}: use file://PATH or s3://BUCKET/PREFIX")
        self.root = Path(parsed.path)
        self.tmp_dir = self.root / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        #: The removal lock (see the module docstring): ``with store.guard(exclusive=...)``.
        self.guard = guard or RemovalLock(self.root / ".removal.lock")

    def path(self, oid: str) -> Path:
        return self.root / oid[:2] / oid[2:4] / oid

    def local_path(self, oid: str) -> Path | None:
        """The object's file on this disk, or None if it is not stored."""
        path = self.path(oid)
        return path if path.is_file() else None

    def size(self, oid: str) -> int | None:
        try:
            return self.path(oid).stat().st_size
        except OSError:
            return None

    def adopt(self, path: Path, oid: str) -> None:
        """Move a finished, verified file (in ``tmp_dir``) into the store as ``oid``."""
        final = self.path(oid)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            Path(path).unlink(missing_ok=True)
        else:
            os.replace(path, final)

    def open(self, oid: str, size: int) -> BinaryIO:
        """The object as a seekable binary file (FileNotFoundError if it is not stored)."""
        return open(self.path(oid), "rb")

    def blocks(self, oid: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``[start, end)`` of the object, a block at a time (the file is opened now)."""
        f = open(self.path(oid), "rb", buffering=0)  # noqa: SIM115 (closed by the generator)

        def read() -> Iterator[bytes]:
            with f:
                f.seek(start)
                left = end - start
                while left > 0:
                    block = f.read(min(BLOCK, left))
                    if not block:
                        break
                    left -= len(block)
                    yield block

        return read()

    def presign(self, oid: str, filename: str | None = None) -> str | None:
        return None

    def remove(self, oid: str) -> None:
        """Remove object ``oid`` (hold the removal lock exclusively, having checked no repo uses it)."""
        self.path(oid).unlink(missing_ok=True)

    def oids(self) -> Iterator[tuple[str, int, float]]:
        """``(oid, size, mtime)`` of every stored object."""
        for path in self.root.glob("??/??/*"):
            if _OID.fullmatch(path.name):
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue
                yield path.name, st.st_size, st.st_mtime

    def sweep(self, max_idle: float) -> tuple[int, int]:
        """Remove temporaries not written to for ``max_idle`` seconds; ``(files, bytes)`` removed."""
        return sweep_dir(self.tmp_dir, max_idle)

    def receiver(self, oid: str) -> BlobWriter:
        """Where an upload of object ``oid`` is received (its sha256 checked by ``finish(oid)``)."""
        return BlobWriter(self)
