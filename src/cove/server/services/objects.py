"""LFS objects, wherever their content is stored: the one way every reader opens one.

An LFS object (content addressed by its sha256) is stored as a blob (uploaded through the LFS
batch API, git-lfs or an inline commit: in the blob store, on this disk or in an S3 bucket), as a
Xet file (uploaded through Xet: chunks in xorbs, a file record naming them, no blob), or both (a blob converted for Xet
readers). :meth:`Objects.locate` says where; :meth:`Objects.stream` and :meth:`Objects.open` read
either kind: a blob directly, a Xet file by reconstructing its bytes on the server (spec §8.3), a
chunk at a time. ``resolve``, the git-lfs download, the dataset viewer, inference snapshots and the
pickle scans all read through here, and :meth:`Objects.sizes` is what the LFS scope
(:mod:`cove.server.services.lfs_scope`) asks: a Xet-stored object counts as stored.

A Xet file's sha256 is always the server's own, computed from its reconstructed bytes
(:meth:`Objects.digests`), so a Xet file can stand for the LFS object of that sha256 anywhere.

Blobs become Xet-readable lazily: the first ``HEAD`` of a blob-stored file (what clients send before
a download) queues its conversion (:meth:`Objects.convert_later`, one background worker, each object
once); that answer has no Xet hash (the client downloads over plain HTTP) and later ones do. Lazily,
because a conversion costs a pass of the chunker (~150 MB/s on one core) and a second copy of the
content on disk, and most LFS objects (git-lfs repos, inference weights) are never read through Xet.
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.orm import sessionmaker

from cove.errors import EntryNotFound
from cove.server.cas.convert import convert_file
from cove.server.cas.dedup import dedup_entries
from cove.server.cas.hashes import to_hex
from cove.server.cas.reconstruct import plan_range, stream_range
from cove.server.cas.shard import Term, ValidShard, XorbRecord
from cove.server.db.xet import FileRef, NewFile, by_sha256, file_terms, pack_terms, record_files, unpack_terms
from cove.server.storage.blobs import Blobs, SeekableReader
from cove.server.storage.xet import XorbStore

log = logging.getLogger("cove.server.xet")
BLOCK = 1 << 20


@dataclass(frozen=True)
class Stored:
    """Where an LFS object's content is: a blob, a Xet file, or both (a converted blob). ``path`` is the
    blob's file when it is on this disk (readers may map or link it)."""

    oid: str
    size: int
    path: Path | None = None
    xet: FileRef | None = None
    blob: bool = False


class Objects:
    """LFS object content on blobs and xorbs (see the module docstring)."""

    def __init__(self, blobs: Blobs, cas: XorbStore, sessions: sessionmaker) -> None:
        self.blobs = blobs
        self.cas = cas
        self._sessions = sessions
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._worker: ThreadPoolExecutor | None = None

    # -- where content is ------------------------------------------------------------------------

    def sizes(self, recorded: dict[str, int]) -> dict[str, int]:
        """Of ``{oid: recorded size}``, the objects stored with exactly that size (blob or Xet)."""
        out = {oid: size for oid, size in recorded.items() if self.blobs.holds(oid, size)}
        rest = recorded.keys() - out.keys()
        if rest:
            out.update({oid: ref.size for oid, ref in by_sha256(self._sessions, rest).items()
                        if ref.size == recorded[oid]})
        return out

    def holds(self, oid: str, size: int) -> bool:
        return bool(self.sizes({oid: size}))

    def locate(self, oid: str) -> Stored | None:
        """Where ``oid`` is stored (its Xet form included when it has one), or None."""
        ref = by_sha256(self._sessions, [oid]).get(oid)
        size = self.blobs.size(oid)
        blob = size is not None
        if not blob:
            size = ref.size if ref is not None else None
        if size is None:
            return None
        return Stored(oid, size, self.blobs.local_path(oid) if blob else None,
                      ref if ref is not None and ref.size == size else None, blob)

    def presign(self, stored: Stored, filename: str | None = None) -> str | None:
        """A short-lived URL of the store that serves the object's blob (``Range`` included), when
        the store hands them out (``COVE_S3_PRESIGN``); None: stream it through the Hub. Callers
        check access first."""
        return self.blobs.presign(stored.oid, filename) if stored.blob and self.blobs.presigns else None

    def require(self, oid: str, what: str) -> Stored:
        stored = self.locate(oid)
        if stored is None:
            raise EntryNotFound(f"The LFS content of {what} ({oid}) is missing on this server")
        return stored

    def xet_hashes(self, oids: set[str]) -> dict[str, str]:
        """``{oid: file ID}`` of the objects among ``oids`` that the CAS can serve."""
        return {oid: ref.file_id for oid, ref in by_sha256(self._sessions, oids).items()} if oids else {}

    def terms(self, file_id: str) -> tuple[Term, ...]:
        found = file_terms(self._sessions, file_id)
        if found is None:
            raise EntryNotFound(f"Xet file {file_id} is not recorded on this server")
        return tuple(Term(*t) for t in unpack_terms(found[1]))

    # -- reading -----------------------------------------------------------------------------------

    def stream_terms(self, terms: tuple[Term, ...], start: int, end: int) -> Iterator[bytes]:
        """Bytes ``[start, end)`` of the file these terms make, reconstructed a chunk at a time."""
        if end <= start:
            return iter(())
        return stream_range(plan_range(terms, self.cas.index, start, end), self.cas.index, self.cas.read)

    def stream(self, stored: Stored, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Bytes ``[start, end)`` of the object (``end`` None: to its end)."""
        end = stored.size if end is None else min(end, stored.size)
        if stored.blob:
            return self.blobs.blocks(stored.oid, start, end)
        return coalesce(self.stream_terms(self.terms(stored.xet.file_id), start, end))

    def open(self, stored: Stored) -> BinaryIO:
        """A seekable binary file of the object's content."""
        if stored.blob:
            return self.blobs.open(stored.oid, stored.size)
        terms = self.terms(stored.xet.file_id)
        reader = SeekableReader(stored.size, lambda start, end: self.stream_terms(terms, start, end))
        return io.BufferedReader(reader, buffer_size=BLOCK)

    def sha256(self, terms: tuple[Term, ...], size: int) -> str:
        """The sha256 of a Xet file, from its reconstructed bytes."""
        h = hashlib.sha256()
        for part in self.stream_terms(terms, 0, size):
            h.update(part)
        return h.hexdigest()

    # -- blobs made Xet-readable -------------------------------------------------------------------

    def convert(self, oid: str) -> FileRef | None:
        """Store a blob's content as xorbs and record its Xet file (nothing if it has one already)."""
        done = by_sha256(self._sessions, [oid]).get(oid)
        if done is not None:
            return done
        size = self.blobs.size(oid)
        if size is None:
            return None
        try:
            f = self.blobs.open(oid, size)
        except FileNotFoundError:
            return None
        with f:
            record, xorbs = convert_file(f, self.cas)
        if to_hex(record.sha256) != oid or record.size != size:
            log.error("LFS object %s changed while it was converted: not recorded", oid)
            return None
        terms = pack_terms((t.xorb, t.start, t.end, t.size) for t in record.terms)
        shard = ValidShard((record,), tuple(XorbRecord.from_index(x) for x in xorbs))
        file_id = to_hex(record.hash)
        dedup = [(to_hex(c), to_hex(x), file_id) for c, x in dedup_entries(shard, self.cas.index)]
        record_files(self._sessions, None, [NewFile(file_id, oid, size, terms)], dedup)
        log.info("converted LFS object %s (%d bytes) to Xet file %s", oid, size, file_id)
        return FileRef(file_id, oid, size)

    def convert_later(self, oid: str) -> None:
        """Queue :meth:`convert` (once per object at a time; a failure is logged, and the next look
        queues it again)."""
        with self._lock:
            if oid in self._pending:
                return
            self._pending.add(oid)
            if self._worker is None:
                self._worker = ThreadPoolExecutor(1, thread_name_prefix="xet-convert")
            worker = self._worker
        worker.submit(self._convert, oid)

    def _convert(self, oid: str) -> None:
        try:
            self.convert(oid)
        except Exception:
            log.exception("converting LFS object %s to Xet failed", oid)
        finally:
            with self._lock:
                self._pending.discard(oid)

    def idle(self) -> bool:
        """No conversion queued or running."""
        with self._lock:
            return not self._pending


def coalesce(parts: Iterator[bytes], size: int = BLOCK) -> Iterator[bytes]:
    """``parts`` (a Xet file's chunks, 64 KiB on average) regrouped into blocks of about ``size`` bytes:
    a response sends one message, and its server one worker-thread hop, per block rather than per chunk."""
    pending: list[bytes] = []
    held = 0
    for part in parts:
        pending.append(part)
        held += len(part)
        if held >= size:
            yield b"".join(pending)
            pending, held = [], 0
    if pending:
        yield b"".join(pending)
