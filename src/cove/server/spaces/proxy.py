"""The reverse proxy in front of Space apps (``/-/spaces/{ns}/{name}/...``): every method, body and
cookie forwarded unbuffered both ways (gradio's ``queue/data`` is a server-sent-events stream open for a
whole prediction), ``X-Forwarded-Host``/``-Proto``/``-For`` added, the Hub's credentials (the session
cookie, ``Authorization``, ``X-HF-Authorization``) removed, websockets relayed frame by frame. HTTP goes
as raw ASGI over pooled keep-alive connections (:mod:`cove.server.spaces.http1`).

User content never runs as the Hub: every answer carries a CSP ``sandbox`` without
``allow-same-origin``, so the app's pages get an opaque origin: their scripts cannot read the Hub's
cookies or pages (the Hub's own routes send no CORS headers), while the proxy answers the app's own
requests from that opaque origin (``Origin: null``) with CORS headers for the app's prefix only.
"""

from __future__ import annotations

import asyncio
import mimetypes
from http.cookies import SimpleCookie
from pathlib import Path

from starlette.responses import FileResponse, Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from cove.protocol import is_digits
from cove.server.spaces.http1 import Pool, UpstreamError

#: Headers that belong to one connection, never forwarded (RFC 9110 §7.6.1), plus what the proxy sets.
HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers",
       "transfer-encoding", "upgrade", "host", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-for"}
#: The Hub's credentials: the app never sees them.
CREDENTIALS = {"authorization", "x-hf-authorization"}
#: The app's pages get an opaque origin (no allow-same-origin): nothing they run can read the Hub's cookies.
APP_CSP = ("sandbox allow-scripts allow-forms allow-popups allow-popups-to-escape-sandbox allow-modals "
           "allow-downloads allow-pointer-lock allow-presentation; frame-ancestors 'self'")
APP_CSP_BYTES = APP_CSP.encode()
#: Request headers not forwarded as they are (the client reads some of them first).
SKIP_REQUEST = {h.encode() for h in HOP | CREDENTIALS | {"content-length", "expect"}}
#: Response headers the proxy drops: the connection's own, and the app's framing rules it replaces.
SKIP_RESPONSE = {h.encode() for h in HOP | {"content-security-policy", "x-frame-options"}}


def preflight_headers(request_headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """An ``OPTIONS`` preflight from the app's opaque origin, answered by the proxy."""
    out = app_headers(True) + [(b"access-control-allow-methods", b"GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"),
                               (b"access-control-max-age", b"600")]
    asked = next((v for k, v in request_headers if k == b"access-control-request-headers"), None)
    if asked:
        out.append((b"access-control-allow-headers", asked))
    return out


def forwarded_headers(headers, client: str, host: str, proto: str, strip_cookies: tuple[str, ...]) -> dict[str, str]:
    """The websocket relay's request headers (``headers``: a str mapping)."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower in HOP or lower in CREDENTIALS or lower.startswith("sec-websocket"):
            continue
        if lower == "cookie":
            value = _without_cookies(value, strip_cookies)
            if not value:
                continue
        out[lower] = value
    out.update({"x-forwarded-host": host, "x-forwarded-proto": proto, "x-forwarded-for": client})
    return out


def _without_cookies(header: str, names: tuple[str, ...]) -> str:
    jar = SimpleCookie()
    try:
        jar.load(header)
    except Exception:  # a cookie header the parser refuses: forward none of it rather than the session
        return ""
    return "; ".join(f"{k}={m.coded_value}" for k, m in jar.items() if k not in names)


def app_headers(origin_null: bool) -> list[tuple[bytes, bytes]]:
    """What every proxied answer carries: the sandboxing CSP, and CORS for the app's own opaque origin."""
    out = [(b"content-security-policy", APP_CSP_BYTES)]
    if origin_null:
        out += [(b"access-control-allow-origin", b"null"), (b"access-control-allow-credentials", b"true"),
                (b"vary", b"Origin")]
    return out


async def _answer(send, status: int, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _disconnected(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class Proxy:
    def __init__(self, strip_cookies: tuple[str, ...]) -> None:
        #: The Hub's cookies (the session, the Space grant): never forwarded to an app.
        self.strip_cookies = strip_cookies
        self.pool = Pool()

    async def close(self) -> None:
        self.pool.close()

    async def forward(self, scope, receive, send, port: int, target: bytes, *, prefix: str = "",
                      grant: bool = False) -> None:
        """The request in ``scope`` to the app on ``port`` at ``target`` (its path and query as sent),
        streamed both ways, as raw ASGI. ``prefix``: the public path the app is served under, sent in
        ``X-Forwarded-Host`` after the host (gradio builds its root URL from that header, so a page under a
        grant keeps the grant in its API calls). ``grant``: the URL holds one: its answers send no Referer."""
        method = scope["method"]
        origin_null, length, chunked = False, None, False
        client = scope["client"][0] if scope.get("client") else ""
        host = b""
        out: list[tuple[bytes, bytes]] = []
        for name, value in scope["headers"]:
            if name in SKIP_REQUEST:
                if name == b"host":
                    host = value
                elif name == b"content-length":
                    length = int(value) if is_digits(value) else None
                elif name == b"transfer-encoding":
                    chunked = b"chunked" in value.lower()
                continue
            if name == b"origin" and value == b"null":
                origin_null = True
            elif name.startswith(b"sec-websocket"):
                continue
            elif name == b"cookie":
                value = _without_cookies(value.decode("latin-1"), self.strip_cookies).encode("latin-1")
                if not value:
                    continue
            out.append((name, value))
        out += [(b"x-forwarded-host", host + prefix.encode()), (b"x-forwarded-proto", scope.get("scheme", "http").encode()),
                (b"x-forwarded-for", client.encode())]
        if method == "OPTIONS" and origin_null:
            await _answer(send, 204, preflight_headers(scope["headers"]))
            return
        has_body = (length is not None and length > 0) or chunked
        try:
            answer = await self.pool.request(port, method, target.decode("latin-1"), out,
                                             _request_body(receive) if has_body else None, length)
        except UpstreamError as e:
            await _answer(send, 502, [(b"x-error-code", b"SpaceUnavailable"), *app_headers(origin_null)],
                          f"The Space's app did not answer: {e}".encode())
            return
        headers = [(k, v) for k, v in answer.headers if k.lower() not in SKIP_RESPONSE]
        headers += app_headers(origin_null)
        if grant:  # the URL holds a grant: never sent on as a Referer, not even to the Hub
            headers.append((b"referrer-policy", b"no-referrer"))
        bounded = any(k.lower() == b"content-length" for k, _ in answer.headers)
        # the request body, if any, was read to its end before the answer came: receive() is free to watch
        watcher = None if bounded else asyncio.ensure_future(_disconnected(receive))
        try:
            await send({"type": "http.response.start", "status": answer.status, "headers": headers})
            async for chunk in answer.body():
                if watcher is not None and watcher.done():
                    break  # the browser left (an SSE stream it no longer reads)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            if watcher is not None:
                watcher.cancel()
            answer.release()

    async def websocket(self, ws: WebSocket, port: int, tail: str, mount: str = "") -> None:
        """Relay a websocket (Streamlit's ``/_stcore/stream``) both ways until either side closes."""
        import websockets

        url = f"ws://127.0.0.1:{port}{mount}/{tail}"
        if ws.url.query:
            url += "?" + ws.url.query
        headers = forwarded_headers(ws.headers, ws.client.host if ws.client else "", ws.headers.get("host", ""),
                                    "https" if ws.url.scheme == "wss" else "http", self.strip_cookies)
        headers.pop("origin", None)
        protocols = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
        try:
            upstream = await websockets.connect(url, additional_headers=headers, subprotocols=protocols or None,
                                                max_size=None, open_timeout=30)
        except Exception:
            await ws.close(code=1011)
            return
        await ws.accept(subprotocol=upstream.subprotocol)

        async def to_app() -> None:
            try:
                while True:
                    message = await ws.receive()
                    if message["type"] == "websocket.disconnect":
                        break
                    await upstream.send(message["bytes"] if message.get("bytes") is not None else message["text"])
            except WebSocketDisconnect:
                pass
            await upstream.close()

        async def to_browser() -> None:
            try:
                async for message in upstream:
                    if isinstance(message, bytes):
                        await ws.send_bytes(message)
                    else:
                        await ws.send_text(message)
            except Exception:
                pass
            try:
                await ws.close()
            except RuntimeError:
                pass

        await asyncio.gather(to_app(), to_browser())


def static_file(root: Path, tail: str, index: str, origin_null: bool) -> Response:
    """A static Space's file at ``tail`` (its ``app_file`` at the root), never outside ``root``."""
    path = (root / (tail or index)).resolve()
    if path.is_dir():
        path = path / "index.html"
    headers = {k.decode(): v.decode() for k, v in app_headers(origin_null)}
    if not path.is_relative_to(root.resolve()) or not path.is_file():
        return Response("Not found in this Space", status_code=404, headers=headers)
    media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media, headers=headers)


async def _request_body(receive):
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionError("the client left while sending its body")
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return
