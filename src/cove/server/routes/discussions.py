"""Discussions and pull requests (``/api/{type}s/{id}/discussions/...``) in the shapes huggingface_hub
reads (``get_repo_discussions``, ``get_discussion_details``, ``create_discussion``, ``comment_discussion``,
``edit_discussion_comment``, ``hide_discussion_comment``, ``rename_discussion``,
``change_discussion_status``, ``merge_pull_request``). Listing pages by ``p`` and echoes ``start`` and
the filtered ``count``: the client asks for pages while ``start + len < count``."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request

from cove.errors import BadRequest
from cove.protocol import is_digits, iso_z
from cove.server.routes import _openapi as api
from cove.server.routes._common import JsonBody, api_type, hub_of, principal, repo_url
from cove.server.services.discussions import Event, Thread

router = APIRouter(tags=["discussions"])
BASE = "/api/{rtype}/{ns}/{name}/discussions"


def _num(text: str) -> int:
    if not is_digits(text) or len(text) > 9:
        raise BadRequest(f"Invalid discussion number {text!r}")
    return int(text)


def _person(name: str | None) -> dict | None:
    return {"name": name, "type": "user", "avatarUrl": "", "fullname": name, "isPro": False} if name else None


def _when(text: str) -> str:
    return iso_z(datetime.fromisoformat(text))


def event_json(e: Event) -> dict:
    out: dict = {"id": e.oid, "type": e.type, "createdAt": iso_z(e.created_at)}
    if e.author:
        out["author"] = _person(e.author)
    if e.type != "comment":
        out["data"] = e.data
        return out
    d = e.data
    history = [{"raw": h["raw"], "updatedAt": _when(h["updatedAt"]), "author": _person(h.get("editor"))}
               for h in d.get("history", [])]
    out["data"] = {"edited": bool(history) or bool(d.get("edited")), "hidden": bool(d.get("hidden")),
                   "numEdits": len(history), "history": history, "reactions": [], "isReport": False,
                   "latest": {"raw": d.get("raw", ""), "html": e.html, "updatedAt": _when(d["updatedAt"]),
                              "author": _person(d.get("editor"))}}
    return out


def thread_json(request: Request, t: Thread, *, details: bool = False) -> dict:
    row, repo = t.row, t.repo
    out = {"num": row.num, "title": row.title, "status": row.status, "isPullRequest": row.is_pr,
           "createdAt": iso_z(row.created_at), "repo": {"name": repo.repo_id, "type": repo.type},
           "numComments": t.num_comments, "pinned": False, "topReactions": [],
           "url": f"{repo_url(request, repo.type, repo.repo_id)}/discussions/{row.num}"}
    if t.author:
        out["author"] = _person(t.author)
    if not details:
        return out
    out["events"] = [event_json(e) for e in t.events]
    if row.is_pr:
        changes = {"base": row.base_ref}
        if row.merge_sha:
            changes["mergeCommitId"] = row.merge_sha
        out["changes"] = changes
        out["filesWithConflicts"] = list(row.conflicts or [])
        if t.diff is not None:
            out["diff"] = t.diff
    return out


@router.get(BASE, **api.DISCUSSIONS)
def list_discussions(rtype: str, ns: str, name: str, request: Request):
    q = request.query_params
    try:
        page = int(q.get("p") or 0)
    except ValueError:
        raise BadRequest("Invalid page: p must be a number") from None
    threads, total, start = hub_of(request).discussions.list(
        principal(request), api_type(rtype), f"{ns}/{name}", kind=q.get("type"), status=q.get("status"),
        author=q.get("author"), page=page)
    return {"discussions": [thread_json(request, t) for t in threads], "count": total, "start": start}


@router.post(BASE, **api.CREATE_DISCUSSION)
def create_discussion(rtype: str, ns: str, name: str, request: Request, body: JsonBody):
    repo_type, repo_id = api_type(rtype), f"{ns}/{name}"
    num = hub_of(request).discussions.create(principal(request), repo_type, repo_id, body.get("title"),
                                             body.get("description"), body.get("pullRequest", False))
    return {"num": num, "url": f"{repo_url(request, repo_type, repo_id)}/discussions/{num}"}


@router.get(BASE + "/{num}", **api.DISCUSSION)
def discussion(rtype: str, ns: str, name: str, num: str, request: Request):
    with_diff = request.query_params.get("diff", "").lower() in ("1", "true")
    thread = hub_of(request).discussions.details(principal(request), api_type(rtype), f"{ns}/{name}", _num(num),
                                                 with_diff=with_diff)
    return thread_json(request, thread, details=True)


@router.post(BASE + "/{num}/comment", **api.COMMENT_DISCUSSION)
def comment(rtype: str, ns: str, name: str, num: str, request: Request, body: JsonBody):
    event = hub_of(request).discussions.comment(principal(request), api_type(rtype), f"{ns}/{name}", _num(num),
                                                body.get("comment"))
    return {"newMessage": event_json(event)}


@router.post(BASE + "/{num}/comment/{cid}/edit", **api.EDIT_COMMENT)
def edit_comment(rtype: str, ns: str, name: str, num: str, cid: str, request: Request, body: JsonBody):
    event = hub_of(request).discussions.edit_comment(principal(request), api_type(rtype), f"{ns}/{name}",
                                                     _num(num), cid, body.get("content"))
    return {"updatedComment": event_json(event)}


@router.post(BASE + "/{num}/comment/{cid}/hide", **api.HIDE_COMMENT)
def hide_comment(rtype: str, ns: str, name: str, num: str, cid: str, request: Request):
    event = hub_of(request).discussions.hide_comment(principal(request), api_type(rtype), f"{ns}/{name}",
                                                     _num(num), cid)
    return {"updatedComment": event_json(event)}


@router.post(BASE + "/{num}/title", **api.RENAME_DISCUSSION)
def rename(rtype: str, ns: str, name: str, num: str, request: Request, body: JsonBody):
    event = hub_of(request).discussions.rename(principal(request), api_type(rtype), f"{ns}/{name}", _num(num),
                                               body.get("title"))
    return {"newTitle": event_json(event)}


@router.post(BASE + "/{num}/status", **api.DISCUSSION_STATUS)
def status(rtype: str, ns: str, name: str, num: str, request: Request, body: JsonBody):
    event = hub_of(request).discussions.set_status(principal(request), api_type(rtype), f"{ns}/{name}",
                                                   _num(num), body.get("status"), body.get("comment"))
    return {"newStatus": event_json(event)}


@router.post(BASE + "/{num}/merge", **api.MERGE_PR)
def merge(rtype: str, ns: str, name: str, num: str, request: Request, body: JsonBody):
    thread = hub_of(request).pulls.merge(principal(request), api_type(rtype), f"{ns}/{name}", _num(num),
                                         body.get("comment"))
    return thread_json(request, thread, details=True)
