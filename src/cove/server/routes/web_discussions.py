"""The Community tab of repo pages: the list of discussions and pull requests, one discussion with its
events, a PR's diff, and forms to open a discussion, comment (with an image attached), close, reopen,
merge, rename it and hide a comment; the attached images (:mod:`cove.server.services.attachments`).

Pages at ``/{prefix}{ns}/{name}/discussions[/{num}]`` (prefix ``datasets/`` or ``spaces/`` or none). The
forms post back to the same URLs; a browser's form carries the session's CSRF token
(:func:`~cove.server.routes.web.check_csrf`), a caller with a token in ``Authorization`` needs none.
Comments are shown as the service renders them (:mod:`cove.server.services.markdown`: no raw HTML, no
active link targets); titles, the diff and everything else are escaped by the templates.
"""

from __future__ import annotations

import inspect

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from cove.errors import BadRequest
from cove.protocol import TYPED_PREFIXES, is_digits
from cove.server.routes._common import form_body, hub_of, principal
from cove.server.routes.web import WebRoute, check_csrf, render, repo_href, signed_in

router = APIRouter(route_class=WebRoute, include_in_schema=False)
PREFIXES = TYPED_PREFIXES  # most specific first
STATUSES = ("open", "closed", "all")


def _routes(suffix: str, method: str = "GET"):
    """Register ``fn(request, repo_type, ns, name, num)`` at ``suffix`` under the three repo prefixes."""
    def register(fn):
        for prefix, repo_type in PREFIXES:
            if inspect.iscoroutinefunction(fn):
                async def page(request: Request, ns: str, name: str, num: str = "", _fn=fn, _type=repo_type):
                    return await _fn(request, _type, ns, name, num)
            else:
                def page(request: Request, ns: str, name: str, num: str = "", _fn=fn, _type=repo_type):
                    return _fn(request, _type, ns, name, num)
            page.__name__ = f"{fn.__name__}_{repo_type}"
            router.add_api_route(f"{prefix}/{{ns}}/{{name}}{suffix}", page, methods=[method],
                                 response_class=HTMLResponse)
        return fn
    return register


def _num(text: str) -> int:
    if not is_digits(text) or len(text) > 9:
        raise BadRequest(f"Invalid discussion number {text!r}")
    return int(text)


async def _form(request: Request) -> dict:
    """The posted form (text fields as text, files as uploads); a browser session's CSRF token checked."""
    form = await form_body(request)
    if signed_in(request) is not None:
        check_csrf(request, form.get("csrf"))
    return {k: v if isinstance(v, UploadFile) else str(v) for k, v in form.items()}


def _comment_with_image(request: Request, repo_type: str, repo_id: str, text: str, image: bytes) -> str:
    """The comment's text, with the attached image stored and shown below it."""
    if not image:
        return text
    oid = hub_of(request).attachments.add(principal(request), repo_type, repo_id, image)
    link = f"![image]({repo_href(repo_type, repo_id, 'discussions', 'attachments', oid)})"
    return f"{text}\n\n{link}" if text.strip() else link


def _back(repo_type: str, ns: str, name: str, num: int | None = None) -> RedirectResponse:
    tail = ("discussions", str(num)) if num is not None else ("discussions",)
    return RedirectResponse(repo_href(repo_type, f"{ns}/{name}", *tail), status_code=303)


@_routes("/discussions")
def discussions_page(request: Request, repo_type: str, ns: str, name: str, num: str):
    status = request.query_params.get("status") or "open"
    if status not in STATUSES:
        raise BadRequest(f"Invalid status {status!r}: use open, closed or all")
    try:
        page = max(0, int(request.query_params.get("p") or 0))
    except ValueError:
        raise BadRequest("Invalid page number") from None
    threads, total, start = hub_of(request).discussions.list(principal(request), repo_type, f"{ns}/{name}",
                                                            kind=None, status=status, author=None, page=page)
    repo = threads[0].repo if threads else hub_of(request).discussions.repo(principal(request), repo_type,
                                                                           f"{ns}/{name}")
    return render(request, "repo_discussions.html", repo=repo, tab="community", rev="main", threads=threads,
                  shown=status, page=page, more=start + len(threads) < total, total=total)


@_routes("/discussions", "POST")
async def create_from_form(request: Request, repo_type: str, ns: str, name: str, num: str):
    form = await _form(request)
    new = await run_in_threadpool(hub_of(request).discussions.create, principal(request), repo_type,
                                  f"{ns}/{name}", form.get("title", ""), form.get("description", ""),
                                  form.get("pull_request") == "on")
    return _back(repo_type, ns, name, new)


@_routes("/discussions/{num}")
def discussion_page(request: Request, repo_type: str, ns: str, name: str, num: str):
    hub, who = hub_of(request), principal(request)
    thread = hub.discussions.details(who, repo_type, f"{ns}/{name}", _num(num), with_diff=True)
    comments = {e.oid: Markup(e.html) for e in thread.events if e.type == "comment"}  # rendered safe
    may_write = who is not None and hub.discussions.can_write(who, thread.repo)
    is_author = who is not None and thread.author == who.name
    return render(request, "repo_discussion.html", repo=thread.repo, tab="community", rev="main", t=thread,
                  comments=comments, may_write=may_write, may_close=may_write or is_author)


@_routes("/discussions/attachments/{num}")
def attachment(request: Request, repo_type: str, ns: str, name: str, num: str):
    """An image attached to a comment (``num`` is its sha256): its own type, never run as a page."""
    kind, size, f = hub_of(request).attachments.open(principal(request), repo_type, f"{ns}/{name}", num)

    def chunks():
        with f:
            while chunk := f.read(64 * 1024):
                yield chunk

    return StreamingResponse(chunks(), media_type=kind, headers={
        "Content-Length": str(size), "X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600",
        "Content-Security-Policy": "default-src 'none'; sandbox", "Content-Disposition": "inline"})


@_routes("/discussions/{num}", "POST")
async def act_from_form(request: Request, repo_type: str, ns: str, name: str, num: str):
    """One form action on a discussion: ``comment``, ``close``, ``reopen``, ``merge``, ``rename`` (to
    ``title``) or ``hide`` (the comment ``event``); the service decides who may."""
    form = await _form(request)
    hub, who, n, repo_id = hub_of(request), principal(request), _num(num), f"{ns}/{name}"
    action = form.get("action")
    if action == "comment":
        upload = form.get("image")
        image = await upload.read() if isinstance(upload, UploadFile) and upload.filename else b""
        text = await run_in_threadpool(_comment_with_image, request, repo_type, repo_id, form.get("comment", ""), image)
        await run_in_threadpool(hub.discussions.comment, who, repo_type, repo_id, n, text)
    elif action in ("close", "reopen"):
        status = "closed" if action == "close" else "open"
        await run_in_threadpool(hub.discussions.set_status, who, repo_type, repo_id, n, status,
                                form.get("comment") or None)
    elif action == "merge":
        await run_in_threadpool(hub.pulls.merge, who, repo_type, repo_id, n, form.get("comment") or None)
    elif action == "rename":
        await run_in_threadpool(hub.discussions.rename, who, repo_type, repo_id, n, form.get("title", ""))
    elif action == "hide":
        await run_in_threadpool(hub.discussions.hide_comment, who, repo_type, repo_id, n, form.get("event", ""))
    else:
        raise BadRequest(f"Unknown action {action!r}: use comment, close, reopen, merge, rename or hide")
    return _back(repo_type, ns, name, n)
