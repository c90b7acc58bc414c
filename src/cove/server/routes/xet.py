"""Xet: the Hub's token routes, and the CAS routes (``/cas/...``) that ``casUrl`` points at.

Hub side (spec §2): ``GET /api/{type}s/{ns}/{name}/xet-{read|write}-token/{rev}`` answers the token
both in a JSON body (hf_xet reads that) and in ``X-Xet-*`` headers (huggingface_hub reads those).
``resolve`` adds ``X-Xet-Hash`` and the refresh route (:func:`xet_headers`), tree and paths-info add
``xetHash`` (:func:`add_xet_hashes`), for files the CAS can serve.

CAS side (spec §3): xorb and shard uploads (write tokens), reconstructions v1 and v2, fetch URLs
(signed, no Authorization, exact ``Range``: 206) and global dedup queries (read tokens). Grants, v2
shards and telemetry are not routes: the client reads their 404 as "not offered" and falls back.

With ``COVE_XET=0`` every route here answers 404 and nothing else mentions Xet.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from cove.errors import BadRequest, EntryNotFound
from cove.protocol import TreeEntry, is_digits
from cove.server.cas.xorb import MAX_XORB_BODY
from cove.server.routes import _openapi as api
from cove.server.routes._common import (
    JsonBody,
    _bounded_body,
    api_type,
    base_url,
    hub_of,
    principal,
    raw_tail,
    split_rev_path,
)
from cove.server.services.content import FileBody

router = APIRouter(tags=["xet"])
CAS_PREFIX = "/cas"
cas = APIRouter(prefix=CAS_PREFIX, tags=["xet-cas"])
OCTETS = "application/octet-stream"


def cas_url(request: Request) -> str:
    """The CAS base URL clients get (no trailing slash: they append ``/v1/...``)."""
    return hub_of(request).settings.xet_cas_url or base_url(request) + CAS_PREFIX


def xet_on(request: Request) -> None:
    if not hub_of(request).settings.xet:
        err = EntryNotFound(f"Nothing at {request.url.path}: this Hub does not serve Xet storage (set "
                            "HF_HUB_DISABLE_XET=1, or let preupload choose the upload mode)")
        err.code = "NotFound"
        raise err


# -- the Hub side ----------------------------------------------------------------------------------


def _token(request: Request, rtype: str, ns: str, name: str, scope: str) -> Response:
    hub = hub_of(request)
    xet_on(request)
    rev, _ = split_rev_path(raw_tail(request, 5))
    create_pr = request.query_params.get("create_pr", "").lower() in ("1", "true")
    token, exp = hub.xet.token(principal(request), api_type(rtype), f"{ns}/{name}", scope, rev,
                               create_pr=create_pr)
    return token_response(request, token, exp)


def token_response(request: Request, token: str, exp: int) -> JSONResponse:
    """A Xet token in both forms: the JSON body (hf_xet reads it) and the headers (huggingface_hub)."""
    url = cas_url(request)
    return JSONResponse({"accessToken": token, "exp": exp, "casUrl": url}, headers={
        "X-Xet-Cas-Url": url, "X-Xet-Access-Token": token, "X-Xet-Token-Expiration": str(exp),
        "Cache-Control": "no-store"})


@router.get("/api/{rtype}/{ns}/{name}/xet-read-token/{rest:path}", **api.XET_READ_TOKEN)
def read_token(rtype: str, ns: str, name: str, request: Request):
    return _token(request, rtype, ns, name, "read")


@router.get("/api/{rtype}/{ns}/{name}/xet-write-token/{rest:path}", **api.XET_WRITE_TOKEN)
def write_token(rtype: str, ns: str, name: str, request: Request):
    return _token(request, rtype, ns, name, "write")


def xet_headers(request: Request, repo, sha: str, body: FileBody) -> dict[str, str]:
    """``resolve``'s Xet headers for a file the CAS can serve: its file ID and where to get a read token."""
    if body.xet_hash is None or not hub_of(request).settings.xet:
        return {}
    refresh = f"{base_url(request)}/api/{repo.type}s/{repo.repo_id}/xet-read-token/{sha}"
    return {"X-Xet-Hash": body.xet_hash, "X-Xet-Refresh-Route": refresh, "Link": f'<{refresh}>; rel="xet-auth"'}


def add_xet_hashes(request: Request, entries: list[TreeEntry], items: list[dict]) -> None:
    """``xetHash`` on the tree or paths-info items of LFS files the CAS can serve."""
    hub = hub_of(request)
    oids = {e.lfs_oid for e in entries if e.lfs_oid}
    if not oids or not hub.settings.xet:
        return
    ids = hub.objects.xet_hashes(oids)
    for entry, item in zip(entries, items):
        if entry.lfs_oid in ids:
            item["xetHash"] = ids[entry.lfs_oid]


@router.post("/api/{rtype}/{ns}/{name}/lfs-files/duplicate", **api.LFS_DUPLICATE)
def duplicate(rtype: str, ns: str, name: str, request: Request, body: JsonBody):
    failed = hub_of(request).xet.duplicate(principal(request), api_type(rtype), f"{ns}/{name}", body.get("target"),
                                           body.get("files"))
    return {"failed": failed}


# -- the CAS ---------------------------------------------------------------------------------------


def _authorize(request: Request, need: str):
    xet_on(request)
    return hub_of(request).xet.authorize(request.headers.get("authorization"), need)


@cas.post("/v1/xorbs/{prefix}/{xorb}", **api.CAS_XORB)
async def put_xorb(prefix: str, xorb: str, request: Request):
    hub = hub_of(request)
    await run_in_threadpool(_authorize, request, "write")
    length = request.headers.get("content-length", "")
    if is_digits(length) and int(length) > MAX_XORB_BODY:
        raise BadRequest(f"xorb of {length} bytes: the limit is {MAX_XORB_BODY}")
    upload = hub.xet.upload()
    try:
        async for piece in request.stream():
            upload.write(piece)
    except BaseException:
        upload.discard()
        raise
    inserted = await run_in_threadpool(hub.xet.put_xorb, xorb, upload)
    return {"was_inserted": inserted}


@cas.post("/v1/shards", **api.CAS_SHARD)
async def put_shard(request: Request):
    hub = hub_of(request)
    _, repo = await run_in_threadpool(_authorize, request, "write")
    body = await _bounded_body(request, hub.settings.xet_max_shard_bytes)
    return {"result": await run_in_threadpool(hub.xet.put_shard, repo, body)}


def _reconstruction(request: Request, file: str, version: int) -> dict:
    grant, repo = _authorize(request, "read")
    return hub_of(request).xet.reconstruction(grant, repo, file, request.headers.get("range"), version,
                                              cas_url(request))


@cas.get("/v1/reconstructions/{file}", **api.CAS_RECONSTRUCTION)
def reconstruction_v1(file: str, request: Request):
    return _reconstruction(request, file, 1)


@cas.get("/v2/reconstructions/{file}", **api.CAS_RECONSTRUCTION_V2)
def reconstruction_v2(file: str, request: Request):
    return _reconstruction(request, file, 2)


async def _unblocked(views: Iterator[memoryview]) -> AsyncIterator[memoryview]:
    # Mapping a window is a syscall, not a read: no worker thread per window (the socket's copy from
    # the page cache happens in the transport's write either way)
    for view in views:
        yield view


@cas.get("/v1/fetch/{xorb}", **api.CAS_FETCH)
def fetch(xorb: str, request: Request):
    xet_on(request)
    xet = hub_of(request).xet
    f = xet.fetch(xorb, dict(request.query_params), request.headers.get("range"))
    body = xet.read(f)
    return StreamingResponse(body if xet.reads_block else _unblocked(body), status_code=206, media_type=OCTETS, headers={
        "Content-Range": f"bytes {f.first}-{f.last}/{f.stored_size}", "Content-Length": str(f.last - f.first + 1),
        "Cache-Control": "private, max-age=3600"})


@cas.get("/v1/chunks/{prefix}/{chunk}", **api.CAS_CHUNK)
def dedup(prefix: str, chunk: str, request: Request):
    _authorize(request, "read")
    answer = hub_of(request).xet.dedup(chunk)
    if answer is None:
        raise EntryNotFound("No stored xorb is indexed under this chunk")
    return Response(answer, media_type=OCTETS)
