"""git-lfs: the batch API at ``/{prefix}{ns}/{name}.git/info/lfs/objects/batch`` and the signed
action URLs it hands out (upload, multipart parts and completion, verify, download)."""

from __future__ import annotations

import inspect

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from cove.errors import BadRequest, Unauthorized, Unprocessable
from cove.protocol import TYPED_PREFIXES
from cove.server.routes import _openapi as api
from cove.server.routes._common import base_url, hub_of, json_body
from cove.server.routes.git import authorize, challenge
from cove.server.services.discussions import pr_num

router = APIRouter(tags=["lfs"])
LFS_JSON = "application/vnd.git-lfs+json"


async def _batch(request: Request, repo_type: str, ns: str, name: str):
    body = await json_body(request)
    return await run_in_threadpool(_batch_answer, request, repo_type, ns, name, body)


def _batch_answer(request: Request, repo_type: str, ns: str, name: str, body: dict) -> Response:
    hub = hub_of(request)
    operation = body.get("operation")
    ref = body.get("ref")
    ref = ref.get("name") if isinstance(ref, dict) else None
    if ref is not None and not isinstance(ref, str):
        raise BadRequest("'ref.name' must be a ref name")
    # an upload for a pull request (the client sends no ref before create_pr opens it) needs only read
    # access: who may commit to the PR is decided by the commit
    for_pr = operation == "upload" and (ref is None or pr_num(ref) is not None)
    try:
        who, repo = authorize(request, repo_type, f"{ns}/{name}", "read" if for_pr else
                              "write" if operation == "upload" else "content")
    except Unauthorized as err:
        return challenge(err)  # git-lfs sends its credentials after a 401
    if for_pr:
        repo = hub.discussions.commit_target(who, repo_type, f"{ns}/{name}", ref or "", create_pr=not ref)
    transfers = body.get("transfers") or ["basic"]
    if not isinstance(transfers, list) or not all(isinstance(t, str) for t in transfers):
        raise BadRequest("'transfers' must be a list of transfer names")  # not a 500 from `in` below
    out = hub.lfs.batch(repo, operation, body.get("objects"), base_url(request), transfers,
                        can_write=operation == "upload", token=who.token_id if who is not None else None)
    return JSONResponse(out, media_type=LFS_JSON)


async def _locks(request: Request, repo_type: str, ns: str, name: str, need: str):
    """The file-locking API, which this Hub does not offer: there are never any locks. git-lfs asks
    ``locks/verify`` before each push; this empty answer lets it push without a warning."""
    try:
        await run_in_threadpool(authorize, request, repo_type, f"{ns}/{name}", need)
    except Unauthorized as err:
        return challenge(err)
    if request.method == "POST":
        await json_body(request)
        return JSONResponse({"ours": [], "theirs": []}, media_type=LFS_JSON)
    return JSONResponse({"locks": []}, media_type=LFS_JSON)


def _per_repo_type(path: str, method: str, handler, *args, doc: dict) -> None:
    """Register ``handler(request, repo_type, ns, name, *args)`` at ``path`` under each type's prefix,
    described by ``doc`` and named after the handler and the type (unique operation ids)."""
    for prefix, repo_type in TYPED_PREFIXES:
        async def endpoint(ns: str, name: str, request: Request, _repo_type: str = repo_type):
            return await handler(request, _repo_type, ns, name, *args)

        endpoint.__signature__ = inspect.Signature([  # FastAPI reads the path parameters from it
            inspect.Parameter("ns", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str),
            inspect.Parameter("name", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str),
            inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request)])
        router.add_api_route(prefix + path, endpoint, methods=[method], name=f"{handler.__name__[1:]}_{repo_type}",
                             **doc)


_per_repo_type("/{ns}/{name}.git/info/lfs/objects/batch", "POST", _batch, doc=api.LFS_BATCH)
_per_repo_type("/{ns}/{name}.git/info/lfs/locks/verify", "POST", _locks, "write", doc=api.LFS_LOCKS_VERIFY)
_per_repo_type("/{ns}/{name}.git/info/lfs/locks", "GET", _locks, "read", doc=api.LFS_LOCKS)


def _grant(request: Request, op: str, repo_id: int, oid: str):
    hub = hub_of(request)
    repo, grant = hub.lfs.open_grant(op, repo_id, oid, dict(request.query_params))
    return hub, repo, grant


@router.put("/api/lfs/objects/{repo_id}/{oid}", **api.LFS_UPLOAD)
async def upload(repo_id: int, oid: str, request: Request):
    hub, repo, grant = await run_in_threadpool(_grant, request, "upload", repo_id, oid)
    writer = hub.lfs.receiver(grant)
    try:
        async for chunk in request.stream():
            writer.write(chunk)
            if writer.size > grant.size:
                raise Unprocessable(f"LFS object {oid} is larger than the announced {grant.size} bytes")
            if writer.ready():  # a part for the object store: sent off the event loop
                await run_in_threadpool(writer.flush)
        await run_in_threadpool(hub.lfs.accept, repo, grant, writer)
    except Exception:  # a refused or cut-short upload (on S3 the abort is a request: off the event loop)
        await run_in_threadpool(writer.discard)
        raise
    except BaseException:
        writer.discard()
        raise
    return Response(status_code=200)


@router.put("/api/lfs/objects/{repo_id}/{oid}/part/{number}", **api.LFS_UPLOAD_PART)
async def upload_part(repo_id: int, oid: str, number: int, request: Request):
    hub, repo, grant = await run_in_threadpool(_grant, request, "upload", repo_id, oid)
    part = await run_in_threadpool(hub.lfs.part_writer, grant, number)
    try:
        async for chunk in request.stream():
            part.write(chunk)
    except BaseException:
        part.abort()
        raise
    etag = await run_in_threadpool(part.finish)  # on S3 it sends the part to the store's upload
    return Response(status_code=200, headers={"ETag": f'"{etag}"'})


@router.post("/api/lfs/objects/{repo_id}/{oid}/complete", **api.LFS_COMPLETE)
async def complete(repo_id: int, oid: str, request: Request):
    hub, repo, grant = await run_in_threadpool(_grant, request, "upload", repo_id, oid)
    body = await json_body(request)
    if body.get("oid") not in (None, oid):
        raise BadRequest("The completion's oid does not match the URL")
    parts = body.get("parts")
    if not isinstance(parts, list) or not all(isinstance(p, dict) and type(p.get("partNumber")) is int for p in parts):
        raise BadRequest("'parts' must be a list of {\"partNumber\": int, \"etag\": str}")  # the service sorts them
    await run_in_threadpool(hub.lfs.complete, repo, grant, parts)
    return JSONResponse({}, media_type=LFS_JSON)


@router.post("/api/lfs/objects/{repo_id}/{oid}/verify", **api.LFS_VERIFY)
async def verify(repo_id: int, oid: str, request: Request):
    hub, repo, grant = await run_in_threadpool(_grant, request, "upload", repo_id, oid)
    body = await json_body(request)
    if body.get("oid") not in (None, oid):
        raise BadRequest("The verify request's oid does not match the URL")
    size = body.get("size", grant.size)
    if not isinstance(size, int) or isinstance(size, bool):
        raise BadRequest("The verify request's size must be an integer")
    await run_in_threadpool(hub.lfs.verify, repo, oid, size)
    return JSONResponse({}, media_type=LFS_JSON)


@router.get("/api/lfs/objects/{repo_id}/{oid}", **api.LFS_DOWNLOAD)
def download(repo_id: int, oid: str, request: Request):
    hub, repo, grant = _grant(request, "download", repo_id, oid)
    body, size = hub.lfs.download(repo, oid)
    return StreamingResponse(body, media_type="application/octet-stream", headers={"Content-Length": str(size)})
