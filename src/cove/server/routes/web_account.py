"""Web sign-in, sign-out, and the account's settings: access tokens (create, revoke) and the password.

The session lives in an HttpOnly, SameSite=Lax cookie. Every state-changing form is a POST that
carries a CSRF token: an HMAC of the session id (``web.csrf_token``) once signed in, and for the
sign-in form itself a double-submit cookie (a random value both in a cookie and in the form).
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from cove.errors import BadRequest, CoveError, TooManyRequests, Unauthorized
from cove.server.routes._audit import client_ip, record
from cove.server.routes._common import SESSION_COOKIE, form_body, hub_of
from cove.server.routes.web import WebRoute, checked_form, render, signed_in

router = APIRouter(route_class=WebRoute, include_in_schema=False)
LOGIN_CSRF_COOKIE = "cove_login_csrf"
SESSION_DAYS = 14


def _safe_next(value: str | None) -> str:
    """Where to go after signing in: a path on this site only (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int | None) -> None:
    public = hub_of(request).settings.public_url or ""
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="lax",
                        secure=request.url.scheme == "https" or public.startswith("https://"))


def _login_page(request: Request, *, error: str = "", status: int = 200, username: str = "") -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = render(request, "login.html", status=status, error=error, login_csrf=token, username=username,
                      next=_safe_next(request.query_params.get("next")))
    _cookie(response, request, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request):
    return _login_page(request)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request):
    form = await form_body(request)
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    sent = str(form.get("csrf", ""))
    if not cookie or not sent or not hmac.compare_digest(cookie, sent):
        err = CoveError("The sign-in form expired or did not come from this site: reload it and try again")
        err.status, err.code = 403, "Forbidden"
        raise err
    username, password = str(form.get("username", "")).strip(), str(form.get("password", ""))
    hub = hub_of(request)
    if not username or not password:
        return _login_page(request, error="Wrong username or password.", status=401, username=username)
    try:  # audited by the sign-in service
        who = await hub.signins.password(username, password, request.client.host if request.client else "",
                                         via="web")
    except Unauthorized:
        return _login_page(request, error="Wrong username or password.", status=401, username=username)
    except TooManyRequests as err:
        page = _login_page(request, error=err.message, status=429, username=username)
        page.headers["Retry-After"] = str(err.retry_after)
        return page
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        hub.accounts.delete_session(old)
    response = RedirectResponse(_safe_next(str(form.get("next", ""))), status_code=303)
    _cookie(response, request, SESSION_COOKIE, hub.accounts.create_session(who.user_id, days=SESSION_DAYS),
            max_age=SESSION_DAYS * 86400)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout")
async def logout(request: Request):
    await checked_form(request)
    hub_of(request).accounts.delete_session(request.cookies[SESSION_COOKIE])
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _settings_page(request: Request, *, new_token: str = "", new_name: str = "", error: str = "",
                   status: int = 200) -> Response:
    who = signed_in(request)
    if who is None:
        return RedirectResponse("/login?next=/settings/tokens", status_code=303)
    tokens = hub_of(request).accounts.list_tokens(who.user_id)
    response = render(request, "settings.html", status=status, tokens=tokens, new_token=new_token,
                      new_name=new_name, error=error)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/settings", response_class=HTMLResponse)
def settings(request: Request):
    return RedirectResponse("/settings/tokens", status_code=303)


@router.get("/settings/tokens", response_class=HTMLResponse)
def tokens(request: Request):
    return _settings_page(request)


@router.post("/settings/tokens", response_class=HTMLResponse)
async def create_token(request: Request):
    form = await checked_form(request)
    who = signed_in(request)
    if who is None:
        return RedirectResponse("/login?next=/settings/tokens", status_code=303)
    name = str(form.get("name", "")).strip()
    role = str(form.get("role", "read"))
    if not name:
        return _settings_page(request, error="Give the token a name.", status=400)
    try:
        value = hub_of(request).accounts.create_token(who.name, name, role=role)
    except BadRequest as e:
        return _settings_page(request, error=e.message, status=400)
    record(request, "token.create", actor=who.name, target=f"{who.name}/{name}",
           detail={"role": role, "via": "web"})
    return _settings_page(request, new_token=value, new_name=name)


@router.post("/settings/tokens/{token_id}/revoke")
async def revoke_token(token_id: int, request: Request):
    await checked_form(request)
    who = signed_in(request)
    if who is None:
        return RedirectResponse("/login?next=/settings/tokens", status_code=303)
    name = hub_of(request).accounts.revoke_token(who.user_id, token_id)
    record(request, "token.revoke", actor=who.name, target=f"{who.name}/{name}", detail={"via": "web"})
    return RedirectResponse("/settings/tokens", status_code=303)


# -- the account's password -----------------------------------------------------------------------


def _password_page(request: Request, *, error: str = "", done: str = "", status: int = 200):
    response = render(request, "password.html", status=status, error=error, done=done)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/settings/password", response_class=HTMLResponse)
def password_form(request: Request):
    if signed_in(request) is None:
        return RedirectResponse("/login?next=/settings/password", status_code=303)
    return _password_page(request)


@router.post("/settings/password", response_class=HTMLResponse)
async def change_password(request: Request):
    form = await checked_form(request)
    who = signed_in(request)
    current, new, again = (str(form.get(k, "")) for k in ("current", "new", "confirm"))
    if new != again:
        return _password_page(request, error="The new password and its confirmation differ.", status=400)
    hub = hub_of(request)
    try:  # as limited as a sign-in: a stolen session cannot guess the password here
        await hub.signins.password(who.name, current, client_ip(request) or "", via="password-change")
    except Unauthorized:
        return _password_page(request, error="The current password is wrong.", status=403)
    except TooManyRequests as err:
        return _password_page(request, error=err.message, status=429)
    try:
        ended = await run_in_threadpool(hub.accounts.change_password, who.user_id, new,
                                        keep_session=request.cookies[SESSION_COOKIE])
    except BadRequest as e:
        return _password_page(request, error=e.message, status=400)
    record(request, "user.password", actor=who.name, target=who.name, detail={"via": "web", "sessions_ended": ended})
    return _password_page(request, done=f"Password changed. {ended} other session{'s' if ended != 1 else ''} "
                                         "signed out.")
