"""The LFS content store: files addressed by their sha256, written once, never half-visible.

Layout (filesystem, the default): ``<root>/<oid[:2]>/<oid[2:4]>/<oid>``. Writes go to a temporary
file in ``<root>/tmp`` and are renamed into place only after the sha256 matched, so a reader or a
crash never sees a partial object. An S3-compatible store would implement the same four methods.

Temporaries of uploads that never finish (a client that went away, a refused multipart part, a
crash) are removed by :meth:`BlobStore.sweep` once nobody has written to them for a while.

Objects are removed only when no repo may reference them any more (a repo's owner deleted its LFS
files). :meth:`BlobStore.guard` keeps that from racing an upload of the same content: an upload
holds it shared from storing the object until the database says which repo may use it, a removal
holds it exclusively from checking that no repo may until the file is gone.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from cove.errors import Unprocessable


class BlobWriter:
    """A temporary file that hashes (sha256) what is written to it."""

    def __init__(self, store: BlobStore) -> None:
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


class BlobStore:
    def __init__(self, url: str) -> None:
        parsed = urlparse(url)
        if parsed.scheme != "file":
            raise ValueError(
                f"Unsupported storage URL {url!r}: this build stores LFS objects on a local disk (file://PATH)"
            )
        self.root = Path(parsed.path)
        self.tmp_dir = self.root / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    def path(self, oid: str) -> Path:
        return self.root / oid[:2] / oid[2:4] / oid

    def exists(self, oid: str) -> bool:
        return self.path(oid).is_file()

    def size(self, oid: str) -> int:
        return self.path(oid).stat().st_size

    def holds(self, oid: str, size: int) -> bool:
        """Whether ``oid`` is stored with exactly ``size`` bytes."""
        try:
            return self.path(oid).stat().st_size == size
        except OSError:
            return False

    def adopt(self, path: Path, oid: str) -> None:
        """Move a finished, verified file (in ``tmp_dir``) into the store as ``oid``."""
        final = self.path(oid)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            Path(path).unlink(missing_ok=True)
        else:
            os.replace(path, final)

    @contextmanager
    def guard(self, *, exclusive: bool = False) -> Iterator[None]:
        """The store's removal lock, across threads and processes: shared while an upload stores and
        records an object, exclusive while objects no repo references are removed."""
        with open(self.root / ".removal.lock", "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def remove(self, oid: str) -> None:
        """Remove object ``oid`` (hold :meth:`guard` exclusively, having checked no repo uses it)."""
        self.path(oid).unlink(missing_ok=True)

    def sweep(self, max_idle: float) -> tuple[int, int]:
        """Remove temporaries not written to for ``max_idle`` seconds; ``(files, bytes)`` removed
        (bytes as allocated on disk: a multipart upload's file is sparse until its parts arrive)."""
        cutoff = time.time() - max_idle
        files = nbytes = 0
        for entry in os.scandir(self.tmp_dir):
            try:
                st = entry.stat(follow_symlinks=False)
                if st.st_mtime < cutoff:
                    os.unlink(entry.path)
                    files, nbytes = files + 1, nbytes + st.st_blocks * 512
            except (FileNotFoundError, IsADirectoryError, PermissionError):
                continue  # finished or removed meanwhile
        return files, nbytes

    def writer(self) -> BlobWriter:
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
