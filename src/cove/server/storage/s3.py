"""Blobs on an S3-compatible object store (``COVE_STORAGE_URL=s3://bucket/prefix``).

:class:`S3Bucket` is the few calls the Hub makes, on a botocore client made from
:class:`~cove.server.settings.Settings` (``storage_url`` and the ``s3_*`` settings; boto3 is imported only here, and only when the URL is ``s3://``: ``pip install
'cove[s3]'``). Two stores stand on it, the S3 twins of the filesystem ones:

* :class:`S3BlobStore`, LFS objects at ``<prefix>/lfs/<oid[:2]>/<oid[2:4]>/<oid>``. An upload whose
  sha256 is known in advance (an LFS ``PUT``) streams straight into a multipart upload *at its final
  key* (:class:`S3Upload`), hashing as it goes; it is completed only if the sha256 and the size match,
  and aborted otherwise, or when the client goes away: S3 shows an object only once its multipart
  upload completes, so nothing half-written or wrong is ever visible. Content spooled on the Hub
  first (inline commit content) is verified there and then uploaded once (:meth:`S3BlobStore.adopt`).
  The parts of an LFS *multipart* transfer, which any replica may receive, go to a multipart upload of
  the store's own at a staging key (``<prefix>/lfs-staging/<name>``, :class:`S3Staging`) opened when
  the batch API hands out the part URLs; the replica that completes it has the store assemble the
  object, reads it back once to check its sha256 and size, and copies it to its final key on the
  store's side. Multipart uploads that never finish (a Hub killed mid-upload) and staged objects left
  behind are removed by :meth:`S3BlobStore.sweep`.
* :class:`S3ByteStore`, the Xet CAS's :class:`~cove.server.cas.store.ByteStore`: keys
  ``xorbs/<hex>[.index]`` at ``<prefix>/xet/xorbs/<hex[:2]>/...``, written once with a conditional
  ``PUT`` (``If-None-Match: *``), so the first copy of a xorb wins as a hard link does on disk.

Downloads are read through the Hub (``Range`` GETs), or handed out as presigned GET URLs when the
setting says so (:meth:`S3Bucket.presign`); S3 honours ``Range`` on them.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

from cove.errors import Unprocessable
from cove.server.settings import Settings
from cove.server.storage.blobs import Blobs, SeekableReader, sweep_dir
from cove.server.storage.locks import RemovalLock

#: Bytes buffered per part of a streamed upload (S3's least part size is 5 MiB).
PART_SIZE = 8 * 1024 * 1024
#: The least part size S3 accepts (but for the last part).
MIN_PART_SIZE = 5 * 1024 * 1024
#: Where the parts of LFS multipart transfers are joined, below the store's prefix.
STAGING = "lfs-staging/"
READ_BLOCK = 1024 * 1024


def _missing(err: Exception) -> bool:
    code = getattr(err, "response", {}).get("Error", {}).get("Code", "")
    return code in ("404", "NoSuchKey", "NotFound", "NoSuchUpload")


class S3Bucket:
    """One bucket under one key prefix, on a thread-safe botocore client."""

    def __init__(self, settings: Settings) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:  # pragma: no cover - depends on the install
            raise RuntimeError("COVE_STORAGE_URL is s3://...: install boto3 (pip install 'cove[s3]')") from None
        url = urlparse(settings.storage_url)
        if url.scheme != "s3" or not url.netloc:
            raise ValueError(f"Storage URL {settings.storage_url!r} names no bucket: s3://BUCKET/PREFIX")
        self.name, self.prefix = url.netloc, url.path.strip("/")
        self.presigns, self.presign_seconds = settings.s3_presign, settings.s3_presign_seconds
        self.client = boto3.session.Session().client(
            "s3", endpoint_url=settings.s3_endpoint_url or None, region_name=settings.s3_region or None,
            aws_access_key_id=settings.s3_access_key or None, aws_secret_access_key=settings.s3_secret_key or None,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, max_pool_connections=32,
                          retries={"max_attempts": 4, "mode": "standard"}))
        self.errors = self.client.exceptions.ClientError

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def head(self, key: str) -> tuple[int, float] | None:
        """``(size, last modified as a Unix time)`` of an object, or None."""
        try:
            h = self.client.head_object(Bucket=self.name, Key=key)
        except self.errors as e:
            if _missing(e):
                return None
            raise
        return h["ContentLength"], h["LastModified"].timestamp()

    def put_new(self, key: str, body) -> bool:
        """Store ``body`` at ``key`` unless an object is there; False if one was."""
        try:
            self.client.put_object(Bucket=self.name, Key=key, Body=body, IfNoneMatch="*")
            return True
        except self.errors as e:
            if e.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise

    def upload_file(self, path: Path, key: str) -> None:
        """A local file to ``key`` (multipart past 8 MiB, parts in parallel)."""
        self.client.upload_file(str(path), self.name, key)

    def get(self, key: str, start: int = 0, end: int | None = None):
        """The streaming body of bytes ``[start, end)`` (``end`` None: to the end); FileNotFoundError if
        there is no object."""
        rng = {} if start == 0 and end is None else {"Range": f"bytes={start}-{'' if end is None else end - 1}"}
        try:
            return self.client.get_object(Bucket=self.name, Key=key, **rng)["Body"]
        except self.errors as e:
            if _missing(e) or e.response.get("Error", {}).get("Code") == "InvalidRange":
                raise FileNotFoundError(key) from None
            raise

    def read(self, key: str, start: int = 0, end: int | None = None) -> bytes | None:
        try:
            with self.get(key, start, end) as body:
                return body.read()
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.name, Key=key)

    def touch(self, key: str) -> None:
        """Renew an object's time (a copy onto itself on the store's side); nothing if it is gone."""
        try:
            self.client.copy_object(Bucket=self.name, Key=key, CopySource={"Bucket": self.name, "Key": key},
                                    MetadataDirective="REPLACE", Metadata={"touched": str(int(time.time()))})
        except self.errors as e:
            if not _missing(e):
                raise

    def listing(self, under: str) -> Iterator[tuple[str, int, float]]:
        """``(key relative to the prefix, size, mtime)`` of every object below ``under``."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=self.key(under))
        skip = len(self.key(""))
        for page in pages:
            for obj in page.get("Contents", ()):
                yield obj["Key"][skip:], obj["Size"], obj["LastModified"].timestamp()

    def presign(self, key: str, filename: str | None = None, byte_range: tuple[int, int] | None = None) -> str:
        """A presigned GET of ``key``, served as an attachment of opaque bytes (the store's origin is not
        the Hub's, and nothing it serves is rendered); ``filename`` percent-encoded already. With
        ``byte_range`` (first, last) the ``Range`` header is signed too: the URL serves those bytes only,
        and the client must send exactly ``Range: bytes=first-last``."""
        params = {"Bucket": self.name, "Key": key, "ResponseContentType": "application/octet-stream"}
        if byte_range is not None:
            params["Range"] = f"bytes={byte_range[0]}-{byte_range[1]}"
        if filename:
            params["ResponseContentDisposition"] = f"attachment; filename*=UTF-8''{filename}"
        return self.client.generate_presigned_url("get_object", Params=params,
                                                  ExpiresIn=self.presign_seconds)

    def abort_stale_uploads(self, max_idle: float) -> int:
        """Abort this prefix's multipart uploads started more than ``max_idle`` seconds ago; how many."""
        cutoff, n = time.time() - max_idle, 0
        for page in self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.name,
                                                                                   Prefix=self.key("")):
            for up in page.get("Uploads", ()):
                if up["Initiated"].timestamp() < cutoff:
                    try:
                        self.client.abort_multipart_upload(Bucket=self.name, Key=up["Key"], UploadId=up["UploadId"])
                        n += 1
                    except self.errors as e:
                        if not _missing(e):
                            raise
        return n


class S3Upload:
    """An LFS object streamed into a multipart upload at its final key, hashed on the way (see the
    module docstring). ``write`` only buffers; ``flush`` (off the event loop, when ``ready()``) hands a
    part to a sender thread and returns once the part before it is stored, so receiving the next part
    overlaps sending this one, with at most two parts in memory. The same surface as
    :class:`~cove.server.storage.blobs.BlobWriter`."""

    def __init__(self, bucket: S3Bucket, key: str) -> None:
        self._bucket, self._key = bucket, key
        self._pending: list[bytes] = []
        self._held = 0
        self._upload_id: str | None = None
        self._parts: list[dict] = []
        self._sender: ThreadPoolExecutor | None = None
        self._in_flight: Future | None = None
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.closed = False

    def write(self, data: bytes) -> None:
        self._pending.append(bytes(data))
        self._held += len(data)
        self.sha256.update(data)
        self.size += len(data)

    def ready(self) -> bool:
        return self._held >= PART_SIZE

    def _send(self, number: int, body: bytes) -> None:
        etag = self._bucket.client.upload_part(Bucket=self._bucket.name, Key=self._key, UploadId=self._upload_id,
                                               PartNumber=number, Body=body)["ETag"]
        self._parts.append({"PartNumber": number, "ETag": etag})

    def _wait(self) -> None:
        """Until the part in flight is stored (its error raised here)."""
        if self._in_flight is not None:
            done, self._in_flight = self._in_flight, None
            done.result()

    def flush(self) -> None:
        if not self._held:
            return
        if self._upload_id is None:
            self._upload_id = self._bucket.client.create_multipart_upload(
                Bucket=self._bucket.name, Key=self._key)["UploadId"]
            self._sender = ThreadPoolExecutor(1, thread_name_prefix="s3-part")
        body, self._pending, self._held = b"".join(self._pending), [], 0
        self._wait()
        self._in_flight = self._sender.submit(self._send, len(self._parts) + 1, body)

    def finish(self, expected_oid: str | None = None) -> str:
        """Complete the upload if its sha256 is ``expected_oid`` (required here); abort it otherwise."""
        oid = self.sha256.hexdigest()
        if oid != expected_oid:
            self.discard()
            raise Unprocessable(
                f"LFS object {expected_oid} does not match its content (sha256 {oid}, {self.size} bytes)")
        try:
            if self._upload_id is None:  # one part's worth: a single PUT, visible only once whole
                self._bucket.client.put_object(Bucket=self._bucket.name, Key=self._key, Body=b"".join(self._pending))
            else:
                self.flush()
                self._wait()
                self._bucket.client.complete_multipart_upload(
                    Bucket=self._bucket.name, Key=self._key, UploadId=self._upload_id,
                    MultipartUpload={"Parts": sorted(self._parts, key=lambda p: p["PartNumber"])})
        except BaseException:
            self.discard()
            raise
        self._stop()
        self.closed = True
        return oid

    def _stop(self) -> None:
        if self._sender is not None:
            self._sender.shutdown(wait=True)
            self._sender = None

    def discard(self) -> None:
        self._pending, self._held = [], 0
        try:
            self._wait()
        except Exception:  # noqa: BLE001 - aborted below either way
            pass
        self._stop()
        if self._upload_id is not None and not self.closed:
            upload_id, self._upload_id = self._upload_id, None
            try:
                self._bucket.client.abort_multipart_upload(Bucket=self._bucket.name, Key=self._key,
                                                           UploadId=upload_id)
            except Exception:  # noqa: BLE001 - the sweep aborts what is left
                pass
        self.closed = True


def body_blocks(body, size: int = READ_BLOCK) -> Iterator[bytes]:
    with body:
        yield from body.iter_chunks(size)


class S3PartWriter:
    """One part of a staged multipart upload: spooled to this disk as it arrives (the store wants its
    length up front and a retry must be able to resend it), then sent as that upload's part."""

    def __init__(self, staging: S3Staging, number: int, length: int) -> None:
        import tempfile

        self._staging, self.number, self.length = staging, number, length
        self._file = tempfile.TemporaryFile(dir=staging.store.tmp_dir)  # noqa: SIM115 (closed by finish/abort)
        self.written = 0

    def write(self, data: bytes) -> None:
        if self.written + len(data) > self.length:
            raise Unprocessable(f"Part {self.number} is larger than {self.length} bytes")
        self._file.write(data)
        self.written += len(data)

    def finish(self) -> str:
        """Send the part if it is whole; its ETag (blocking: call it off the event loop)."""
        try:
            if self.written != self.length:
                raise Unprocessable(f"Part {self.number} has {self.written} bytes, expected {self.length}")
            self._file.seek(0)
            bucket = self._staging.store.bucket
            try:
                etag = bucket.client.upload_part(Bucket=bucket.name, Key=self._staging.key, Body=self._file,
                                                 UploadId=self._staging.upload, PartNumber=self.number)["ETag"]
            except bucket.errors as e:
                if _missing(e):
                    raise Unprocessable("This multipart upload is no longer open: ask the batch API again") from None
                raise
            return etag.strip('"')
        finally:
            self._file.close()

    def abort(self) -> None:
        self._file.close()


class S3Staging:
    """The parts of one LFS multipart upload as a multipart upload of the store (see the module
    docstring): the same surface as :class:`~cove.server.storage.blobs.FileStaging`."""

    def __init__(self, store: S3BlobStore, name: str, size: int, upload: str) -> None:
        self.store, self.size, self.upload = store, size, upload
        self.key = store.bucket.key(f"{STAGING}{name}")
        self._assembled = False

    def part(self, number: int, offset: int, length: int) -> S3PartWriter:
        return S3PartWriter(self, number, length)

    def _parts(self) -> list[dict]:
        bucket, parts = self.store.bucket, []
        try:
            for page in bucket.client.get_paginator("list_parts").paginate(Bucket=bucket.name, Key=self.key,
                                                                           UploadId=self.upload):
                parts.extend(page.get("Parts", ()))
        except bucket.errors as e:
            if _missing(e):
                return []
            raise
        return parts

    def received(self, count: int) -> set[int]:
        return {p["PartNumber"] for p in self._parts() if 1 <= p["PartNumber"] <= count}

    def assemble(self) -> str:
        """Have the store join the parts (at the staging key, which nothing reads) and read the object
        back once: its sha256, or "" if its size is not the announced one."""
        bucket = self.store.bucket
        parts = sorted(({"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in self._parts()),
                       key=lambda p: p["PartNumber"])
        try:
            bucket.client.complete_multipart_upload(Bucket=bucket.name, Key=self.key, UploadId=self.upload,
                                                    MultipartUpload={"Parts": parts})
        except bucket.errors as e:
            if _missing(e):
                raise Unprocessable("This multipart upload is no longer open: ask the batch API again") from None
            raise
        self._assembled = True
        h, size = hashlib.sha256(), 0
        for block in body_blocks(bucket.get(self.key)):
            h.update(block)
            size += len(block)
        return h.hexdigest() if size == self.size else ""

    def publish(self, oid: str) -> None:
        """Copy the verified object to its final key, on the store's side (in parts past 5 GiB)."""
        if not self.store.exists(oid):
            bucket = self.store.bucket
            bucket.client.copy({"Bucket": bucket.name, "Key": self.key}, bucket.name, self.store._key(oid))

    def discard(self, count: int) -> None:
        bucket = self.store.bucket
        try:
            if self._assembled:
                bucket.delete(self.key)
            else:
                bucket.client.abort_multipart_upload(Bucket=bucket.name, Key=self.key, UploadId=self.upload)
        except bucket.errors as e:
            if not _missing(e):
                raise


class S3BlobStore(Blobs):
    """LFS objects in an S3 bucket (see the module docstring); the interface of
    :class:`~cove.server.storage.blobs.BlobStore`."""

    presigns: bool

    def __init__(self, settings: Settings, tmp_dir: Path, guard: RemovalLock | None = None) -> None:
        self.bucket = S3Bucket(settings)
        self.presigns = self.bucket.presigns
        self.presign_seconds = self.bucket.presign_seconds
        self.tmp_dir = tmp_dir
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.guard = guard or RemovalLock(tmp_dir.parent / ".removal.lock")

    def _key(self, oid: str) -> str:
        return self.bucket.key(f"lfs/{oid[:2]}/{oid[2:4]}/{oid}")

    def local_path(self, oid: str) -> Path | None:
        return None

    def size(self, oid: str) -> int | None:
        found = self.bucket.head(self._key(oid))
        return None if found is None else found[0]

    def receiver(self, oid: str) -> S3Upload:
        return S3Upload(self.bucket, self._key(oid))

    def adopt(self, path: Path, oid: str) -> None:
        try:
            if not self.exists(oid):
                self.bucket.upload_file(path, self._key(oid))
        finally:
            Path(path).unlink(missing_ok=True)

    def begin_staging(self, name: str, part_size: int) -> str:
        """A multipart upload of the store at the staging key ``name``; its id. Parts under S3's
        least size cannot be joined there: those are staged in files ("")."""
        if part_size < MIN_PART_SIZE:
            return ""
        return self.bucket.client.create_multipart_upload(Bucket=self.bucket.name,
                                                          Key=self.bucket.key(f"{STAGING}{name}"))["UploadId"]

    def staging(self, name: str, size: int, upload: str = ""):
        return S3Staging(self, name, size, upload) if upload else super().staging(name, size)

    def open(self, oid: str, size: int):
        key = self._key(oid)
        reader = SeekableReader(size, lambda start, end: (self.bucket.read(key, start, end) or b"",))
        return io.BufferedReader(reader, buffer_size=READ_BLOCK)

    def blocks(self, oid: str, start: int, end: int) -> Iterator[bytes]:
        if end <= start:
            return iter(())
        return body_blocks(self.bucket.get(self._key(oid), start, end))

    def presign(self, oid: str, filename: str | None = None) -> str | None:
        return self.bucket.presign(self._key(oid), filename) if self.presigns else None

    def remove(self, oid: str) -> None:
        self.bucket.delete(self._key(oid))

    def oids(self) -> Iterator[tuple[str, int, float]]:
        for name, size, mtime in self.bucket.listing("lfs/"):
            yield name.rsplit("/", 1)[-1], size, mtime

    def sweep(self, max_idle: float) -> tuple[int, int]:
        files, nbytes = sweep_dir(self.tmp_dir, max_idle)
        cutoff = time.time() - max_idle
        for name, size, mtime in list(self.bucket.listing(STAGING)):  # joined, never published (a crash)
            if mtime < cutoff:
                self.bucket.delete(self.bucket.key(name))
                files, nbytes = files + 1, nbytes + size
        return files + self.bucket.abort_stale_uploads(max_idle), nbytes


class S3ByteStore:
    """The Xet CAS's blobs in an S3 bucket (see the module docstring); the interface of
    :class:`~cove.server.storage.xet.DiskByteStore`."""

    def __init__(self, bucket: S3Bucket, tmp_dir: Path) -> None:
        from cove.server.storage.xet import check_key

        self._check = check_key
        self.bucket = bucket
        self.tmp_dir = tmp_dir
        self.presigns = bucket.presigns
        self.blocking = True

    def _key(self, key: str) -> str:
        kind, name = self._check(key)
        return self.bucket.key(f"xet/{kind}/{name[:2]}/{name}")

    def temporary(self) -> tuple[int, Path]:
        import tempfile

        fd, name = tempfile.mkstemp(dir=self.tmp_dir, prefix="xet-")
        return fd, Path(name)

    def put(self, key: str, data: bytes) -> bool:
        return self.bucket.put_new(self._key(key), data)

    def adopt(self, key: str, tmp: Path) -> bool:
        try:
            with open(tmp, "rb") as f:
                return self.bucket.put_new(self._key(key), f)
        finally:
            tmp.unlink(missing_ok=True)

    def get(self, key: str) -> bytes | None:
        return self.bucket.read(self._key(key))

    def get_range(self, key: str, start: int, end: int) -> bytes:
        return self.bucket.read(self._key(key), start, end) or b""

    def open_range(self, key: str, first: int, length: int) -> Iterator[bytes]:
        return body_blocks(self.bucket.get(self._key(key), first, first + length))

    def exists(self, key: str) -> bool:
        return self.bucket.head(self._key(key)) is not None

    def stat(self, key: str) -> tuple[int, float] | None:
        return self.bucket.head(self._key(key))

    def delete(self, key: str) -> None:
        self.bucket.delete(self._key(key))

    def touch(self, key: str) -> None:
        self.bucket.touch(self._key(key))

    def presign(self, key: str, first: int, last: int) -> str | None:
        return self.bucket.presign(self._key(key), byte_range=(first, last)) if self.presigns else None

    def entries(self, kind: str = "xorbs") -> Iterator[tuple[str, int, float]]:
        """``(key, size, mtime)`` of every stored key of ``kind`` (indexes included)."""
        for name, size, mtime in self.bucket.listing(f"xet/{kind}/"):
            yield f"{kind}/{name.rsplit('/', 1)[-1]}", size, mtime
