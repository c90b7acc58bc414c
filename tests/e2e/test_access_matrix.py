"""Who may see and change what, route by route: every route of the app x six callers x four kinds of
repo (public, public and gated, private, private to an org) and a repo that does not exist; storage
buckets the same way (public twice, private, private to an org, and missing ones).

- An outsider's answer about a private repo is the answer about a missing one: same status,
  ``X-Error-Code``, ``X-Error-Message``, ``WWW-Authenticate``, content type and body, the repo's name
  substituted. A private repo is invisible, whatever the route.
- A caller who may read but not write (anonymous, another user, a read-only token, an org member
  with the read role) is refused writes with 401 or 403, and the repos do not change (their refs,
  visibility and gating, checked after each write route).
- Whoever may read gets the route's answer; whoever may write gets it too (destructive writes on
  fresh repos of the same kind). Listings and account pages never name a repo the caller may not see.

``ROUTES`` names the request each route gets: a route of the app missing from it fails the test, so
a new route joins the matrix when it is written.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import fastapi.routing
import httpx
import pytest
from huggingface_hub import CommitOperationAdd, HfApi

from cove.server.app import create_app
from cove.server.settings import Settings
from tests.conftest import start_server, stop_server

TYPES = ("model", "dataset", "space", "kernel")
PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/", "kernel": "kernels/", "bucket": "buckets/"}
ORG = "acme-matrix"
#: Routes of the app that are not API routes or web pages: the schema, its docs, static files.
FRAMEWORK = {(m, "/api/openapi.json") for m in ("GET", "HEAD")} | {("*", "/static")}
# ... and the websocket relay to Space apps (it authorizes as the proxy's HTTP routes do)
FRAMEWORK |= {("*", "/-/spaces/{ns}/{name}/{tail:path}")}
LFS_CONTENT = b"\x00weights " * 100  # over COVE_LFS_THRESHOLD: stored as an LFS object
NEW_OID = hashlib.sha256(b"new").hexdigest()
XET_HASH = hashlib.sha256(b"xet").hexdigest()  # 64 hex digits: the form of a xorb, file or chunk hash


@dataclass(frozen=True)
class Repo:
    type: str
    ns: str
    name: str
    private: bool = False
    gated: bool = False
    id: int = 0  # the numeric id, in LFS action URLs
    lfs_oid: str = ""

    @property
    def repo_id(self) -> str:
        return f"{self.ns}/{self.name}"

    def api(self, tail: str = "") -> str:
        return f"/api/{self.type}s/{self.repo_id}{tail}"

    def web(self, tail: str = "") -> str:
        return f"/{PREFIX[self.type]}{self.repo_id}{tail}"


@dataclass(frozen=True)
class Req:
    method: str
    url: str
    json: object = None
    data: dict | None = None
    content: bytes | None = None
    headers: dict = field(default_factory=dict)


# -- the routes ------------------------------------------------------------------------------------
# Kinds: READ (any reader gets `ok`), WRITE (writers get `ok`, readers are refused and nothing changes),
# LIKE (a write to the caller's own likes: any reader with a write token), SIGNED (LFS action URLs,
# authorized by their signature alone, and the web UI's forms, by a browser session: refused to every
# caller here), CREATE (a repo's name in a create request: the same refusal for a private name as for a free one), GLOBAL (no repo in the URL),
# PUSH (git receive-pack: WRITE, except that a reader who opened a PR reaches the push hook, which lets only
# their refs/pr/N move; the refs are compared before and after as for every refused write),
# CONTENT (READ of a repo's files: on the gated repo, callers without access get GatedRepo, 401 or 403).


@dataclass(frozen=True)
class Route:
    kind: str
    build: Callable[[Repo], Req]
    ok: frozenset = frozenset({200})
    fresh: bool = False  # a writer's request changes the repo: try it on a fresh one
    lists: bool = False  # GLOBAL: the answer lists repos; it must not name hidden ones


def R(kind: str, build: Callable[[Repo], Req], *ok: int, fresh: bool = False, lists: bool = False) -> Route:
    return Route(kind, build, frozenset(ok or {200}), fresh, lists)


def ndjson_commit(r: Repo) -> bytes:
    return (b'{"key": "header", "value": {"summary": "matrix"}}\n'
            b'{"key": "file", "value": {"path": "new.txt", "content": "bmV3", "encoding": "base64"}}\n')


def signed(tail: str = "", method: str = "GET", **body) -> Callable[[Repo], Req]:
    """An LFS action URL of the repo's object with a forged signature."""
    def build(r: Repo) -> Req:
        url = f"/api/lfs/objects/{r.id}/{r.lfs_oid}{tail}?size={len(LFS_CONTENT)}&exp=9999999999&sig=forged"
        return Req(method, url, json=body or None, content=LFS_CONTENT if method == "PUT" else None)
    return build


GIT_HEADERS = {"content-type": "application/x-git-upload-pack-request"}
PUSH_HEADERS = {"content-type": "application/x-git-receive-pack-request"}
LFS_JSON = {"content-type": "application/vnd.git-lfs+json", "accept": "application/vnd.git-lfs+json"}


def git_and_lfs() -> dict:
    out = {}
    for prefix in ("/datasets", "/spaces", "/kernels", ""):
        out |= {
            ("POST", prefix + "/{ns}/{name}.git/info/lfs/objects/batch"): [
                R("WRITE", lambda r: Req("POST", r.web(".git/info/lfs/objects/batch"), headers=LFS_JSON, json={
                    "operation": "upload", "transfers": ["basic"], "objects": [{"oid": NEW_OID, "size": 3}],
                    "ref": {"name": "refs/heads/main"}})),
                # no ref: an upload for a pull request that create_pr opens, which readers may send
                R("LIKE", lambda r: Req("POST", r.web(".git/info/lfs/objects/batch"), headers=LFS_JSON, json={
                    "operation": "upload", "transfers": ["basic"], "objects": [{"oid": NEW_OID, "size": 3}]}))],
            ("POST", prefix + "/{ns}/{name}.git/info/lfs/locks/verify"): [R("WRITE", lambda r: Req(
                "POST", r.web(".git/info/lfs/locks/verify"), headers=LFS_JSON, json={}))],
            ("GET", prefix + "/{ns}/{name}.git/info/lfs/locks"): [R("READ", lambda r: Req(
                "GET", r.web(".git/info/lfs/locks"), headers=LFS_JSON))],
            ("GET", prefix + "/{ns}/{name}/info/refs"): [
                R("CONTENT", lambda r: Req("GET", r.web("/info/refs?service=git-upload-pack"))),
                R("PUSH", lambda r: Req("GET", r.web("/info/refs?service=git-receive-pack")))],
            ("POST", prefix + "/{ns}/{name}/git-upload-pack"): [R("CONTENT", lambda r: Req(
                "POST", r.web("/git-upload-pack"), content=b"0000", headers=GIT_HEADERS))],
            ("POST", prefix + "/{ns}/{name}/git-receive-pack"): [R("PUSH", lambda r: Req(
                "POST", r.web("/git-receive-pack"), content=b"0000", headers=PUSH_HEADERS))],
            ("GET", prefix + "/{ns}/{name}/resolve/{rest:path}"): [R("CONTENT", lambda r: Req(
                "GET", r.web("/resolve/main/README.md")))],
            ("HEAD", prefix + "/{ns}/{name}/resolve/{rest:path}"): [R("CONTENT", lambda r: Req(
                "HEAD", r.web("/resolve/main/README.md")))],
            ("GET", prefix + "/{ns}/{name}"): [R("READ", lambda r: Req("GET", r.web()))],
            ("GET", prefix + "/{ns}/{name}/tree/{rest:path}"): [R("READ", lambda r: Req("GET", r.web("/tree/main")))],
            ("GET", prefix + "/{ns}/{name}/blob/{rest:path}"): [R("CONTENT", lambda r: Req(
                "GET", r.web("/blob/main/README.md")))],
            ("GET", prefix + "/{ns}/{name}/commits/{rest:path}"): [R("READ", lambda r: Req(
                "GET", r.web("/commits/main")))],
            ("GET", prefix + "/{ns}/{name}/refs"): [R("READ", lambda r: Req("GET", r.web("/refs")))],
            ("GET", prefix + "/{ns}/{name}/commit/{sha}"): [R("READ", lambda r: Req("GET", r.web("/commit/main")))],
            **web_forms(prefix),
            ("GET", prefix + "/{ns}/{name}/discussions"): [R("READ", lambda r: Req("GET", r.web("/discussions")))],
            ("POST", prefix + "/{ns}/{name}/discussions"): [R("LIKE", lambda r: Req(
                "POST", r.web("/discussions"), data={"title": "From a form"}), 303)],
            ("GET", prefix + "/{ns}/{name}/discussions/{num}"): [R("READ", lambda r: Req(
                "GET", r.web("/discussions/1")))],
            ("GET", prefix + "/{ns}/{name}/discussions/attachments/{num}"): [R("READ", lambda r: Req(
                "GET", r.web(f"/discussions/attachments/{'0' * 64}")), 404)],
            ("POST", prefix + "/{ns}/{name}/discussions/{num}"): [R("LIKE", lambda r: Req(
                "POST", r.web("/discussions/2"), data={"action": "comment", "comment": "hi"}), 303)],
        }
    return out


def web_forms(prefix: str) -> dict:
    """The web UI's editing pages and forms act for a browser's session only: a token (every caller
    here) is sent to sign in (303), and a form without the session's CSRF token is refused (403)."""
    out = {}
    for page, tail in (("/upload/{rest:path}", "/upload/main"), ("/edit/{rest:path}", "/edit/main/README.md"),
                       ("/new/{rest:path}", "/new/main"), ("/settings", "/settings")):
        out[("GET", prefix + "/{ns}/{name}" + page)] = [R("SIGNED", lambda r, t=tail: Req("GET", r.web(t)), 303)]
    # the like button: a caller without a browser session is sent to sign in (303) before any CSRF check
    out[("POST", prefix + "/{ns}/{name}/like")] = [R("SIGNED", lambda r: Req("POST", r.web("/like"),
                                                                          data={"liked": "1"}), 303)]
    out[("POST", prefix + "/{ns}/{name}/upload/{rest:path}")] = [R("SIGNED", lambda r: Req(
        "POST", r.web("/upload/main"), content=b"--b--\r\n",
        headers={"content-type": "multipart/form-data; boundary=b"}), 303)]
    for page, tail in (("/edit/{rest:path}", "/edit/main/README.md"), ("/new/{rest:path}", "/new/main"),
                       ("/settings/visibility", "/settings/visibility"), ("/settings/gated", "/settings/gated"),
                       ("/settings/move", "/settings/move"), ("/settings/access", "/settings/access"),
                       ("/ask-access", "/ask-access"), ("/settings/delete", "/settings/delete")):
        out[("POST", prefix + "/{ns}/{name}" + page)] = [R("SIGNED", lambda r, t=tail: Req(
            "POST", r.web(t), data={"content": "x", "path": "x.txt", "visibility": "public", "gated": "off",
                                    "owner": "alice",
                                    "name": "moved", "confirm": r.repo_id}), 403)]
    return out


def spaces_routes() -> dict:
    """The Space management API (writers only, but the runtime and host), the proxy to the apps (a reader
    gets the app, or 503 while it cannot answer: these Spaces have no app file), and the owner forms."""
    out = {
        ("GET", "/api/spaces/{ns}/{name}/runtime"): [R("READ", lambda r: Req("GET", r.api("/runtime")))],
        ("GET", "/api/spaces/{ns}/{name}/host"): [R("READ", lambda r: Req("GET", r.api("/host")))],
        ("POST", "/api/spaces/{ns}/{name}/restart"): [R("WRITE", lambda r: Req("POST", r.api("/restart")), fresh=True)],
        ("POST", "/api/spaces/{ns}/{name}/pause"): [R("WRITE", lambda r: Req("POST", r.api("/pause")), fresh=True)],
        ("POST", "/api/spaces/{ns}/{name}/sleeptime"): [R("WRITE", lambda r: Req(
            "POST", r.api("/sleeptime"), json={"seconds": 3600}))],
        ("POST", "/api/spaces/{ns}/{name}/hardware"): [R("WRITE", lambda r: Req(
            "POST", r.api("/hardware"), json={"flavor": "cpu-basic"}))],
        ("GET", "/api/spaces/{ns}/{name}/logs/{which}"): [R("WRITE", lambda r: Req("GET", r.api("/logs/build")))],
        ("POST", "/api/spaces/{ns}/{name}/duplicate"): [R("READ", lambda r: Req(
            "POST", r.api("/duplicate"), json={"repository": "eve/matrix-copy"}), 200, 401, 403, 409)],
        ("GET", "/api/spaces/hardware"): [R("GLOBAL", lambda r: Req("GET", "/api/spaces/hardware"))],
        ("GET", "/-/spaces/{ns}/{name}"): [R("READ", lambda r: Req("GET", f"/-/spaces/{r.repo_id}"), 307)],
        ("POST", "/spaces/{ns}/{name}/settings/space/{action}"): [R("SIGNED", lambda r: Req(
            "POST", r.web("/settings/space/pause"), data={}), 403)],
    }
    for kind in ("secrets", "variables"):
        out[("GET", "/api/spaces/{ns}/{name}/" + kind)] = [R("WRITE", lambda r, k=kind: Req("GET", r.api("/" + k)))]
        out[("POST", "/api/spaces/{ns}/{name}/" + kind)] = [R("WRITE", lambda r, k=kind: Req(
            "POST", r.api("/" + k), json={"key": "MATRIX", "value": "v"}))]
        out[("DELETE", "/api/spaces/{ns}/{name}/" + kind)] = [R("WRITE", lambda r, k=kind: Req(
            "DELETE", r.api("/" + k), json={"key": "MATRIX"}))]
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        out[(method, "/-/spaces/{ns}/{name}/{tail:path}")] = [R("READ", lambda r, m=method: Req(
            m, f"/-/spaces/{r.repo_id}/config"), 200, 503)]
    return out


ROUTES: dict[tuple[str, str], list[Route]] = {
    # accounts and repos
    ("GET", "/api/whoami-v2"): [R("GLOBAL", lambda r: Req("GET", "/api/whoami-v2"), 200, 401)],
    ("POST", "/api/organizations/new"): [R("GLOBAL", lambda r: Req("POST", "/api/organizations/new",
                                                                   json={"name": ORG}), 401, 403, 409)],
    ("GET", "/api/agent-harnesses"): [R("GLOBAL", lambda r: Req("GET", "/api/agent-harnesses"))],
    ("POST", "/api/credentials/revoke"): [R("GLOBAL", lambda r: Req("POST", "/api/credentials/revoke",
                                                                    json={"credentials": ["cove_matrix"]}))],
    ("POST", "/api/validate-yaml"): [R("GLOBAL", lambda r: Req("POST", "/api/validate-yaml",
                                                               json={"content": "---\nlicense: mit\n---\n"}))],
    ("POST", "/api/repos/create"): [R("CREATE", lambda r: Req("POST", "/api/repos/create", json={
        "name": r.name, "organization": r.ns, "type": r.type}), 401, 403)],
    ("DELETE", "/api/repos/delete"): [R("WRITE", lambda r: Req("DELETE", "/api/repos/delete", json={
        "name": r.repo_id, "type": r.type}), fresh=True)],
    ("POST", "/api/repos/move"): [R("WRITE", lambda r: Req("POST", "/api/repos/move", json={
        "fromRepo": r.repo_id, "toRepo": f"{r.repo_id}-moved", "type": r.type}), fresh=True)],
    ("PUT", "/api/{rtype}/{ns}/{name}/settings"): [R("WRITE", lambda r: Req(
        "PUT", r.api("/settings"), json={"gated": "manual"}), fresh=True)],
    ("POST", "/api/{rtype}/{ns}/{name}/like"): [R("LIKE", lambda r: Req("POST", r.api("/like")))],
    ("GET", "/api/{rtype}/{ns}/{name}/likers"): [R("READ", lambda r: Req("GET", r.api("/likers")))],
    ("GET", "/api/users/{user}/likes"): [R("GLOBAL", lambda r: Req("GET", "/api/users/alice/likes"), lists=True)],
    ("DELETE", "/api/{rtype}/{ns}/{name}/like"): [R("LIKE", lambda r: Req("DELETE", r.api("/like")))],
    ("GET", "/api/{rtype}/{ns}/{name}/auth-check"): [R("CONTENT", lambda r: Req("GET", r.api("/auth-check")))],
    ("GET", "/api/{rtype}/{ns}/{name}/auth-check/write"): [R("WRITE", lambda r: Req(
        "GET", r.api("/auth-check/write")))],
    ("GET", "/api/{rtype}/{ns}/{name}/revision/{rest:path}"): [R("READ", lambda r: Req(
        "GET", r.api("/revision/main")))],
    ("GET", "/api/{rtype}/{ns}/{name}"): [R("READ", lambda r: Req("GET", r.api()))],
    ("GET", "/api/{rtype}"): [R("GLOBAL", lambda r: Req("GET", f"/api/{r.type}s?full=true"), lists=True)],
    # Xet: tokens from the Hub, then the CAS, where only a Xet token counts (the callers' Hub tokens are
    # refused like no token; tests/e2e/test_xet_faults.py uses real Xet tokens across repos)
    ("GET", "/api/{rtype}/{ns}/{name}/xet-read-token/{rest:path}"): [R("CONTENT", lambda r: Req(
        "GET", r.api("/xet-read-token/main")))],
    ("GET", "/api/{rtype}/{ns}/{name}/xet-write-token/{rest:path}"): [
        R("WRITE", lambda r: Req("GET", r.api("/xet-write-token/main"))),
        R("LIKE", lambda r: Req("GET", r.api("/xet-write-token/main?create_pr=1")))],
    ("POST", "/api/{rtype}/{ns}/{name}/lfs-files/duplicate"): [R("WRITE", lambda r: Req(
        "POST", r.api("/lfs-files/duplicate"), json={"target": {"type": r.type, "name": r.repo_id},
                                                   "files": [{"sha256": r.lfs_oid, "filename": "weights.bin"}]}))],
    ("POST", "/cas/v1/xorbs/{prefix}/{xorb}"): [R("SIGNED", lambda r: Req(
        "POST", f"/cas/v1/xorbs/default/{XET_HASH}", content=b"\x00" * 16), 401)],
    ("POST", "/cas/v1/shards"): [R("SIGNED", lambda r: Req("POST", "/cas/v1/shards", content=b"\x00" * 48), 401)],
    ("GET", "/cas/v1/reconstructions/{file}"): [R("SIGNED", lambda r: Req(
        "GET", f"/cas/v1/reconstructions/{XET_HASH}", headers={"range": "bytes=0-9"}), 401)],
    ("GET", "/cas/v2/reconstructions/{file}"): [R("SIGNED", lambda r: Req(
        "GET", f"/cas/v2/reconstructions/{XET_HASH}"), 401)],
    ("GET", "/cas/v1/fetch/{xorb}"): [R("SIGNED", lambda r: Req(
        "GET", f"/cas/v1/fetch/{XET_HASH}?r=0-9&exp=9999999999&tok=1&sig=forged", headers={"range": "bytes=0-9"}),
        403)],
    ("GET", "/cas/v1/chunks/{prefix}/{chunk}"): [R("SIGNED", lambda r: Req(
        "GET", f"/cas/v1/chunks/default/{XET_HASH}"), 401)],
    # storage buckets (the "gated" kind is a second public bucket: buckets are not gated)
    ("POST", "/api/buckets/{ns}/{name}"): [R("CREATE", lambda r: Req("POST", f"/api/buckets/{r.repo_id}", json={}),
                                            401, 403)],
    ("GET", "/api/buckets/{ns}/{name}"): [R("READ", lambda r: Req("GET", r.api()))],
    ("GET", "/api/buckets/{namespace}"): [R("GLOBAL", lambda r: Req("GET", f"/api/buckets/{r.ns}"), lists=True)],
    ("DELETE", "/api/buckets/{ns}/{name}"): [R("WRITE", lambda r: Req("DELETE", r.api()), fresh=True)],
    ("PUT", "/api/buckets/{ns}/{name}/settings"): [R("WRITE", lambda r: Req(
        "PUT", r.api("/settings"), json={"private": True}), fresh=True)],
    ("GET", "/api/buckets/{ns}/{name}/tree"): [R("READ", lambda r: Req("GET", r.api("/tree?recursive=true")))],
    ("GET", "/api/buckets/{ns}/{name}/tree/{rest:path}"): [R("READ", lambda r: Req("GET", r.api("/tree/README.md")))],
    ("POST", "/api/buckets/{ns}/{name}/paths-info"): [R("READ", lambda r: Req(
        "POST", r.api("/paths-info"), json={"paths": ["README.md", "weights.bin"]}))],
    ("POST", "/api/buckets/{ns}/{name}/batch"): [R("WRITE", lambda r: Req(
        "POST", r.api("/batch"), content=b'{"type": "deleteFile", "path": "README.md"}\n',
        headers={"content-type": "application/x-ndjson"}), fresh=True)],
    ("GET", "/api/buckets/{ns}/{name}/xet-read-token"): [R("READ", lambda r: Req("GET", r.api("/xet-read-token")))],
    ("GET", "/api/buckets/{ns}/{name}/xet-write-token"): [R("WRITE", lambda r: Req(
        "GET", r.api("/xet-write-token")))],
    ("GET", "/buckets/{ns}/{name}/resolve/{rest:path}"): [R("READ", lambda r: Req("GET", r.web("/resolve/README.md")))],
    ("HEAD", "/buckets/{ns}/{name}/resolve/{rest:path}"): [R("READ", lambda r: Req(
        "HEAD", r.web("/resolve/weights.bin")))],
    # content
    ("GET", "/api/{rtype}/{ns}/{name}/tree/{rest:path}"): [R("READ", lambda r: Req("GET", r.api("/tree/main")))],
    ("POST", "/api/{rtype}/{ns}/{name}/paths-info/{rest:path}"): [R("READ", lambda r: Req(
        "POST", r.api("/paths-info/main"), data={"paths": "README.md"}))],
    ("GET", "/api/{rtype}/{ns}/{name}/refs"): [R("READ", lambda r: Req("GET", r.api("/refs")))],
    ("GET", "/api/{rtype}/{ns}/{name}/commits/{rest:path}"): [R("READ", lambda r: Req("GET", r.api("/commits/main")))],
    ("POST", "/api/{rtype}/{ns}/{name}/branch/{rest:path}"): [R("WRITE", lambda r: Req(
        "POST", r.api("/branch/feature"), json={}), fresh=True)],
    ("DELETE", "/api/{rtype}/{ns}/{name}/branch/{rest:path}"): [R("WRITE", lambda r: Req(
        "DELETE", r.api("/branch/dev")), fresh=True)],
    ("POST", "/api/{rtype}/{ns}/{name}/tag/{rest:path}"): [R("WRITE", lambda r: Req(
        "POST", r.api("/tag/main"), json={"tag": "v2"}), fresh=True)],
    ("DELETE", "/api/{rtype}/{ns}/{name}/tag/{rest:path}"): [R("WRITE", lambda r: Req(
        "DELETE", r.api("/tag/v1")), fresh=True)],
    # discussions and pull requests (populate() opens PR #1 and discussion #2 as the owner); anyone who may
    # read a repo may open and comment on them (LIKE: any write token), only writers or authors change them
    ("GET", "/api/{rtype}/{ns}/{name}/discussions"): [R("READ", lambda r: Req("GET", r.api("/discussions")))],
    ("POST", "/api/{rtype}/{ns}/{name}/discussions"): [
        R("LIKE", lambda r: Req("POST", r.api("/discussions"), json={"title": "matrix", "description": "d"})),
        R("LIKE", lambda r: Req("POST", r.api("/discussions"), json={"title": "matrix PR", "pullRequest": True}))],
    ("GET", "/api/{rtype}/{ns}/{name}/discussions/{num}"): [R("READ", lambda r: Req(
        "GET", r.api("/discussions/1?diff=1")))],
    ("POST", "/api/{rtype}/{ns}/{name}/discussions/{num}/comment"): [R("LIKE", lambda r: Req(
        "POST", r.api("/discussions/2/comment"), json={"comment": "matrix"}))],
    # a comment id nobody has: 401 / 403 / 404 to whoever sees the repo, the repo's own 404 to the others
    ("POST", "/api/{rtype}/{ns}/{name}/discussions/{num}/comment/{cid}/edit"): [R("READ", lambda r: Req(
        "POST", r.api(f"/discussions/2/comment/{'0' * 24}/edit"), json={"content": "x"}), 401, 403, 404)],
    ("POST", "/api/{rtype}/{ns}/{name}/discussions/{num}/comment/{cid}/hide"): [R("READ", lambda r: Req(
        "POST", r.api(f"/discussions/2/comment/{'0' * 24}/hide")), 401, 403, 404)],
    ("POST", "/api/{rtype}/{ns}/{name}/discussions/{num}/title"): [R("WRITE", lambda r: Req(
        "POST", r.api("/discussions/2/title"), json={"title": "Renamed"}))],
    ("POST", "/api/{rtype}/{ns}/{name}/discussions/{num}/status"): [R("WRITE", lambda r: Req(
        "POST", r.api("/discussions/2/status"), json={"status": "open"}))],
    ("POST", "/api/{rtype}/{ns}/{name}/discussions/{num}/merge"): [R("WRITE", lambda r: Req(
        "POST", r.api("/discussions/1/merge")), fresh=True)],
    # history and storage
    ("POST", "/api/{rtype}/{ns}/{name}/super-squash/{rest:path}"): [R("WRITE", lambda r: Req(
        "POST", r.api("/super-squash/main"), json={"message": "squash"}), fresh=True)],
    ("GET", "/api/{rtype}/{ns}/{name}/lfs-files"): [R("WRITE", lambda r: Req("GET", r.api("/lfs-files")))],
    ("POST", "/api/{rtype}/{ns}/{name}/lfs-files/batch"): [R("WRITE", lambda r: Req(
        "POST", r.api("/lfs-files/batch"), json={"deletions": {"sha": [r.lfs_oid], "rewriteHistory": True}}),
        fresh=True)],
    ("GET", "/api/settings/repositories"): [R("GLOBAL", lambda r: Req("GET", "/api/settings/repositories"),
                                              200, 401, lists=True)],
    ("GET", "/api/organizations/{ns}/settings/repositories"): [R("GLOBAL", lambda r: Req(
        "GET", f"/api/organizations/{ORG}/settings/repositories"), 200, 401, 403, lists=True)],
    ("GET", "/api/{rtype}/{ns}/{name}/scan"): [R("READ", lambda r: Req("GET", r.api("/scan")))],
    # gated repos' access requests (their admins only)
    ("GET", "/api/{rtype}/{ns}/{name}/user-access-request/{status}"): [R("WRITE", lambda r: Req(
        "GET", r.api("/user-access-request/pending")))],
    ("POST", "/api/{rtype}/{ns}/{name}/user-access-request/handle"): [R("WRITE", lambda r: Req(
        "POST", r.api("/user-access-request/handle"), json={"user": "eve", "status": "accepted"}), 404)],
    ("POST", "/api/{rtype}/{ns}/{name}/user-access-request/grant"): [R("WRITE", lambda r: Req(
        "POST", r.api("/user-access-request/grant"), json={"user": "nobody-q7"}), 400, 404)],
    # collections (tests/e2e/test_collections.py covers private collections; here: no repo leaks, no 5xx)
    ("GET", "/api/collections"): [R("GLOBAL", lambda r: Req("GET", f"/api/collections?owner={r.ns}"), lists=True)],
    ("POST", "/api/collections"): [R("GLOBAL", lambda r: Req("POST", "/api/collections", json={
        "title": "matrix", "namespace": r.ns, "private": True}), 200, 401, 403)],
    ("GET", "/api/collections/{ns}/{slug}"): [R("GLOBAL", lambda r: Req(
        "GET", f"/api/collections/{r.ns}/none-{'0' * 24}"), 404)],
    ("PATCH", "/api/collections/{ns}/{slug}"): [R("GLOBAL", lambda r: Req(
        "PATCH", f"/api/collections/{r.ns}/none-{'0' * 24}", json={"title": "x"}), 404)],
    ("DELETE", "/api/collections/{ns}/{slug}"): [R("GLOBAL", lambda r: Req(
        "DELETE", f"/api/collections/{r.ns}/none-{'0' * 24}"), 404)],
    ("POST", "/api/collections/{ns}/{slug}/items"): [R("GLOBAL", lambda r: Req(
        "POST", f"/api/collections/{r.ns}/none-{'0' * 24}/items", json={"item": {"id": r.repo_id, "type": r.type}}),
        404)],
    ("PATCH", "/api/collections/{ns}/{slug}/items/{item_oid}"): [R("GLOBAL", lambda r: Req(
        "PATCH", f"/api/collections/{r.ns}/none-{'0' * 24}/items/{'1' * 24}", json={"note": "x"}), 404)],
    ("DELETE", "/api/collections/{ns}/{slug}/items/{item_oid}"): [R("GLOBAL", lambda r: Req(
        "DELETE", f"/api/collections/{r.ns}/none-{'0' * 24}/items/{'1' * 24}"), 404)],
    # webhooks: the caller's own (none exists here: every id is someone else's or nobody's); watching a
    # repo needs read access (404 before the target's 400)
    ("GET", "/api/settings/webhooks"): [R("GLOBAL", lambda r: Req("GET", "/api/settings/webhooks"), 200, 401)],
    ("POST", "/api/settings/webhooks"): [R("GLOBAL", lambda r: Req("POST", "/api/settings/webhooks", json={
        "url": "http://10.9.9.9/hook", "watched": [{"type": r.type, "name": r.repo_id}]}), 400, 401, 403, 404)],
    ("GET", "/api/settings/webhooks/{oid}"): [R("GLOBAL", lambda r: Req(
        "GET", f"/api/settings/webhooks/{'0' * 24}"), 401, 404)],
    ("POST", "/api/settings/webhooks/{oid}"): [R("GLOBAL", lambda r: Req(
        "POST", f"/api/settings/webhooks/{'0' * 24}", json={"watched": []}), 401, 403, 404)],
    ("DELETE", "/api/settings/webhooks/{oid}"): [R("GLOBAL", lambda r: Req(
        "DELETE", f"/api/settings/webhooks/{'0' * 24}"), 401, 403, 404)],
    ("POST", "/api/settings/webhooks/{oid}/enable"): [R("GLOBAL", lambda r: Req(
        "POST", f"/api/settings/webhooks/{'0' * 24}/enable"), 401, 403, 404)],
    ("POST", "/api/settings/webhooks/{oid}/disable"): [R("GLOBAL", lambda r: Req(
        "POST", f"/api/settings/webhooks/{'0' * 24}/disable"), 401, 403, 404)],
    ("GET", "/api/settings/webhooks/{oid}/deliveries"): [R("GLOBAL", lambda r: Req(
        "GET", f"/api/settings/webhooks/{'0' * 24}/deliveries"), 401, 404)],
    ("POST", "/api/settings/webhooks/{oid}/deliveries/{delivery}/replay"): [R("GLOBAL", lambda r: Req(
        "POST", f"/api/settings/webhooks/{'0' * 24}/deliveries/{'1' * 24}/replay"), 401, 403, 404)],
    # the collection pages (read-only; tests/e2e/test_web_likes_collections.py covers private ones)
    ("GET", "/collections/{ns}"): [R("GLOBAL", lambda r: Req("GET", f"/collections/{r.ns}"), lists=True)],
    ("GET", "/collections/{ns}/{slug}"): [R("GLOBAL", lambda r: Req(
        "GET", f"/collections/{r.ns}/none-{'0' * 24}"), 404)],
    ("GET", "/notifications"): [R("GLOBAL", lambda r: Req("GET", "/notifications"), 303)],
    ("POST", "/notifications/read"): [R("GLOBAL", lambda r: Req("POST", "/notifications/read", data={}), 403)],
    ("GET", "/settings/webhooks"): [R("GLOBAL", lambda r: Req("GET", "/settings/webhooks"), 303)],
    ("GET", "/settings/webhooks/{oid}"): [R("GLOBAL", lambda r: Req("GET", f"/settings/webhooks/{'0' * 24}"), 303)],
    ("POST", "/settings/webhooks/{oid}/deliveries/{delivery}/replay"): [R("GLOBAL", lambda r: Req(
        "POST", f"/settings/webhooks/{'0' * 24}/deliveries/{'1' * 24}/replay", data={}), 403)],
    # the audit log: Hub admins only (none of the callers here is one)
    ("GET", "/api/admin/audit"): [R("GLOBAL", lambda r: Req("GET", "/api/admin/audit"), 401, 403)],
    ("GET", "/settings/audit"): [R("GLOBAL", lambda r: Req("GET", "/settings/audit"), 404)],
    # uploads
    ("POST", "/api/{rtype}/{ns}/{name}/preupload/{rest:path}"): [
        R("WRITE", lambda r: Req("POST", r.api("/preupload/main"),
                                 json={"files": [{"path": "new.txt", "size": 3, "sample": "bmV3"}]})),
        R("LIKE", lambda r: Req("POST", r.api("/preupload/main?create_pr=1"),
                                json={"files": [{"path": "new.txt", "size": 3, "sample": "bmV3"}]}))],
    ("POST", "/api/{rtype}/{ns}/{name}/commit/{rest:path}"): [
        R("WRITE", lambda r: Req("POST", r.api("/commit/main"), content=ndjson_commit(r),
                                 headers={"content-type": "application/x-ndjson"}), fresh=True),
        R("LIKE", lambda r: Req("POST", r.api("/commit/main?create_pr=1"), content=ndjson_commit(r),
                                headers={"content-type": "application/x-ndjson"}))],
    # LFS action URLs
    ("PUT", "/api/lfs/objects/{repo_id}/{oid}"): [R("SIGNED", signed(method="PUT"), 403)],
    ("GET", "/api/lfs/objects/{repo_id}/{oid}"): [R("SIGNED", signed(), 403)],
    ("PUT", "/api/lfs/objects/{repo_id}/{oid}/part/{number}"): [R("SIGNED", signed("/part/1", "PUT"), 403)],
    ("POST", "/api/lfs/objects/{repo_id}/{oid}/complete"): [R("SIGNED", signed(
        "/complete", "POST", parts=[{"partNumber": 1, "etag": "x"}]), 403)],
    ("POST", "/api/lfs/objects/{repo_id}/{oid}/verify"): [R("SIGNED", signed("/verify", "POST", size=1), 403)],
    # inference (the repos have no pipeline_tag: every reader gets the same 400, and no model loads)
    ("POST", "/api/inference/{ns}/{name}"): [R("CONTENT", lambda r: Req(
        "POST", f"/api/inference/{r.repo_id}", json={"inputs": "hi"}), 400)],
    ("GET", "/api/inference/status"): [R("GLOBAL", lambda r: Req("GET", "/api/inference/status"), 401, 403)],
    ("POST", "/v1/chat/completions"): [R("CONTENT", lambda r: Req("POST", "/v1/chat/completions", json={
        "model": r.repo_id, "messages": [{"role": "user", "content": "hi"}]}), 400)],
    ("POST", "/v1/completions"): [R("CONTENT", lambda r: Req("POST", "/v1/completions", json={
        "model": r.repo_id, "prompt": "hi"}), 400)],
    ("GET", "/v1/models"): [R("GLOBAL", lambda r: Req("GET", "/v1/models"), lists=True)],
    ("GET", "/v1/models/{ns}/{name}"): [R("CONTENT", lambda r: Req("GET", f"/v1/models/{r.repo_id}"), 400)],
    ("POST", "/{ns}/{name}/inference"): [R("CONTENT", lambda r: Req("POST", r.web("/inference"),
                                                                 data={"inputs": "hi"}), 400)],
    # the dataset viewer
    ("GET", "/api/datasets/{ns}/{name}/info"): [R("CONTENT", lambda r: Req("GET", f"/api/datasets/{r.repo_id}/info"))],
    ("GET", "/api/datasets/{ns}/{name}/rows"): [R("CONTENT", lambda r: Req(
        "GET", f"/api/datasets/{r.repo_id}/rows?config=default&split=train"))],
    ("GET", "/api/datasets/{ns}/{name}/cell"): [R("CONTENT", lambda r: Req(  # no media column: a 400 to readers
        "GET", f"/api/datasets/{r.repo_id}/cell?config=default&split=train&row=0&column=nope"), 400)],
    # web pages without a repo
    ("GET", "/"): [R("GLOBAL", lambda r: Req("GET", "/"), lists=True)],
    ("GET", "/search"): [R("GLOBAL", lambda r: Req("GET", "/search?q=secret"), 303)],
    ("GET", "/models"): [R("GLOBAL", lambda r: Req("GET", "/models"), lists=True)],
    ("GET", "/datasets"): [R("GLOBAL", lambda r: Req("GET", "/datasets"), lists=True)],
    ("GET", "/spaces"): [R("GLOBAL", lambda r: Req("GET", "/spaces"), lists=True)],
    ("GET", "/kernels"): [R("GLOBAL", lambda r: Req("GET", "/kernels"), lists=True)],
    ("GET", "/{ns}"): [R("GLOBAL", lambda r: Req("GET", f"/{r.ns}"), lists=True)],
    ("GET", "/login"): [R("GLOBAL", lambda r: Req("GET", "/login"))],
    ("POST", "/login"): [R("GLOBAL", lambda r: Req("POST", "/login", data={"username": "alice"}), 403)],
    ("POST", "/logout"): [R("GLOBAL", lambda r: Req("POST", "/logout", data={}), 403)],
    ("GET", "/settings"): [R("GLOBAL", lambda r: Req("GET", "/settings"), 303)],
    ("GET", "/settings/tokens"): [R("GLOBAL", lambda r: Req("GET", "/settings/tokens"), 303)],
    ("POST", "/settings/tokens"): [R("GLOBAL", lambda r: Req("POST", "/settings/tokens", data={"name": "x"}), 403)],
    ("POST", "/settings/tokens/{token_id}/revoke"): [R("GLOBAL", lambda r: Req(
        "POST", "/settings/tokens/1/revoke", data={}), 403)],
    ("GET", "/settings/password"): [R("GLOBAL", lambda r: Req("GET", "/settings/password"), 303)],
    ("POST", "/settings/password"): [R("GLOBAL", lambda r: Req("POST", "/settings/password", data={
        "current": "x", "new": "y" * 10, "confirm": "y" * 10}), 403)],
    ("GET", "/new"): [R("GLOBAL", lambda r: Req("GET", "/new"), 303)],
    ("POST", "/new"): [R("GLOBAL", lambda r: Req("POST", "/new", data={"name": "x", "visibility": "public"}), 403)],
    **git_and_lfs(),
    **spaces_routes(),
}


def types_of(path: str) -> tuple[str, ...]:
    """The repo types a route serves, from its path ("bucket": a storage bucket)."""
    if path.startswith(("/buckets/", "/api/buckets/")):
        return ("bucket",)
    if path == "/api/repos/move":  # HfApi.move_bucket sends type "bucket" there
        return (*TYPES, "bucket")
    if path.startswith(("/datasets/", "/api/datasets/")):
        return ("dataset",)
    if path.startswith(("/spaces/", "/api/spaces/", "/-/spaces/")):
        return ("space",)
    if path.startswith("/kernels/"):
        return ("kernel",)
    if "{rtype}" in path or path.startswith(("/api/repos/", "/api/lfs/")):
        return TYPES
    return ("model",)


# -- the Hub under test ----------------------------------------------------------------------------

#: caller -> (user, read-only token)
CALLERS = {"anonymous": None, "stranger": ("eve", False), "stranger-ro": ("eve", True),
           "owner-ro": ("alice", True), "org-reader": ("rita", False), "owner": ("alice", False)}


def may(caller: str, repo: Repo) -> str:
    """What ``caller`` may do with ``repo``: none, read or write (alice owns every repo and the org)."""
    if caller == "owner":
        return "write"
    if caller == "owner-ro" or (caller == "org-reader" and repo.ns == ORG) or not repo.private:
        return "read"
    return "none"


def populate(api: HfApi, repo: Repo) -> None:
    if repo.type == "bucket":
        api.create_bucket(repo.repo_id, private=repo.private)
        api.batch_bucket_files(repo.repo_id, add=[(b"# A bucket\n", "README.md"), (b"a,b\n1,x\n", "train.csv"),
                                                  (LFS_CONTENT, "weights.bin")])
        return
    api.create_repo(repo.repo_id, repo_type=repo.type, private=repo.private,
                    space_sdk="static" if repo.type == "space" else None)
    api.create_commit(repo.repo_id, repo_type=repo.type, commit_message="files", operations=[
        CommitOperationAdd("README.md", b"# A repo\n"), CommitOperationAdd("train.csv", b"a,b\n1,x\n"),
        CommitOperationAdd("weights.bin", LFS_CONTENT)])
    api.create_branch(repo.repo_id, repo_type=repo.type, branch="dev")
    api.create_tag(repo.repo_id, repo_type=repo.type, tag="v1")
    api.create_commit(repo.repo_id, repo_type=repo.type, commit_message="PR", create_pr=True,
                      operations=[CommitOperationAdd("pr.txt", b"from a pull request")])
    # over HTTP: the client (2.4) opens discussions and changes settings of its first three types only
    auth = {"authorization": f"Bearer {api.token}"}
    r = httpx.post(f"{api.endpoint}{repo.api('/discussions')}", json={"title": "A discussion"}, headers=auth)
    assert r.status_code == 200, r.text
    if repo.gated:
        r = httpx.put(f"{api.endpoint}{repo.api('/settings')}", json={"gated": "auto"}, headers=auth)
        assert r.status_code == 200, r.text


def with_ids(hub, owner: dict, repo: Repo) -> Repo:
    info = httpx.get(hub.url + repo.api(), headers=owner).json()
    if repo.type == "bucket":
        return replace(repo, id=int(info["_id"]))
    tree = httpx.get(hub.url + repo.api("/tree/main"), headers=owner).json()
    oid = next(e["lfs"]["oid"] for e in tree if e["path"] == "weights.bin")
    return replace(repo, id=int(info["_id"]), lfs_oid=oid)


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    hub = start_server(tmp_path_factory.mktemp("matrix") / "data", env={"COVE_LFS_THRESHOLD": "500"})
    tokens = {"alice": hub.user("alice"), "eve": hub.user("eve"), "rita": hub.user("rita")}
    hub.cli("orgs", "add", ORG, "--owner", "alice")
    hub.cli("orgs", "add-member", ORG, "rita", "--role", "read")
    headers = {}
    for caller, spec in CALLERS.items():
        if spec is None:
            headers[caller] = {}
        else:
            user, read_only = spec
            token = hub.token(user, read_only=True) if read_only else tokens[user]
            headers[caller] = {"authorization": f"Bearer {token}"}
    api = HfApi(endpoint=hub.url, token=tokens["alice"])
    repos: dict[str, dict[str, Repo]] = {}
    for t in (*TYPES, "bucket"):
        kinds = {"public": Repo(t, "alice", f"open-{t}"),
                 "gated": Repo(t, "alice", f"gated-{t}", gated=t != "bucket"),
                 "private": Repo(t, "alice", f"secret-{t}-q7", private=True),
                 "org": Repo(t, ORG, f"secret-org-{t}-q7", private=True)}
        for repo in kinds.values():
            populate(api, repo)
        repos[t] = {kind: with_ids(hub, headers["owner"], repo) for kind, repo in kinds.items()}
        # the missing twins of the private repos (same namespace, a free name; ids no repo has)
        repos[t]["private-missing"] = replace(repos[t]["private"], name=f"absent-{t}-q7", id=10_000)
        repos[t]["org-missing"] = replace(repos[t]["org"], name=f"absent-org-{t}-q7", id=10_001)
    yield hub, headers, repos, api
    stop_server(hub)


# -- the checks ------------------------------------------------------------------------------------


@dataclass
class Tally:
    checks: Counter = field(default_factory=Counter)
    failures: list = field(default_factory=list)
    requests: int = 0
    fresh: int = 0

    def check(self, what: str, ok: bool, detail: str) -> None:
        self.checks[what] += 1
        if not ok:
            self.failures.append(f"{what}: {detail}")


def send(client: httpx.Client, who: dict, req: Req) -> httpx.Response:
    return client.request(req.method, req.url, headers={**who, **req.headers}, json=req.json, data=req.data,
                          content=req.content)


def seen(response: httpx.Response, hidden: Repo, missing: Repo) -> tuple:
    """What a caller learns from an answer, with ``hidden``'s name and id written as ``missing``'s."""
    def sub(text: str) -> str:
        return text.replace(hidden.name, missing.name)

    h = response.headers
    return (response.status_code, h.get("x-error-code"), sub(h.get("x-error-message", "")),
            h.get("www-authenticate"), h.get("content-type"), sub(response.text))


def state(client: httpx.Client, owner: dict, repos: dict[str, Repo]) -> dict:
    """What a refused write must not change: each repo's refs, visibility and gating."""
    out = {}
    for kind, repo in repos.items():
        if kind.endswith("missing"):
            continue
        info = client.get(repo.api(), headers=owner)
        refs = client.get(repo.api("/tree?recursive=true" if repo.type == "bucket" else "/refs?include_prs=1"),
                          headers=owner)
        body = info.json() if info.status_code == 200 else {}
        out[repo.repo_id] = (info.status_code, body.get("private"), body.get("gated"), refs.text)
    return out


def describe(caller: str, req: Req, r: httpx.Response) -> str:
    return f"{caller} {req.method} {req.url} -> {r.status_code} {r.headers.get('x-error-code')} {r.text[:160]!r}"


def expected(route: Route, caller: str, level: str, repo: Repo) -> tuple[str, frozenset]:
    """The check, and the statuses ``caller`` must get from ``route`` on ``repo``, which it may ``level``."""
    if route.kind == "CONTENT" and repo.gated and caller not in ("owner", "owner-ro"):
        return "gated content refused", frozenset({401, 403})  # alice's repo: rita's org role does not count
    if route.kind == "CONTENT":
        return "allowed", route.ok
    if route.kind == "READ" or (route.kind in ("WRITE", "PUSH") and level == "write"):
        return "allowed", route.ok
    if route.kind == "PUSH" and level == "read" and caller in ("stranger", "org-reader"):
        # a reader with a write token who opened a pull request here (the LIKE routes do) may push to its
        # refs/pr/N and nothing else: git's answer is then 200 with the hook's refusal of any other ref
        return "push refused, or to one's own PR only", frozenset({200, 401, 403})
    if route.kind in ("WRITE", "PUSH"):
        return "write refused", frozenset({401, 403})
    if route.kind == "LIKE":  # the caller's own likes: any token that may write, on a repo it may see
        if caller == "anonymous" or caller.endswith("-ro"):
            return "like refused", frozenset({401, 403})
        return "like", route.ok
    return "refused", route.ok  # SIGNED: nobody has a signature


def check_global(client, headers, repos, route: Route, t: str, tally: Tally) -> None:
    hidden = [kinds[kind] for kinds in repos.values() for kind in ("private", "org")]
    for repo in (repos[t]["public"], repos[t]["org"]):  # two namespaces, for /{ns}
        req = route.build(repo)
        for caller, who in headers.items():
            r = send(client, who, req)
            tally.requests += 1
            tally.check("no 5xx", r.status_code < 500, describe(caller, req, r))
            tally.check("answer", r.status_code in route.ok, describe(caller, req, r))
            for repo in hidden if route.lists else ():
                if may(caller, repo) == "none":
                    tally.check("listing hides private repos", repo.name not in r.text,
                                f"{describe(caller, req, r)} names {repo.repo_id}")


def check_repo_route(client, hub, headers, repos, key, route: Route, t: str, api: HfApi, tally: Tally) -> None:
    kinds = repos[t]
    before = state(client, headers["owner"], kinds)
    for kind in ("public", "gated", "private", "org"):
        repo = kinds[kind]
        req = route.build(repo)
        for caller, who in headers.items():
            level = may(caller, repo)
            if route.kind == "WRITE" and level == "write" and route.fresh:
                continue  # tried on a fresh repo below
            if route.kind == "CREATE" and level != "none":
                continue  # a caller who sees the repo learns nothing from its name
            r = send(client, who, req)
            tally.requests += 1
            tally.check("no 5xx", r.status_code < 500 or r.status_code in route.ok, describe(caller, req, r))
            if level == "none":
                missing = kinds["org-missing" if kind == "org" else "private-missing"]
                other = route.build(missing)
                m = send(client, who, other)
                tally.requests += 1
                tally.check("private = missing", seen(r, repo, missing) == seen(m, missing, missing),
                            f"\n    {describe(caller, req, r)}\n    {describe(caller, other, m)}")
            else:
                what, statuses = expected(route, caller, level, repo)
                tally.check(what, r.status_code in statuses, describe(caller, req, r))
    if route.kind in ("WRITE", "PUSH", "SIGNED", "CREATE"):
        after = state(client, headers["owner"], kinds)
        tally.check("refused writes change nothing", after == before, f"{key} changed {before} -> {after}")
    for kind in ("private", "org") if route.kind == "WRITE" and route.fresh else ():
        tally.fresh += 1
        fresh = replace(kinds[kind], name=f"fresh-{tally.fresh}")
        populate(api, fresh)
        req = route.build(with_ids(hub, headers["owner"], fresh))
        r = send(client, headers["owner"], req)
        tally.check("owner's write", r.status_code in route.ok, describe("owner", req, r))


def test_every_route_is_in_the_matrix(tmp_path):
    app = create_app(Settings(data_dir=tmp_path))
    found = set()
    for route in fastapi.routing.iter_route_contexts(app.routes):
        for method in sorted(getattr(route, "methods", None) or ["*"]):
            found.add((method, route.path))
    # the Space proxy's HTTP side is raw ASGI ahead of the routing (routes/spaces.py SpaceApps): its paths
    # and methods, each checked by the matrix like a route
    assert [prefix for prefix, _ in app.fast] == ["/-/spaces/"]
    found |= {("GET", "/-/spaces/{ns}/{name}")} | {
        (m, "/-/spaces/{ns}/{name}/{tail:path}") for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")}
    known = set(ROUTES) | FRAMEWORK
    assert found - known == set(), "routes the access matrix does not cover: add them to ROUTES"
    assert known - found == set(), "ROUTES names routes the app does not have"


def test_access_matrix(matrix):
    hub, headers, repos, api = matrix
    tally = Tally()
    with httpx.Client(base_url=hub.url, timeout=60) as client:
        for key, routes in ROUTES.items():
            for route in routes:
                for t in types_of(key[1]):
                    if route.kind == "GLOBAL":
                        check_global(client, headers, repos, route, t, tally)
                    else:
                        check_repo_route(client, hub, headers, repos, key, route, t, api, tally)
    summary = ", ".join(f"{what} {count}" for what, count in sorted(tally.checks.items()))
    print(f"access matrix: {sum(tally.checks.values())} checks, {tally.requests} requests, {tally.fresh} fresh "
          f"repos ({summary})")
    assert not tally.failures, f"{len(tally.failures)} of {sum(tally.checks.values())} checks failed:\n" + \
        "\n".join(tally.failures)
