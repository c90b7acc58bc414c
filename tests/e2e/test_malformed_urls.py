"""URLs no client sends answer 400 BadRequest, never a 500: a revision or path that is not UTF-8 once
percent-decoded, a listing cursor whose offset is not a finite number."""

from __future__ import annotations

import base64
import uuid

import httpx
import pytest


@pytest.fixture(scope="module")
def repo(hub, alice) -> str:
    name = f"urls-{uuid.uuid4().hex[:8]}"
    r = httpx.post(f"{hub.url}/api/repos/create", json={"name": name},
                   headers={"authorization": f"Bearer {alice}"})
    assert r.status_code == 200, r.text
    return f"alice/{name}"


@pytest.mark.parametrize("tail", ["/resolve/main/%FF", "/tree/%FF", "/blob/main/%ED%A0%80"])
def test_a_path_that_is_not_utf8_is_a_bad_request(hub, repo, tail):
    r = httpx.get(f"{hub.url}/{repo}{tail}")
    assert r.status_code == 400, r.text


@pytest.mark.parametrize("tail", ["/revision/%FF", "/tree/main/%FF", "/commits/%C3"])
def test_an_api_revision_that_is_not_utf8_is_a_bad_request(hub, repo, tail):
    r = httpx.get(f"{hub.url}/api/models/{repo}{tail}")
    assert (r.status_code, r.headers["x-error-code"]) == (400, "BadRequest"), r.text


def test_a_cursor_past_any_number_is_a_bad_request(hub):
    cursor = base64.urlsafe_b64encode(b'{"o": 1e400}').decode()
    r = httpx.get(f"{hub.url}/api/models", params={"cursor": cursor})
    assert (r.status_code, r.headers["x-error-code"]) == (400, "BadRequest"), r.text
