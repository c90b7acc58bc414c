"""The collection routes' OpenAPI descriptions (routes/collections.py), built with the helpers of
:mod:`cove.server.routes._openapi`."""

from __future__ import annotations

from cove.server.routes._openapi import (
    BOOL,
    CURSOR,
    DATE,
    EMPTY,
    INT,
    LINK,
    STR,
    array,
    doc,
    json_ok,
    json_request,
    obj,
    query,
)

COLLECTION_ITEM = obj("_id", "id", "type", "position", _id=STR, id=STR, position=INT,
                      type={"enum": ["model", "dataset", "space", "collection"]},
                      slug={"type": "string", "description": "collection items: the collection's slug"},
                      note=obj("text", "html", text=STR, html=STR))
COLLECTION_FIELDS = dict(slug=STR, title=STR, description={"type": ["string", "null"]},
                         owner=obj("name", "type", name=STR, fullname=STR, type={"enum": ["user", "org"]}),
                         items=array(COLLECTION_ITEM), lastUpdated=DATE, private=BOOL, theme=STR, upvotes=INT)
COLLECTION = obj("slug", "title", "owner", "items", "lastUpdated", "position", "private", "theme", "upvotes",
                 position=INT, **COLLECTION_FIELDS)
COLLECTION_OK = {200: json_ok(COLLECTION)}
LIST_COLLECTIONS = doc(
    ok={200: json_ok(array(obj("slug", "title", "owner", "items", "lastUpdated", "private", "theme", "upvotes",
                               **COLLECTION_FIELDS)),
                     "collections the caller may see, with their first 4 items (no position)", headers=LINK)},
    errors=(400, 401, 404), params=[
        query("owner", STR, "only these owners' collections (repeatable)"),
        query("item", STR, "only collections holding this repo: models/ns/name, datasets/..., spaces/... (repeatable)"),
        query("sort", {"enum": ["lastModified", "trending", "upvotes"]}, "the order (all: last changed first)"),
        query("limit", INT, "at most this many (and at most a page)"), CURSOR])
CREATE_COLLECTION = doc(ok=COLLECTION_OK, errors=(400, 401, 403, 413), body=json_request(obj(
    "title", "namespace", title=STR, namespace=STR, private=BOOL, description=STR)))
GET_COLLECTION = doc(ok=COLLECTION_OK, errors=(400, 401, 404))
UPDATE_COLLECTION = doc(ok={200: json_ok(obj("data", data=COLLECTION))}, errors=(400, 401, 403, 404, 413),
                        body=json_request(obj(title=STR, description=STR, private=BOOL, position=INT,
                                              theme={"enum": ["orange", "blue", "green", "purple", "pink", "indigo"]})))
DELETE_COLLECTION = doc(ok={200: json_ok(EMPTY)}, errors=(400, 401, 403, 404))
ADD_COLLECTION_ITEM = doc(ok=COLLECTION_OK, errors=(400, 401, 403, 404, 409, 413), body=json_request(obj(
    "item", item=obj("id", "type", id=STR, type={"enum": ["model", "dataset", "space", "collection"]}), note=STR)))
UPDATE_COLLECTION_ITEM = doc(ok={200: json_ok(EMPTY)}, errors=(400, 401, 403, 404, 413),
                             body=json_request(obj(note=STR, position=INT)))
DELETE_COLLECTION_ITEM = doc(ok={200: json_ok(EMPTY)}, errors=(400, 401, 403, 404))
