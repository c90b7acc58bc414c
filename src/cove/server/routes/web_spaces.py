"""A Space's owner controls on its settings page: restart, pause, sleep time, secrets and variables.
Each form is a POST with the page's CSRF token, acting through the same service calls as the API."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from cove.errors import BadRequest
from cove.server.routes._common import hub_of
from cove.server.routes.web import WebRoute, checked_form, repo_href, signed_in

router = APIRouter(route_class=WebRoute, include_in_schema=False)
BASE = "/spaces/{ns}/{name}/settings/space"


def _back(ns: str, name: str) -> RedirectResponse:
    return RedirectResponse(repo_href("space", f"{ns}/{name}", "settings"), status_code=303)


@router.post(BASE + "/{action}")
async def space_action(ns: str, name: str, action: str, request: Request):
    form = await checked_form(request)
    who, spaces, repo_id = signed_in(request), hub_of(request).spaces, f"{ns}/{name}"
    if action == "restart":
        await run_in_threadpool(spaces.restart, who, repo_id, factory=form.get("factory") == "1")
    elif action == "pause":
        await run_in_threadpool(spaces.pause, who, repo_id)
    elif action == "sleeptime":
        try:
            seconds = int(str(form.get("seconds", "")))
        except ValueError:
            raise BadRequest("The sleep time must be a whole number of seconds (-1: never)") from None
        await run_in_threadpool(spaces.set_sleep_time, who, repo_id, seconds)
    elif action in ("secret", "variable"):
        body = {"key": str(form.get("key", "")), "value": str(form.get("value", "")),
                "description": str(form.get("description", ""))}
        await run_in_threadpool(spaces.put_setting, who, repo_id, action, body)
    elif action in ("delete-secret", "delete-variable"):
        await run_in_threadpool(spaces.drop_setting, who, repo_id, action.split("-")[1], {"key": str(form.get("key", ""))})
    else:
        raise BadRequest(f"Unknown Space action {action!r}")
    return _back(ns, name)


def settings_context(request: Request, repo) -> dict:
    """What the settings page shows of a Space: its runtime, secrets (names only) and variables."""
    if repo.type != "space":
        return {}
    spaces, who = hub_of(request).spaces, signed_in(request)
    return {"space": spaces.runtime(repo), "space_secrets": spaces.settings_of(who, repo.repo_id, "secret"),
            "space_variables": spaces.settings_of(who, repo.repo_id, "variable")}
