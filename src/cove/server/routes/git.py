"""git smart HTTP: stock ``git clone`` / ``fetch`` / ``push`` at ``/{prefix}{ns}/{name}[.git]``.

The three smart-HTTP endpoints (``GET info/refs?service=...``, ``POST git-upload-pack``, ``POST
git-receive-pack``) are answered by stock ``git http-backend`` run as a CGI program, with the request
body streamed into it and its output streamed back. This module only decides who may do what:

- clone / fetch needs read access; push (receive-pack, its ref advertisement included) needs write
  access, with a write token or the user's password as the HTTP Basic password (any username);
- an anonymous caller who may not see the repo gets ``401`` with a ``Basic`` challenge, so git asks
  for (or sends) credentials; the answer is the same whether the repo is private or missing;
- an authenticated caller who may not see it gets ``404 RepoNotFound``; one who may see but not
  write gets ``403``.

A push lands only if git's fsck and the Hub's push hook accept every object and ref in it
(:mod:`cove.server.storage.receive`); otherwise git reports the reasons to the pusher and nothing moves.
Ref updates from a push and from an API commit are both compare-and-swap (receive-pack checks each
ref's old value under git's ref lock; the API uses ``git update-ref NEW OLD``), so when the two race
one of them fails cleanly and nothing is lost. After a push the repo's metadata (head, card) is
refreshed through the services.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from cove.errors import BadRequest, CoveError, Forbidden, RepoNotFound, Unauthorized
from cove.protocol import type_of_path
from cove.server.routes import _openapi as api
from cove.server.routes._common import error_response, hub_of, principal
from cove.server.services import Hub, Principal

if TYPE_CHECKING:  # row and repo types in annotations only: routes never touch the database or git
    from cove.server.db import Repo


router = APIRouter(tags=["git"])
log = logging.getLogger("cove.server.git")

SERVICES = ("git-upload-pack", "git-receive-pack")
CHUNK = 64 * 1024
#: Output chunks held while the request body is still coming in (git writes little at that point).
BACKLOG = 256
CHALLENGE = {"WWW-Authenticate": 'Basic realm="cove"'}


def repo_type_of_route(request: Request) -> str:
    """The repo type from the matched route's template (``/datasets/...``, ``/spaces/...``, ``/kernels/...``
    or a model)."""
    return type_of_path(request.scope["route"].path)


def authorize(request: Request, repo_type: str, repo_id: str, need: str) -> tuple[Principal | None, Repo]:
    """The caller and the repo, if the caller may ``need`` it; raises Unauthorized when an anonymous
    caller should be asked for credentials (the repo is hidden from them, or they want to write)."""
    hub = hub_of(request)
    who = principal(request)
    try:
        return who, hub.repos.get(who, repo_type, repo_id, need)
    except RepoNotFound:
        if who is None:
            raise Unauthorized(f"Authentication required for {repo_id}: use a token as the password") from None
        raise


def challenge(err: Unauthorized) -> Response:
    return error_response(err, headers=CHALLENGE)


def cgi_env(hub: Hub, request: Request, repo: Repo, who: Principal | None, tail: str) -> dict[str, str]:
    """The CGI environment of one ``git http-backend`` run: no global or system git config, and the
    settings that check a push before it lands (:mod:`cove.server.storage.receive`)."""
    env = {
        **hub.git.backend_env(repo.storage_key),
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_PROJECT_ROOT": str(hub.git.root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "GATEWAY_INTERFACE": "CGI/1.1",
        "REQUEST_METHOD": request.method,
        "PATH_INFO": f"/{hub.git.path(repo.storage_key).name}/{tail}",
        "QUERY_STRING": request.url.query,
        "CONTENT_TYPE": request.headers.get("content-type", ""),
        "REMOTE_ADDR": request.client.host if request.client else "",
    }
    if who is not None:
        env["REMOTE_USER"] = who.name
    if "content-length" in request.headers:
        env["CONTENT_LENGTH"] = request.headers["content-length"]
    if "content-encoding" in request.headers:
        env["HTTP_CONTENT_ENCODING"] = request.headers["content-encoding"]  # git gzips large requests
    if "git-protocol" in request.headers:
        env["GIT_PROTOCOL"] = request.headers["git-protocol"]  # protocol v2
    return env


async def _feed(request: Request, stdin: asyncio.StreamWriter) -> None:
    """Stream the request body into the backend; it may stop reading early (an error it reports)."""
    try:
        async for chunk in request.stream():
            if chunk:
                stdin.write(chunk)
                await stdin.drain()
    except (BrokenPipeError, ConnectionResetError, ClientDisconnect):
        pass
    finally:
        stdin.close()


async def _pump(stdout: asyncio.StreamReader, queue: asyncio.Queue) -> None:
    try:
        while chunk := await stdout.read(CHUNK):
            await queue.put(chunk)
    finally:
        await queue.put(None)


async def _headers(stdout: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    """The CGI response head: ``Status: 403 Forbidden``, other header lines, then a blank line."""
    status, headers = 200, {}
    while True:
        raw = await stdout.readline()
        if not raw.endswith(b"\n"):
            raise CoveError("git http-backend ended before its response headers: the server log has the details")
        line = raw.rstrip(b"\r\n")
        if not line:
            break
        key, _, value = line.decode("latin-1").partition(":")
        if key.strip().lower() == "status":
            status = int(value.split()[0])
        else:
            headers[key.strip()] = value.strip()
    return status, headers


def refs_of(hub: Hub, repo: Repo) -> dict[str, str]:
    return hub.repos.open_git(repo).refs("refs/")


def after_push(hub: Hub, repo: Repo, before: dict[str, str]) -> None:
    """Record a push: the new head of ``main`` and the card read from it, and the refs it moved (from
    ``before``, the refs when it started) for webhooks."""
    git = hub.repos.open_git(repo)
    sha = git.ref_target("refs/heads/main")
    card = hub.content.card(git, sha, repo) if sha else None
    hub.repos.touch(repo, head_sha=sha, card=card)
    hub.scans.after_push(repo)
    hub.webhooks.refs_changed(repo, before, git.refs("refs/"))


async def backend(request: Request, repo: Repo, who: Principal | None, tail: str,
                  only: list[str] | None = None) -> Response:
    """Run ``git http-backend`` for ``tail`` (``info/refs``, ``git-upload-pack``, ...) of ``repo``;
    ``only``: the refs a push may move, when not all."""
    hub = hub_of(request)
    # the refs before a push, for its webhook event (an API commit during the push shows up in both)
    before = await run_in_threadpool(refs_of, hub, repo) if tail == "git-receive-pack" else {}
    proc = await asyncio.create_subprocess_exec(
        "git", "http-backend", env={**cgi_env(hub, request, repo, who, tail),
                                    **({"COVE_PUSH_ONLY": ",".join(only)} if only is not None else {})},
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    feeder = asyncio.create_task(_feed(request, proc.stdin))
    errors = asyncio.create_task(proc.stderr.read())
    queue: asyncio.Queue = asyncio.Queue(maxsize=BACKLOG)
    pump: asyncio.Task | None = None
    try:
        status, headers = await _headers(proc.stdout)
        pump = asyncio.create_task(_pump(proc.stdout, queue))
        # The whole body is read before the response starts: Starlette's disconnect listener reads
        # the same ASGI channel once the response streams, and would swallow what is left of it.
        await feeder
    except BaseException:
        await _stop(proc, feeder, pump)
        stderr = await errors  # the process is gone, so its stderr is at its end
        log.warning("git http-backend %s for %s failed: %s", tail, repo.repo_id, stderr.decode("utf-8", "replace"))
        raise
    pushing = tail == "git-receive-pack"

    async def body():
        try:
            while (chunk := await queue.get()) is not None:
                yield chunk
            code = await proc.wait()
            stderr = (await errors).decode("utf-8", "replace").strip()
            if code != 0:
                log.warning("git http-backend %s for %s exited with %d: %s", tail, repo.repo_id, code, stderr)
            elif pushing:
                await run_in_threadpool(after_push, hub, repo, before)
        finally:
            await _stop(proc, feeder, pump, errors)

    return StreamingResponse(body(), status_code=status, headers=headers)


async def _stop(proc: asyncio.subprocess.Process, *tasks: asyncio.Task | None) -> None:
    if proc.returncode is None:
        proc.kill()
        await proc.wait()
    for task in tasks:
        if task is not None and not task.done():
            task.cancel()


async def _serve(request: Request, ns: str, name: str, service: str, tail: str) -> Response:
    if service not in SERVICES:
        raise BadRequest("Only git's smart HTTP protocol is served: ask for ?service=git-upload-pack "
                         "or git-receive-pack")
    name = name.removesuffix(".git")
    need = "write" if service == "git-receive-pack" else "content"  # a gated repo's content too
    only = None
    try:
        who, repo = await run_in_threadpool(authorize, request, repo_type_of_route(request), f"{ns}/{name}", need)
    except Unauthorized as err:
        return challenge(err)
    except Forbidden:
        if need != "write":
            raise
        # a reader may push to their own pull requests' refs/pr/N, and to nothing else (the push hook)
        who, repo = await run_in_threadpool(authorize, request, repo_type_of_route(request), f"{ns}/{name}", "read")
        only = await run_in_threadpool(hub_of(request).discussions.pushable_refs, who, repo)
        if not only:
            raise
    return await backend(request, repo, who, tail, only)


@router.get("/{ns}/{name}/info/refs", **api.GIT_INFO_REFS)
@router.get("/datasets/{ns}/{name}/info/refs", **api.GIT_INFO_REFS)
@router.get("/spaces/{ns}/{name}/info/refs", **api.GIT_INFO_REFS)
@router.get("/kernels/{ns}/{name}/info/refs", **api.GIT_INFO_REFS)
async def info_refs(ns: str, name: str, request: Request):
    return await _serve(request, ns, name, request.query_params.get("service", ""), "info/refs")


@router.post("/{ns}/{name}/git-upload-pack", **api.GIT_UPLOAD_PACK)
@router.post("/datasets/{ns}/{name}/git-upload-pack", **api.GIT_UPLOAD_PACK)
@router.post("/spaces/{ns}/{name}/git-upload-pack", **api.GIT_UPLOAD_PACK)
@router.post("/kernels/{ns}/{name}/git-upload-pack", **api.GIT_UPLOAD_PACK)
async def upload_pack(ns: str, name: str, request: Request):
    return await _serve(request, ns, name, "git-upload-pack", "git-upload-pack")


@router.post("/{ns}/{name}/git-receive-pack", **api.GIT_RECEIVE_PACK)
@router.post("/datasets/{ns}/{name}/git-receive-pack", **api.GIT_RECEIVE_PACK)
@router.post("/spaces/{ns}/{name}/git-receive-pack", **api.GIT_RECEIVE_PACK)
@router.post("/kernels/{ns}/{name}/git-receive-pack", **api.GIT_RECEIVE_PACK)
async def receive_pack(ns: str, name: str, request: Request):
    return await _serve(request, ns, name, "git-receive-pack", "git-receive-pack")
