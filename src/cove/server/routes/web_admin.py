"""The ``/settings/audit`` page: the audit log as a table, newest first, 50 events a page, filtered by
action and actor. Only Hub admins see it; to everyone else it is a 404 page, as if it did not exist.

It lives under ``/settings``, a reserved name, so it can never shadow a repo page.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from cove.errors import BadRequest
from cove.server.routes._common import hub_of
from cove.server.routes.admin import audit_query
from cove.server.routes.web import WebRoute, not_found, render, signed_in

router = APIRouter(route_class=WebRoute, include_in_schema=False)
PAGE = 50


@router.get("/settings/audit", response_class=HTMLResponse)
def audit_page(request: Request):
    who = signed_in(request)
    if who is None or not who.is_admin:
        raise not_found("Nothing at /settings/audit")
    query = audit_query(request.query_params)
    try:
        offset = max(0, int(request.query_params.get("offset") or 0))
    except ValueError:
        raise BadRequest("Invalid offset") from None
    events, more = hub_of(request).audit.page(query, offset=offset, limit=PAGE)
    rows = [(e, json.dumps(e.detail, ensure_ascii=False, sort_keys=True) if e.detail else "") for e in events]
    response = render(request, "admin_audit.html", rows=rows, offset=offset, more=more, page=PAGE,
                      action=query.action or "", actor=query.actor or "")
    response.headers["Cache-Control"] = "no-store"
    return response
