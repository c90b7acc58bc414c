"""Hub-admin API: ``GET /api/admin/audit``, the audit log as JSON lines (``application/x-ndjson``).

Query: ``since`` (ISO 8601; events at or after it), ``action`` (exact, or a prefix ending in ``*``),
``actor``, ``limit`` (default 1000, at most 10000). Lines are in time order: the first ``limit``
events from ``since``, or without it the last ``limit``; a reader that follows the log passes the
last ``time`` it saw as ``since`` and skips the ``id`` values it already has.
Anonymous callers get 401, signed-in callers who are not Hub admins 403.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cove.errors import BadRequest, Forbidden, Unauthorized
from cove.server.routes import _openapi as api
from cove.server.routes._common import hub_of, principal
from cove.server.services.audit import AuditQuery, as_json, parse_time

router = APIRouter()
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000


def audit_query(params) -> AuditQuery:
    """The filters of an audit request (API or web page)."""
    try:
        since = parse_time(params["since"]) if params.get("since") else None
    except ValueError:
        raise BadRequest(f"Invalid 'since' {params['since']!r}: use ISO 8601, e.g. 2027-01-31T12:00:00Z") from None
    return AuditQuery(since=since, action=params.get("action") or None, actor=params.get("actor") or None)


@router.get("/api/admin/audit", **api.AUDIT_LOG)
def audit_log(request: Request):
    who = principal(request)
    if who is None:
        raise Unauthorized("Reading the audit log needs an admin's token: pass Authorization: Bearer <token>")
    if not who.is_admin:
        raise Forbidden("Only Hub admins may read the audit log")
    query = audit_query(request.query_params)
    try:
        limit = int(request.query_params.get("limit") or DEFAULT_LIMIT)
    except ValueError:
        raise BadRequest("Invalid 'limit': use a number") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"Invalid 'limit' {limit}: use 1 to {MAX_LIMIT}")
    events = hub_of(request).audit.log(query, limit=limit)
    body = "".join(json.dumps(as_json(e), ensure_ascii=False) + "\n" for e in events)
    return Response(body, media_type="application/x-ndjson", headers={"Cache-Control": "no-store"})
