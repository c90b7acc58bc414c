"""Downloads: ``HEAD``/``GET /{prefix}{ns}/{name}/resolve/{rev}/{path}``, with byte ranges.

The HEAD answers from stored metadata only (the client waits 10 s at most): ``X-Repo-Commit``, an
``ETag`` that is the git blob id (regular files) or the sha256 (LFS files, also ``X-Linked-Etag``),
and the true size. Bodies are never compressed, so sizes always match.

A repo's files are user content: besides the sandboxing policy the middleware puts on every response,
types a browser would run (HTML, SVG, XML, JavaScript, ...) are sent as ``attachment``, so opening one
downloads it instead of rendering it on the Hub's origin.
"""

from __future__ import annotations

import mimetypes
import re
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from cove.errors import EntryNotFound, RangeNotSatisfiable
from cove.protocol import check_path
from cove.server.routes import _openapi as api
from cove.server.routes._common import error_response, hub_of, principal, raw_tail, split_rev_path
from cove.server.routes.xet import xet_headers

router = APIRouter(tags=["download"])
COUNTED = {"model": "config.json", "dataset": "README.md", "space": "README.md", "kernel": "README.md"}
#: Types a browser renders actively (scripts, markup that can hold scripts, plugins).
ACTIVE_TYPES = {
    "text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml", "text/xsl",
    "application/javascript", "text/javascript", "application/x-javascript", "application/ecmascript",
    "text/ecmascript", "application/x-shockwave-flash", "application/pdf", "text/vtt", "application/rss+xml",
    "application/atom+xml", "multipart/x-mixed-replace", "text/cache-manifest", "application/wasm",
}


def content_headers(path: str) -> tuple[str, str]:
    """``(Content-Type, Content-Disposition)`` for a repo file: its guessed type, and ``attachment``
    for types a browser would run, ``inline`` for the rest."""
    ctype = mimetypes.guess_type(path)[0] or "application/octet-stream"
    name = quote(path.rsplit("/", 1)[-1])
    disposition = "attachment" if ctype in ACTIVE_TYPES or ctype.endswith(("+xml", "/xml")) else "inline"
    if ctype.startswith("text/") or ctype == "application/json":
        ctype += "; charset=utf-8"
    return ctype, f"{disposition}; filename*=UTF-8''{name};"


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``bytes=A-B`` / ``bytes=A-`` / ``bytes=-N`` -> inclusive ``(start, end)`` clamped to the file."""
    if not header:
        return None
    m = re.fullmatch(r"\s*bytes=(\d{0,20})-(\d{0,20})\s*", header)  # (longer: no offset, not a 500)
    if not m or (not m.group(1) and not m.group(2)):
        return None  # unsupported forms (several ranges) get the whole file, as HTTP allows
    if not m.group(1):
        n = int(m.group(2))
        if n == 0:
            raise RangeNotSatisfiable(f"{header} is empty")
        return max(0, size - n), size - 1
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) else size - 1
    if start >= size or end < start:
        raise RangeNotSatisfiable(f"{header} is outside a file of {size} bytes")
    return start, min(end, size - 1)


def _locate(request: Request, repo_type: str, ns: str, name: str, head: bool):
    """``(repo, commit sha, path, file)`` of a resolve URL; the file is an error for a missing path."""
    hub = hub_of(request)
    repo = hub.repos.get(principal(request), repo_type, f"{ns}/{name}", "content")
    git = hub.repos.open_git(repo)
    skip = 4 if repo_type == "model" else 5
    rev, path = split_rev_path(raw_tail(request, skip - 1))
    check_path(path)
    sha = git.resolve(rev)
    try:
        return repo, sha, path, hub.content.file(git, sha, path, with_data=not head, xet=head and hub.settings.xet)
    except EntryNotFound as e:
        return repo, sha, path, e


async def _resolve(request: Request, repo_type: str, ns: str, name: str):
    hub = hub_of(request)
    head = request.method == "HEAD"
    repo, sha, path, body = await run_in_threadpool(_locate, request, repo_type, ns, name, head)
    if isinstance(body, EntryNotFound):
        return error_response(body, head=head, headers={"X-Repo-Commit": sha})
    size = body.entry.size
    headers = {
        "X-Repo-Commit": sha,
        "ETag": f'"{body.etag}"',
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, max-age=0" if repo.private else "public, max-age=60",
    }
    if body.entry.lfs_oid:
        headers["X-Linked-Etag"] = f'"{body.entry.lfs_oid}"'
        headers["X-Linked-Size"] = str(size)
        headers.update(xet_headers(request, repo, sha, body))
    ctype, headers["Content-Disposition"] = content_headers(path)
    if body.stored is not None:
        presigned = await run_in_threadpool(hub.content.presign, body, quote(path.rsplit("/", 1)[-1]))
        if presigned is not None:  # the store serves the bytes (Range included); access was checked above
            if not head and path == COUNTED[repo.type] and "range" not in request.headers:
                await run_in_threadpool(hub.repos.count_download, repo)
            del headers["Accept-Ranges"], headers["Content-Disposition"]
            return Response(status_code=302, headers={**headers, "Location": presigned, "Content-Length": "0"})
    rng = parse_range(request.headers.get("range"), size) if size else None
    start, end = rng if rng else (0, size - 1)
    length = end - start + 1 if size else 0
    headers["Content-Length"] = str(length)
    status = 206 if rng else 200
    if rng:
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    if head:
        return Response(status_code=status, headers=headers, media_type=ctype)
    if path == COUNTED[repo.type] and not rng:
        await run_in_threadpool(hub.repos.count_download, repo)
    if body.data is not None:
        return Response(body.data[start: start + length], status_code=status, headers=headers, media_type=ctype)
    # planning a Xet file's read touches the database and the chunk indexes: off the event loop
    stream = await run_in_threadpool(hub.content.stream, body, start, length)
    return StreamingResponse(stream, status_code=status, headers=headers, media_type=ctype)


# GET and HEAD are declared apart: one route with both methods gives both operations one operationId
@router.get("/datasets/{ns}/{name}/resolve/{rest:path}", **api.RESOLVE)
@router.head("/datasets/{ns}/{name}/resolve/{rest:path}", **api.RESOLVE_HEAD)
async def resolve_dataset(ns: str, name: str, request: Request):
    return await _resolve(request, "dataset", ns, name)


@router.get("/spaces/{ns}/{name}/resolve/{rest:path}", **api.RESOLVE)
@router.head("/spaces/{ns}/{name}/resolve/{rest:path}", **api.RESOLVE_HEAD)
async def resolve_space(ns: str, name: str, request: Request):
    return await _resolve(request, "space", ns, name)


@router.get("/kernels/{ns}/{name}/resolve/{rest:path}", **api.RESOLVE)
@router.head("/kernels/{ns}/{name}/resolve/{rest:path}", **api.RESOLVE_HEAD)
async def resolve_kernel(ns: str, name: str, request: Request):
    return await _resolve(request, "kernel", ns, name)


@router.get("/{ns}/{name}/resolve/{rest:path}", **api.RESOLVE)
@router.head("/{ns}/{name}/resolve/{rest:path}", **api.RESOLVE_HEAD)
async def resolve_model(ns: str, name: str, request: Request):
    return await _resolve(request, "model", ns, name)
