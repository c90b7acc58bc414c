"""Webhooks (hub-community-spaces.md §5.1): the token owner's webhooks through the stock client
(``create_webhook``, ``list_webhooks``, ``get_webhook``, ``update_webhook``, ``enable_webhook``,
``disable_webhook``, ``delete_webhook``), their delivery log (Cove's own routes); the pages
that show both are in :mod:`cove.server.routes.web_webhooks`.

Every answer wraps the webhook as ``{"webhook": ...}`` except the list, which is bare, as on the Hub.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from cove.errors import BadRequest
from cove.protocol import is_digits, iso_z
from cove.server.routes import _openapi as api
from cove.server.routes._common import JsonBody, base_url, hub_of, principal

router = APIRouter(tags=["webhooks"])

WATCHED = api.array(api.obj("type", "name", type={"enum": ["user", "org", "model", "dataset", "space"]},
                            name=api.STR))
WEBHOOK = api.obj("webhook", webhook=api.obj("id", "watched", "domains", "disabled", id=api.STR, url=api.STR,
                                             watched=WATCHED, domains=api.array(api.STR), secret=api.STR,
                                             disabled=api.BOOL))
BODY = api.json_request(api.obj("watched", url=api.STR, watched=WATCHED, domains=api.array(api.STR),
                                secret=api.STR))
DELIVERY = api.obj("id", "event", "status", id=api.STR, event=api.STR, status={"enum": ["pending", "delivered",
                   "failed"]}, attempts=api.INT, responseStatus=api.INT, latencyMs=api.INT,
                   responseExcerpt=api.STR, createdAt=api.DATE, nextAttemptAt=api.DATE, payload=api.ANY)
LIST = api.doc(ok={200: api.json_ok(api.array(WEBHOOK["properties"]["webhook"]), "the caller's webhooks")},
               errors=(401,))
GET = api.doc(ok={200: api.json_ok(WEBHOOK)}, errors=(401, 404))
CREATE = api.doc(ok={200: api.json_ok(WEBHOOK)}, errors=(400, 401, 403, 404, 413), body=BODY)
UPDATE = api.doc(ok={200: api.json_ok(WEBHOOK)}, errors=(400, 401, 403, 404, 413), body=BODY)
TOGGLE = api.doc(ok={200: api.json_ok(WEBHOOK)}, errors=(401, 403, 404))
DELETE = api.doc(ok={200: api.json_ok(api.EMPTY)}, errors=(401, 403, 404))
DELIVERIES = api.doc(ok={200: api.json_ok(api.array(DELIVERY), "the most recent deliveries, newest first")},
                     errors=(400, 401, 404), params=[api.query("limit", api.INT, "at most this many (500)")])
REPLAY = api.doc(ok={200: api.json_ok(DELIVERY, "the new delivery")}, errors=(401, 403, 404))


def webhook_json(view) -> dict:
    hook = view.hook
    return {"id": hook.oid, "url": hook.url, "watched": [{"type": k, "name": n} for k, n in view.watched],
            "domains": list(hook.domains), "secret": hook.secret or None, "disabled": hook.disabled, "job": None}


def delivery_json(row, *, payload: bool = True) -> dict:
    out = {"id": row.oid, "event": row.event, "status": row.status, "attempts": row.attempts,
           "responseStatus": row.response_status, "latencyMs": row.latency_ms,
           "responseExcerpt": row.response_excerpt, "createdAt": iso_z(row.created_at),
           "nextAttemptAt": iso_z(row.next_at) if row.status == "pending" else None}
    if payload:
        out["payload"] = row.payload
    return out


def _hub_urls(request: Request) -> tuple[str, ...]:
    return base_url(request), str(request.base_url)


@router.get("/api/settings/webhooks", **LIST)
def list_webhooks(request: Request):
    return [webhook_json(v) for v in hub_of(request).webhooks.list(principal(request))]


def _url_only(body: dict) -> None:
    """huggingface_hub may name a Job to start instead of a URL (``jobSourceId``, ``secrets``): refused
    with a reason rather than ignored, since this Hub runs no Jobs."""
    if "jobSourceId" in body or "secrets" in body:
        raise BadRequest("Webhooks that start a Job are not available on this Hub (it runs no Jobs): give a 'url'")


@router.post("/api/settings/webhooks", **CREATE)
def create_webhook(request: Request, body: JsonBody):
    _url_only(body)
    view = hub_of(request).webhooks.create(principal(request), url=body.get("url"), watched=body.get("watched"),
                                           domains=body.get("domains"), secret=body.get("secret"),
                                           hub_urls=_hub_urls(request))
    return {"webhook": webhook_json(view)}


@router.get("/api/settings/webhooks/{oid}", **GET)
def get_webhook(oid: str, request: Request):
    return {"webhook": webhook_json(hub_of(request).webhooks.get(principal(request), oid))}


@router.post("/api/settings/webhooks/{oid}", **UPDATE)
def update_webhook(oid: str, request: Request, body: JsonBody):
    _url_only(body)
    view = hub_of(request).webhooks.update(principal(request), oid, url=body.get("url"),
                                           watched=body.get("watched"), domains=body.get("domains"),
                                           secret=body.get("secret"), hub_urls=_hub_urls(request))
    return {"webhook": webhook_json(view)}


@router.post("/api/settings/webhooks/{oid}/enable", **TOGGLE)
def enable_webhook(oid: str, request: Request):
    return {"webhook": webhook_json(hub_of(request).webhooks.set_disabled(principal(request), oid, False))}


@router.post("/api/settings/webhooks/{oid}/disable", **TOGGLE)
def disable_webhook(oid: str, request: Request):
    return {"webhook": webhook_json(hub_of(request).webhooks.set_disabled(principal(request), oid, True))}


@router.delete("/api/settings/webhooks/{oid}", **DELETE)
def delete_webhook(oid: str, request: Request):
    hub_of(request).webhooks.delete(principal(request), oid)
    return {}


@router.get("/api/settings/webhooks/{oid}/deliveries", **DELIVERIES)
def deliveries(oid: str, request: Request):
    limit = request.query_params.get("limit", "50")
    if not is_digits(limit):
        raise BadRequest("'limit' must be a number")
    rows = hub_of(request).webhooks.deliveries(principal(request), oid, limit=int(limit))
    return [delivery_json(r) for r in rows]


@router.post("/api/settings/webhooks/{oid}/deliveries/{delivery}/replay", **REPLAY)
def replay(oid: str, delivery: str, request: Request):
    return delivery_json(hub_of(request).webhooks.redeliver(principal(request), oid, delivery))
