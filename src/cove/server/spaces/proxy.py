"""The reverse proxy in front of Space apps (``/-/spaces/{ns}/{name}/...``): every method, body and
cookie forwarded unbuffered both ways (gradio's ``queue/data`` is a server-sent-events stream open for a
whole prediction), ``X-Forwarded-Host``/``-Proto``/``-For`` added, the Hub's credentials (the session
cookie, ``Authorization``, ``X-HF-Authorization``) removed, websockets relayed frame by frame.

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

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

#: Headers that belong to one connection, never forwarded (RFC 9110 §7.6.1), plus what the proxy sets.
HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers",
       "transfer-encoding", "upgrade", "host", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-for"}
#: The Hub's credentials: the app never sees them.
CREDENTIALS = {"authorization", "x-hf-authorization"}
#: The app's pages get an opaque origin (no allow-same-origin): nothing they run can read the Hub's cookies.
APP_CSP = ("sandbox allow-scripts allow-forms allow-popups allow-popups-to-escape-sandbox allow-modals "
           "allow-downloads allow-pointer-lock allow-presentation; frame-ancestors 'self'")


def forwarded_headers(headers, client: str, host: str, proto: str, session_cookie: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower in HOP or lower in CREDENTIALS or lower.startswith("sec-websocket"):
            continue
        if lower == "cookie":
            value = _without_cookie(value, session_cookie)
            if not value:
                continue
        out[lower] = value
    out.update({"x-forwarded-host": host, "x-forwarded-proto": proto, "x-forwarded-for": client})
    return out


def _without_cookie(header: str, name: str) -> str:
    jar = SimpleCookie()
    try:
        jar.load(header)
    except Exception:  # a cookie header the parser refuses: forward none of it rather than the session
        return ""
    return "; ".join(f"{k}={m.coded_value}" for k, m in jar.items() if k != name)


def app_headers(request: Request) -> dict[str, str]:
    """What every proxied answer carries: the sandboxing CSP, and CORS for the app's own opaque origin."""
    out = {"content-security-policy": APP_CSP}
    if request.headers.get("origin") == "null":
        out.update({"access-control-allow-origin": "null", "access-control-allow-credentials": "true",
                    "vary": "Origin"})
    return out


def preflight(request: Request) -> Response:
    """An ``OPTIONS`` preflight from the app's opaque origin, answered here."""
    headers = app_headers(request)
    headers["access-control-allow-methods"] = "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"
    asked = request.headers.get("access-control-request-headers")
    if asked:
        headers["access-control-allow-headers"] = asked
    headers["access-control-max-age"] = "600"
    return Response(status_code=204, headers=headers)


class Proxy:
    def __init__(self, session_cookie: str) -> None:
        self.session_cookie = session_cookie
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:  # made in the event loop that uses it
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=None), follow_redirects=False,
                                             limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100))
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def forward(self, request: Request, port: int, tail: str, mount: str = "") -> Response:
        """``request`` to the app on ``port``, at ``{mount}/{tail}``, streamed both ways."""
        if request.method == "OPTIONS" and request.headers.get("origin") == "null":
            return preflight(request)
        url = f"http://127.0.0.1:{port}{mount}/{tail}"
        if request.url.query:
            url += "?" + request.url.query
        client = request.client.host if request.client else ""
        headers = forwarded_headers(request.headers, client, request.headers.get("host", ""), request.url.scheme,
                                    self.session_cookie)
        body = request.stream() if request.method not in ("GET", "HEAD") else None
        upstream = self.client.build_request(request.method, url, headers=headers, content=body)
        try:
            answer = await self.client.send(upstream, stream=True)
        except httpx.HTTPError as e:
            return Response(f"The Space's app did not answer: {type(e).__name__}", status_code=502,
                            headers={"X-Error-Code": "SpaceUnavailable", **app_headers(request)})
        out = [(k, v) for k, v in answer.headers.multi_items()
               if k.lower() not in HOP and k.lower() not in ("content-security-policy", "x-frame-options")]
        extra = app_headers(request)
        out += list(extra.items())
        response = StreamingResponse(answer.aiter_raw(), status_code=answer.status_code,
                                     background=BackgroundTask(answer.aclose))
        response.raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in out]
        return response

    async def websocket(self, ws: WebSocket, port: int, tail: str, mount: str = "") -> None:
        """Relay a websocket (Streamlit's ``/_stcore/stream``) both ways until either side closes."""
        import websockets

        url = f"ws://127.0.0.1:{port}{mount}/{tail}"
        if ws.url.query:
            url += "?" + ws.url.query
        headers = forwarded_headers(ws.headers, ws.client.host if ws.client else "", ws.headers.get("host", ""),
                                    "https" if ws.url.scheme == "wss" else "http", self.session_cookie)
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


def static_file(root: Path, tail: str, index: str, request: Request) -> Response:
    """A static Space's file at ``tail`` (its ``app_file`` at the root), never outside ``root``."""
    path = (root / (tail or index)).resolve()
    if path.is_dir():
        path = path / "index.html"
    if not path.is_relative_to(root.resolve()) or not path.is_file():
        return Response("Not found in this Space", status_code=404, headers=app_headers(request))
    media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media, headers=app_headers(request))
