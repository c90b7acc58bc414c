"""The owner's webhook pages: ``/settings/webhooks`` (their webhooks) and ``/settings/webhooks/{id}`` (its
delivery log: status, HTTP answer, latency, the start of the answer; a replay button)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from cove.server.routes._common import hub_of
from cove.server.routes.web import WebRoute, checked_form, render, signed_in
from cove.server.routes.webhooks import delivery_json

router = APIRouter(route_class=WebRoute, include_in_schema=False)


@router.get("/settings/webhooks", response_class=HTMLResponse)
def webhooks_page(request: Request):
    who = signed_in(request)
    if who is None:
        return RedirectResponse("/login?next=/settings/webhooks", status_code=303)
    hooks = hub_of(request).webhooks.list(who)
    response = render(request, "webhooks.html", hooks=hooks, hook=None, deliveries=[])
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/settings/webhooks/{oid}", response_class=HTMLResponse)
def webhook_page(oid: str, request: Request):
    who = signed_in(request)
    if who is None:
        return RedirectResponse(f"/login?next=/settings/webhooks/{oid}", status_code=303)
    hub = hub_of(request)
    view = hub.webhooks.get(who, oid)
    rows = hub.webhooks.deliveries(who, oid, limit=100)
    response = render(request, "webhooks.html", hooks=[], hook=view,
                      deliveries=[delivery_json(r, payload=False) for r in rows])
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/settings/webhooks/{oid}/deliveries/{delivery}/replay")
async def replay_form(oid: str, delivery: str, request: Request):
    await checked_form(request)
    who = signed_in(request)
    if who is None:
        return RedirectResponse(f"/login?next=/settings/webhooks/{oid}", status_code=303)
    hub_of(request).webhooks.redeliver(who, oid, delivery)
    return RedirectResponse(f"/settings/webhooks/{oid}", status_code=303)
