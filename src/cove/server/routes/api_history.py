"""A repo's history and storage: super-squash a branch, list and permanently delete its LFS files, and
the storage each repo of an account uses (``list_user_repos``)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from cove.errors import BadRequest, Forbidden, Unauthorized
from cove.protocol import iso_z
from cove.server.routes import _openapi as api
from cove.server.routes._audit import record_override, record_repo
from cove.server.routes._common import (
    JsonBody,
    api_type,
    cursor_of,
    hub_of,
    page_response,
    principal,
    raw_tail,
    split_rev_path,
)

router = APIRouter(tags=["history"])


@router.post("/api/{rtype}/{ns}/{name}/super-squash/{rest:path}", **api.SUPER_SQUASH)
def super_squash(rtype: str, ns: str, name: str, request: Request, body: JsonBody):
    hub = hub_of(request)
    who = principal(request)
    repo = hub.repos.get(who, api_type(rtype), f"{ns}/{name}", "write")
    rev, _ = split_rev_path(raw_tail(request, 5))
    message = body.get("message") or f"Super-squash branch '{rev}'"
    if not isinstance(message, str):
        raise BadRequest("'message' must be a string")
    sha = hub.history.squash(who, hub.repos.open_git(repo), rev, message)
    hub.repos.touch(repo, head_sha=sha if rev in ("main", "refs/heads/main") else None)
    record_override(request, "repo.squash", repo.type, repo.repo_id)
    return {"commitOid": sha}


@router.get("/api/{rtype}/{ns}/{name}/lfs-files", **api.LFS_FILES)
def lfs_files(rtype: str, ns: str, name: str, request: Request):
    """The repo's LFS objects (for its writers: objects uploaded and never committed are listed too)."""
    hub = hub_of(request)
    repo = hub.repos.get(principal(request), api_type(rtype), f"{ns}/{name}", "write")
    files = hub.history.lfs_files(repo, hub.repos.open_git(repo))
    offset, size = cursor_of(request), hub.settings.page_size
    items = [{"fileOid": f.sha256, "oid": f.pointer_oid, "size": f.size, "pushedAt": iso_z(f.pushed_at),
              "filename": f.filename, "ref": f.ref} for f in files[offset: offset + size]]
    return page_response(request, items, offset + size, offset + size < len(files))


@router.post("/api/{rtype}/{ns}/{name}/lfs-files/batch", **api.LFS_FILES_DELETE)
def delete_lfs_files(rtype: str, ns: str, name: str, request: Request, body: JsonBody):
    """Permanently delete LFS objects of the repo (its admins only): see :mod:`cove.server.services.history`."""
    hub = hub_of(request)
    repo = hub.repos.get(principal(request), api_type(rtype), f"{ns}/{name}", "admin")
    deletions = body.get("deletions")
    if not isinstance(deletions, dict):
        raise BadRequest("'deletions' must be {\"sha\": [oids], \"rewriteHistory\": bool}")
    rewrite = deletions.get("rewriteHistory", True)
    if not isinstance(rewrite, bool):
        raise BadRequest("'rewriteHistory' must be a boolean")
    count = hub.history.delete_lfs(repo, hub.repos.open_git(repo), deletions.get("sha"), rewrite=rewrite)
    if count:
        hub.repos.touch(repo, head_sha=hub.repos.open_git(repo).ref_target("refs/heads/main"))
        record_repo(request, "repo.lfs.delete", repo.type, repo.repo_id, {"objects": count, "rewrite": rewrite})
    return {"deleted": count}


@router.get("/api/settings/repositories", **api.STORAGE)
def repositories(request: Request):
    """Each repo of the caller with the storage it uses."""
    return _storage(request, None)


@router.get("/api/organizations/{ns}/settings/repositories", **api.STORAGE_ORG)
def org_repositories(ns: str, request: Request):
    """Each repo of organization ``ns`` (for its admins) with the storage it uses."""
    return _storage(request, ns)


def _storage(request: Request, ns: str | None):
    hub = hub_of(request)
    who = principal(request)
    if who is None:
        raise Unauthorized("Listing your repositories needs a token: pass Authorization: Bearer <token>")
    if ns is not None and not who.is_admin and hub.accounts.role_in(who.user_id, ns) != "admin":
        raise Forbidden(f"Only the admins of organization {ns!r} may list its repositories' storage")
    repos = hub.repos.of_namespace(who, ns or who.name)
    used = hub.history.storage(repos)
    total = sum(used.values()) or 1
    items = [{"id": r.repo_id, "type": r.type, "updatedAt": iso_z(r.last_modified),
              "visibility": "private" if r.private else "public", "storage": used[r.id],
              "storagePercent": round(100 * used[r.id] / total, 2)} for r in repos]
    offset, size = cursor_of(request), hub.settings.page_size
    return page_response(request, items[offset: offset + size], offset + size, offset + size < len(items))
