"""The S3 blob stores against a real S3 HTTP server (tests/s3.py), and the removal lock on PostgreSQL."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from cove.errors import Unprocessable
from cove.server.settings import Settings
from cove.server.storage.s3 import PART_SIZE, S3BlobStore, S3ByteStore
from cove.server.storage.xet import XorbStore
from tests import postgres, s3

pytestmark = pytest.mark.skipif(not s3.available(), reason=s3.missing_reason())


@pytest.fixture
def bucket():
    server = s3.shared_server()
    return server, server.create_bucket("unit")


def blob_store(bucket, tmp_path, *, presign: bool = False) -> S3BlobStore:
    server, name = bucket
    env = server.env(name, "p", presign=presign)
    return S3BlobStore(Settings.from_env({**env, "COVE_DATA_DIR": str(tmp_path)}), tmp_path / "tmp")


def test_streamed_upload_is_visible_only_when_whole_and_right(bucket, tmp_path):
    server, name = bucket
    store = blob_store(bucket, tmp_path)
    data = os.urandom(2 * PART_SIZE + 12345)
    oid = hashlib.sha256(data).hexdigest()
    up = store.receiver(oid)
    for i in range(0, len(data), 1 << 20):
        up.write(data[i:i + (1 << 20)])
        if up.ready():
            up.flush()
    assert server.uploads(name) and not store.exists(oid)  # parts sent, nothing visible yet
    assert up.finish(oid) == oid
    assert store.holds(oid, len(data)) and server.uploads(name) == []
    with store.open(oid, len(data)) as f:
        f.seek(PART_SIZE - 3)
        assert f.read(10) == data[PART_SIZE - 3:PART_SIZE + 7]
    assert b"".join(store.blocks(oid, 5, 5 + 3 * (1 << 20))) == data[5:5 + 3 * (1 << 20)]
    assert [(o, s) for o, s, _ in store.oids()] == [(oid, len(data))]
    assert store.presign(oid) is None  # not asked for

    bad = store.receiver(hashlib.sha256(b"x").hexdigest())
    bad.write(data[:PART_SIZE + 1])
    bad.flush()
    with pytest.raises(Unprocessable):
        bad.finish(hashlib.sha256(b"x").hexdigest())
    assert server.uploads(name) == [] and not store.exists(hashlib.sha256(b"x").hexdigest())
    store.remove(oid)
    assert not store.exists(oid)


def test_multipart_staging_in_the_store(bucket, tmp_path):
    """LFS multipart parts staged in the store's own multipart upload: two store objects (two replicas)
    share it through its id, the object is copied to its key only once verified, and the sweep removes
    what a crash left (an open upload, an assembled object never published)."""
    from cove.server.storage.s3 import MIN_PART_SIZE

    server, name = bucket
    one, two = blob_store(bucket, tmp_path / "a"), blob_store(bucket, tmp_path / "b")
    assert one.begin_staging("small-parts", MIN_PART_SIZE - 1) == ""  # S3 refuses to join those: a file
    data = os.urandom(2 * MIN_PART_SIZE + 10)
    oid = hashlib.sha256(data).hexdigest()
    upload = one.begin_staging("up", MIN_PART_SIZE)
    for n, store in ((2, two), (1, one), (3, two)):  # any part to any replica, any order
        part = store.staging("up", len(data), upload).part(n, (n - 1) * MIN_PART_SIZE, len(data[(n - 1) * MIN_PART_SIZE:n * MIN_PART_SIZE]))
        part.write(data[(n - 1) * MIN_PART_SIZE:n * MIN_PART_SIZE])
        assert part.finish()
    staging = one.staging("up", len(data), upload)
    assert staging.received(3) == {1, 2, 3} and not one.exists(oid)
    assert staging.assemble() == oid and not one.exists(oid)  # joined at the staging key only
    staging.publish(oid)
    staging.discard(3)
    assert two.holds(oid, len(data)) and server.sizes(name, "p/lfs-staging/") == {} and server.uploads(name) == []

    short = one.staging("short", 100, one.begin_staging("short", MIN_PART_SIZE)).part(1, 0, 100)
    short.write(b"x" * 99)
    with pytest.raises(Unprocessable):
        short.finish()
    crashed = one.staging("crashed", len(data), one.begin_staging("crashed", MIN_PART_SIZE))
    for n in (1, 2, 3):
        part = crashed.part(n, 0, len(data[(n - 1) * MIN_PART_SIZE:n * MIN_PART_SIZE]))
        part.write(data[(n - 1) * MIN_PART_SIZE:n * MIN_PART_SIZE])
        part.finish()
    crashed.assemble()  # and the Hub died before it published or discarded
    assert server.sizes(name, "p/lfs-staging/") and server.uploads(name)
    files, _ = two.sweep(0)
    assert files == 2 and server.sizes(name, "p/lfs-staging/") == {} and server.uploads(name) == []


def test_spooled_content_is_uploaded_once_verified(bucket, tmp_path):
    store = blob_store(bucket, tmp_path, presign=True)
    oid, size = store.put([b"abc", b"def"])
    assert oid == hashlib.sha256(b"abcdef").hexdigest() and size == 6
    assert list((tmp_path / "tmp").iterdir()) == []  # the spool is gone
    with pytest.raises(Unprocessable):
        store.put([b"abc"], expected_oid=oid)
    assert store.presign(oid).startswith(s3.shared_server().endpoint)


def test_byte_store_keeps_the_first_copy(bucket, tmp_path):
    server, name = bucket
    store = S3ByteStore(blob_store(bucket, tmp_path).bucket, tmp_path / "tmp")
    key = "xorbs/" + "ab" * 32
    assert store.put(key, b"first") and not store.put(key, b"second")
    assert store.get(key) == b"first" and store.get_range(key, 1, 3) == b"ir"
    assert b"".join(store.open_range(key, 1, 3)) == b"irs"
    with pytest.raises(FileNotFoundError):
        store.open_range("xorbs/" + "cd" * 32, 0, 1)
    size, mtime = store.stat(key)
    time.sleep(1.1)
    store.touch(key)
    assert size == 5 and store.stat(key)[1] > mtime
    assert [k for k, *_ in store.entries()] == [key]
    with pytest.raises(ValueError):
        store.put("../escape", b"x")
    store.delete(key)
    assert not store.exists(key) and XorbStore(store).index(bytes(32)) is None


@pytest.mark.skipif(postgres.binaries() is None, reason=postgres.missing_reason())
def test_removal_lock_is_shared_by_uploads_and_exclusive_for_removals():
    from cove.server.db import make_engine
    from cove.server.db.removal_lock import removal_lock
    from cove.server.storage.locks import RemovalLock

    engine = make_engine(postgres.shared_cluster().create_database())
    held = removal_lock(engine)
    assert held is not None  # PostgreSQL: the database's advisory lock, no file is used
    lock = RemovalLock(Path("/nonexistent/.removal.lock"), held)
    order: list[str] = []
    def removal() -> None:
        with lock(exclusive=True):
            order.append("removal")

    with lock(), lock():  # two uploads at once
        t = threading.Thread(target=removal)
        t.start()
        time.sleep(0.5)
        order.append("uploads done")
    t.join(10)
    assert order == ["uploads done", "removal"]


def test_s3_settings_from_the_environment_and_back_to_the_push_hook(tmp_path):
    env = {"COVE_DATA_DIR": str(tmp_path), "COVE_STORAGE_URL": "s3://b/p", "COVE_S3_ENDPOINT_URL": "http://h:1",
           "COVE_S3_ACCESS_KEY": "k", "COVE_S3_SECRET_KEY": "s", "COVE_S3_REGION": "r", "COVE_S3_PRESIGN": "1",
           "COVE_S3_PRESIGN_SECONDS": "60"}
    settings = Settings.from_env(env)
    assert (settings.s3_endpoint_url, settings.s3_presign, settings.s3_presign_seconds) == ("http://h:1", True, 60)
    assert "s3_secret_key" not in repr(settings)
    assert Settings.from_env(settings.storage_env()) == settings
    for name, value in (("COVE_S3_PRESIGN", "maybe"), ("COVE_S3_PRESIGN_SECONDS", "1")):
        with pytest.raises(ValueError, match=name):
            Settings.from_env({**env, name: value})
    with pytest.raises(ValueError, match="names no bucket"):
        S3BlobStore(Settings.from_env({**env, "COVE_STORAGE_URL": "s3:///p"}), tmp_path / "tmp")
