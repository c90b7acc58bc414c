"""The streaming commit-body parser: every chunking of the same body gives the same operations."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os

import pytest

from cove.errors import BadRequest, Unprocessable
from cove.protocol import DeleteFile, DeleteFolder
from cove.server.services.ndjson import NewFile, parse_commit
from cove.server.storage.blobs import BlobStore


def parse(body: bytes, store: BlobStore, chunk: int):
    async def gen():
        for i in range(0, len(body), chunk):
            yield body[i:i + chunk]

    return asyncio.run(parse_commit(gen(), store, 1 << 40))


def line(obj) -> bytes:
    return json.dumps(obj).encode() + b"\n"


@pytest.fixture
def store(tmp_path):
    return BlobStore(f"file://{tmp_path}")


BIG = os.urandom(900_000)  # over SPOOL_AT once base64-encoded: streamed or spooled, never parsed whole
SMALL = b"small file\n"


def body(escape_slashes=False, reorder=False) -> bytes:
    content = base64.b64encode(BIG).decode()
    big_value = {"path": "big.bin", "content": content, "encoding": "base64"} if reorder else \
        {"content": content, "path": "dir/big.bin", "encoding": "base64"}
    text = line({"key": "header", "value": {"summary": "s", "description": "d", "parentCommit": "abcdef"}})
    text += line({"key": "file", "value": {"content": base64.b64encode(SMALL).decode(), "path": "a.txt",
                                           "encoding": "base64"}})
    big = line({"key": "file", "value": big_value})
    if escape_slashes:
        big = big.replace(b"/", b"\\/")
    return (text + big + line({"key": "deletedFile", "value": {"path": "old.txt"}})
            + line({"key": "deletedFolder", "value": {"path": "old/"}}))


@pytest.mark.parametrize("chunk", [7, 4093, 65536, 1 << 30])
@pytest.mark.parametrize("variant", [{}, {"escape_slashes": True}, {"reorder": True}])
def test_same_result_for_any_chunking(store, chunk, variant):
    data = body(**variant)
    parsed = parse(data, store, chunk)
    assert (parsed.summary, parsed.description, parsed.parent_commit) == ("s", "d", "abcdef")
    small, big, deleted, folder = parsed.ops
    assert isinstance(small, NewFile) and small.path == "a.txt" and small.read() == SMALL
    assert isinstance(big, NewFile) and big.path.endswith("big.bin") and big.size == len(BIG)
    assert hashlib.sha256(big.read()).hexdigest() == hashlib.sha256(BIG).hexdigest()
    if chunk < len(data):  # streamed: decoded into a hashing temporary file, never held whole
        assert big.writer is not None and big.writer.sha256.hexdigest() == hashlib.sha256(BIG).hexdigest()
    assert deleted == DeleteFile("old.txt") and folder == DeleteFolder("old")
    parsed.discard()
    assert list((store.tmp_dir).iterdir()) == []


@pytest.mark.parametrize("bad", [
    lambda b: b.replace(b'"content": "', b'"content": "!!', 1),  # the small file
    lambda b: b[: len(b) // 2],  # cut inside the big file
    lambda b: b.replace(b'"path": "dir/big.bin"', b'"path": "../x"'),
])
def test_errors_leave_no_temporary_files(store, bad):
    with pytest.raises((BadRequest, Unprocessable)):  # a path the Hub will not store: 422
        parse(bad(body()), store, 65536)
    assert list(store.tmp_dir.iterdir()) == []
