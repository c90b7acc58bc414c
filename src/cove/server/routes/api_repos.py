"""Accounts and repos: whoami, create / delete / move / settings, repo info, listing and search."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from cove.errors import BadRequest, Conflict, CoveError, Forbidden, Unauthorized, Unprocessable
from cove.protocol import REPO_TYPES, iso_z, loads_json, repo_type_of
from cove.server.routes import _openapi as api
from cove.server.routes._audit import record, record_repo
from cove.server.routes._common import (
    JsonBody,
    api_type,
    base_url,
    cursor_of,
    hub_of,
    page_response,
    principal,
    raw_tail,
    repo_url,
    split_rev_path,
)
from cove.server.routes.security import repo_status_json
from cove.server.services import card_rules

if TYPE_CHECKING:  # row and repo types in annotations only: routes never touch the database or git
    from cove.server.db import Repo


router = APIRouter(tags=["repos"])
MAX_REVOKED = 1000  # huggingface_hub sends batches of this size


@router.get("/api/whoami-v2", **api.WHOAMI)
def whoami(request: Request):
    who = principal(request)
    if who is None:
        raise Unauthorized("Invalid credentials in Authorization header")
    hub = hub_of(request)
    acc = hub.accounts.get(who.name)
    orgs = [{"type": "org", "id": str(o.id), "name": o.name, "fullname": o.fullname, "roleInOrg": role}
            for o, role in hub.accounts.orgs_of(who.user_id)]
    out = {"type": "user", "id": str(who.user_id), "name": who.name, "fullname": acc.fullname,
           "email": acc.email, "emailVerified": bool(acc.email), "avatarUrl": "", "isPro": False,
           "isAdmin": who.is_admin, "orgs": orgs}
    if who.token_name != "web":
        out["auth"] = {"type": "access_token",
                       "accessToken": {"displayName": who.token_name, "role": who.role,
                                       "createdAt": who.token_created[:23] + "Z"}}
    return out


@router.post("/api/credentials/revoke", **api.REVOKE_CREDENTIALS)
def revoke_credentials(request: Request, body: JsonBody):
    """Revoke leaked tokens, as huggingface_hub's ``revoke_tokens`` asks: no Authorization (holding a
    token's value is the proof), at most 1,000 per request, and the same answer whether or not a value
    was a token. Each revocation goes to the audit log under the token's owner."""
    values = body.get("credentials")
    if (not isinstance(values, list) or not values or len(values) > MAX_REVOKED
            or not all(isinstance(v, str) and 0 < len(v) <= 256 for v in values)):
        raise BadRequest(f"'credentials' must be a list of 1 to {MAX_REVOKED} token strings")
    for user, name in hub_of(request).accounts.revoke_leaked(values):
        record(request, "token.revoke", actor=None, target=f"{user}/{name}", detail={"via": "revoke request"})
    return {}


@router.post("/api/organizations/new", **api.CREATE_ORG)
def create_org(request: Request, body: JsonBody):
    """Create an organization owned by the caller (its first admin), as any signed-in user may on the Hub."""
    who = principal(request)
    if who is None:
        raise Unauthorized("Creating an organization needs a token: pass Authorization: Bearer <token>")
    if not who.can_write:
        raise Forbidden("This token is read-only; creating an organization needs a write token")
    name, fullname = body.get("name"), body.get("fullname", "")
    if not isinstance(name, str) or not isinstance(fullname, str):
        raise BadRequest("'name' (and 'fullname' when given) must be strings")
    org = hub_of(request).accounts.create_org(name, who.name, fullname=fullname)
    record(request, "org.create", actor=who.name, target=org.name, detail={"owner": who.name})
    return {"type": "org", "name": org.name, "fullname": org.fullname}


@router.get("/api/agent-harnesses", **api.AGENT_HARNESSES)
def agent_harnesses():
    return {"standardEnvVars": [], "harnesses": {}}


@router.post("/api/validate-yaml", **api.VALIDATE_YAML)
def validate_yaml(request: Request, body: JsonBody):
    """A card's metadata checked by the Hub's rules (:mod:`cove.server.services.card_rules`): 400 with
    the errors, else 200; warnings either way. ``Accept: text/plain`` (``RepoCard.validate``) gets the
    report as ``- Error: ...`` lines."""
    content, repo_type = body.get("content", ""), body.get("repoType") or "model"
    if not isinstance(content, str) or repo_type not in REPO_TYPES:
        raise BadRequest(f"'content' must be the card's text and 'repoType' one of {', '.join(REPO_TYPES)}")
    report = card_rules.validate(content, repo_type)
    status = 400 if report.errors else 200
    if "text/plain" in request.headers.get("accept", ""):
        lines = [f"- Error: {e}" for e in report.errors] + [f"- Warning: {w}" for w in report.warnings]
        return PlainTextResponse("\n".join(lines), status_code=status)
    return JSONResponse({"errors": [{"message": e} for e in report.errors],
                         "warnings": [{"message": w} for w in report.warnings]}, status_code=status)


def _private_of(body: dict) -> bool | None:
    if "visibility" in body:
        if body["visibility"] not in ("private", "public", "protected"):
            raise BadRequest(f"Invalid visibility {body['visibility']!r}: use private or public")
        return body["visibility"] == "private"
    if "private" in body and body["private"] is not None:
        return bool(body["private"])
    return None


@router.post("/api/repos/create", **api.CREATE_REPO)
def create_repo(request: Request, body: JsonBody):
    who = principal(request)
    name, org = body.get("name"), body.get("organization")
    if not isinstance(name, str) or (org is not None and not isinstance(org, str)):
        raise BadRequest("'name' (and 'organization' when given) must be strings")
    if "/" in name and org is None:
        org, name = name.split("/", 1)
    if who is None:
        raise Unauthorized("You must be authenticated to create a repo: pass a write token")
    namespace = org or who.name
    repo_type = repo_type_of(body.get("type"))
    try:
        repo, _ = hub_of(request).repos.create(who, repo_type, namespace, name,
                                                private=_private_of(body), sdk=body.get("sdk") or "")
    except Conflict as e:
        existing = getattr(e, "repo", None)
        if existing is None:
            raise
        return JSONResponse({"error": e.message, "url": repo_url(request, repo_type, existing.repo_id)},
                            status_code=409, headers={"X-Error-Code": "Conflict"})
    return {"url": repo_url(request, repo_type, repo.repo_id), "name": repo.repo_id, "id": str(repo.id)}


@router.delete("/api/repos/delete", **api.DELETE_REPO)
def delete_repo(request: Request, body: JsonBody):
    name, org = body.get("name"), body.get("organization")
    who = principal(request)
    if not isinstance(name, str):
        raise BadRequest("'name' must be a string")
    repo_id = name if "/" in name else f"{org or (who.name if who else '')}/{name}"
    hub_of(request).repos.delete(who, repo_type_of(body.get("type")), repo_id)
    record_repo(request, "repo.delete", repo_type_of(body.get("type")), repo_id)
    return {}


@router.post("/api/repos/move", **api.MOVE_REPO)
def move_repo(request: Request, body: JsonBody):
    src, dst = body.get("fromRepo"), body.get("toRepo")
    if not isinstance(src, str) or not isinstance(dst, str):
        raise BadRequest("'fromRepo' and 'toRepo' must be repo ids")
    if body.get("type") == "bucket":  # HfApi.move_bucket
        who = principal(request)
        bucket = hub_of(request).buckets.move(who, src, dst)
        record(request, "bucket.move", actor=who.name, target=f"buckets/{src}", detail={"to": bucket.bucket_id})
        return {"url": f"{base_url(request)}/buckets/{bucket.bucket_id}"}
    repo = hub_of(request).repos.move(principal(request), repo_type_of(body.get("type")), src, dst)
    record_repo(request, "repo.move", repo.type, src, {"to": repo.repo_id})
    return {"url": repo_url(request, repo.type, repo.repo_id)}


@router.put("/api/{rtype}/{ns}/{name}/settings", **api.REPO_SETTINGS)
def repo_settings(rtype: str, ns: str, name: str, request: Request, body: JsonBody):
    gated, private = body.get("gated"), _private_of(body)
    hub_of(request).repos.update_settings(principal(request), api_type(rtype), f"{ns}/{name}",
                                          private=private, gated=gated)
    if private is not None:
        record_repo(request, "repo.visibility", api_type(rtype), f"{ns}/{name}", {"private": private})
    if gated is not None:
        record_repo(request, "repo.gated", api_type(rtype), f"{ns}/{name}", {"gated": gated})
    return {}


@router.post("/api/{rtype}/{ns}/{name}/like", **api.LIKE)
@router.delete("/api/{rtype}/{ns}/{name}/like", **api.LIKE)
def like(rtype: str, ns: str, name: str, request: Request):
    hub = hub_of(request)
    who = principal(request)
    repo = hub.repos.get(who, api_type(rtype), f"{ns}/{name}")
    if who is None:
        raise Unauthorized("Sign in to like a repo")
    if not who.can_write:  # a like is a write to the account, as on the Hub
        raise Forbidden("This token is read-only: liking a repo needs a write token")
    hub.repos.like(who, repo, request.method == "POST")
    return {}


@router.get("/api/{rtype}/{ns}/{name}/likers", **api.LIKERS)
def likers(rtype: str, ns: str, name: str, request: Request):
    """Who likes the repo (``list_repo_likers``), a page at a time."""
    hub = hub_of(request)
    users = hub.repos.likers(principal(request), api_type(rtype), f"{ns}/{name}")
    offset, size = cursor_of(request), hub.settings.page_size
    items = [{"user": u.name, "fullname": u.fullname or u.name, "avatarUrl": "", "type": "user", "isPro": False}
             for u in users[offset: offset + size]]
    return page_response(request, items, offset + size, offset + size < len(users))


@router.get("/api/users/{user}/likes", **api.USER_LIKES)
def user_likes(user: str, request: Request):
    """The repos ``user`` likes, those the caller may see (declared before the repo routes, which
    ``/api/users/{user}/likes`` would match too)."""
    hub = hub_of(request)
    account = hub.accounts.get(user)
    if account is None or account.kind != "user":
        err = CoveError(f"User not found: {user}")
        err.status, err.code = 404, "NotFound"
        raise err
    repos = hub.repos.liked_by(principal(request), account.id)
    offset, size = cursor_of(request), hub.settings.page_size
    items = [{"repo": {"name": r.repo_id, "type": r.type}} for r in repos[offset: offset + size]]
    return page_response(request, items, offset + size, offset + size < len(repos))


@router.get("/api/{rtype}/{ns}/{name}/auth-check", **api.AUTH_CHECK)
@router.get("/api/{rtype}/{ns}/{name}/auth-check/write", **api.AUTH_CHECK)
def auth_check(rtype: str, ns: str, name: str, request: Request):
    """200 if the caller may read the repo's files (``/write``: change it); else the error that reading
    (changing) it would give: RepoNotFound for a repo it may not see, GatedRepo for a gated repo's files,
    401 or 403 for a write."""
    need = "write" if request.url.path.endswith("/write") else "content"
    hub_of(request).repos.get(principal(request), api_type(rtype), f"{ns}/{name}", need)
    return {}


def repo_json(request: Request, repo: Repo, *, sha: str | None, card: dict | None,
              siblings: list | None = None) -> dict:
    card = card if card is not None else {"cardData": repo.card_data, "tags": repo.tags,
                                          "pipeline_tag": repo.pipeline_tag, "library_name": repo.library_name}
    out = {
        "_id": str(repo.id), "id": repo.repo_id, "author": repo.namespace, "sha": sha or repo.head_sha,
        "lastModified": iso_z(repo.last_modified), "createdAt": iso_z(repo.created_at),
        "private": repo.private, "gated": repo.gated or False, "disabled": False,
        "downloads": repo.downloads, "likes": repo.likes, "tags": card["tags"],
    }
    if repo.type == "model":
        out["modelId"] = repo.repo_id
        if card["pipeline_tag"]:
            out["pipeline_tag"] = card["pipeline_tag"]
        if card["library_name"]:
            out["library_name"] = card["library_name"]
    if repo.type == "space":
        out["sdk"] = card["cardData"].get("sdk") or repo.sdk or "static"  # the README says
        out["subdomain"] = f"{repo.namespace}-{repo.name}".lower()
        out["visibility"] = "private" if repo.private else "public"  # huggingface_hub 2.5 reads it
    if card["cardData"]:
        out["cardData"] = card["cardData"]
    if siblings is not None:
        out["siblings"] = siblings
    return out


def _siblings(entries: list, blobs: bool) -> list:
    out = []
    for e in entries:
        if e.type != "file":
            continue
        item: dict = {"rfilename": e.path}
        if blobs:
            item["size"] = e.size
            item["blobId"] = e.oid
            if e.lfs_oid:
                item["lfs"] = {"sha256": e.lfs_oid, "size": e.size, "pointerSize": e.lfs_pointer_size}
        out.append(item)
    return out


@router.get("/api/{rtype}/{ns}/{name}", **api.REPO_INFO)
@router.get("/api/{rtype}/{ns}/{name}/revision/{rest:path}", **api.REPO_INFO_AT)
def repo_info(rtype: str, ns: str, name: str, request: Request):
    hub = hub_of(request)
    repo = hub.repos.get(principal(request), api_type(rtype), f"{ns}/{name}")
    git = hub.repos.open_git(repo)
    if "/revision/" in request.url.path:
        rev, _ = split_rev_path(raw_tail(request, 5))
    else:
        rev = "main"
    sha = git.resolve(rev)
    entries = git.list_tree(sha, recursive=True)
    blobs = request.query_params.get("blobs", "").lower() in ("1", "true")
    out = repo_json(request, repo, sha=sha, card=hub.content.card(git, sha, repo),
                    siblings=_siblings(entries, blobs))
    if repo.type == "space":  # where the app answers (gradio_client connects there) and its stage
        out["host"] = f"{base_url(request)}/-/spaces/{repo.repo_id}/"
        out["runtime"] = hub.spaces.runtime(repo)
    if request.query_params.get("securityStatus", "").lower() in ("1", "true"):
        out["securityRepoStatus"] = repo_status_json(hub.scans.repo_status(repo, entries))
    return out


@router.get("/api/{rtype}", **api.LIST_REPOS)
def list_repos(rtype: str, request: Request):
    hub = hub_of(request)
    q = request.query_params
    repo_type = api_type(rtype)
    try:
        page_size = hub.settings.page_size
        limit = min(int(q.get("limit") or page_size), page_size)
        offset = int(loads_json(base64.urlsafe_b64decode(q["cursor"]), what="The cursor")["o"]) if q.get(
            "cursor") else 0
        if limit < 1 or offset < 0:  # SQLite reads LIMIT -1 as no limit at all
            raise ValueError("limit or offset out of range")
    except (ValueError, KeyError, TypeError, OverflowError):  # {"o": 1e400}
        raise BadRequest("Invalid limit or cursor") from None
    filters = q.getlist("filter")
    for key in ("pipeline_tag", "library", "language"):
        if q.get(key):
            filters.append(q[key])
    page, more = hub.repos.search(principal(request), repo_type, search=q.getlist("search"),
                                  author=q.get("author"), filters=filters, sort=q.get("sort"),
                                  offset=offset, limit=limit)
    full = q.get("full", "").lower() in ("1", "true")
    items = []
    for repo in page:
        item = repo_json(request, repo, sha=None, card=None)
        if full and repo.head_sha:
            git = hub.repos.open_git(repo)
            try:
                item["siblings"] = _siblings(git.list_tree(repo.head_sha, recursive=True), False)
            except Unprocessable:  # too many files to list: one such repo must not break the listing
                item["siblings"] = []
        items.append(item)
    headers = {}
    if more:
        params = [(k, v) for k, v in q.multi_items() if k != "cursor"]
        cursor = base64.urlsafe_b64encode(json.dumps({"o": offset + limit}).encode()).decode()
        params.append(("cursor", cursor))
        headers["Link"] = f'<{base_url(request)}/api/{rtype}?{urlencode(params)}>; rel="next"'
    return JSONResponse(items, headers=headers)

