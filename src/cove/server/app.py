"""``create_app(settings)``: the Hub as an ASGI app. Nothing is built at import time."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from cove.errors import BadRequest, CoveError, EntryNotFound, RepoNotFound
from cove.server.middleware import SESSION_COOKIE, HubMiddleware
from cove.server.routes import (
    _openapi,
    admin,
    api_content,
    api_history,
    api_repos,
    buckets,
    collections,
    commit,
    discussions,
    gating,
    git,
    inference,
    lfs,
    resolve,
    security,
    spaces,
    viewer,
    web,
    web_account,
    web_admin,
    web_collections,
    web_discussions,
    web_edit,
    web_manage,
    web_notifications,
    web_repo,
    web_spaces,
    web_webhooks,
    webhooks,
    xet,
)
from cove.server.routes._common import error_response, moved_location, names_repo_without_namespace
from cove.server.services import Hub
from cove.server.services.repos import REPO_NOT_FOUND, RepoMoved
from cove.server.settings import Settings
from cove.server.spaces.proxy import Proxy

log = logging.getLogger("cove.server")

#: Route modules, most specific first: the web UI's catch-all pages come last.
#: (web_discussions after web_repo: /datasets/ns/discussions is the page of a dataset so named.)
ROUTERS = (admin, spaces, buckets, collections, discussions, webhooks, api_repos, api_content, api_history, gating,
           security, commit, lfs, git, resolve, inference, viewer, xet, web_account, web_admin, web_notifications,
           web_webhooks, web_spaces, web_collections, web_repo, web_discussions, web_manage, web_edit, web)


#: Seconds between two sweeps of stale upload temporaries (the first runs at start).
HOUSEKEEPING_EVERY = 3600


async def _housekeeping(hub: Hub) -> None:
    while True:
        try:
            await run_in_threadpool(hub.sweep)
        except Exception:  # a failed sweep must not stop the next ones
            log.exception("housekeeping failed")
        await asyncio.sleep(HOUSEKEEPING_EVERY)


class CoveApp(FastAPI):
    """The Hub's app; requests under a prefix of ``fast`` go straight to its ASGI app (still inside
    :class:`HubMiddleware`: the caller, safe headers, the 500 answer), the rest through the framework."""

    fast: tuple = ()

    def build_middleware_stack(self):
        stack = super().build_middleware_stack()
        if not self.fast:
            return stack
        fast = self.fast

        async def app(scope, receive, send) -> None:
            if scope["type"] == "http":
                for prefix, handler in fast:
                    if scope["path"].startswith(prefix):
                        await handler(scope, receive, send)
                        return
            await stack(scope, receive, send)

        return app


def create_app(settings: Settings, hub: Hub | None = None) -> FastAPI:
    hub = hub or Hub(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        task = asyncio.create_task(_housekeeping(hub))
        if "web" in settings.roles:
            hub.deliverer.start()  # webhook deliveries, off the request path
        if "spaces" in settings.roles:  # one process per data dir takes the runner's lock
            await run_in_threadpool(hub.runner.start)
        try:
            yield
        finally:
            task.cancel()
            await run_in_threadpool(hub.deliverer.stop)
            await run_in_threadpool(hub.runner.stop)
            await app.state.space_proxy.close()

    app = CoveApp(title="Cove Hub", version="0.1.0", docs_url=None, openapi_url="/api/openapi.json",
                  redoc_url=None, lifespan=lifespan)
    app.state.hub = hub
    app.state.space_proxy = Proxy((SESSION_COOKIE,))
    app.add_middleware(HubMiddleware, hub=hub)
    if "web" in settings.roles:  # the Space proxy's hot path: past the framework's middleware and routing
        app.fast = (("/-/spaces/", HubMiddleware(spaces.SpaceApps(app), hub)),)
    app.openapi = lambda: _openapi.openapi(app)  # the routes' own descriptions, see routes/_openapi.py

    @app.exception_handler(CoveError)
    async def cove_error(request: Request, err: CoveError):
        if isinstance(err, RepoMoved):  # the old id of a moved repo, asked by someone who may read it
            location = moved_location(request, err.old_id, err.new_id)
            if location is not None:
                return RedirectResponse(location, status_code=307)
            err = RepoNotFound(REPO_NOT_FOUND)  # named in a body: the old id is free
        return error_response(err, head=request.method == "HEAD")

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError):
        first = err.errors()[0] if err.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()))
        return error_response(BadRequest(f"Invalid request: {where}: {first.get('msg', 'bad value')}"),
                              head=request.method == "HEAD")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException):
        # the Xet client reads only a 404 as "not offered" (HEAD /v1/xorbs/..., batch reconstructions)
        not_offered = err.status_code == 405 and request.url.path.startswith(xet.CAS_PREFIX + "/")
        if err.status_code in (404, 405) and names_repo_without_namespace(request.url.path):
            cove = RepoNotFound(REPO_NOT_FOUND)
        elif err.status_code == 404 or not_offered:
            cove = EntryNotFound(f"Nothing at {request.url.path}")
            cove.code = "NotFound"
        else:
            cove = CoveError(str(err.detail))
            cove.status = err.status_code
        return error_response(cove, head=request.method == "HEAD")

    # mounted before the routers, so the web UI's catch-all pages never shadow /static/...
    app.mount("/static", StaticFiles(directory=web.WEB_DIR / "static"), name="static")
    if "web" in settings.roles:
        app.include_router(spaces.apps)  # /-/spaces/...: before the web UI's catch-all pages
        for module in ROUTERS:
            app.include_router(module.router)
        app.include_router(xet.cas)
    else:  # a dedicated inference replica: the inference API alone
        app.include_router(inference.router)
    return app


def app_from_env() -> FastAPI:
    """The app for one of several worker processes (``cove serve --workers N``): settings from ``COVE_*``."""
    return create_app(Settings.from_env())
