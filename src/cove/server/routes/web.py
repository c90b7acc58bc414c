"""The web UI's shared parts and its account-level pages: home with search, type listings, user and org pages.

Pages are server-rendered Jinja2 (autoescape on) and need no JavaScript. Repo pages live in
``web_repo.py``, sign-in and token settings in ``web_account.py``; both use the helpers here.
This router holds the catch-all ``/{ns}`` page, so it is registered last of all.

Errors raised by services (a hidden private repo is ``RepoNotFound``) become HTML error pages with
the same status, through :class:`WebRoute`, instead of the API's JSON bodies.
"""

from __future__ import annotations

import functools
import hmac
from pathlib import Path
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

from cove.errors import BadRequest, CoveError
from cove.protocol import URL_PREFIX
from cove.server.middleware import Caller
from cove.server.routes._common import (
    SESSION_COOKIE,
    caller,
    csrf_token,
    form_body,
    hub_of,
    mark_csrf_checked,
    moved_location,
    principal,
)
from cove.server.services import Principal
from cove.server.services.repos import RepoMoved

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
TYPES = {"models": "model", "datasets": "dataset", "spaces": "space", "kernels": "kernel"}
TYPE_LABELS = {"model": "Models", "dataset": "Datasets", "space": "Spaces", "kernel": "Kernels"}
PAGE = 30


# -- rendering --------------------------------------------------------------------------------------


def human_size(n: int) -> str:
    """``1536`` -> ``"1.5 kB"`` (powers of 1000, as the Hub shows sizes)."""
    if n < 1000:
        return f"{n} B"
    for unit in ("kB", "MB", "GB", "TB"):
        n /= 1000
        if n < 1000 or unit == "TB":
            return f"{n:.1f} {unit}"
    return f"{n} B"


def repo_href(repo_type: str, repo_id: str, *parts: str) -> str:
    """The web URL of a repo page: ``/datasets/ns/name/tree/main/a%20b``."""
    base = f"/{URL_PREFIX[repo_type]}{repo_id}"
    return "/".join([base, *parts]) if parts else base


def rev_segment(rev: str) -> str:
    """A revision as one URL segment (``refs/pr/1`` -> ``refs%2Fpr%2F1``)."""
    return quote(rev, safe="")


def path_segment(path: str) -> str:
    return quote(path, safe="/")


@functools.cache
def templates() -> Environment:
    env = Environment(loader=FileSystemLoader(WEB_DIR / "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["size"] = human_size
    env.filters["rev"] = rev_segment
    env.filters["path"] = path_segment
    env.globals["repo_href"] = repo_href
    env.globals["type_labels"] = TYPE_LABELS
    return env


def render(request: Request, name: str, status: int = 200, *, scripts: bool = False, **context) -> HTMLResponse:
    """A page; ``scripts=True`` lets it load the Hub's own scripts from /static (no inline script, ever)."""
    who = principal(request)
    session = request.cookies.get(SESSION_COOKIE) if signed_in(request) is not None else None
    context.setdefault("q", "")
    unread = hub_of(request).notifications.unread(signed_in(request)) if session else 0
    html = templates().get_template(name).render(
        request=request, who=who, csrf=csrf_token(request, session) if session else "", unread=unread, **context)
    return HTMLResponse(html, status_code=status, headers={
        "Content-Security-Policy": "default-src 'self'; img-src 'self' data: https:; style-src 'self'; "
                                   "script-src " + ("'self'" if scripts else "'none'") + "; "
                                   "frame-ancestors 'none'; form-action 'self'",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    })


def error_page(request: Request, err: CoveError) -> HTMLResponse:
    status = getattr(err, "status", 500)
    title = {404: "Not found", 401: "Sign in required", 403: "Forbidden"}.get(status, "Something went wrong")
    try:
        return render(request, "error.html", status=status, title=title, message=err.message)
    except CoveError:  # e.g. a bad Authorization header: render as anonymous
        request.scope["cove.caller"] = Caller()
        return render(request, "error.html", status=status, title=title, message=err.message)


class WebRoute(APIRoute):
    """A route whose service errors render as HTML pages (the app's handlers answer JSON)."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except RepoMoved as err:  # the old URL of a renamed repo, asked by someone who may read it
                location = moved_location(request, err.old_id, err.new_id)
                if location is None:
                    return error_page(request, err)
                return RedirectResponse(location, status_code=307)
            except CoveError as err:
                return error_page(request, err)

        return page


# -- CSRF -----------------------------------------------------------------------------------------


def check_csrf(request: Request, sent: str | None) -> None:
    """Reject a state-changing form whose token does not match the browser's session; once it matches,
    the session cookie may act for this request (``principal()`` honours it)."""
    session = request.cookies.get(SESSION_COOKIE, "")
    if not session or not sent or not hmac.compare_digest(csrf_token(request, session), str(sent)):
        err = CoveError("The form expired or did not come from this site: reload the page and try again")
        err.status, err.code = 403, "Forbidden"
        raise err
    mark_csrf_checked(request)


async def checked_form(request: Request):
    """The fields of a state-changing web form (bounded), once its CSRF token matched (else 403)."""
    form = await form_body(request)
    check_csrf(request, form.get("csrf"))
    return form


def signed_in(request: Request) -> Principal | None:
    """The user of this browser's web session (not a token caller), or None. For a state-changing
    request this says who the cookie names, not that it may act: call :func:`check_csrf` first."""
    found = caller(request)
    return found.principal if found.via == "cookie" else None


def not_found(what: str) -> CoveError:
    err = CoveError(what)
    err.status, err.code = 404, "NotFound"
    return err


# -- pages ----------------------------------------------------------------------------------------

router = APIRouter(route_class=WebRoute, include_in_schema=False)


def _offset(request: Request) -> int:
    try:
        return max(0, int(request.query_params.get("offset") or 0))
    except ValueError:
        raise BadRequest("Invalid offset") from None


@router.get("/", response_class=HTMLResponse)
def home(request: Request):
    hub = hub_of(request)
    q = request.query_params.get("q", "").strip()
    terms = q.split() if q else None
    sections = []
    for segment, repo_type in TYPES.items():
        repos, more = hub.repos.search(principal(request), repo_type, search=terms, sort="lastModified",
                                       limit=10)
        sections.append({"type": repo_type, "segment": segment, "repos": repos, "more": more})
    return render(request, "home.html", q=q, sections=sections, seed=None if q else hub.seed.banner())


@router.get("/search")
def search(request: Request):
    return RedirectResponse("/?" + urlencode({"q": request.query_params.get("q", "")}), status_code=303)


#: The listing's sort choices -> the API's ``sort`` values.
LISTING_SORTS = {"updated": "lastModified", "downloads": "downloads", "likes": "likes", "created": "createdAt"}


def listing_filters(repo_type: str, params) -> tuple[dict[str, str], list[str]]:
    """The listing's filter fields (``task``, ``library``, ``license``, ``language``) and the API
    filters they mean (``license:mit``; a dataset's language is ``language:en``, a model's ``en``)."""
    chosen = {k: params.get(k, "").strip() for k in ("task", "library", "license", "language")}
    filters = [v for k, v in chosen.items() if v and k in ("task", "library")]
    if chosen["license"]:
        filters.append(f"license:{chosen['license']}")
    if chosen["language"]:
        filters.append(f"language:{chosen['language']}" if repo_type == "dataset" else chosen["language"])
    return chosen, filters


@router.get("/models", response_class=HTMLResponse)
@router.get("/datasets", response_class=HTMLResponse)
@router.get("/spaces", response_class=HTMLResponse)
@router.get("/kernels", response_class=HTMLResponse)
def listing(request: Request):
    hub = hub_of(request)
    segment = request.url.path.strip("/")
    repo_type = TYPES[segment]
    q = request.query_params.get("q", "").strip()
    offset = _offset(request)
    sort = request.query_params.get("sort") or "updated"
    if sort not in LISTING_SORTS:
        raise BadRequest(f"Invalid sort {sort!r}: use one of {', '.join(LISTING_SORTS)}")
    chosen, filters = listing_filters(repo_type, request.query_params)
    who = principal(request)
    repos, more = hub.repos.search(who, repo_type, search=q.split() or None, filters=filters,
                                   sort=LISTING_SORTS[sort], offset=offset, limit=PAGE)
    query = urlencode({"q": q, "sort": sort, **{k: v for k, v in chosen.items() if v}})
    return render(request, "listing.html", q=q, repo_type=repo_type, segment=segment, repos=repos,
                  offset=offset, more=more, page=PAGE, sort=sort, sorts=LISTING_SORTS, chosen=chosen,
                  facets=hub.repos.facets(who, repo_type), query=query,
                  stages=hub.spaces.stages(repos) if repo_type == "space" else {})


@router.get("/{ns}", response_class=HTMLResponse)
def namespace(ns: str, request: Request):
    if ns == "api":
        raise StarletteHTTPException(404)  # an unknown API path keeps the API's JSON 404
    hub = hub_of(request)
    account = hub.accounts.get(ns)
    if account is None:
        raise not_found(f"No user or organization named {ns!r}")
    repos = hub.repos.of_namespace(principal(request), ns)
    by_type = {t: [r for r in repos if r.type == t] for t in TYPES.values()}
    if account.kind == "org":
        members = hub.accounts.members_of(account.id)
        return render(request, "account.html", account=account, by_type=by_type, members=members, orgs=[])
    orgs = [o for o, _ in hub.accounts.orgs_of(account.id)]
    return render(request, "account.html", account=account, by_type=by_type, members=[], orgs=orgs)
