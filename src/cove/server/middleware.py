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
  answer opened in a browser runs no script and reaches nothing as the Hub's origin.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from cove.errors import CoveError, Unauthorized
from cove.server.services import Hub, Principal
from cove.server.services.accounts import TOKEN_PREFIX

SESSION_COOKIE = "cove_session"
USER_CONTENT_CSP = b"sandbox; default-src 'none'; frame-ancestors 'none'"
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


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


def safe_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Response headers without control characters, with ``nosniff`` and a default sandboxing CSP."""
    out, has_csp, has_nosniff = [], False, False
    for name, value in headers:
        lower = name.lower()
        if _CONTROL.search(value):
            value = _CONTROL.sub(b"?", value)
        has_csp = has_csp or lower == b"content-security-policy"
        has_nosniff = has_nosniff or lower == b"x-content-type-options"
        out.append((name, value))
    if not has_nosniff:
        out.append((b"x-content-type-options", b"nosniff"))
    if not has_csp:
        out.append((b"content-security-policy", USER_CONTENT_CSP))
    return out


class HubMiddleware:
    """The ASGI middleware around the whole app (see the module docstring)."""

    def __init__(self, app, hub: Hub) -> None:
        self.app = app
        self.hub = hub

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope["cove.caller"] = await identify(self.hub, HTTPConnection(scope))

        async def send_safe(message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = safe_headers(list(message.get("headers", ())))
            await send(message)

        await self.app(scope, receive, send_safe)
