"""The access requests of a gated repo (its admins only): list them by status, handle one, grant
access. Who may read a gated repo's files is decided by ``Repos.get(..., "content")``."""

from __future__ import annotations

from fastapi import APIRouter, Request

from cove.protocol import iso_z
from cove.server.routes import _openapi as api
from cove.server.routes._audit import record_repo
from cove.server.routes._common import JsonBody, api_type, cursor_of, hub_of, page_response, principal

router = APIRouter(tags=["gating"])


@router.get("/api/{rtype}/{ns}/{name}/user-access-request/{status}", **api.ACCESS_REQUESTS)
def list_requests(rtype: str, ns: str, name: str, status: str, request: Request):
    hub = hub_of(request)
    rows = hub.access_requests.list(principal(request), api_type(rtype), f"{ns}/{name}", status)
    offset, size = cursor_of(request), hub.settings.page_size
    items = []
    for row, user in rows[offset: offset + size]:
        person = {"user": user.name, "fullname": user.fullname or user.name}
        if not row.granted and user.email:  # the requester shared it by asking; a grant shares nothing
            person["email"] = user.email
        items.append({"requestId": row.oid, "user": person, "status": row.status,
                      "timestamp": iso_z(row.updated_at), "fields": row.fields or {}})
    return page_response(request, items, offset + size, offset + size < len(rows))


@router.post("/api/{rtype}/{ns}/{name}/user-access-request/handle", **api.HANDLE_ACCESS_REQUEST)
def handle_request(rtype: str, ns: str, name: str, request: Request, body: JsonBody):
    hub = hub_of(request)
    hub.access_requests.handle(principal(request), api_type(rtype), f"{ns}/{name}", user=body.get("user"),
                               request_id=body.get("requestId"), status=body.get("status"),
                               reason=body.get("rejectionReason"))
    record_repo(request, "repo.access", api_type(rtype), f"{ns}/{name}",
                {"user": body.get("user") or body.get("requestId"), "status": body.get("status")})
    return {}


@router.post("/api/{rtype}/{ns}/{name}/user-access-request/grant", **api.GRANT_ACCESS)
def grant_access(rtype: str, ns: str, name: str, request: Request, body: JsonBody):
    hub = hub_of(request)
    hub.access_requests.grant(principal(request), api_type(rtype), f"{ns}/{name}", body.get("user"))
    record_repo(request, "repo.access", api_type(rtype), f"{ns}/{name}", {"user": body.get("user"),
                                                                         "status": "accepted"})
    return {}
