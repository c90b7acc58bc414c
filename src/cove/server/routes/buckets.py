"""Storage buckets (``/api/buckets/...``, ``/buckets/{ns}/{name}/resolve/...``), as huggingface_hub 2.4
calls them (``HfApi.create_bucket`` .. ``sync_bucket``, ``hf buckets``, ``HfFileSystem`` on
``hf://buckets/...``). Moving a bucket goes through ``/api/repos/move`` with ``type: bucket``
(:mod:`cove.server.routes.api_repos`). Buckets live on the Xet CAS: with ``COVE_XET=0`` every route here
answers 404.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from cove.errors import BadRequest, Conflict, EntryNotFound
from cove.protocol import iso_z
from cove.server.routes import _openapi as api
from cove.server.routes._audit import record
from cove.server.routes._common import (
    JsonBody,
    _bounded_body,
    base_url,
    cursor_of,
    error_response,
    header_text,
    hub_of,
    page_response,
    principal,
    raw_tail,
)
from cove.server.routes.resolve import content_headers, parse_range
from cove.server.routes.xet import token_response, xet_on
from cove.server.services.buckets import BatchResult, Folder, mtime_of

if TYPE_CHECKING:  # row and repo types in annotations only: routes never touch the database or git
    from cove.server.db.buckets import Bucket, FileEntry, Stats


router = APIRouter(tags=["buckets"], dependencies=[Depends(xet_on)])


def bucket_url(request: Request, bucket_id: str) -> str:
    return f"{base_url(request)}/buckets/{bucket_id}"


def bucket_json(bucket: Bucket, stats: Stats) -> dict:
    return {"id": bucket.bucket_id, "_id": str(bucket.id), "author": bucket.namespace, "private": bucket.private,
            "createdAt": iso_z(bucket.created_at), "updatedAt": iso_z(bucket.updated_at), "size": stats.size,
            "totalFiles": stats.files}


def entry_json(entry: FileEntry | Folder) -> dict:
    if isinstance(entry, Folder):
        out: dict = {"type": "directory", "path": entry.path}
        if entry.uploaded_at is not None:
            out["uploadedAt"] = iso_z(entry.uploaded_at)
        return out
    return {"type": "file", "path": entry.path, "size": entry.size, "xetHash": entry.file_id,
            "mtime": iso_z(mtime_of(entry.mtime)), "uploadedAt": iso_z(entry.uploaded_at)}


def _private_of(body: dict) -> bool | None:
    if body.get("visibility") is not None:
        if body["visibility"] not in ("private", "public"):
            raise BadRequest(f"Invalid visibility {body['visibility']!r}: use private or public")
        return body["visibility"] == "private"
    if body.get("private") is not None:
        if not isinstance(body["private"], bool):
            raise BadRequest("'private' must be true or false")
        return body["private"]
    return None


def _flag(request: Request, name: str, default: bool = False) -> bool:
    value = request.query_params.get(name)
    return default if value is None else value.lower() in ("1", "true", "yes")


# -- buckets -----------------------------------------------------------------------------------------


@router.post("/api/buckets/{ns}/{name}", **api.CREATE_BUCKET)
def create_bucket(ns: str, name: str, request: Request, body: JsonBody):
    who = principal(request)
    try:
        bucket, _ = hub_of(request).buckets.create(who, ns, name, private=_private_of(body))
    except Conflict as e:
        existing = getattr(e, "bucket", None)
        if existing is None:
            raise
        return JSONResponse({"error": e.message, "url": bucket_url(request, existing.bucket_id)}, status_code=409,
                            headers={"X-Error-Code": "Conflict", "X-Error-Message": e.message})
    return {"url": bucket_url(request, bucket.bucket_id), "name": bucket.bucket_id, "id": str(bucket.id)}


@router.get("/api/buckets/{ns}/{name}", **api.BUCKET_INFO)
def bucket_info(ns: str, name: str, request: Request):
    return bucket_json(*hub_of(request).buckets.info(principal(request), f"{ns}/{name}"))


@router.get("/api/buckets/{namespace}", **api.LIST_BUCKETS)
def list_buckets(namespace: str, request: Request):
    offset = cursor_of(request)
    rows, more = hub_of(request).buckets.of_namespace(principal(request), namespace,
                                                      search=request.query_params.get("search"), offset=offset)
    return page_response(request, [bucket_json(b, s) for b, s in rows], offset + len(rows), more)


@router.delete("/api/buckets/{ns}/{name}", **api.DELETE_BUCKET)
def delete_bucket(ns: str, name: str, request: Request):
    who = principal(request)
    bucket = hub_of(request).buckets.delete(who, f"{ns}/{name}")
    record(request, "bucket.delete", actor=who.name, target=f"buckets/{bucket.bucket_id}")
    return {}


@router.put("/api/buckets/{ns}/{name}/settings", **api.BUCKET_SETTINGS)
def bucket_settings(ns: str, name: str, request: Request, body: JsonBody):
    who, private = principal(request), _private_of(body)
    bucket = hub_of(request).buckets.update_settings(who, f"{ns}/{name}", private=private)
    if private is not None:
        record(request, "bucket.visibility", actor=who.name, target=f"buckets/{bucket.bucket_id}",
               detail={"private": private})
    return {}


# -- files -------------------------------------------------------------------------------------------


def _tree(request: Request, ns: str, name: str, prefix: str):
    cursor = request.query_params.get("cursor")
    entries, following = hub_of(request).buckets.tree(principal(request), f"{ns}/{name}", prefix,
                                                      recursive=_flag(request, "recursive", True), cursor=cursor)
    return page_response(request, [entry_json(e) for e in entries], following or "", following is not None)


@router.get("/api/buckets/{ns}/{name}/tree", **api.BUCKET_TREE)
def bucket_tree(ns: str, name: str, request: Request):
    return _tree(request, ns, name, "")


@router.get("/api/buckets/{ns}/{name}/tree/{rest:path}", **api.BUCKET_TREE_PREFIX)
def bucket_tree_prefix(ns: str, name: str, request: Request):
    return _tree(request, ns, name, "/".join(raw_tail(request, 5)))


@router.post("/api/buckets/{ns}/{name}/paths-info", **api.BUCKET_PATHS_INFO)
def bucket_paths_info(ns: str, name: str, request: Request, body: JsonBody):
    entries = hub_of(request).buckets.paths_info(principal(request), f"{ns}/{name}", body.get("paths"))
    return [entry_json(e) for e in entries]


@router.post("/api/buckets/{ns}/{name}/batch", **api.BUCKET_BATCH)
async def bucket_batch(ns: str, name: str, request: Request):
    hub = hub_of(request)
    data = await _bounded_body(request, hub.settings.max_json_bytes)
    result: BatchResult = await run_in_threadpool(hub.buckets.batch, principal(request), f"{ns}/{name}", data)
    failed = [{"path": f.path, "error": f.error} for f in result.failures]
    if failed and len(failed) >= result.operations:  # all failed: the Hub's 422, with the same list
        message = f"All {len(failed)} operations failed, the first: {failed[0]['path']}: {failed[0]['error']}"
        return JSONResponse({"error": message, "failed": failed}, status_code=422, headers={
            "X-Error-Code": "Unprocessable", "X-Error-Message": header_text(message)})
    return {"failed": failed}


def _token(request: Request, ns: str, name: str, scope: str) -> Response:
    token, exp = hub_of(request).xet.token(principal(request), "bucket", f"{ns}/{name}", scope, "")
    return token_response(request, token, exp)


@router.get("/api/buckets/{ns}/{name}/xet-read-token", **api.BUCKET_XET_READ_TOKEN)
def bucket_read_token(ns: str, name: str, request: Request):
    return _token(request, ns, name, "read")


@router.get("/api/buckets/{ns}/{name}/xet-write-token", **api.BUCKET_XET_WRITE_TOKEN)
def bucket_write_token(ns: str, name: str, request: Request):
    return _token(request, ns, name, "write")


# -- downloads ---------------------------------------------------------------------------------------


async def _resolve(request: Request, ns: str, name: str):
    """A bucket file: its Xet headers (file ID, where to get a read token) and, for a GET, its bytes,
    reconstructed on the server (a plain or ranged GET, as ``HfFileSystem`` reads)."""
    hub = hub_of(request)
    head = request.method == "HEAD"
    path = "/".join(raw_tail(request, 4))
    bucket, entry = await run_in_threadpool(hub.buckets.file, principal(request), f"{ns}/{name}", path)
    if entry is None:
        return error_response(EntryNotFound(f"{path} does not exist in bucket {bucket.bucket_id}"), head=head)
    refresh = f"{base_url(request)}/api/buckets/{bucket.bucket_id}/xet-read-token"
    headers = {
        "ETag": f'"{entry.file_id}"', "X-Linked-Etag": f'"{entry.file_id}"', "X-Linked-Size": str(entry.size),
        "X-Xet-Hash": entry.file_id, "X-Xet-Refresh-Route": refresh, "Link": f'<{refresh}>; rel="xet-auth"',
        "Accept-Ranges": "bytes", "Cache-Control": "private, max-age=0" if bucket.private else "public, max-age=60",
    }
    ctype, headers["Content-Disposition"] = content_headers(path)
    rng = parse_range(request.headers.get("range"), entry.size) if entry.size else None
    start, end = rng if rng else (0, entry.size - 1)
    length = end - start + 1 if entry.size else 0
    headers["Content-Length"] = str(length)
    if rng:
        headers["Content-Range"] = f"bytes {start}-{end}/{entry.size}"
    status = 206 if rng else 200
    if head or not length:
        return Response(status_code=status, headers=headers, media_type=ctype)
    stream = await run_in_threadpool(hub.buckets.stream, entry, start, start + length)
    return StreamingResponse(stream, status_code=status, headers=headers, media_type=ctype)


@router.get("/buckets/{ns}/{name}/resolve/{rest:path}", **api.BUCKET_RESOLVE)
@router.head("/buckets/{ns}/{name}/resolve/{rest:path}", **api.BUCKET_RESOLVE_HEAD)
async def bucket_resolve(ns: str, name: str, request: Request):
    return await _resolve(request, ns, name)
