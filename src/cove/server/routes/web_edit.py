"""Changing a repo's files from the browser: create a repo, upload files, edit a text file, add one.

Each change is one commit through the same service as the API's commit (``Commits.commit``: LFS by
``.gitattributes``, size or binary content; the name rules; the size limits; scans, the new head and
card), and the same audit. Pages: ``/new`` (a repo), and below a repo
``/upload/{rev}``, ``/edit/{rev}/{path}`` and ``/new/{rev}`` (a file). Every POST carries the CSRF
token of :func:`~cove.server.routes.web.check_csrf`. An upload is ``multipart/form-data`` streamed to
temp files (:mod:`cove.server.services.uploads`); whether the browser's user may write the repo is
checked before its body is read, the CSRF token (the form's first field) once it is. (A cross-site
form carries no session cookie, which is SameSite=Lax: it is sent to sign in before its body is read.)
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from cove.errors import BadRequest, Conflict, CoveError, Forbidden, RevisionNotFound
from cove.protocol import SPACE_SDKS, check_path, is_commit_sha, repo_type_of
from cove.server.routes._audit import record_override
from cove.server.routes._common import hub_of, principal
from cove.server.routes.web import WebRoute, check_csrf, checked_form, render, repo_href, signed_in
from cove.server.routes.web_repo import MAX_SHOWN, open_repo, repo_context, repo_routes, rev_and_path
from cove.server.services.commits import CommitTarget
from cove.server.services.ndjson import NewFile, ParsedCommit
from cove.server.services.uploads import UploadLimits, parse_upload

router = APIRouter(route_class=WebRoute, include_in_schema=False)
MAX_TEXT_EDIT = MAX_SHOWN  # files up to this size are edited in the browser


def _login(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


# -- a new repo -----------------------------------------------------------------------------------


def _new_repo_page(request: Request, form: dict, error: str = "", status: int = 200):
    who = signed_in(request)
    hub = hub_of(request)
    owners = [who.name] + [o.name for o, role in hub.accounts.orgs_of(who.user_id) if role in ("write", "admin")]
    kind = form.get("type") or "model"
    return render(request, "repo_new.html", status=status, owners=owners, form=form, error=error,
                  kind=kind if kind in ("model", "dataset", "space") else "model", sdks=SPACE_SDKS)


@router.get("/new", response_class=HTMLResponse)
def new_repo_form(request: Request):
    if signed_in(request) is None:
        return _login(request)
    return _new_repo_page(request, {"type": request.query_params.get("type", "model")})


@router.post("/new", response_class=HTMLResponse)
async def create_repo(request: Request):
    form = {k: str(v) for k, v in (await checked_form(request)).items()}
    who = principal(request)
    owner, name = form.get("owner", "").strip(), form.get("name", "").strip()
    try:
        repo_type = repo_type_of(form.get("type") or "model")
        if form.get("visibility") not in ("public", "private"):
            raise BadRequest("Choose public or private")
        repo, _ = await run_in_threadpool(
            hub_of(request).repos.create, who, repo_type, owner, name,
            private=form["visibility"] == "private", sdk=form.get("sdk", "") if repo_type == "space" else "")
    except (BadRequest, Conflict, Forbidden) as e:
        return _new_repo_page(request, form, e.message, getattr(e, "status", 400))
    return RedirectResponse(repo_href(repo.type, repo.repo_id), status_code=303)


# -- committing -----------------------------------------------------------------------------------


def _branch(git, rev: str) -> None:
    if git.ref_target(rev if rev.startswith("refs/") else f"refs/heads/{rev}") is None:
        raise RevisionNotFound(f"Invalid rev id: {rev} (commits go to an existing branch)")


async def _commit(request: Request, repo, git, rev: str, parsed: ParsedCommit) -> RedirectResponse:
    """Apply ``parsed`` as the signed-in user, then show the new commit."""
    hub = hub_of(request)
    who = principal(request)
    sha = await run_in_threadpool(hub.commits.commit, CommitTarget(repo, git, rev), who, parsed)
    record_override(request, "repo.commit", repo.type, repo.repo_id)
    return RedirectResponse(repo_href(repo.type, repo.repo_id, "commit", sha), status_code=303)


def _target(request: Request, ns: str, name: str, who=None):
    """``(repo, git, branch, path)`` of an editing page's URL, if the caller (or ``who``) may write it."""
    repo, git = open_repo(request, ns, name, "write", who=who)
    rev, path = rev_and_path(request, repo)
    _branch(git, rev)
    return repo, git, rev, path


async def _posted(request: Request, ns: str, name: str):
    """The form of an editing POST, its CSRF token checked, and :func:`_target`."""
    form = await checked_form(request)
    return form, *await run_in_threadpool(_target, request, ns, name)


def _parent(form) -> str | None:
    """The commit the form was opened at: the commit fails if the branch moved since (412)."""
    parent = str(form.get("parent", "")).strip().lower()
    if parent and not is_commit_sha(parent):
        raise BadRequest("Invalid parent commit: reload the page")
    return parent or None


def _message(form: dict, default: str) -> tuple[str, str]:
    summary = str(form.get("summary", "")).strip() or default
    return summary[:1000], str(form.get("description", "")).strip()


@repo_routes(router, "/upload/{rest:path}")
def upload_form(ns: str, name: str, request: Request):
    if signed_in(request) is None:
        return _login(request)
    repo, git, rev, path = _target(request, ns, name)
    return render(request, "repo_upload.html", **repo_context(request, repo, git, "files", rev), folder=path,
                  scripts=True)


@repo_routes(router, "/upload/{rest:path}", "POST")
async def upload(ns: str, name: str, request: Request):
    who = signed_in(request)
    if who is None:
        return _login(request)
    # who the cookie names may write this repo? (answered before the body is read; CSRF is checked below)
    repo, git, rev, _ = await run_in_threadpool(_target, request, ns, name, who)
    hub = hub_of(request)
    s = hub.settings
    form = await parse_upload(request.stream(), request.headers.get("content-type", ""), hub.blobs,
                              UploadLimits(s.max_commit_bytes, s.max_file_bytes, s.max_commit_files))
    try:
        check_csrf(request, form.fields.get("csrf"))
        if not form.files:
            raise BadRequest("Choose or drop at least one file to upload")
        summary, description = _message(form.fields, f"Upload {len(form.files)} file"
                                        + ("s" if len(form.files) > 1 else ""))
        parsed = form.commit(form.fields.get("folder", ""), summary, description)
    except CoveError:
        form.discard()
        raise
    return await _commit(request, repo, git, rev, parsed)


def _text_of(git, sha: str, path: str) -> str:
    entry = git.get_entry(sha, path)
    if entry is None or entry.type != "file":
        err = CoveError(f"{path} does not exist at this revision")
        err.status, err.code = 404, "EntryNotFound"
        raise err
    if entry.lfs_oid is not None or entry.size > MAX_TEXT_EDIT:
        raise BadRequest(f"{path} is stored in LFS or larger than {MAX_TEXT_EDIT} bytes: upload a new version "
                         "instead of editing it here")
    data = git.read_blob(entry.oid)
    try:
        if b"\x00" in data[:8000]:
            raise UnicodeDecodeError("utf-8", data, 0, 1, "binary")
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(f"{path} is not UTF-8 text: upload a new version instead of editing it here") from None


@repo_routes(router, "/edit/{rest:path}")
def edit_form(ns: str, name: str, request: Request):
    if signed_in(request) is None:
        return _login(request)
    repo, git, rev, path = _target(request, ns, name)
    if not path:
        raise BadRequest("Which file? The URL ends at the revision")
    sha = git.resolve(rev)
    return render(request, "repo_edit.html", **repo_context(request, repo, git, "files", rev), path=path,
                  text=_text_of(git, sha, path), parent=sha, new=False)


def _content(form, original: str = "") -> bytes:
    """The textarea's text; browsers send its lines with CRLF, kept only if the file had them."""
    text = str(form.get("content", ""))
    if "\r\n" not in original:
        text = text.replace("\r\n", "\n")
    return text.encode("utf-8")


@repo_routes(router, "/edit/{rest:path}", "POST")
async def edit(ns: str, name: str, request: Request):
    form, repo, git, rev, path = await _posted(request, ns, name)
    if not path:
        raise BadRequest("Which file? The URL ends at the revision")
    parent = _parent(form)
    original = await run_in_threadpool(_text_of, git, parent or git.resolve(rev), path)
    summary, description = _message(form, f"Update {path}")
    parsed = ParsedCommit(summary, description, parent, [NewFile(path, data=_content(form, original))])
    return await _commit(request, repo, git, rev, parsed)


@repo_routes(router, "/new/{rest:path}")
def new_file_form(ns: str, name: str, request: Request):
    if signed_in(request) is None:
        return _login(request)
    repo, git, rev, folder = _target(request, ns, name)
    return render(request, "repo_edit.html", **repo_context(request, repo, git, "files", rev),
                  path=f"{folder}/" if folder else "", text="", parent=git.resolve(rev), new=True)


@repo_routes(router, "/new/{rest:path}", "POST")
async def new_file(ns: str, name: str, request: Request):
    form, repo, git, rev, _ = await _posted(request, ns, name)
    path = str(form.get("path", "")).strip().strip("/")
    check_path(path)
    parent = _parent(form)
    if git.get_entry(parent or git.resolve(rev), path) is not None:
        raise Conflict(f"{path} already exists: edit it instead")
    summary, description = _message(form, f"Create {path}")
    parsed = ParsedCommit(summary, description, parent, [NewFile(path, data=_content(form))])
    return await _commit(request, repo, git, rev, parsed)
