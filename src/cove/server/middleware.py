"""What every HTTP request passes through, around its route: who is calling, and safe response headers.

**Who is calling** is settled here, before routing, and off the event loop: a Bearer token, HTTP
Basic (git sends a token, or the user's password, as the password) or the web session cookie is
checked in a worker thread, password checks through :class:`~cove.server.services.signin.SignIns`
(rate-limited, at most a few at once). The outcome, a :class:`Caller`, waits in the ASGI scope;
``routes._common.principal()`` reads it, and raises its error only for routes that ask who is calling.

**Response headers** are made safe in one place for every response, whatever produced it:

- a header value never carries a control character (a ``%01`` in a URL copied into
  ``X-Error-Message`` would make the server drop the connection); they become ``?``;
- ``X-Content-Type-Options: nosniff`` everywhere, so a browser never guesses an active type;
- ``Content-Security-Policy: sandbox; default-src 'none'`` on every response that did not set its own
  policy (only the web UI's pages do, with a strict one): a file from a repo, an error or a JSON
  answer opened in a browser runs no script and reaches nothing as the Hub's origin;
- ``X-Request-Id`` on every response, as on the Hub (the client quotes it in its error messages): the
  caller's own ``X-Request-Id`` (or ``X-Amzn-Trace-Id``) when it is short and plain (:func:`request_id`),
  else a new one. It is kept in the scope (``cove.request_id``) for the server's log.

A route that fails unexpectedly is answered here too (a logged 500 with ``X-Error-Code:
InternalError``), so that such an answer carries the same headers as every other.
"""

from __future__ import annotations

import base64
import logging
import re
import uuid
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response

from cove.errors import CoveError, Unauthorized
from cove.server.services import Hub, Principal
from cove.server.services.accounts import TOKEN_PREFIX

log = logging.getLogger("cove.server")
SESSION_COOKIE = "cove_session"
USER_CONTENT_CSP = b"sandbox; default-src 'none'; frame-ancestors 'none'"
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
#: A request id the caller may choose: at most 64 letters, digits and ``-_.:=+/``; anything else is
#: replaced (it is echoed in a header and written to the log).
_CALLER_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:=+/-]{1,64}")


@dataclass(frozen=True)
class Caller:
    """Who sent a request: ``principal`` (None: anonymous) and how they proved it (``via``: "token",
    "password", "cookie" or ""), or the ``error`` their credentials earned."""

    principal: Principal | None = None
    via: str = ""
    error: CoveError | None = None


async def identify(hub: Hub, conn: HTTPConnection) -> Caller:
    """Check the request's credentials (in worker threads; never raises)."""
    auth = conn.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    scheme, value = scheme.lower(), value.strip()
    try:
        if scheme == "bearer" and value:
            return Caller(await run_in_threadpool(hub.accounts.authenticate_token, value), "token")
        if scheme == "basic" and value:
            try:
                user, _, secret = base64.b64decode(value, validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise Unauthorized("Invalid credentials in Authorization header") from None
            if secret.startswith(TOKEN_PREFIX):
                try:
                    return Caller(await run_in_threadpool(hub.accounts.authenticate_token, secret), "token")
                except Unauthorized:
                    pass  # not a token after all: perhaps a password that looks like one
            ip = conn.client.host if conn.client else ""
            return Caller(await hub.signins.password(user, secret, ip), "password")
        if auth:
            raise Unauthorized("Invalid credentials in Authorization header")
        cookie = conn.cookies.get(SESSION_COOKIE)
        if cookie:
            return Caller(await run_in_threadpool(hub.accounts.authenticate_session, cookie), "cookie")
    except CoveError as err:
        return Caller(error=err)
    return Caller()


def request_id(scope) -> bytes:
    """The request's id: the caller's ``X-Request-Id`` if it is short and plain, else its
    ``X-Amzn-Trace-Id`` if so (huggingface_hub sends a uuid4 there, and the Hub answers with it), else a
    new uuid4."""
    given = {name.lower(): value for name, value in scope.get("headers", ())
             if name.lower() in (b"x-request-id", b"x-amzn-trace-id")}
    for name in (b"x-request-id", b"x-amzn-trace-id"):
        if name in given:
            return given[name] if _CALLER_REQUEST_ID.fullmatch(given[name]) else uuid.uuid4().hex.encode()
    return uuid.uuid4().hex.encode()


def safe_headers(headers: list[tuple[bytes, bytes]], rid: bytes = b"") -> list[tuple[bytes, bytes]]:
    """Response headers without control characters, with ``nosniff``, a default sandboxing CSP and
    ``X-Request-Id: rid`` (replacing any a route set)."""
    out, has_csp, has_nosniff = [], False, False
    for name, value in headers:
        lower = name.lower()
        if rid and lower == b"x-request-id":
            continue
        if _CONTROL.search(value):
            value = _CONTROL.sub(b"?", value)
        has_csp = has_csp or lower == b"content-security-policy"
        has_nosniff = has_nosniff or lower == b"x-content-type-options"
        out.append((name, value))
    if not has_nosniff:
        out.append((b"x-content-type-options", b"nosniff"))
    if not has_csp:
        out.append((b"content-security-policy", USER_CONTENT_CSP))
    if rid:
        out.append((b"x-request-id", rid))
    return out


def internal_error(head: bool) -> Response:
    """The answer to a request whose route failed unexpectedly (the log has the traceback)."""
    message = "Internal server error: the server log has the details"
    headers = {"X-Error-Code": "InternalError", "X-Error-Message": message}
    if head:
        return Response(status_code=500, headers=headers)
    return JSONResponse({"error": message}, status_code=500, headers=headers)


class HubMiddleware:
    """The ASGI middleware around the whole app (see the module docstring)."""

    def __init__(self, app, hub: Hub) -> None:
        self.app = app
        self.hub = hub

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = scope["cove.request_id"] = request_id(scope)
        scope["cove.caller"] = await identify(self.hub, HTTPConnection(scope))
        started = False

        async def send_safe(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = safe_headers(list(message.get("headers", ())), rid)
            await send(message)

        try:
            await self.app(scope, receive, send_safe)
        except Exception:
            # answered here, not by Starlette's outermost handler, so that a 500 carries the same headers
            log.exception("unhandled error on %s %s (request %s)", scope.get("method"), scope.get("path"),
                          rid.decode())
            if started:
                raise
            await internal_error(scope.get("method") == "HEAD")(scope, receive, send_safe)
