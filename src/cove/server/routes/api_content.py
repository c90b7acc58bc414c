"""What is in a repo: tree, paths-info, refs, commit history; branches and tags."""

from __future__ import annotations

import html

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from cove.errors import BadRequest
from cove.protocol import check_path, is_digits, iso_z
from cove.server.routes import _openapi as api
from cove.server.routes._audit import record_override
from cove.server.routes._common import (
    JsonBody,
    api_type,
    cursor_of,
    form_body,
    hub_of,
    json_body,
    page_response,
    principal,
    raw_tail,
    split_rev_path,
)
from cove.server.routes.security import add_file_statuses
from cove.server.routes.xet import add_xet_hashes
from cove.server.services.refs import KINDS as REF_KINDS

router = APIRouter(tags=["content"])


def _repo(request: Request, rtype: str, ns: str, name: str, need: str = "read"):
    hub = hub_of(request)
    repo = hub.repos.get(principal(request), api_type(rtype), f"{ns}/{name}", need)
    return hub, repo, hub.repos.open_git(repo)


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("1", "true")


def _add_last_commits(git, sha: str, items: list[dict]) -> None:
    last = git.last_commits(sha, [item["path"] for item in items])
    for item in items:
        info = last[item["path"]]
        item["lastCommit"] = {"id": info.id, "title": info.title, "date": iso_z(info.date)}


@router.get("/api/{rtype}/{ns}/{name}/tree/{rest:path}", **api.TREE)
def tree(rtype: str, ns: str, name: str, request: Request):
    hub, repo, git = _repo(request, rtype, ns, name)
    rev, path = split_rev_path(raw_tail(request, 5))
    path = path.strip("/")
    if path:
        check_path(path)
    sha = git.resolve(rev)
    entries = git.list_tree(sha, path, recursive=_flag(request, "recursive"))
    offset = cursor_of(request)
    size = hub.settings.page_size
    page = entries[offset: offset + size]
    items = [e.to_json() for e in page]
    add_xet_hashes(request, page, items)
    if _flag(request, "expand"):
        _add_last_commits(git, sha, items)
        add_file_statuses(request, repo, page, items)
    return page_response(request, items, offset + size, offset + size < len(entries))


@router.post("/api/{rtype}/{ns}/{name}/paths-info/{rest:path}", **api.PATHS_INFO)
async def paths_info(rtype: str, ns: str, name: str, request: Request):
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("application/json"):
        body = await json_body(request)
        paths, expand = body.get("paths", []), bool(body.get("expand"))
    else:
        form = await form_body(request)
        paths, expand = form.getlist("paths"), str(form.get("expand", "")).lower() == "true"
    return await run_in_threadpool(_paths_info, request, rtype, ns, name, paths, expand)


def _paths_info(request: Request, rtype: str, ns: str, name: str, paths: object, expand: bool) -> list[dict]:
    hub, repo, git = _repo(request, rtype, ns, name)
    rev, _ = split_rev_path(raw_tail(request, 5))
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise BadRequest("'paths' must be a list of strings")
    for p in paths:
        if p.strip("/"):
            check_path(p.strip("/"))
    sha = git.resolve(rev)
    entries = hub.content.paths_info(git, sha, paths)
    items = [e.to_json() for e in entries]
    add_xet_hashes(request, entries, items)
    if expand:
        _add_last_commits(git, sha, items)
        add_file_statuses(request, repo, entries, items)
    return items


def _refs(items: dict[str, str], prefix: str) -> list[dict]:
    return [{"name": n, "ref": f"{prefix}{n}", "targetCommit": sha} for n, sha in sorted(items.items())]


@router.get("/api/{rtype}/{ns}/{name}/refs", **api.REFS)
def refs(rtype: str, ns: str, name: str, request: Request):
    found = hub_of(request).refs.listing(principal(request), api_type(rtype), f"{ns}/{name}",
                                         pull_requests=_flag(request, "include_prs"))
    out = {kind: _refs(found[kind], prefix) for kind, prefix in REF_KINDS.items()}
    if "pullRequests" in found:
        prs = found["pullRequests"]
        out["pullRequests"] = [{"name": f"refs/pr/{n}", "ref": f"refs/pr/{n}", "targetCommit": sha}
                               for n, sha in sorted(prs.items(), key=lambda x: int(x[0]) if is_digits(x[0]) else 0)]
    return out


@router.get("/api/{rtype}/{ns}/{name}/commits/{rest:path}", **api.COMMITS)
def commits(rtype: str, ns: str, name: str, request: Request):
    hub, repo, git = _repo(request, rtype, ns, name)
    rev, _ = split_rev_path(raw_tail(request, 5))
    sha = git.resolve(rev)
    offset = cursor_of(request)
    size = hub.settings.page_size
    log, more = git.log(sha, skip=offset, limit=size)
    formatted = "formatted" in request.query_params.getlist("expand[]")
    items = []
    for c in log:
        title, _, body = c.message.partition("\n")
        items.append({"id": c.id, "title": c.title, "message": body.strip("\n"), "date": iso_z(c.date),
                      "authors": [{"user": c.author, "avatar": ""}], "parents": list(c.parents)})
        if formatted:  # HTML on the Hub; here the text, escaped (the client only reads it with formatted=True)
            items[-1]["formatted"] = {"title": html.escape(c.title), "message": html.escape(body.strip("\n"))}
    return page_response(request, items, offset + size, more)


@router.post("/api/{rtype}/{ns}/{name}/branch/{rest:path}", **api.CREATE_BRANCH)
def create_branch(rtype: str, ns: str, name: str, request: Request, body: JsonBody):
    repo = hub_of(request).refs.create_branch(principal(request), api_type(rtype), f"{ns}/{name}",
                                              "/".join(raw_tail(request, 5)), body.get("startingPoint") or "main")
    record_override(request, "repo.branch.create", repo.type, repo.repo_id)
    return {}


@router.delete("/api/{rtype}/{ns}/{name}/branch/{rest:path}", **api.DELETE_BRANCH)
def delete_branch(rtype: str, ns: str, name: str, request: Request):
    repo = hub_of(request).refs.delete_branch(principal(request), api_type(rtype), f"{ns}/{name}",
                                              "/".join(raw_tail(request, 5)))
    record_override(request, "repo.branch.delete", repo.type, repo.repo_id)
    return {}


@router.post("/api/{rtype}/{ns}/{name}/tag/{rest:path}", **api.CREATE_TAG)
def create_tag(rtype: str, ns: str, name: str, request: Request, body: JsonBody):
    rev, _ = split_rev_path(raw_tail(request, 5))
    repo = hub_of(request).refs.create_tag(principal(request), api_type(rtype), f"{ns}/{name}", rev, body.get("tag"))
    record_override(request, "repo.tag.create", repo.type, repo.repo_id)
    return {}


@router.delete("/api/{rtype}/{ns}/{name}/tag/{rest:path}", **api.DELETE_TAG)
def delete_tag(rtype: str, ns: str, name: str, request: Request):
    repo = hub_of(request).refs.delete_tag(principal(request), api_type(rtype), f"{ns}/{name}",
                                           "/".join(raw_tail(request, 5)))
    record_override(request, "repo.tag.delete", repo.type, repo.repo_id)
    return {}
