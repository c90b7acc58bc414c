"""Xorbs at rest: the Xet CAS's :class:`~cove.server.cas.store.ByteStore` next to the LFS blob store.

Layout (filesystem, the default): ``<lfs root>/xet/xorbs/<hex[:2]>/<hex>`` holds a verified,
footerless xorb and ``<hex>.index`` its chunk index. Like LFS objects, every file is written once:
to a temporary file in the blob store's ``tmp`` folder, then linked into place (the first copy wins;
a later one is dropped), so a reader or a crash never sees a partial xorb. Temporaries of uploads
that never finish are removed by the blob store's sweep.

:class:`XorbStore` is the :class:`~cove.server.cas.store.CasStore` the Hub uses: it receives an
uploaded xorb into a temporary file (:class:`XorbUpload`), verifies it from there in bounded memory,
and keeps the last indexes it read (xorbs never change).

Fetch URLs are served from read-only memory maps of the stored xorb (:func:`mapped_range`): the
socket copies straight from the page cache, with no read into a Python buffer and no worker thread
per block; a window is unmapped once the transport has sent it.

On an S3-compatible store (:class:`~cove.server.storage.s3.S3ByteStore`, the same interface) uploads
are received the same way, then stored with one conditional PUT (the first copy wins), and fetches
are ranged GETs, or presigned URLs handed to the client.
"""

from __future__ import annotations

import mmap
import os
import re
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from cove.server.cas.errors import InvalidXetData
from cove.server.cas.store import CasStore, xorb_key
from cove.server.cas.xorb import MAX_XORB_BODY, XorbIndex, XorbReceiver

if TYPE_CHECKING:
    from cove.server.storage.s3 import S3ByteStore

_KEY = re.compile(r"(xorbs)/([0-9a-f]{64})(\.index)?")
READ_BLOCK = 1 << 20
#: Stored bytes a fetch maps at once (a connection's transport holds at most a couple of windows).
SEND_WINDOW = 4 << 20
#: Most received pieces written by one writev (IOV_MAX is 1024 on Linux).
MAX_PIECES = 512


def mapped_range(path: Path, first: int, length: int) -> Iterator[memoryview]:
    """Bytes ``[first, first + length)`` of a file as memoryviews of read-only maps, at most
    :data:`SEND_WINDOW` bytes each. The file is opened now (FileNotFoundError before anything is
    sent); each window is unmapped when the last view of it is dropped (the transport has sent it)."""
    f = open(path, "rb")  # noqa: SIM115 (mmap keeps its own descriptor; this one closes below)
    try:
        if os.fstat(f.fileno()).st_size < first + length:
            raise FileNotFoundError(f"{path} is shorter than the range asked")
    except BaseException:
        f.close()
        raise

    def windows() -> Iterator[memoryview]:
        with f:
            pos, end = first, first + length
            while pos < end:
                base = pos - pos % mmap.ALLOCATIONGRANULARITY
                stop = min(end, base + SEND_WINDOW)
                window = mmap.mmap(f.fileno(), stop - base, access=mmap.ACCESS_READ, offset=base)
                window.madvise(mmap.MADV_SEQUENTIAL)
                yield memoryview(window)[pos - base:]
                pos = stop

    return windows()


def check_key(key: str) -> tuple[str, str]:
    """``(kind, file name)`` of a CAS key (``xorbs/<64 hex>`` or ``xorbs/<64 hex>.index``); ValueError
    for anything else."""
    m = _KEY.fullmatch(key)
    if m is None:
        raise ValueError(f"not a CAS key: {key[:100]!r}")
    return m[1], f"{m[2]}{m[3] or ''}"


class DiskByteStore:
    """Immutable blobs by key in files under ``root`` (see the module docstring); keys are
    ``xorbs/<64 hex>`` and ``xorbs/<64 hex>.index``, nothing else."""

    #: Fetches are memory maps (no blocking read per block) and never presigned URLs.
    blocking = False
    presigns = False

    def __init__(self, root: Path, tmp_dir: Path) -> None:
        self.root = root
        self.tmp_dir = tmp_dir
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        kind, name = check_key(key)
        return self.root / kind / name[:2] / name

    def temporary(self) -> tuple[int, Path]:
        fd, name = tempfile.mkstemp(dir=self.tmp_dir, prefix="xet-")
        return fd, Path(name)

    def put(self, key: str, data: bytes) -> bool:
        fd, tmp = self.temporary()
        try:
            with open(fd, "wb") as f:
                f.write(data)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return self.adopt(key, tmp)

    def adopt(self, key: str, tmp: Path) -> bool:
        """Move a finished temporary file into place as ``key``; False (and the file dropped) if a
        copy was there first."""
        final = self.path(key)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.link(tmp, final)
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)

    def get(self, key: str) -> bytes | None:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            return None

    def get_range(self, key: str, start: int, end: int) -> bytes:
        try:
            fd = os.open(self.path(key), os.O_RDONLY)
        except FileNotFoundError:
            return b""
        try:
            return os.pread(fd, end - start, start)
        finally:
            os.close(fd)

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def stat(self, key: str) -> tuple[int, float] | None:
        """``(size, mtime)`` of a stored key, or None."""
        try:
            st = self.path(key).stat()
        except FileNotFoundError:
            return None
        return st.st_size, st.st_mtime

    def open_range(self, key: str, first: int, length: int) -> Iterator[memoryview]:
        """Bytes ``[first, first + length)`` of a stored key (FileNotFoundError now if it is not stored)."""
        return mapped_range(self.path(key), first, length)

    def touch(self, key: str) -> None:
        try:
            os.utime(self.path(key))
        except FileNotFoundError:
            pass

    def presign(self, key: str, first: int, last: int) -> str | None:
        return None

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def entries(self, kind: str = "xorbs") -> Iterator[tuple[str, int, float]]:
        """``(key, size, mtime)`` of every stored key of ``kind`` (indexes included), in no particular order."""
        top = self.root / kind
        if not top.is_dir():
            return
        for sub in os.scandir(top):
            if sub.is_dir():
                for entry in os.scandir(sub.path):
                    key = f"{kind}/{entry.name}"
                    if _KEY.fullmatch(key):
                        try:
                            st = entry.stat()
                        except FileNotFoundError:
                            continue
                        yield key, st.st_size, st.st_mtime


class XorbUpload:
    """An uploaded xorb arriving in a temporary file, at most :data:`MAX_XORB_BODY` bytes.

    The pieces the server receives (64 KiB or so) are written a batch of :data:`READ_BLOCK` bytes at
    a time with one ``writev``, straight from the received buffers: no copy into a file buffer on the
    event loop (that copy was the largest cost of receiving a xorb)."""

    def __init__(self, store: DiskByteStore | S3ByteStore) -> None:
        self._fd, self.path = store.temporary()
        self._pending: list[bytes] = []
        self._held = 0
        self.size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > MAX_XORB_BODY:
            raise InvalidXetData(f"xorb of more than {MAX_XORB_BODY} bytes: the limit is {MAX_XORB_BODY}")
        self._pending.append(data)
        self._held += len(data)
        if self._held >= READ_BLOCK or len(self._pending) >= MAX_PIECES:
            self._flush()

    def _flush(self) -> None:
        views = [memoryview(p) for p in self._pending]
        while views:
            done = os.writev(self._fd, views[:MAX_PIECES])
            while views and done >= len(views[0]):
                done -= len(views.pop(0))
            if views and done:
                views[0] = views[0][done:]
        self._pending, self._held = [], 0

    def close(self, *, flush: bool = True) -> None:
        if self._fd >= 0:
            try:
                if flush:
                    self._flush()
            finally:
                os.close(self._fd)
                self._fd = -1

    def discard(self) -> None:
        self.close(flush=False)
        self.path.unlink(missing_ok=True)


class XorbStore(CasStore):
    """The Hub's CAS store: xorbs in a :class:`DiskByteStore` or an S3 bucket, indexes cached in memory."""

    def __init__(self, blobs: DiskByteStore | S3ByteStore, cached: int = 256) -> None:
        super().__init__(blobs)
        self.store = blobs
        self._cache: OrderedDict[bytes, XorbIndex] = OrderedDict()
        self._cached = cached
        self._lock = threading.Lock()

    def upload(self) -> XorbUpload:
        return XorbUpload(self.store)

    def put_upload(self, xorb: bytes, upload: XorbUpload) -> tuple[XorbIndex, bool]:
        """Verify a received xorb against its URL hash, reading it back a block at a time, and keep
        it; ``(index of the stored copy, was_inserted)``. The temporary file is gone afterwards,
        kept or not; :class:`InvalidXetData` (nothing stored) if it does not verify."""
        try:
            upload.close()
            receiver = XorbReceiver()
            with open(upload.path, "rb") as f:
                while block := f.read(READ_BLOCK):
                    receiver.feed(block)
            index = receiver.finish(xorb)
            if index.stored_size != upload.size:  # a tolerated xet-core footer: keep the chunks only
                os.truncate(upload.path, index.stored_size)
            return self.keep(index, lambda: self.store.adopt(xorb_key(xorb), upload.path))
        finally:
            upload.discard()

    def index(self, xorb: bytes) -> XorbIndex | None:
        with self._lock:
            hit = self._cache.get(xorb)
            if hit is not None:
                self._cache.move_to_end(xorb)
        if hit is not None:
            if self.store.exists(xorb_key(xorb)):
                return hit
            with self._lock:  # collected by `cove gc` (another process) since it was cached
                self._cache.pop(xorb, None)
        index = super().index(xorb)
        if index is not None:
            with self._lock:
                self._cache[xorb] = index
                if len(self._cache) > self._cached:
                    self._cache.popitem(last=False)
        return index

    def forget(self, xorb: bytes) -> None:
        """Delete a xorb and its index (garbage collection)."""
        with self._lock:
            self._cache.pop(xorb, None)
        key = xorb_key(xorb)
        self.store.delete(key + ".index")
        self.store.delete(key)

    def touch(self, xorb: bytes) -> None:
        """Mark a xorb as just used (garbage collection spares what is younger than its grace period)."""
        self.store.touch(xorb_key(xorb))

    def age(self, xorb: bytes) -> float | None:
        """Seconds since the xorb was stored, or None if it is not."""
        st = self.store.stat(xorb_key(xorb))
        return None if st is None else max(0.0, time.time() - st[1])

    def read_range(self, xorb: bytes, first: int, length: int) -> Iterator[bytes | memoryview]:
        """Stored bytes ``[first, first + length)`` of a xorb, for a fetch URL (FileNotFoundError now if
        it is not stored)."""
        return self.store.open_range(xorb_key(xorb), first, length)

    def presign(self, xorb: bytes, first: int, last: int) -> str | None:
        """A presigned URL of stored bytes ``[first, last]`` of a xorb (the ``Range`` the client sends is
        signed: the URL reaches no other bytes of the xorb, which may hold other files' chunks), or None."""
        return self.store.presign(xorb_key(xorb), first, last)

    def entries(self) -> Iterator[tuple[str, int, float]]:
        """``(xorb hex, size, mtime)`` of every stored xorb (indexes left out)."""
        for key, size, mtime in self.store.entries("xorbs"):
            name = key.split("/", 1)[1]
            if not name.endswith(".index"):
                yield name, size, mtime
