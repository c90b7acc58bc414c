"""Every error class crosses the wire and comes back as itself."""

from __future__ import annotations

import pytest

from cove import errors


@pytest.mark.parametrize("cls", sorted(set(errors.BY_CODE.values()), key=lambda c: c.code))
def test_round_trip(cls):
    pytest.importorskip("fastapi")
    from cove.server.routes._common import error_response

    resp = error_response(cls("something went wrong: check the id"))
    assert resp.status_code == cls.status
    assert resp.headers["x-error-code"] == cls.code
    back = errors.from_response(resp.status_code, resp.headers["x-error-code"], "something went wrong: check the id")
    assert type(back) is cls
    assert back.message == "something went wrong: check the id"


def test_codes_are_unique_and_documented():
    classes = list(errors.BY_CODE.values())
    assert len({c.code for c in classes}) == len(classes)
    for c in classes:
        assert c.__doc__ and "Example" in c.__doc__ or c is errors.CoveError, c


def test_unknown_code_falls_back_to_status():
    assert type(errors.from_response(404, None, "x")) is errors.RepoNotFound
    assert type(errors.from_response(400, "Weird", "x")) is errors.BadRequest
    assert type(errors.from_response(502, None, "x")) is errors.CoveError
