"""``/notifications``: what concerns the signed-in user (:mod:`cove.server.services.notifications`), newest
first, each linking to its discussion or the repo's access requests; mark one or all read (CSRF forms)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from cove.errors import BadRequest
from cove.protocol import is_digits
from cove.server.routes._common import hub_of
from cove.server.routes.web import WebRoute, checked_form, render, repo_href, signed_in

router = APIRouter(route_class=WebRoute, include_in_schema=False)
SAYS = {"discussion": "opened a discussion on", "pull_request": "opened a pull request on",
        "reply": "replied in a discussion on", "mention": "mentioned you on", "access_request": "asked for access to"}


@router.get("/notifications", response_class=HTMLResponse)
def notifications_page(request: Request):
    who = signed_in(request)
    if who is None:
        return RedirectResponse("/login?next=/notifications", status_code=303)
    items = []
    for n, repo, actor in hub_of(request).notifications.latest(who):
        href = repo_href(repo.type, repo.repo_id, "discussions", str(n.num)) if n.num else \
            repo_href(repo.type, repo.repo_id, "settings")
        items.append({"id": n.id, "read": n.read, "actor": actor or "someone", "says": SAYS.get(n.kind, n.kind),
                      "repo": repo.repo_id, "title": n.title, "href": href, "when": n.created_at, "kind": n.kind})
    response = render(request, "notifications.html", items=items)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/notifications/read")
async def mark_read(request: Request):
    """Mark the notification ``id`` read, or all of them without one."""
    form = await checked_form(request)
    who = signed_in(request)
    if who is None:
        return RedirectResponse("/login?next=/notifications", status_code=303)
    raw = str(form.get("id", ""))
    if raw and not is_digits(raw):
        raise BadRequest("Invalid notification id")
    hub_of(request).notifications.mark_read(who, [int(raw)] if raw else None)
    return RedirectResponse("/notifications", status_code=303)
