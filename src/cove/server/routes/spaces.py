"""Spaces: the runtime and management API huggingface_hub calls (``get_space_runtime``,
``restart_space``, ``pause_space``, ``set_space_sleep_time``, secrets, variables, ``fetch_space_logs``)
and the proxy to the apps under ``/-/spaces/{ns}/{name}/`` (the ``host`` that ``space_info`` reports and
gradio_client connects to)."""

from __future__ import annotations

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from cove.errors import BadRequest, Conflict, CoveError
from cove.server.middleware import SESSION_COOKIE
from cove.server.routes import _openapi_spaces as api
from cove.server.routes._common import JsonBody, base_url, caller, hub_of, principal, repo_url
from cove.server.routes.web import WebRoute
from cove.server.spaces.proxy import Proxy, static_file

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


@apps.get("/-/spaces/{ns}/{name}")
def bare_prefix(ns: str, name: str, request: Request):
    """gradio's page uses ``<base href="./">``: without the trailing slash its assets resolve one level up."""
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(f"/-/spaces/{ns}/{name}/{query}", status_code=307)


@apps.api_route("/-/spaces/{ns}/{name}/{tail:path}", methods=METHODS)
async def app_request(ns: str, name: str, tail: str, request: Request):
    hub = hub_of(request)
    found = caller(request)  # the app is read access: a cookie counts for every method (SameSite=Lax)
    if found.error is not None:
        raise found.error
    who, hf_auth = found.principal, request.headers.get("x-hf-authorization")
    if who is None and hf_auth:  # gradio_client's token: checked off the event loop
        who = await run_in_threadpool(hub.spaces.proxy_caller, None, hf_auth)
    target = await hub.spaces.upstream(who, f"{ns}/{name}")
    if target.static_dir is not None:
        return static_file(target.static_dir, tail, target.index, request)
    proxy: Proxy = request.app.state.space_proxy
    return await proxy.forward(request, target.port, tail, target.mount)


@apps.websocket("/-/spaces/{ns}/{name}/{tail:path}")
async def app_socket(ws: WebSocket, ns: str, name: str, tail: str):
    hub = hub_of(ws)
    try:
        cookie = ws.cookies.get(SESSION_COOKIE)
        who = await run_in_threadpool(hub.accounts.authenticate_session, cookie) if cookie else None
        who = await run_in_threadpool(hub.spaces.proxy_caller, who, ws.headers.get("x-hf-authorization"))
        target = await hub.spaces.upstream(who, f"{ns}/{name}")
    except CoveError:
        await ws.close(code=1008)
        return
    if target.static_dir is not None:
        await ws.close(code=1003)
        return
    await ws.app.state.space_proxy.websocket(ws, target.port, tail, target.mount)
