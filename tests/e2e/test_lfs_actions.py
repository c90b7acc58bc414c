"""The LFS action URLs the batch API signs answer a malformed body with 400, never a 500: a holder of a
signed URL (the uploading client) can send anything. (The fuzzer cannot reach these: it has no signature.)"""

from __future__ import annotations

import hashlib
import uuid

import httpx
import pytest

OID = hashlib.sha256(b"abc").hexdigest()


@pytest.fixture
def signed(hub, alice) -> str:
    """The base of a signed upload URL for ``OID`` (3 bytes): ``.../objects/{repo}/{oid}`` and its query."""
    headers = {"authorization": f"Bearer {alice}"}
    name = f"lfs-{uuid.uuid4().hex[:8]}"
    assert httpx.post(f"{hub.url}/api/repos/create", json={"name": name}, headers=headers).status_code == 200
    batch = httpx.post(f"{hub.url}/alice/{name}.git/info/lfs/objects/batch", headers=headers,
                       json={"operation": "upload", "objects": [{"oid": OID, "size": 3}]})
    assert batch.status_code == 200, batch.text
    return batch.json()["objects"][0]["actions"]["upload"]["href"]


@pytest.mark.parametrize("body", [
    {"oid": OID, "parts": [{"partNumber": 1, "etag": "a"}, {"partNumber": "2", "etag": "b"}]},
    {"oid": OID, "parts": [{"partNumber": 1, "etag": "a"}, {"etag": "b"}]},
    {"oid": OID, "parts": {"1": "a"}},
])
def test_complete_with_malformed_parts(signed, body):
    base, _, query = signed.partition("?")
    r = httpx.post(f"{base}/complete?{query}", json=body)
    assert (r.status_code, r.headers["x-error-code"]) == (400, "BadRequest"), r.text


@pytest.mark.parametrize("size", ["x", None, [3]])
def test_verify_with_a_size_that_is_not_a_number(signed, alice, size):
    base, _, query = signed.partition("?")
    r = httpx.post(f"{base}/verify?{query}", json={"oid": OID, "size": size},
                   headers={"authorization": f"Bearer {alice}"})
    assert (r.status_code, r.headers["x-error-code"]) == (400, "BadRequest"), r.text
