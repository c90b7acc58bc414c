"""What every route module shares: the caller, raw-path splitting, absolute URLs, error responses.

Routes parse the request, call a service, and serialize. Revisions arrive percent-encoded with
``safe=""`` (``refs%2Fpr%2F1``) and Starlette decodes ``%2F`` before routing, so routes that take
a revision re-split ``scope["raw_path"]`` themselves (:func:`raw_tail`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Annotated
from urllib.parse import unquote, urlencode, urlsplit

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import FormData

from cove.errors import BadRequest, CoveError, PayloadTooLarge, TooManyRequests
from cove.protocol import API_SEGMENTS, URL_PREFIX, loads_json, repo_type_of
from cove.server.middleware import SESSION_COOKIE, Caller
from cove.server.services import Hub, Principal

_UNSAFE_IN_HEADER = re.compile(r"[\x00-\x1f\x7f]")

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def hub_of(request: Request) -> Hub:
    return request.app.state.hub


def caller(request: Request) -> Caller:
    """What the middleware found out about the request's credentials (:class:`Caller`)."""
    return request.scope.get("cove.caller") or Caller()


def principal(request: Request) -> Principal | None:
    """The caller: a Bearer token, HTTP Basic (git: the token, or a password, as the password), or the
    web session cookie. Wrong credentials are an error, never anonymous.

    The session cookie counts for a state-changing request (POST, PUT, DELETE, ...) only when the
    request provably comes from the Hub's own pages (:func:`cookie_may_write`); otherwise the caller
    is anonymous, so a page on another origin cannot act with a signed-in user's cookie (CSRF).
    """
    found = caller(request)
    if found.error is not None:
        raise found.error
    if found.via == "cookie" and request.method not in SAFE_METHODS and not cookie_may_write(request):
        return None
    return found.principal


def csrf_token(request: Request, session: str) -> str:
    """The CSRF token of a signed-in browser: an HMAC of its session id with the server's secret."""
    key = hub_of(request).settings.secret_key.encode()
    return hmac.new(key, b"csrf:" + session.encode(), hashlib.sha256).hexdigest()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def cookie_may_write(request: Request) -> bool:
    """Whether a cookie-authenticated, state-changing request comes from this Hub's own pages: its
    form's CSRF token was checked (:func:`mark_csrf_checked`), it carries the token in
    ``X-CSRF-Token``, or the browser says it was sent from this origin (``Origin``, else ``Referer``)."""
    if request.scope.get("cove.csrf_checked"):
        return True
    session = request.cookies.get(SESSION_COOKIE, "")
    sent = request.headers.get("x-csrf-token", "")
    if session and sent and hmac.compare_digest(csrf_token(request, session), sent):
        return True
    source = request.headers.get("origin") or request.headers.get("referer") or ""
    return bool(source) and source != "null" and _origin(source) == _origin(base_url(request))


def mark_csrf_checked(request: Request) -> None:
    """A route verified this request's form CSRF token: its session cookie may act."""
    request.scope["cove.csrf_checked"] = True


def base_url(request: Request) -> str:
    """The absolute URL clients reach this server at (no trailing slash)."""
    public = hub_of(request).settings.public_url
    if public:
        return public.rstrip("/")
    return str(request.base_url).rstrip("/")


def repo_url(request: Request, repo_type: str, repo_id: str) -> str:
    return f"{base_url(request)}/{URL_PREFIX[repo_type_of(repo_type)]}{repo_id}"


def page_response(request: Request, items: list, offset: int | str, more: bool) -> JSONResponse:
    """One page of a listing; when ``more`` follow, a ``Link`` to the next page (at ``offset``, or a
    listing's own cursor) that repeats the request's query (the client does not send it again)."""
    headers = {}
    if more:
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
        params.append(("cursor", str(offset)))
        raw = request.scope["raw_path"].decode("latin-1").split("?", 1)[0]
        headers["Link"] = f'<{base_url(request)}{raw}?{urlencode(params)}>; rel="next"'
    return JSONResponse(items, headers=headers)


def cursor_of(request: Request) -> int:
    """The offset a page starts at (``cursor`` of a ``Link`` from :func:`page_response`)."""
    try:
        return max(0, int(request.query_params.get("cursor") or 0))
    except ValueError:
        raise BadRequest("Invalid cursor") from None


def moved_location(request: Request, old_id: str, new_id: str) -> str | None:
    """The request's URL with the repo id ``old_id`` (any case) replaced by ``new_id``, where the id is in
    the path (``/api/models/{id}/...``, ``/{id}/resolve/...``, ``/datasets/{id}.git/...``); else None."""
    raw = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1").split("?", 1)[0]
    ns, name = old_id.split("/")
    old = re.compile(rf"/{re.escape(ns)}/{re.escape(name)}(?=/|\.git|$)", re.IGNORECASE)
    path, found = old.subn(f"/{new_id}", raw, count=1)
    if not found:
        return None
    query = request.scope.get("query_string", b"").decode("latin-1")
    return base_url(request) + path + (f"?{query}" if query else "")


def raw_tail(request: Request, skip: int) -> list[str]:
    """The raw path's segments after the first ``skip`` ones, each percent-decoded on its own."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    path = raw.decode("latin-1").split("?", 1)[0]
    segments = path.split("/")[1 + skip:]
    try:
        return [unquote(s, encoding="utf-8", errors="strict") for s in segments]
    except UnicodeDecodeError:
        raise BadRequest(f"Invalid URL path {path!r}: names must be percent-encoded UTF-8") from None


def split_rev_path(segments: list[str]) -> tuple[str, str]:
    """``[rev, *path]`` -> ``(rev, "a/b")``; an unencoded ``refs/pr/N`` or ``refs/convert/x`` is one rev."""
    if not segments or not segments[0]:
        raise BadRequest("Missing revision")
    if segments[0] == "refs" and len(segments) >= 3 and segments[1] in ("pr", "convert", "heads", "tags"):
        return "/".join(segments[:3]), "/".join(segments[3:])
    return segments[0], "/".join(segments[1:])


#: The words that follow a repo id in the Hub's API paths (``/api/models/{ns}/{name}/<word>/...``).
REPO_ROUTE_WORDS = frozenset({
    "revision", "tree", "paths-info", "refs", "commits", "commit", "preupload", "branch", "tag", "settings",
    "like", "likers", "auth-check", "super-squash", "lfs-files", "discussions", "xet-read-token",
    "xet-write-token", "scan", "info", "rows", "treesize", "compare", "resolve", "user-access-request",
})
_SINGLE_SEGMENT_ID = re.compile(r"^/api/(?:models|datasets|spaces|kernels|buckets)/[^/]+(?:/([^/]+)(?:/.*)?)?/?$")
_SINGLE_SEGMENT_RESOLVE = re.compile(r"^/(?:(?:datasets|spaces|kernels)/)?[^/]+/resolve/[^/]+/")


def names_repo_without_namespace(path: str) -> bool:
    """Whether a URL no route matched names a repo by a bare name (``/api/models/gpt2``,
    ``/api/models/gpt2/revision/main``, ``/gpt2/resolve/main/config.json``): the Hub answers such ids
    with RepoNotFound, which the client turns into ``RepositoryNotFoundError`` (``repo_exists`` is False)."""
    m = _SINGLE_SEGMENT_ID.match(path)
    if m:
        return m.group(1) is None or m.group(1) in REPO_ROUTE_WORDS
    return bool(_SINGLE_SEGMENT_RESOLVE.match(path))


def api_type(segment: str) -> str:
    """``models`` / ``datasets`` / ``spaces`` / ``kernels`` (the API segment) -> repo type."""
    if segment not in API_SEGMENTS:
        raise BadRequest(f"Unknown repo type segment {segment!r}")
    return API_SEGMENTS[segment]


def header_text(text: str, limit: int = 1000) -> str:
    """``text`` as a header value: control characters and what latin-1 cannot hold become ``?``."""
    text = _UNSAFE_IN_HEADER.sub("?", text[:limit])
    return text.encode("latin-1", "replace").decode("latin-1")


def error_response(err: CoveError, *, head: bool = False, headers: dict | None = None) -> Response:
    status = getattr(err, "status", 500)
    h = {"X-Error-Code": err.code, "X-Error-Message": header_text(err.message)}
    if status == 401:
        h["WWW-Authenticate"] = 'Bearer realm="cove"'
    if isinstance(err, TooManyRequests):
        h["Retry-After"] = str(err.retry_after)
    h.update(headers or {})
    if head:
        return Response(status_code=status, headers=h)
    return JSONResponse({"error": err.message}, status_code=status, headers=h)


async def _bounded_body(request: Request, limit: int) -> bytes:
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise PayloadTooLarge(f"Request body over {limit} bytes")
    return bytes(data)


async def bytes_body(request: Request) -> bytes:
    """The raw request body (an uploaded audio file ...), bounded as a JSON body is."""
    return await _bounded_body(request, hub_of(request).settings.max_json_bytes)


async def form_body(request: Request) -> FormData:
    """The request's form fields, the body bounded as a JSON body is (Starlette would read any size)."""
    request._body = await _bounded_body(request, hub_of(request).settings.max_json_bytes)  # form() reads it
    return await request.form()


async def json_body(request: Request, limit: int | None = None) -> dict:
    """The request's JSON object body, bounded in size and depth (``{}`` when empty)."""
    settings = hub_of(request).settings
    data = await _bounded_body(request, limit or settings.max_json_bytes)
    if not data.strip():
        return {}
    body = loads_json(data, max_depth=settings.max_json_depth)
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object")
    return body


async def _json_object(request: Request) -> dict:
    return await json_body(request)


#: A route parameter: the request's JSON object body, read (bounded) on the event loop before the route
#: runs. A route that takes it can be a plain ``def``: FastAPI then runs it in a worker thread, so its
#: database, git and disk work never holds up other requests.
JsonBody = Annotated[dict, Depends(_json_object)]
