"""What every route module shares: the caller, raw-path splitting, absolute URLs, error responses.

Routes parse the request, call a service, and serialize. Revisions arrive percent-encoded with
``safe=""`` (``refs%2Fpr%2F1``) and Starlette decodes ``%2F`` before routing, so routes that take
a revision re-split ``scope["raw_path"]`` themselves (:func:`raw_tail`).
"""

from __future__ import annotations

import base64
import json
from urllib.parse import unquote

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from cove.errors import BadRequest, CoveError, Unauthorized
from cove.protocol import URL_PREFIX, repo_type_of
from cove.server.services import Hub, Principal

SESSION_COOKIE = "cove_session"


def hub_of(request: Request) -> Hub:
    return request.app.state.hub


def principal(request: Request) -> Principal | None:
    """The caller: a Bearer token, HTTP Basic (git: the token, or a password, as the password), or the
    web session cookie. A token that is present but wrong is an error, never anonymous."""
    cached = request.scope.get("cove.principal", False)
    if cached is not False:
        return cached
    hub = hub_of(request)
    who: Principal | None = None
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        who = hub.accounts.authenticate_token(value.strip())
    elif scheme.lower() == "basic" and value.strip():
        try:
            user, _, secret = base64.b64decode(value.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise Unauthorized("Invalid credentials in Authorization header") from None
        try:
            who = hub.accounts.authenticate_token(secret)
        except Unauthorized:
            who = hub.accounts.authenticate_password(user, secret)
            if who is None:
                raise
    elif auth:
        raise Unauthorized("Invalid credentials in Authorization header")
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            who = hub.accounts.authenticate_session(cookie)
    request.scope["cove.principal"] = who
    return who


def base_url(request: Request) -> str:
    """The absolute URL clients reach this server at (no trailing slash)."""
    public = hub_of(request).settings.public_url
    if public:
        return public.rstrip("/")
    return str(request.base_url).rstrip("/")


def repo_url(request: Request, repo_type: str, repo_id: str) -> str:
    return f"{base_url(request)}/{URL_PREFIX[repo_type_of(repo_type)]}{repo_id}"


def raw_tail(request: Request, skip: int) -> list[str]:
    """The raw path's segments after the first ``skip`` ones, each percent-decoded on its own."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    path = raw.decode("latin-1").split("?", 1)[0]
    segments = path.split("/")[1 + skip:]
    try:
        return [unquote(s, encoding="utf-8", errors="strict") for s in segments]
    except UnicodeDecodeError:  # %FF: a revision or path is never such a name
        raise BadRequest("The URL's revision or path is not valid UTF-8 once percent-decoded") from None


def split_rev_path(segments: list[str]) -> tuple[str, str]:
    """``[rev, *path]`` -> ``(rev, "a/b")``; an unencoded ``refs/pr/N`` or ``refs/convert/x`` is one rev."""
    if not segments or not segments[0]:
        raise BadRequest("Missing revision")
    if segments[0] == "refs" and len(segments) >= 3 and segments[1] in ("pr", "convert", "heads", "tags"):
        return "/".join(segments[:3]), "/".join(segments[3:])
    return segments[0], "/".join(segments[1:])


def api_type(segment: str) -> str:
    """``models`` / ``datasets`` / ``spaces`` (the API segment) -> repo type."""
    if segment not in ("models", "datasets", "spaces"):
        raise BadRequest(f"Unknown repo type segment {segment!r}")
    return repo_type_of(segment)


def error_response(err: CoveError, *, head: bool = False, headers: dict | None = None) -> Response:
    status = getattr(err, "status", 500)
    message = err.message.replace("\n", " ")
    h = {"X-Error-Code": err.code, "X-Error-Message": message.encode("latin-1", "replace").decode("latin-1")}
    if status == 401:
        h["WWW-Authenticate"] = 'Bearer realm="cove"'
    h.update(headers or {})
    if head:
        return Response(status_code=status, headers=h)
    return JSONResponse({"error": err.message}, status_code=status, headers=h)


async def json_body(request: Request, limit: int | None = None) -> dict:
    limit = limit or hub_of(request).settings.max_json_bytes
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            from cove.errors import PayloadTooLarge

            raise PayloadTooLarge(f"Request body over {limit} bytes")
    if not data:
        return {}
    try:
        body = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadRequest(f"The body is not valid JSON: {e}") from None
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object")
    return body
