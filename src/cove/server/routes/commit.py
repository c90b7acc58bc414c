"""Uploads: preupload (which files go inline and which through LFS) and the NDJSON commit."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from cove.protocol import URL_PREFIX
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
from cove.server.services.ndjson import parse_commit

router = APIRouter(tags=["upload"])


@router.post("/api/{rtype}/{ns}/{name}/preupload/{rest:path}", **api.PREUPLOAD)
def preupload(rtype: str, ns: str, name: str, request: Request, body: JsonBody):
    rev, _ = split_rev_path(raw_tail(request, 5))
    return hub_of(request).commits.preupload(principal(request), api_type(rtype), f"{ns}/{name}", rev,
                                             body.get("files"), body.get("gitIgnore"),
                                             request.headers.get("user-agent", ""), create_pr=_create_pr(request))


def _create_pr(request: Request) -> bool:
    return request.query_params.get("create_pr", "").lower() in ("1", "true")


@router.post("/api/{rtype}/{ns}/{name}/commit/{rest:path}", **api.COMMIT)
async def commit(rtype: str, ns: str, name: str, request: Request):
    hub = hub_of(request)
    who = principal(request)
    rev, _ = split_rev_path(raw_tail(request, 5))
    create_pr = _create_pr(request)
    # who may write where is settled before the body is read
    target = await run_in_threadpool(hub.commits.target, who, api_type(rtype), f"{ns}/{name}", rev,
                                     create_pr=create_pr)
    settings = hub.settings
    parsed = await parse_commit(request.stream(), hub.blobs, settings.max_commit_bytes,
                                max_depth=settings.max_json_depth, max_ops=settings.max_commit_files)
    repo = target.repo
    url = f"{base_url(request)}/{URL_PREFIX[repo.type]}{repo.repo_id}"
    out = {"success": True, "hookOutput": ""}
    if create_pr:
        num, sha = await run_in_threadpool(hub.pulls.commit_new_pr, target, who, parsed)
        out["pullRequestUrl"] = f"{url}/discussions/{num}"
    else:
        sha = await run_in_threadpool(hub.commits.commit, target, who, parsed)
    record_override(request, "repo.commit", repo.type, repo.repo_id)
    return JSONResponse({**out, "commitOid": sha, "commitUrl": f"{url}/commit/{sha}"},
                        background=BackgroundTask(hub.lfs.fill_sha1))
