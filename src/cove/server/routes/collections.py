"""Collections (``/api/collections``), in the shapes huggingface_hub's collection methods read: a
collection answers with its slug, owner and items; an update wraps it in ``data``; list pages carry
no ``position`` (the client passes its own)."""

from __future__ import annotations

import html

from fastapi import APIRouter, Request

from cove.errors import BadRequest
from cove.protocol import iso_z
from cove.server.routes import _openapi_collections as api
from cove.server.routes._common import JsonBody, cursor_of, hub_of, page_response, principal
from cove.server.services.collections import View

router = APIRouter(tags=["collections"])


def collection_json(view: View, *, position: bool = True) -> dict:
    row, owner = view.row, view.owner
    items = []
    for it in view.items:
        item: dict = {"_id": it.oid, "id": it.id, "type": it.type, "position": it.position}
        if it.slug is not None:
            item["slug"] = it.slug
        if it.note is not None:
            item["note"] = {"text": it.note, "html": html.escape(it.note)}
        items.append(item)
    out = {"slug": view.slug, "title": row.title, "description": row.description,
           "owner": {"name": owner.name, "fullname": owner.fullname or owner.name,
                     "type": "org" if owner.kind == "org" else "user"},
           "items": items, "lastUpdated": iso_z(row.updated_at), "private": row.private, "theme": row.theme,
           "upvotes": 0, "isUpvotedByUser": False}
    if position:
        out["position"] = row.position
    return out


@router.get("/api/collections", **api.LIST_COLLECTIONS)
def list_collections(request: Request):
    hub = hub_of(request)
    q = request.query_params
    page_size = hub.settings.page_size
    try:
        limit = min(int(q.get("limit") or page_size), page_size)
    except ValueError:
        raise BadRequest("Invalid limit") from None
    if limit < 1:
        raise BadRequest("Invalid limit")
    offset = cursor_of(request)
    views, more = hub.collections.list(principal(request), owners=q.getlist("owner"), items=q.getlist("item"),
                                       sort=q.get("sort"), offset=offset, limit=limit)
    return page_response(request, [collection_json(v, position=False) for v in views], offset + limit, more)


@router.post("/api/collections", **api.CREATE_COLLECTION)
def create_collection(request: Request, body: JsonBody):
    hub = hub_of(request)
    view = hub.collections.create(principal(request), body.get("namespace"), body.get("title"),
                                  description=body.get("description"), private=body.get("private", False))
    return collection_json(view)


@router.get("/api/collections/{ns}/{slug}", **api.GET_COLLECTION)
def get_collection(ns: str, slug: str, request: Request):
    return collection_json(hub_of(request).collections.get(principal(request), f"{ns}/{slug}"))


@router.patch("/api/collections/{ns}/{slug}", **api.UPDATE_COLLECTION)
def update_collection(ns: str, slug: str, request: Request, body: JsonBody):
    return {"data": collection_json(hub_of(request).collections.update(principal(request), f"{ns}/{slug}", body))}


@router.delete("/api/collections/{ns}/{slug}", **api.DELETE_COLLECTION)
def delete_collection(ns: str, slug: str, request: Request):
    hub_of(request).collections.delete(principal(request), f"{ns}/{slug}")
    return {}


@router.post("/api/collections/{ns}/{slug}/items", **api.ADD_COLLECTION_ITEM)
def add_item(ns: str, slug: str, request: Request, body: JsonBody):
    view = hub_of(request).collections.add_item(principal(request), f"{ns}/{slug}", body.get("item"),
                                                body.get("note"))
    return collection_json(view)


@router.patch("/api/collections/{ns}/{slug}/items/{item_oid}", **api.UPDATE_COLLECTION_ITEM)
def update_item(ns: str, slug: str, item_oid: str, request: Request, body: JsonBody):
    hub_of(request).collections.update_item(principal(request), f"{ns}/{slug}", item_oid, body)
    return {}


@router.delete("/api/collections/{ns}/{slug}/items/{item_oid}", **api.DELETE_COLLECTION_ITEM)
def delete_item(ns: str, slug: str, item_oid: str, request: Request):
    hub_of(request).collections.delete_item(principal(request), f"{ns}/{slug}", item_oid)
    return {}
