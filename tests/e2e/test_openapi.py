"""The OpenAPI schema at ``/api/openapi.json``: valid OpenAPI 3.1, and complete. Every API route of the
app is in it with its parameters, its request body where it reads one, and the statuses it answers,
errors with their ``X-Error-Code``; only the web UI's pages are left out. (``test_fuzz.py`` holds the
server to what the schema says.)"""

from __future__ import annotations

from collections import Counter

import httpx
from openapi_spec_validator import validate

from cove.server.app import create_app
from cove.server.routes._openapi import routes_of
from cove.server.routes.web import WebRoute
from cove.server.settings import Settings

#: A like carries no body; the Hub's repo deletion is a DELETE with a JSON body.
BODYLESS = {("post", "/api/{rtype}/{ns}/{name}/like"), ("post", "/api/{rtype}/{ns}/{name}/discussions/{num}/comment/{cid}/hide"),
            ("post", "/api/settings/webhooks/{oid}/enable"), ("post", "/api/settings/webhooks/{oid}/disable"),
            ("post", "/api/settings/webhooks/{oid}/deliveries/{delivery}/replay"),
            ("post", "/api/spaces/{ns}/{name}/restart"), ("post", "/api/spaces/{ns}/{name}/pause")}
BODY_ON_DELETE = {("delete", "/api/repos/delete"), ("delete", "/api/spaces/{ns}/{name}/secrets"),
                  ("delete", "/api/spaces/{ns}/{name}/variables")}
#: Answers that cannot fail.
NO_ERRORS = {("get", "/api/agent-harnesses"), ("get", "/api/spaces/hardware")}


def test_served_schema_is_valid(hub):
    response = httpx.get(f"{hub.url}/api/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    validate(schema)  # raises on the first error, with its path in the schema
    ids = Counter(op["operationId"] for item in schema["paths"].values() for op in item.values())
    assert [i for i, n in ids.items() if n > 1] == []


def test_every_api_route_is_described(tmp_path):
    app = create_app(Settings(data_dir=tmp_path))
    schema = app.openapi()
    described = 0
    for route in routes_of(app):
        if not route.include_in_schema:
            assert isinstance(getattr(route, "original_route", route), WebRoute), f"{route.path} is not described"
            continue
        for method in (m.lower() for m in route.methods):
            op = schema["paths"][route.path_format][method]
            where = f"{method.upper()} {route.path_format}"
            statuses = set(op["responses"])
            assert statuses and statuses <= {str(s) for s in range(200, 600)}, where
            assert any(s[0] in "45" for s in statuses) or (method, route.path_format) in NO_ERRORS, where
            if method in ("post", "put", "patch") and (method, route.path_format) not in BODYLESS or \
                    (method, route.path_format) in BODY_ON_DELETE:
                assert op.get("requestBody", {}).get("content"), f"{where} declares no request body"
            else:
                assert "requestBody" not in op, f"{where} declares a body it does not read"
            for status, answer in op["responses"].items():
                if method == "head":
                    assert "content" not in answer, f"{where} {status}: a HEAD answer has no body"
                elif status[0] in "45" and "application/json" in answer.get("content", {}):
                    assert "X-Error-Code" in answer.get("headers", {}), f"{where} {status}: no X-Error-Code"
            described += 1
    assert described == sum(len(item) for item in schema["paths"].values()) >= 60
