"""The HTTP layer without a server: error mapping (every wire class) and retries with backoff."""

from __future__ import annotations

import httpx
import pytest

import cove.hub.http as http_mod
from cove import errors
from cove.hub.http import Session, Where, error_for


@pytest.mark.parametrize("cls", [c for c in errors.BY_CODE.values() if c is not errors.CoveError])
def test_every_error_code_maps_back(cls):
    resp = httpx.Response(cls.status, headers={"X-Error-Code": cls.code, "X-Error-Message": "server says no"})
    err = error_for(resp, Where("alice/m", "model", "main", "w.bin"), "http://hub", True)
    assert type(err) is cls and err.status == cls.status and "server says no" in err.message


def test_hints_name_what_to_check():
    def err(code, status=404, token=True):
        resp = httpx.Response(status, headers={"X-Error-Code": code}, json={"error": "nope"})
        return str(error_for(resp, Where("alice/m", "dataset", "v2", "w.bin"), "http://hub", token))

    assert "ask its owner for access" in err("GatedRepo", 403)
    assert "dataset repo 'alice/m'" in err("RepoNotFound") and "your token's account may read it" in err("RepoNotFound")
    assert "none was sent" in err("RepoNotFound", token=False)
    assert "'v2'" in err("RevisionNotFound") and "'w.bin'" in err("EntryNotFound")
    assert err("EntryNotFound").startswith("nope")
    assert isinstance(error_for(httpx.Response(404, text="plain"), Where(), "http://hub", True), errors.RepoNotFound)


def _session(handler, monkeypatch) -> tuple[Session, list]:
    slept: list[float] = []
    monkeypatch.setattr(http_mod.time, "sleep", slept.append)
    s = Session("http://hub", "tok", retries=3)
    s.client = httpx.Client(transport=httpx.MockTransport(handler))
    return s, slept


def test_transient_errors_are_retried_with_backoff(monkeypatch):
    calls = []

    def handler(request):
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("refused")
        if len(calls) == 2:
            return httpx.Response(503)
        if len(calls) == 3:
            return httpx.Response(429, headers={"Retry-After": "7"})
        return httpx.Response(200, json={"name": "alice"})

    s, slept = _session(handler, monkeypatch)
    assert s.request("GET", "/api/whoami-v2").json() == {"name": "alice"}
    assert len(calls) == 4 and calls[0].headers["authorization"] == "Bearer tok"
    assert slept[2] == 7.0 and 0.3 < slept[0] < slept[1] < 2


def test_retries_give_up_and_raise(monkeypatch):
    s, slept = _session(lambda r: httpx.Response(502, headers={"X-Error-Code": "InternalError"}), monkeypatch)
    with pytest.raises(errors.CoveError) as e:
        s.request("GET", "/x")
    assert e.value.status == 502 and len(slept) == 3


def test_client_errors_are_not_retried(monkeypatch):
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(404, headers={"X-Error-Code": "RepoNotFound"})

    s, slept = _session(handler, monkeypatch)
    with pytest.raises(errors.RepoNotFound):
        s.request("GET", "/api/models/a/b")
    assert len(calls) == 1 and slept == []


def test_pagination_follows_link(monkeypatch):
    def handler(request):
        if "cursor" in str(request.url):
            return httpx.Response(200, json=[3])
        return httpx.Response(200, json=[1, 2], headers={"Link": '<http://hub/api/models?cursor=2>; rel="next"'})

    s, _ = _session(handler, monkeypatch)
    assert list(s.paginate("/api/models")) == [1, 2, 3]
    assert list(s.paginate("/api/models", limit=2)) == [1, 2]
