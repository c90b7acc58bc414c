"""Shared data of the CAS core tests: the spec's 1,000,000-byte test file D (§11) and its chunks."""

from __future__ import annotations

import hashlib
import io

import pytest

from cove.server.cas.chunker import iter_chunks


@pytest.fixture(scope="session")
def data_d() -> bytes:
    return hashlib.shake_256(b"cove-xet-test").digest(1_000_000)


@pytest.fixture(scope="session")
def chunks_d(data_d) -> list[bytes]:
    return list(iter_chunks(io.BytesIO(data_d)))
