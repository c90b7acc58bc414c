"""A repo's settings page: visibility, gating and the access requests, rename or move, delete; and the
form a signed-in reader of a gated repo asks for access with and the like button (on the repo's card page).

The repo's settings change through the API's services and rules (``Repos.update_settings``, ``move``
and ``delete`` need the repo's admin rights, as ``PUT /api/.../settings`` does) with the same audit
events; a renamed repo's old URLs redirect to the new ones (``RepoMoved``). Deleting asks for the
repo's full name typed again.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from cove.errors import BadRequest
from cove.server.routes._audit import record_repo
from cove.server.routes._common import hub_of
from cove.server.routes.web import WebRoute, checked_form, render, repo_href, signed_in
from cove.server.routes.web_repo import open_repo, repo_context, repo_routes
from cove.server.routes.web_spaces import settings_context

router = APIRouter(route_class=WebRoute, include_in_schema=False)


# -- a repo's settings ----------------------------------------------------------------------------


@repo_routes(router, "/settings")
def repo_settings(ns: str, name: str, request: Request):
    if signed_in(request) is None:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    repo, git = open_repo(request, ns, name, "admin")
    hub = hub_of(request)
    owners = [o.name for o, role in hub.accounts.orgs_of(signed_in(request).user_id) if role in ("write", "admin")]
    requests = {status: hub.access_requests.list(signed_in(request), repo.type, repo.repo_id, status)
                for status in ("pending", "accepted", "rejected")} if repo.gated else {}
    return render(request, "repo_settings.html", **repo_context(request, repo, git, "settings"),
                  owners=[signed_in(request).name, *owners], requests=requests,
                  **settings_context(request, repo))


async def _admin_form(request: Request, ns: str, name: str):
    form = await checked_form(request)
    repo, _ = await run_in_threadpool(open_repo, request, ns, name, "admin")
    return form, repo


async def _update(request: Request, repo, action: str, **change) -> RedirectResponse:
    """``Repos.update_settings`` with ``change`` (``private=`` or ``gated=``), audited as the API audits it."""
    await run_in_threadpool(hub_of(request).repos.update_settings, signed_in(request), repo.type, repo.repo_id,
                            **change)
    record_repo(request, action, repo.type, repo.repo_id, change)
    return RedirectResponse(repo_href(repo.type, repo.repo_id, "settings"), status_code=303)


@repo_routes(router, "/settings/visibility", "POST")
async def set_visibility(ns: str, name: str, request: Request):
    form, repo = await _admin_form(request, ns, name)
    visibility = str(form.get("visibility", ""))
    if visibility not in ("public", "private"):
        raise BadRequest(f"Invalid visibility {visibility!r}: use private or public")
    return await _update(request, repo, "repo.visibility", private=visibility == "private")


@repo_routes(router, "/settings/gated", "POST")
async def set_gated(ns: str, name: str, request: Request):
    """Gate the repo's files behind access requests (accepted automatically or by its admins), or not."""
    form, repo = await _admin_form(request, ns, name)
    value = str(form.get("gated", ""))
    if value not in ("off", "auto", "manual"):
        raise BadRequest(f"Invalid gating {value!r}: use off, auto or manual")
    return await _update(request, repo, "repo.gated", gated=False if value == "off" else value)


@repo_routes(router, "/settings/move", "POST")
async def move(ns: str, name: str, request: Request):
    form, repo = await _admin_form(request, ns, name)
    to_id = f"{str(form.get('owner', '')).strip()}/{str(form.get('name', '')).strip()}"
    moved = await run_in_threadpool(hub_of(request).repos.move, signed_in(request), repo.type, repo.repo_id, to_id)
    record_repo(request, "repo.move", repo.type, repo.repo_id, {"to": moved.repo_id})
    return RedirectResponse(repo_href(moved.type, moved.repo_id, "settings"), status_code=303)


@repo_routes(router, "/settings/delete", "POST")
async def delete(ns: str, name: str, request: Request):
    form, repo = await _admin_form(request, ns, name)
    if str(form.get("confirm", "")).strip() != repo.repo_id:
        raise BadRequest(f"To delete it, type the repo's full name, {repo.repo_id}, in the box")
    await run_in_threadpool(hub_of(request).repos.delete, signed_in(request), repo.type, repo.repo_id)
    record_repo(request, "repo.delete", repo.type, repo.repo_id)
    return RedirectResponse(f"/{signed_in(request).name}", status_code=303)


@repo_routes(router, "/settings/access", "POST")
async def handle_access(ns: str, name: str, request: Request):
    """Accept or reject an access request (or send it back to pending), as the API's ``handle`` does."""
    form, repo = await _admin_form(request, ns, name)
    oid, status = str(form.get("request", "")), str(form.get("status", ""))
    await run_in_threadpool(hub_of(request).access_requests.handle, signed_in(request), repo.type, repo.repo_id,
                            user=None, request_id=oid, status=status, reason=str(form.get("reason") or "") or None)
    record_repo(request, "repo.access", repo.type, repo.repo_id, {"user": oid, "status": status, "via": "web"})
    return RedirectResponse(repo_href(repo.type, repo.repo_id, "settings"), status_code=303)


@repo_routes(router, "/ask-access", "POST")
async def ask_access(ns: str, name: str, request: Request):
    """A signed-in reader asks for a gated repo's files, answering what its card asks (``field:<name>``)."""
    form = await checked_form(request)
    who = signed_in(request)
    if who is None:
        return RedirectResponse(f"/login?next={request.url.path.removesuffix('/ask-access')}", status_code=303)
    repo, _ = await run_in_threadpool(open_repo, request, ns, name)
    answers = {key.removeprefix("field:"): str(value) for key, value in form.items() if key.startswith("field:")}
    status = await run_in_threadpool(hub_of(request).access_requests.submit, who, repo.type, repo.repo_id, answers)
    record_repo(request, "repo.access", repo.type, repo.repo_id, {"user": who.name, "status": status,
                                                                  "via": "request"})
    return RedirectResponse(repo_href(repo.type, repo.repo_id), status_code=303)


@repo_routes(router, "/like", "POST")
async def like(ns: str, name: str, request: Request):
    """Like (``liked=1``) or unlike (``liked=0``) the repo as the signed-in user, back to its card."""
    if signed_in(request) is None:
        return RedirectResponse(f"/login?next={request.url.path.removesuffix('/like')}", status_code=303)
    form = await checked_form(request)
    value = str(form.get("liked", ""))
    if value not in ("0", "1"):
        raise BadRequest(f"Invalid liked {value!r}: use 1 to like or 0 to unlike")
    repo, _ = await run_in_threadpool(open_repo, request, ns, name)
    await run_in_threadpool(hub_of(request).repos.like, signed_in(request), repo, value == "1")
    return RedirectResponse(repo_href(repo.type, repo.repo_id), status_code=303)
