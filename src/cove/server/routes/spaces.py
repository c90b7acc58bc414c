"""Spaces: the runtime and management API huggingface_hub calls (``get_space_runtime``,
``restart_space``, ``pause_space``, ``set_space_sleep_time``, secrets, variables, ``fetch_space_logs``)
and the proxy to the apps under ``/-/spaces/{ns}/{name}/`` (the ``host`` that ``space_info`` reports and
gradio_client connects to)."""

from __future__ import annotations

from urllib.parse import unquote

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from cove.errors import BadRequest, Conflict, CoveError, RepoNotFound
from cove.server.middleware import SESSION_COOKIE
from cove.server.routes import _openapi_spaces as api
from cove.server.routes._common import JsonBody, base_url, hub_of, principal, repo_url
from cove.server.routes.web import WebRoute, error_page
from cove.server.services.spaces import GRANT_SEGMENT
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
    access), gradio_client's ``X-HF-Authorization``, or a grant in the path,
    ``/-/spaces/{ns}/{name}/~grant/{token}/...`` (a private Space in its viewer's browser, where the
    app's opaque-origin frame sends no cookie: :meth:`Spaces.app_src`)."""

    GRANT = GRANT_SEGMENT.encode()

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
        tail, grant = parts[5], None
        if tail.startswith(self.GRANT + b"/"):
            _, token, tail = (tail + b"/").split(b"/", 2) if tail.count(b"/") == 1 else tail.split(b"/", 2)
            grant = token.decode("latin-1")
        try:
            who = await self._who(scope, f"{ns}/{name}", grant)
            target = await self.hub.spaces.upstream(who, f"{ns}/{name}")
        except CoveError as err:
            await error_page(Request(scope), err)(scope, receive, send)
            return
        origin_null = (b"origin", b"null") in scope["headers"]
        if target.static_dir is not None:
            response = static_file(target.static_dir, unquote(tail.decode("latin-1")), target.index, origin_null)
            if grant is not None:
                response.headers["referrer-policy"] = "no-referrer"
            await response(scope, receive, send)
            return
        # what the app is told it is served under (gradio builds its root URL from X-Forwarded-Host)
        public = f"/-/spaces/{ns}/{name}" + (f"/{GRANT_SEGMENT}/{grant}" if grant is not None else "")
        path = (target.mount.encode() if target.mount else b"") + b"/" + tail
        await self.proxy.forward(scope, receive, send, target.port, path + (b"?" + query if query else b""),
                                 prefix=public if not target.mount else "", grant=grant is not None)

    async def _who(self, scope, repo_id: str, grant: str | None):
        if grant is not None:  # a grant stands for its viewer alone (a wrong one is anonymous: a 404)
            return await run_in_threadpool(self.hub.spaces.grant_caller, grant, repo_id)
        found = scope.get("cove.caller")
        if found is not None and found.error is not None:
            raise found.error
        who = found.principal if found is not None else None
        if who is not None:
            return who
        hf_auth = dict(scope["headers"]).get(b"x-hf-authorization")
        if hf_auth:  # gradio_client's token: checked off the event loop
            return await run_in_threadpool(self.hub.spaces.proxy_caller, None, hf_auth.decode("latin-1"))
        return None


@apps.websocket("/-/spaces/{ns}/{name}/{tail:path}")
async def app_socket(ws: WebSocket, ns: str, name: str, tail: str):
    hub = hub_of(ws)
    try:
        cookie = ws.cookies.get(SESSION_COOKIE)
        who = await run_in_threadpool(hub.accounts.authenticate_session, cookie) if cookie else None
        who = await run_in_threadpool(hub.spaces.proxy_caller, who, ws.headers.get("x-hf-authorization"))
        if tail.startswith(GRANT_SEGMENT + "/"):  # a private Space's app in its viewer's browser
            _, grant, tail = (tail + "/").split("/", 2) if tail.count("/") == 1 else tail.split("/", 2)
            who = await run_in_threadpool(hub.spaces.grant_caller, grant, f"{ns}/{name}")
        target = await hub.spaces.upstream(who, f"{ns}/{name}")
    except CoveError:
        await ws.close(code=1008)
        return
    if target.static_dir is not None:
        await ws.close(code=1003)
        return
    await ws.app.state.space_proxy.websocket(ws, target.port, tail, target.mount)
