"""Repo pages: the rendered card, files and folders at a revision, one file, history, branches and tags.

Models live at ``/ns/name``, datasets at ``/datasets/ns/name``, spaces at ``/spaces/ns/name``, each
with ``/tree/{rev}/{path}``, ``/blob/{rev}/{path}``, ``/commits/{rev}`` and ``/refs`` below it; raw
downloads are the API's ``/resolve/{rev}/{path}``. Every page gets its repo from
``hub.repos.get(principal, ...)``, so a private repo is a 404 page to whoever may not see it.

The card is the README.md body rendered by markdown-it-py with raw HTML disabled (repo content can
never inject markup or script); its YAML front matter is shown as a small table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cove.errors import BadRequest, EntryNotFound
from cove.formats.cards import split_card
from cove.protocol import TYPED_PREFIXES, check_path, type_of_path
from cove.server.routes._card_html import metadata_rows, render_markdown, results_table
from cove.server.routes._common import base_url, hub_of, principal, raw_tail, repo_url, split_rev_path
from cove.server.routes.viewer import page_context as dataset_viewer
from cove.server.routes.web import WebRoute, not_found, render, repo_href, rev_segment, signed_in
from cove.server.services import Principal
from cove.server.services.diffs import commit_view
from cove.server.services.inference import WIDGET_TASKS
from cove.server.services.weights import human_params

if TYPE_CHECKING:  # row and repo types in annotations only: routes never touch the database or git
    from cove.server.db import Repo
    from cove.server.storage.git import GitRepo


router = APIRouter(route_class=WebRoute, include_in_schema=False)
PREFIXES = tuple(prefix for prefix, _ in TYPED_PREFIXES)  # most specific first
MAX_SHOWN = 1024 * 1024  # larger files are offered as a download only
COMMITS_PAGE = 50


def repo_routes(on: APIRouter, suffix: str, method: str = "GET"):
    """Register one page (or form handler) of ``on`` under the three repo URL prefixes."""

    def register(fn):
        for prefix in PREFIXES:
            on.add_api_route(f"{prefix}/{{ns}}/{{name}}{suffix}", fn, methods=[method], response_class=HTMLResponse)
            if prefix:  # before every model page of the router: /datasets/a/b/x/... is never model datasets/a
                on.routes.insert(0, on.routes.pop())
        return fn

    return register


def _routes(suffix: str):
    return repo_routes(router, suffix)


def open_repo(request: Request, ns: str, name: str, need: str = "read", *,
              who: Principal | None = None) -> tuple[Repo, GitRepo]:
    """The repo of the page's URL and its git, if the caller (or ``who``) may ``need`` it."""
    route = request.scope["route"].path
    repo_type = type_of_path(route)
    if repo_type == "model" and ns == "api":
        raise StarletteHTTPException(404)  # an unknown API path keeps the API's JSON 404
    hub = hub_of(request)
    repo = hub.repos.get(who or principal(request), repo_type, f"{ns}/{name}", need)
    return repo, hub.repos.open_git(repo)


def rev_and_path(request: Request, repo: Repo) -> tuple[str, str]:
    """``(rev, path)`` from the raw URL after ``.../{name}/{page}/``."""
    skip = 3 if repo.type == "model" else 4
    rev, path = split_rev_path(raw_tail(request, skip))
    path = path.strip("/")
    if path:
        check_path(path)
    return rev, path


def repo_context(request: Request, repo: Repo, git: GitRepo, tab: str, rev: str = "main") -> dict:
    return {"repo": repo, "tab": tab, "rev": rev, "branches": sorted(git.refs("refs/heads/")),
            "clone_url": repo_url(request, repo.type, repo.repo_id), "base": base_url(request),
            "may_write": hub_of(request).repos.allows(principal(request), repo, "write"),
            "may_admin": hub_of(request).repos.allows(principal(request), repo, "admin")}


def _crumbs(path: str) -> list[tuple[str, str]]:
    """``"a/b/c"`` -> ``[("a", "a"), ("b", "a/b"), ("c", "a/b/c")]``."""
    parts = path.split("/") if path else []
    return [(p, "/".join(parts[: i + 1])) for i, p in enumerate(parts)]


# -- the card -------------------------------------------------------------------------------------


def card_markdown(body: str, repo: Repo, rev: str) -> str:
    """The card body as HTML; relative links and images point into the repo at ``rev``."""
    return render_markdown(body, lambda page, target: repo_href(repo.type, repo.repo_id, page, rev_segment(rev),
                                                                 target))


@_routes("")
def card(ns: str, name: str, request: Request):
    return card_page(request, ns, name)


def card_page(request: Request, ns: str, name: str, widget: dict | None = None):
    """The card page; ``widget`` is the inference widget's state after a run (its text, result, error)."""
    repo, git = open_repo(request, ns, name)
    hub = hub_of(request)
    sha = git.resolve("main")
    readme = git.get_entry(sha, "README.md")
    meta, results, html, error = [], [], "", ""
    if readme is not None and readme.lfs_oid is None and readme.size <= MAX_SHOWN:
        text = git.read_blob(readme.oid).decode("utf-8", "replace")
        try:
            data, body = split_card(text)
        except ValueError as e:
            data, body, error = {}, text, str(e)
        meta, results = metadata_rows(data), results_table(data)
        html = card_markdown(body, repo, "main")
    info = git.commit_info(sha)
    card = hub.content.card(git, sha, repo)
    task = card["pipeline_tag"] if repo.type == "model" else ""
    if task in WIDGET_TASKS:
        widget = {"task": task, "text": "", "result": None, "error": "", **(widget or {})}
    else:
        widget = None
    weights = hub.weights.summary(git, sha) if repo.type == "model" else None
    return render(request, "repo_card.html", **repo_context(request, repo, git, "card"), sha=sha, commit=info,
                  meta=meta, results=results, card_html=html, card_error=error, has_readme=readme is not None,
                  tags=card["tags"], widget=widget, card=card, weights=weights,
                  params=human_params(weights.params) if weights else "",
                  **space_frame(hub, signed_in(request), repo),
                  viewer=dataset_viewer(request, repo, git, sha) if repo.type == "dataset" else None,
                  gate=hub.access_requests.state(principal(request), repo) if repo.gated else None,
                  gate_fields=hub.access_requests.asked_fields(repo) if repo.gated else [],
                  liked=hub.repos.likes(signed_in(request), repo))


def space_frame(hub, who, repo) -> dict:
    """A Space page's runtime and the URL its iframe loads the app from (a private Space's with a grant)."""
    if repo.type != "space":
        return {"space": None}
    space = hub.spaces.runtime(repo)
    return {"space": space, "space_src": hub.spaces.app_src(who, repo, space["stage"])}


# -- files ----------------------------------------------------------------------------------------


@_routes("/tree/{rest:path}")
def tree(ns: str, name: str, request: Request):
    repo, git = open_repo(request, ns, name)
    rev, path = rev_and_path(request, repo)
    sha = git.resolve(rev)
    if path:
        entry = git.get_entry(sha, path)
        if entry is None:
            raise not_found(f"{path} does not exist at {rev}")
        if entry.type == "file":
            return RedirectResponse(repo_href(repo.type, repo.repo_id, "blob", rev_segment(rev),
                                              quote(path)), status_code=303)
    entries = sorted(git.list_tree(sha, path), key=lambda e: (e.type != "directory", e.path.lower()))
    return render(request, "repo_tree.html", **repo_context(request, repo, git, "files", rev), sha=sha,
                  path=path, crumbs=_crumbs(path), entries=entries, commit=git.commit_info(sha))


@_routes("/blob/{rest:path}")
def blob(ns: str, name: str, request: Request):
    repo, git = open_repo(request, ns, name, "content")
    rev, path = rev_and_path(request, repo)
    if not path:
        raise BadRequest("Which file? The URL ends at the revision")
    sha = git.resolve(rev)
    entry = git.get_entry(sha, path)
    if entry is None:
        raise EntryNotFound(f"{path} does not exist at {rev}")
    if entry.type == "directory":
        return RedirectResponse(repo_href(repo.type, repo.repo_id, "tree", rev_segment(rev), quote(path)),
                                status_code=303)
    text, kind = None, "lfs" if entry.lfs_oid else "large" if entry.size > MAX_SHOWN else "binary"
    if kind == "binary":
        data = git.read_blob(entry.oid)
        if b"\x00" not in data[:8000]:
            try:
                text, kind = data.decode("utf-8"), "text"
            except UnicodeDecodeError:
                pass
    raw = repo_href(repo.type, repo.repo_id, "resolve", rev_segment(rev), quote(path))
    scan = hub_of(request).scans.file_scans(repo, [entry]).get(path)
    return render(request, "repo_blob.html", **repo_context(request, repo, git, "files", rev), sha=sha, path=path,
                  crumbs=_crumbs(path), entry=entry, kind=kind, text=text, raw_href=raw, scan=scan,
                  lines=text.count("\n") + (0 if text.endswith("\n") else 1) if text else 0)


# -- history and refs -----------------------------------------------------------------------------


@_routes("/commits/{rest:path}")
def commits(ns: str, name: str, request: Request):
    repo, git = open_repo(request, ns, name)
    rev, _ = rev_and_path(request, repo)
    sha = git.resolve(rev)
    try:
        page = max(0, int(request.query_params.get("p") or 0))
    except ValueError:
        raise BadRequest("Invalid page number") from None
    log, more = git.log(sha, skip=page * COMMITS_PAGE, limit=COMMITS_PAGE)
    return render(request, "repo_commits.html", **repo_context(request, repo, git, "commits", rev), sha=sha,
                  commits=log, page=page, more=more)


@_routes("/commit/{sha}")
def commit(ns: str, name: str, sha: str, request: Request):
    """One commit and its diff (the ``commit_url`` huggingface_hub prints after an upload)."""
    repo, git = open_repo(request, ns, name)
    view = commit_view(git, git.resolve(sha))
    return render(request, "repo_commit.html", **repo_context(request, repo, git, "commits"), view=view)


@_routes("/refs")
def refs(ns: str, name: str, request: Request):
    repo, git = open_repo(request, ns, name)

    def described(items: dict[str, str]) -> list[tuple[str, object]]:
        return [(n, git.commit_info(sha)) for n, sha in sorted(items.items())]

    return render(request, "repo_refs.html", **repo_context(request, repo, git, "refs"),
                  heads=described(git.refs("refs/heads/")), tag_refs=described(git.refs("refs/tags/")))
