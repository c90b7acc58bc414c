"""Uploads: preupload (which files go inline and which through LFS) and the NDJSON commit."""

from __future__ import annotations

import base64

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from cove.errors import BadRequest, RevisionNotFound
from cove.protocol import URL_PREFIX, check_path
from cove.server.routes import _openapi as api
from cove.server.routes._audit import record_override
from cove.server.routes._common import (
    JsonBody,
    api_type,
    base_url,
    hub_of,
    principal,
    raw_tail,
    split_rev_path,
)
from cove.server.services.commits import lfs_patterns
from cove.server.services.gitmatch import GitIgnore
from cove.server.services.ndjson import parse_commit

router = APIRouter(tags=["upload"])


#: Bounds on the work a ``.gitignore`` costs a preupload (each file is matched against each rule).
MAX_IGNORE_RULES = 1000
MAX_IGNORE_WORK = 2_000_000


def _text_at(git, sha: str | None, path: str) -> str:
    """The text of a regular file at commit ``sha`` ("" if there is none)."""
    entry = git.get_entry(sha, path) if sha is not None else None
    if entry is None or entry.lfs_oid is not None or entry.type != "file":
        return ""
    return git.read_blob(entry.oid).decode("utf-8", "replace")


@router.post("/api/{rtype}/{ns}/{name}/preupload/{rest:path}", **api.PREUPLOAD)
def preupload(rtype: str, ns: str, name: str, request: Request, body: JsonBody):
    hub = hub_of(request)
    who = principal(request)
    rev, _ = split_rev_path(raw_tail(request, 5))
    repo = hub.pulls.commit_target(who, api_type(rtype), f"{ns}/{name}", rev, create_pr=_create_pr(request))
    git = hub.repos.open_git(repo)
    files = body.get("files")
    most = hub.settings.max_commit_files
    if not isinstance(files, list) or len(files) > most:
        raise BadRequest(f"'files' must be a list of at most {most} entries")
    try:
        sha = git.resolve(rev)
    except RevisionNotFound:
        sha = None  # the commit itself will say so; every file is new here
    patterns = lfs_patterns(_text_at(git, sha, ".gitattributes"))
    ignore = body.get("gitIgnore")
    if ignore is None:
        ignore = _text_at(git, sha, ".gitignore")  # the client sends the one of the commit, if any
    if not isinstance(ignore, str):
        raise BadRequest("'gitIgnore' must be the text of a .gitignore")
    rules = GitIgnore(ignore)
    if len(rules.rules) > MAX_IGNORE_RULES or len(rules.rules) * len(files) > MAX_IGNORE_WORK:
        raise BadRequest(f"This .gitignore has {len(rules.rules)} rules: at most {MAX_IGNORE_RULES}, and "
                         f"at most {MAX_IGNORE_WORK} rules x files in one preupload (send fewer files at once)")
    ua = request.headers.get("user-agent", "")
    # with Xet, "lfs" suits every client: hf_xet sends such files through Xet, the others use the batch API
    lfs_capable = hub.settings.xet or hub.settings.lfs_uploads == "lfs" or "hf_hub/0." in ua
    out = []
    for f in files:
        if not isinstance(f, dict) or not isinstance(f.get("path"), str):
            raise BadRequest("Each file needs a 'path'")
        path = f["path"]
        check_path(path)
        size, sample = f.get("size", 0), f.get("sample") or ""
        if not isinstance(sample, str) or len(sample) > 16_384:
            raise BadRequest(f"The sample of {path} must be base64 text of at most 512 bytes of the file")
        try:
            sample = base64.b64decode(sample, validate=False)
        except ValueError:
            raise BadRequest(f"Invalid base64 sample for {path}") from None
        if not isinstance(size, int) or size < 0:
            raise BadRequest(f"Invalid size for {path}")
        lfs = lfs_capable and hub.commits.wants_lfs(path, size, sample, patterns)
        oid = None
        entry = git.get_entry(sha, path) if sha is not None else None
        if entry is not None and entry.type == "file":
            if lfs:
                oid = entry.lfs_oid
            elif entry.lfs_oid:
                oid = hub.commits.known_sha1(entry.lfs_oid) or None
            else:
                oid = entry.oid
        out.append({"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": rules.ignored(path),
                    "oid": oid})
    return {"files": out, "commitOid": sha}


def _create_pr(request: Request) -> bool:
    return request.query_params.get("create_pr", "").lower() in ("1", "true")


def _commit_target(request: Request, rtype: str, ns: str, name: str):
    """The repo, its git and the branch (or ``refs/pr/N``) a commit goes to, checked before the body is read."""
    hub = hub_of(request)
    rev, _ = split_rev_path(raw_tail(request, 5))
    repo = hub.pulls.commit_target(principal(request), api_type(rtype), f"{ns}/{name}", rev,
                                   create_pr=_create_pr(request))
    git = hub.repos.open_git(repo)
    if _create_pr(request):
        return repo, git, rev  # the base branch is checked when the pull request is opened
    if git.ref_target(rev if rev.startswith("refs/") else f"refs/heads/{rev}") is None:
        raise RevisionNotFound(f"Invalid rev id: {rev} (commits go to an existing branch)")
    return repo, git, rev


def _after_commit(request: Request, repo, git, rev: str, sha: str) -> None:
    """What follows a commit: scans queued, the audit, and for ``main`` the new head and card."""
    hub = hub_of(request)
    hub.scans.after_commit(repo, sha)
    record_override(request, "repo.commit", repo.type, repo.repo_id)
    card = hub.content.card(git, sha, repo) if rev == "main" else None
    hub.repos.touch(repo, head_sha=sha if rev == "main" else None, card=card)


@router.post("/api/{rtype}/{ns}/{name}/commit/{rest:path}", **api.COMMIT)
async def commit(rtype: str, ns: str, name: str, request: Request):
    hub = hub_of(request)
    who = principal(request)
    repo, git, rev = await run_in_threadpool(_commit_target, request, rtype, ns, name)
    settings = hub.settings
    parsed = await parse_commit(request.stream(), hub.blobs, settings.max_commit_bytes,
                                max_depth=settings.max_json_depth, max_ops=settings.max_commit_files)
    url = f"{base_url(request)}/{URL_PREFIX[repo.type]}{repo.repo_id}"
    out = {"success": True, "hookOutput": ""}
    if _create_pr(request):
        num, sha = await run_in_threadpool(hub.pulls.commit_new_pr, repo, git, who, rev, parsed)
        rev = f"refs/pr/{num}"
        out["pullRequestUrl"] = f"{url}/discussions/{num}"
    else:
        sha = await run_in_threadpool(hub.commits.apply, repo, git, who, rev, parsed)
    await run_in_threadpool(_after_commit, request, repo, git, rev, sha)
    return JSONResponse({**out, "commitOid": sha, "commitUrl": f"{url}/commit/{sha}"},
                        background=BackgroundTask(hub.commits.fill_sha1))
