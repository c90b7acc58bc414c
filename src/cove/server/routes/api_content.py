"""What is in a repo: tree, paths-info, refs, commit history; branches and tags."""

from __future__ import annotations

import html

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from cove.errors import BadRequest, Conflict, RevisionNotFound
from cove.protocol import check_path, check_revision, iso_z
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
    hub, repo, git = _repo(request, rtype, ns, name)
    out = {"branches": _refs(git.refs("refs/heads/"), "refs/heads/"),
           "converts": _refs(git.refs("refs/convert/"), "refs/convert/"),
           "tags": _refs(git.refs("refs/tags/"), "refs/tags/")}
    if _flag(request, "include_prs"):
        prs = git.refs("refs/pr/")
        out["pullRequests"] = [{"name": f"refs/pr/{n}", "ref": f"refs/pr/{n}", "targetCommit": sha}
                               for n, sha in sorted(prs.items(), key=lambda x: int(x[0]) if x[0].isdigit() else 0)]
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
    hub, repo, git = _repo(request, rtype, ns, name, "write")
    branch = check_revision("/".join(raw_tail(request, 5)))
    start = body.get("startingPoint") or "main"
    if not isinstance(start, str):
        raise BadRequest("'startingPoint' must be a revision")
    if branch.startswith("refs/") or len(branch) == 40 and all(c in "0123456789abcdef" for c in branch):
        raise BadRequest(f"Invalid branch name {branch!r}")
    if git.ref_target(f"refs/heads/{branch}") is not None:
        raise Conflict(f"Reference refs/heads/{branch} already exists")
    sha = git.resolve(start)
    git.update_ref(f"refs/heads/{branch}", sha, None)
    hub.repos.touch(repo, head_sha=None)
    record_override(request, "repo.branch.create", repo.type, repo.repo_id)
    return {}


@router.delete("/api/{rtype}/{ns}/{name}/branch/{rest:path}", **api.DELETE_BRANCH)
def delete_branch(rtype: str, ns: str, name: str, request: Request):
    hub, repo, git = _repo(request, rtype, ns, name, "write")
    branch = check_revision("/".join(raw_tail(request, 5)))
    if branch == "main":
        raise BadRequest("Cannot delete refs/heads/main: it is the default branch")
    sha = git.ref_target(f"refs/heads/{branch}")
    if sha is None:
        raise RevisionNotFound(f"Invalid rev id: {branch}")
    git.update_ref(f"refs/heads/{branch}", None, sha)
    hub.repos.touch(repo, head_sha=None)
    record_override(request, "repo.branch.delete", repo.type, repo.repo_id)
    return {}


@router.post("/api/{rtype}/{ns}/{name}/tag/{rest:path}", **api.CREATE_TAG)
def create_tag(rtype: str, ns: str, name: str, request: Request, body: JsonBody):
    hub, repo, git = _repo(request, rtype, ns, name, "write")
    rev, _ = split_rev_path(raw_tail(request, 5))
    sha = git.resolve(rev)  # a missing revision first, as on the Hub, whatever the tag's name
    tag = body.get("tag")
    if not isinstance(tag, str):
        raise BadRequest("'tag' must be a string")
    check_revision(tag)
    if tag.startswith("refs/"):
        raise BadRequest(f"Invalid tag name {tag!r}")
    if git.ref_target(f"refs/tags/{tag}") is not None:
        raise Conflict(f"Tag already exists: {tag}")
    git.update_ref(f"refs/tags/{tag}", sha, None)
    hub.repos.touch(repo, head_sha=None)
    record_override(request, "repo.tag.create", repo.type, repo.repo_id)
    return {}


@router.delete("/api/{rtype}/{ns}/{name}/tag/{rest:path}", **api.DELETE_TAG)
def delete_tag(rtype: str, ns: str, name: str, request: Request):
    hub, repo, git = _repo(request, rtype, ns, name, "write")
    tag = check_revision("/".join(raw_tail(request, 5)))
    sha = git.ref_target(f"refs/tags/{tag}")
    if sha is None:
        raise RevisionNotFound(f"Invalid rev id: {tag}")
    git.update_ref(f"refs/tags/{tag}", None, str(git.repo.lookup_reference(f"refs/tags/{tag}").target))
    hub.repos.touch(repo, head_sha=None)
    record_override(request, "repo.tag.delete", repo.type, repo.repo_id)
    return {}
