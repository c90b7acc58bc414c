"""Repo pages: the rendered card, files and folders at a revision, one file, history, branches and tags.

Models live at ``/ns/name``, datasets at ``/datasets/ns/name``, spaces at ``/spaces/ns/name``, each
with ``/tree/{rev}/{path}``, ``/blob/{rev}/{path}``, ``/commits/{rev}`` and ``/refs`` below it; raw
downloads are the API's ``/resolve/{rev}/{path}``. Every page gets its repo from
``hub.repos.get(principal, ...)``, so a private repo is a 404 page to whoever may not see it.

The card is the README.md body rendered by markdown-it-py with raw HTML disabled (repo content can
never inject markup or script); its YAML front matter is shown as a small table.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from markdown_it import MarkdownIt
from starlette.exceptions import HTTPException as StarletteHTTPException

from cove.errors import BadRequest, EntryNotFound
from cove.formats.cards import split_card
from cove.protocol import check_path
from cove.server.routes._common import base_url, hub_of, principal, raw_tail, repo_url, split_rev_path
from cove.server.routes.viewer import page_context as dataset_viewer
from cove.server.routes.web import WebRoute, not_found, render, repo_href, rev_segment
from cove.server.services.inference import WIDGET_TASKS

if TYPE_CHECKING:  # row and repo types in annotations only: routes never touch the database or git
    from cove.server.db import Repo
    from cove.server.storage.git import GitRepo


router = APIRouter(route_class=WebRoute, include_in_schema=False)
PREFIXES = ("/datasets", "/spaces", "")  # most specific first
MAX_SHOWN = 1024 * 1024  # larger files are offered as a download only
COMMITS_PAGE = 50
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//|^#|^/")


def _routes(suffix: str):
    """Register one page under the three repo URL prefixes."""

    def register(fn):
        for prefix in PREFIXES:
            router.get(f"{prefix}/{{ns}}/{{name}}{suffix}", response_class=HTMLResponse)(fn)
        return fn

    return register


def _open(request: Request, ns: str, name: str, need: str = "read") -> tuple[Repo, GitRepo]:
    route = request.scope["route"].path
    repo_type = "dataset" if route.startswith("/datasets/") else "space" if route.startswith("/spaces/") else "model"
    if repo_type == "model" and ns == "api":
        raise StarletteHTTPException(404)  # an unknown API path keeps the API's JSON 404
    hub = hub_of(request)
    repo = hub.repos.get(principal(request), repo_type, f"{ns}/{name}", need)
    return repo, hub.repos.open_git(repo)


def _rev_path(request: Request, repo: Repo) -> tuple[str, str]:
    """``(rev, path)`` from the raw URL after ``.../{name}/{page}/``."""
    skip = 3 if repo.type == "model" else 4
    rev, path = split_rev_path(raw_tail(request, skip))
    path = path.strip("/")
    if path:
        check_path(path)
    return rev, path


def _context(request: Request, repo: Repo, git: GitRepo, tab: str, rev: str = "main") -> dict:
    return {"repo": repo, "tab": tab, "rev": rev, "branches": sorted(git.refs("refs/heads/")),
            "clone_url": repo_url(request, repo.type, repo.repo_id), "base": base_url(request)}


def _crumbs(path: str) -> list[tuple[str, str]]:
    """``"a/b/c"`` -> ``[("a", "a"), ("b", "a/b"), ("c", "a/b/c")]``."""
    parts = path.split("/") if path else []
    return [(p, "/".join(parts[: i + 1])) for i, p in enumerate(parts)]


# -- the card -------------------------------------------------------------------------------------


def _metadata_rows(data: dict) -> list[tuple[str, str]]:
    rows = []
    for key, value in data.items():
        if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
            text = ", ".join(str(v) for v in value)
        elif isinstance(value, dict | list):
            text = json.dumps(value, ensure_ascii=False, default=str)
        else:
            text = str(value)
        rows.append((str(key), text if len(text) <= 300 else text[:297] + "..."))
    return rows


def render_markdown(text: str, *, repo: Repo, rev: str) -> str:
    """Markdown -> HTML with raw HTML disabled; relative links and images point into the repo."""
    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    tokens = md.parse(text)
    for token in tokens:
        for child in token.children or []:
            attr = "src" if child.type == "image" else "href" if child.type == "link_open" else None
            target = child.attrGet(attr) if attr else None
            if target and not _SCHEME.match(target):
                page = "resolve" if attr == "src" else "blob"
                child.attrSet(attr, repo_href(repo.type, repo.repo_id, page, rev_segment(rev), target))
    return md.renderer.render(tokens, md.options, {})


@_routes("")
def card(ns: str, name: str, request: Request):
    return card_page(request, ns, name)


def card_page(request: Request, ns: str, name: str, widget: dict | None = None):
    """The card page; ``widget`` is the inference widget's state after a run (its text, result, error)."""
    repo, git = _open(request, ns, name)
    hub = hub_of(request)
    sha = git.resolve("main")
    readme = git.get_entry(sha, "README.md")
    meta, html, error = [], "", ""
    if readme is not None and readme.lfs_oid is None and readme.size <= MAX_SHOWN:
        text = git.read_blob(readme.oid).decode("utf-8", "replace")
        try:
            data, body = split_card(text)
        except ValueError as e:
            data, body, error = {}, text, str(e)
        meta = _metadata_rows(data)
        html = render_markdown(body, repo=repo, rev="main")
    info = git.commit_info(sha)
    card = hub.content.card(git, sha, repo)
    task = card["pipeline_tag"] if repo.type == "model" else ""
    if task in WIDGET_TASKS:
        widget = {"task": task, "text": "", "result": None, "error": "", **(widget or {})}
    else:
        widget = None
    return render(request, "repo_card.html", **_context(request, repo, git, "card"), sha=sha, commit=info,
                  meta=meta, card_html=html, card_error=error, has_readme=readme is not None, tags=card["tags"],
                  widget=widget,
                  viewer=dataset_viewer(request, repo, git, sha) if repo.type == "dataset" else None)


# -- files ----------------------------------------------------------------------------------------


@_routes("/tree/{rest:path}")
def tree(ns: str, name: str, request: Request):
    repo, git = _open(request, ns, name)
    rev, path = _rev_path(request, repo)
    sha = git.resolve(rev)
    if path:
        entry = git.get_entry(sha, path)
        if entry is None:
            raise not_found(f"{path} does not exist at {rev}")
        if entry.type == "file":
            return RedirectResponse(repo_href(repo.type, repo.repo_id, "blob", rev_segment(rev),
                                              quote(path)), status_code=303)
    entries = sorted(git.list_tree(sha, path), key=lambda e: (e.type != "directory", e.path.lower()))
    return render(request, "repo_tree.html", **_context(request, repo, git, "files", rev), sha=sha,
                  path=path, crumbs=_crumbs(path), entries=entries, commit=git.commit_info(sha))


@_routes("/blob/{rest:path}")
def blob(ns: str, name: str, request: Request):
    repo, git = _open(request, ns, name, "content")
    rev, path = _rev_path(request, repo)
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
    return render(request, "repo_blob.html", **_context(request, repo, git, "files", rev), sha=sha, path=path,
                  crumbs=_crumbs(path), entry=entry, kind=kind, text=text, raw_href=raw, scan=scan,
                  lines=text.count("\n") + (0 if text.endswith("\n") else 1) if text else 0)


# -- history and refs -----------------------------------------------------------------------------


@_routes("/commits/{rest:path}")
def commits(ns: str, name: str, request: Request):
    repo, git = _open(request, ns, name)
    rev, _ = _rev_path(request, repo)
    sha = git.resolve(rev)
    try:
        page = max(0, int(request.query_params.get("p") or 0))
    except ValueError:
        raise BadRequest("Invalid page number") from None
    log, more = git.log(sha, skip=page * COMMITS_PAGE, limit=COMMITS_PAGE)
    return render(request, "repo_commits.html", **_context(request, repo, git, "commits", rev), sha=sha,
                  commits=log, page=page, more=more)


@_routes("/refs")
def refs(ns: str, name: str, request: Request):
    repo, git = _open(request, ns, name)

    def described(items: dict[str, str]) -> list[tuple[str, object]]:
        return [(n, git.commit_info(sha)) for n, sha in sorted(items.items())]

    return render(request, "repo_refs.html", **_context(request, repo, git, "refs"),
                  heads=described(git.refs("refs/heads/")), tag_refs=described(git.refs("refs/tags/")))
