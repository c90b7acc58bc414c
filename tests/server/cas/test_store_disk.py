"""The Hub's xorb files (``cove.server.storage.xet``): a received xorb written with ``writev`` from
the received pieces, and fetch ranges served from memory maps, byte for byte."""

from __future__ import annotations

import hashlib

import pytest

from cove.server.cas.errors import InvalidXetData
from cove.server.cas.store import xorb_key
from cove.server.cas.xorb import serialize_xorb
from cove.server.storage import xet as storage
from cove.server.storage.xet import DiskByteStore, XorbStore, mapped_range


@pytest.fixture
def disk(tmp_path) -> DiskByteStore:
    (tmp_path / "tmp").mkdir()
    return DiskByteStore(tmp_path / "xet", tmp_path / "tmp")


def test_pieces_of_every_size_arrive_whole(disk, monkeypatch):
    monkeypatch.setattr(storage, "READ_BLOCK", 4096)  # many flushes
    data = hashlib.shake_256(b"pieces").digest(300_000)
    upload = XorbStore(disk).upload()
    sizes = [1] * 2000 + [7, 4096, 65536, 1]  # more pieces than one writev takes, and large ones
    pos = 0
    for n in sizes * 10:
        if pos >= len(data):
            break
        upload.write(data[pos:pos + n])
        pos += n
    upload.write(data[pos:])
    upload.close()
    assert upload.path.read_bytes() == data
    upload.discard()
    assert not upload.path.exists()


def test_an_oversized_xorb_is_refused_and_leaves_nothing(disk, monkeypatch):
    monkeypatch.setattr(storage, "MAX_XORB_BODY", 10)
    upload = XorbStore(disk).upload()
    upload.write(b"x" * 10)
    with pytest.raises(InvalidXetData):
        upload.write(b"y")
    upload.discard()
    assert not upload.path.exists()


def test_a_received_xorb_is_verified_and_kept(disk):
    chunks = [hashlib.shake_256(bytes([i])).digest(20_000 + i) for i in range(5)]
    body, index = serialize_xorb(chunks)
    store = XorbStore(disk)
    upload = store.upload()
    for i in range(0, len(body), 999):
        upload.write(body[i:i + 999])
    kept, inserted = store.put_upload(index.hash, upload)
    assert inserted and kept.hash == index.hash
    assert disk.get(xorb_key(index.hash)) == body and not upload.path.exists()


@pytest.mark.parametrize("first,length", [(0, 1), (0, 300_000), (4095, 2), (5000, 200_000), (299_999, 1)])
def test_mapped_ranges_are_exact(tmp_path, monkeypatch, first, length):
    monkeypatch.setattr(storage, "SEND_WINDOW", 64 * 1024)  # several windows, not page aligned
    data = hashlib.shake_256(b"mapped").digest(300_000)
    path = tmp_path / "x"
    path.write_bytes(data)
    views = list(mapped_range(path, first, length))
    assert all(len(v) <= 64 * 1024 for v in views)
    assert b"".join(views) == data[first:first + length]


def test_a_range_past_the_file_is_not_found(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"abc")
    with pytest.raises(FileNotFoundError):
        mapped_range(path, 1, 3)
    with pytest.raises(FileNotFoundError):
        mapped_range(tmp_path / "missing", 0, 1)
