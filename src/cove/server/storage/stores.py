"""The Hub's blob stores, picked by ``COVE_STORAGE_URL``: files on this disk (``file://PATH``, the
default) or an S3-compatible bucket (``s3://BUCKET/PREFIX``, with the ``COVE_S3_*`` settings).

Both give the same two stores: LFS objects by sha256 (:class:`~cove.server.storage.blobs.BlobStore`
or :class:`~cove.server.storage.s3.S3BlobStore`) and the Xet CAS's blobs
(:class:`~cove.server.storage.xet.DiskByteStore` or :class:`~cove.server.storage.s3.S3ByteStore`).
Upload temporaries stay on this disk either way, in ``<lfs root>/tmp`` (``<data dir>/lfs/tmp`` on S3).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from cove.server.settings import Settings
from cove.server.storage.blobs import BlobStore
from cove.server.storage.locks import RemovalLock, SharedRemovalLock
from cove.server.storage.xet import DiskByteStore


def open_stores(settings: Settings, elsewhere: SharedRemovalLock | None = None):
    """``(LFS blob store, Xet byte store)`` for ``settings.storage_url``; their removal lock is
    ``elsewhere`` when given (the database's, on PostgreSQL), else a file lock (see
    :class:`~cove.server.storage.locks.RemovalLock`)."""
    scheme = urlparse(settings.storage_url).scheme
    if scheme == "s3":
        from cove.server.storage.s3 import S3BlobStore, S3ByteStore

        local = settings.data_dir / "lfs"
        blobs = S3BlobStore(settings, local / "tmp", RemovalLock(local / ".removal.lock", elsewhere))
        return blobs, S3ByteStore(blobs.bucket, blobs.tmp_dir)
    root = Path(urlparse(settings.storage_url).path)
    blobs = BlobStore(settings.storage_url, RemovalLock(root / ".removal.lock", elsewhere))
    return blobs, DiskByteStore(blobs.root / "xet", blobs.tmp_dir)
