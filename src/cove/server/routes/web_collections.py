"""Collection pages: ``/collections/{ns}`` lists the namespace's collections the viewer may see, and
``/collections/{ns}/{slug}`` shows one with its items in order, their notes and links. Read-only: owners
change collections through the API (``/api/collections``). A private collection is a 404 page to
whoever may not see it, as the API answers.

Registered before the repo pages, whose model card route ``/{ns}/{name}`` would match ``/collections/x``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from cove.errors import BadRequest
from cove.server.routes._common import hub_of, principal
from cove.server.routes.web import PAGE, WebRoute, not_found, render

router = APIRouter(route_class=WebRoute, include_in_schema=False)


@router.get("/collections/{ns}", response_class=HTMLResponse)
def namespace_collections(ns: str, request: Request):
    hub = hub_of(request)
    account = hub.accounts.get(ns)
    if account is None:
        raise not_found(f"No user or organization named {ns!r}")
    try:
        offset = max(0, int(request.query_params.get("offset") or 0))
    except ValueError:
        raise BadRequest("Invalid offset") from None
    views, more = hub.collections.list(principal(request), owners=[account.name], items=[], sort=None,
                                       offset=offset, limit=PAGE)
    return render(request, "collections.html", account=account, views=views, offset=offset, more=more, page=PAGE)


@router.get("/collections/{ns}/{slug}", response_class=HTMLResponse)
def collection(ns: str, slug: str, request: Request):
    view = hub_of(request).collections.get(principal(request), f"{ns}/{slug}")
    return render(request, "collection.html", view=view)
