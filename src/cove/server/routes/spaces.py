"""Spaces: the runtime and management API huggingface_hub calls (``get_space_runtime``,
``restart_space``, ``pause_space``, ``set_space_sleep_time``, secrets, variables, ``fetch_space_logs``)
and the proxy to the apps under ``/-/spaces/{ns}/{name}/`` (the ``host`` that ``space_info`` reports and
gradio_client connects to)."""

from __future__ import annotations

from urllib.parse import quote, unquote, urlencode

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from cove.errors import BadRequest, Conflict, CoveError, RepoNotFound
from cove.server.middleware import SESSION_COOKIE
from cove.server.routes import _openapi_spaces as api
from cove.server.routes._common import JsonBody, base_url, hub_of, principal, repo_url
from cove.server.routes.web import WebRoute, error_page
from cove.server.services.spaces import GRANT_COOKIE, GRANT_PARAM, grant_cookie
from cove.server.spaces.proxy import static_file

router = APIRouter(tags=["spaces"])
apps = APIRouter(route_class=WebRoute, include_in_schema=False)
BASE = "/api/spaces/{ns}/{name}"
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
#: What this Hub offers for ``request_space_hardware`` (every app runs on the Hub's own CPU).
HARDWARE = [{"name": "cpu-basic", "prettyName": "CPU basic (the Hub's machine)", "cpu": "shared", "ram": "shared",
             "accelerator": None, "unitCostMicroUSD": 0, "unitCostUSD": 0, "unitLabel": "hour"}]


@router.get(BASE + "/runtime", **api.RUNTIME)
def runtime(ns: str, name: str, request: Request):
    return hub_of(request).spaces.runtime_of(principal(request), f"{ns}/{name}")


@router.post(BASE + "/restart", **api.RESTART)
def restart(ns: str, name: str, request: Request):
    factory = request.query_params.get("factory", "").lower() in ("1", "true")
    return hub_of(request).spaces.restart(principal(request), f"{ns}/{name}", factory=factory)


@router.post(BASE + "/pause", **api.PAUSE)
def pause(ns: str, name: str, request: Request):
    return hub_of(request).spaces.pause(principal(request), f"{ns}/{name}")


@router.post(BASE + "/sleeptime", **api.SLEEPTIME)
def sleeptime(ns: str, name: str, request: Request, body: JsonBody):
    return hub_of(request).spaces.set_sleep_time(principal(request), f"{ns}/{name}", body.get("seconds"))


@router.post(BASE + "/hardware", **api.HARDWARE)
def hardware(ns: str, name: str, request: Request, body: JsonBody):
    spaces = hub_of(request).spaces
    if body.get("flavor") != "cpu-basic":
        spaces.get(principal(request), f"{ns}/{name}", "write")
        raise BadRequest(f"This Hub runs Spaces on its own CPU only: flavor 'cpu-basic', not {body.get('flavor')!r}")
    if body.get("sleepTimeSeconds") is not None:
        return spaces.set_sleep_time(principal(request), f"{ns}/{name}", body["sleepTimeSeconds"])
    return spaces.runtime(spaces.get(principal(request), f"{ns}/{name}", "write"))


@router.get("/api/spaces/hardware", **api.HARDWARE_LIST)
def hardware_list():
    return HARDWARE


@router.get(BASE + "/host", **api.HOST)
def host(ns: str, name: str, request: Request):
    repo = hub_of(request).spaces.get(principal(request), f"{ns}/{name}")
    return {"host": space_host(request, repo.repo_id), "subdomain": f"{repo.namespace}-{repo.name}".lower()}


def space_host(request: Request, repo_id: str) -> str:
    return f"{base_url(request)}/-/spaces/{repo_id}/"


def _settings_route(kind: str):
    path = BASE + ("/secrets" if kind == "secret" else "/variables")

    @router.get(path, **api.SETTINGS_GET)
    def read(ns: str, name: str, request: Request):
        return hub_of(request).spaces.settings_of(principal(request), f"{ns}/{name}", kind)

    @router.post(path, **api.SETTINGS_PUT)
    def put(ns: str, name: str, request: Request, body: JsonBody):
        spaces, who = hub_of(request).spaces, principal(request)
        spaces.put_setting(who, f"{ns}/{name}", kind, body)
        return spaces.settings_of(who, f"{ns}/{name}", kind) if kind == "variable" else {}

    @router.delete(path, **api.SETTINGS_DELETE)
    def drop(ns: str, name: str, request: Request, body: JsonBody):
        spaces, who = hub_of(request).spaces, principal(request)
        spaces.drop_setting(who, f"{ns}/{name}", kind, body)
        return spaces.settings_of(who, f"{ns}/{name}", kind) if kind == "variable" else {}


_settings_route("secret")
_settings_route("variable")


@router.post(BASE + "/duplicate", **api.DUPLICATE)
def duplicate(ns: str, name: str, request: Request, body: JsonBody):
    try:
        repo = hub_of(request).spaces.duplicate(principal(request), f"{ns}/{name}", body)
    except Conflict as e:
        existing = getattr(e, "repo", None)
        if existing is None:
            raise
        return JSONResponse({"error": e.message, "url": repo_url(request, "space", existing.repo_id)},
                            status_code=409, headers={"X-Error-Code": "Conflict"})
    return {"url": repo_url(request, "space", repo.repo_id)}


@router.get(BASE + "/logs/{which}", **api.LOGS)
def logs(ns: str, name: str, which: str, request: Request):
    spaces = hub_of(request).spaces
    repo, path = spaces.log_path(principal(request), f"{ns}/{name}", which)
    return StreamingResponse(spaces.log_stream(repo, path, which), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})  # uvicorn sends Date


# -- the apps -------------------------------------------------------------------------------------


class SpaceApps:
    """``/-/spaces/{ns}/{name}/...`` as raw ASGI, called by the Hub's middleware ahead of the framework's
    routing (the proxy's hot path: a request here costs no route matching, no dependency solving).
    Who asks: the middleware's caller (the session cookie counts for every method: the app is read
    access), gradio_client's ``X-HF-Authorization``, or the Space's grant cookie (a private Space in
    the viewer's browser, :meth:`Spaces.grant`)."""

    PREFIX = "/-/spaces/"

    def __init__(self, app) -> None:
        self.app = app  # the FastAPI app: its state holds the hub and the proxy, its templates render errors
        self.hub, self.proxy = app.state.hub, app.state.space_proxy

    async def __call__(self, scope, receive, send) -> None:
        scope["app"] = self.app
        raw = scope.get("raw_path") or scope["path"].encode()
        parts = raw.split(b"?", 1)[0].split(b"/", 5)  # b"", b"-", b"spaces", ns, name[, tail]
        if len(parts) < 5 or not parts[3] or not parts[4]:
            await error_page(Request(scope), RepoNotFound("Repository not found"))(scope, receive, send)
            return
        ns, name = unquote(parts[3].decode("latin-1")), unquote(parts[4].decode("latin-1"))
        query = scope.get("query_string", b"")
        if len(parts) == 5:  # gradio's page uses <base href="./">: without the slash its assets resolve one level up
            location = f"/-/spaces/{ns}/{name}/" + (f"?{query.decode('latin-1')}" if query else "")
            await RedirectResponse(location, status_code=307)(scope, receive, send)
            return
        try:
            if GRANT_PARAM.encode() in query:
                await self._take_grant(scope, receive, send, ns, name)
                return
            who = await self._who(scope, f"{ns}/{name}")
            target = await self.hub.spaces.upstream(who, f"{ns}/{name}")
        except CoveError as err:
            await error_page(Request(scope), err)(scope, receive, send)
            return
        tail = b"/" + parts[5] if len(parts) > 5 else b"/"
        if target.static_dir is not None:
            origin_null = (b"origin", b"null") in scope["headers"]
            response = static_file(target.static_dir, unquote(tail.decode("latin-1"))[1:], target.index, origin_null)
            await response(scope, receive, send)
            return
        path = (target.mount.encode() + tail) if target.mount else tail
        await self.proxy.forward(scope, receive, send, target.port, path + (b"?" + query if query else b""))

    async def _who(self, scope, repo_id: str):
        found = scope.get("cove.caller")
        if found is not None and found.error is not None:
            raise found.error
        who = found.principal if found is not None else None
        if who is not None:
            return who
        headers = dict(scope["headers"])
        hf_auth = headers.get(b"x-hf-authorization")
        if hf_auth:  # gradio_client's token: checked off the event loop
            return await run_in_threadpool(self.hub.spaces.proxy_caller, None, hf_auth.decode("latin-1"))
        grant = Request(scope).cookies.get(GRANT_COOKIE)
        if grant:
            return await run_in_threadpool(self.hub.spaces.grant_caller, grant, repo_id)
        return None

    async def _take_grant(self, scope, receive, send, ns: str, name: str) -> None:
        """``?__cove_grant=...`` (the Space page's iframe): checked, kept as a cookie for this Space's
        path only, and the same URL without it (so the token is never the app's URL, nor a Referer)."""
        request = Request(scope)
        token = request.query_params.get(GRANT_PARAM, "")
        if await run_in_threadpool(self.hub.spaces.grant_caller, token, f"{ns}/{name}") is None:
            raise RepoNotFound("Repository not found (or the app's link expired: reload the Space's page)")
        rest = [(k, v) for k, v in request.query_params.multi_items() if k != GRANT_PARAM]
        tail = scope["path"].split("/", 5)[5] if scope["path"].count("/") >= 5 else ""
        location = f"/-/spaces/{quote(ns)}/{quote(name)}/{quote(tail)}" + (f"?{urlencode(rest)}" if rest else "")
        response = RedirectResponse(location, status_code=303, headers={"Referrer-Policy": "no-referrer",
                                                                         "Cache-Control": "no-store"})
        response.raw_headers.append((b"set-cookie", grant_cookie(ns, name, token).encode()))
        await response(scope, receive, send)


@apps.websocket("/-/spaces/{ns}/{name}/{tail:path}")
async def app_socket(ws: WebSocket, ns: str, name: str, tail: str):
    hub = hub_of(ws)
    try:
        cookie, grant = ws.cookies.get(SESSION_COOKIE), ws.cookies.get(GRANT_COOKIE)
        who = await run_in_threadpool(hub.accounts.authenticate_session, cookie) if cookie else None
        who = await run_in_threadpool(hub.spaces.proxy_caller, who, ws.headers.get("x-hf-authorization"))
        if who is None and grant:
            who = await run_in_threadpool(hub.spaces.grant_caller, grant, f"{ns}/{name}")
        target = await hub.spaces.upstream(who, f"{ns}/{name}")
    except CoveError:
        await ws.close(code=1008)
        return
    if target.static_dir is not None:
        await ws.close(code=1003)
        return
    await ws.app.state.space_proxy.websocket(ws, target.port, tail, target.mount)
