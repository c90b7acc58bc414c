"""The one HTTP session of the hub client: auth, retries with backoff, and errors mapped to ``cove.errors``.

Transient failures (a dropped connection, a timeout, 408/429/500/502/503/504) are retried with
exponential backoff (0.5 s doubling up to 8 s, ``Retry-After`` honoured); everything else raises the
matching :mod:`cove.errors` class at once, with a hint that says what to check.
"""

from __future__ import annotations

import logging
import random
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from cove.errors import (
    CoveError,
    EntryNotFound,
    Forbidden,
    GatedRepo,
    RepoNotFound,
    RevisionNotFound,
    Unauthorized,
    from_response,
)
from cove.protocol import REPO_TYPES, is_digits

log = logging.getLogger("cove.hub")
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
USER_AGENT = f"cove/0.1.0; python/{sys.version_info.major}.{sys.version_info.minor}"


@dataclass(frozen=True)
class Where:
    """What a request was about, to word its error (all optional)."""

    repo_id: str | None = None
    repo_type: str | None = None
    revision: str | None = None
    filename: str | None = None


def _server_message(resp: httpx.Response) -> str:
    msg = resp.headers.get("X-Error-Message", "")
    if msg:
        return msg
    try:
        body = resp.json()
    except (ValueError, httpx.ResponseNotRead):
        text = resp.text if not resp.is_stream_consumed or resp.is_closed else ""
        return text.strip()[:300] if text and not text.lstrip().startswith("<") else ""
    if isinstance(body, dict):
        err = body.get("error") or body.get("errors") or body.get("message") or ""
        if isinstance(err, list):
            err = "; ".join(e.get("message", str(e)) if isinstance(e, dict) else str(e) for e in err)
        return str(err)
    return ""


#: how to give the client a token, for messages
LOGIN_HOWTO = "run `cove login` with a token from the Hub's account page, or set COVE_TOKEN or HF_TOKEN"
NO_TOKEN = f"none was sent: {LOGIN_HOWTO}"


def _hint(err: CoveError, where: Where, endpoint: str, has_token: bool, other_type: str | None = None) -> str:
    kind = where.repo_type or "model"
    repo = f"{kind} repo '{where.repo_id}'" if where.repo_id else "the repo"
    if isinstance(err, GatedRepo):
        return f"{repo} is gated: ask its owner for access, then pass a token of an account that has it"
    if isinstance(err, RepoNotFound):
        if err.message.startswith("Repository not found: "):  # the Hub said why (e.g. the seed prepares it)
            return ""
        if other_type is not None:
            return (f"there is no {repo} on {endpoint}, but there is a {other_type} repo with that id: pass "
                    f'repo_type="{other_type}" (on the command line: --repo-type {other_type})')
        if has_token:
            return f"no {repo} on {endpoint} that you can see: check the id, and that your token's account may read it"
        return f"no {repo} on {endpoint} that you can see: check the id; a private repo needs a token ({NO_TOKEN})"
    if isinstance(err, RevisionNotFound):
        return f"revision '{where.revision}' is not a branch, tag or commit of {repo}: see list_repo_refs"
    if isinstance(err, EntryNotFound):
        what = f"'{where.filename}'" if where.filename else "this path"
        return f"{what} is not in {repo} at revision '{where.revision or 'main'}': see list_repo_files"
    if isinstance(err, Unauthorized):
        if not has_token:
            return f"this needs a token, and {NO_TOKEN}"
        return "check your token: `cove login`, COVE_TOKEN, HF_TOKEN or token=..."
    if isinstance(err, Forbidden):
        return "the token may be read-only or lack access to this repo"
    return ""


def error_for(resp: httpx.Response, where: Where, endpoint: str, has_token: bool,
              exists_as: Callable[[str, str], bool] | None = None) -> CoveError:
    """The :mod:`cove.errors` exception for an error response, with a hint appended.

    ``exists_as(repo_id, repo_type)``: asked, after a "repo not found", whether the id names a repo of
    another type that the caller may see, to suggest that type instead.
    """
    msg = _server_message(resp)
    err = from_response(resp.status_code, resp.headers.get("X-Error-Code"), msg)
    other = None
    if isinstance(err, RepoNotFound) and where.repo_id and exists_as is not None:
        kind = where.repo_type or "model"
        other = next((t for t in REPO_TYPES if t != kind and exists_as(where.repo_id, t)), None)
    hint = _hint(err, where, endpoint, has_token, other)
    if hint:
        bare = isinstance(err, RepoNotFound) and err.message in ("", "Repository not found")
        err = type(err)(f"Repository not found: {hint}" if bare else f"{err.message} ({hint})")
        err.status = resp.status_code
    return err


def _sleep_for(attempt: int, resp: httpx.Response | None) -> float:
    if resp is not None:
        after = resp.headers.get("Retry-After", "")
        if is_digits(after):
            return min(float(after), 60.0)
    return min(8.0, 0.5 * 2**attempt) * (0.75 + random.random() / 2)


class Session:
    """An ``httpx.Client`` bound to one endpoint and token.

    Args:
        endpoint: the Hub's base URL (no trailing ``/``).
        token: sent as ``Authorization: Bearer`` to the endpoint, never to LFS action URLs.
        retries: attempts after the first one, for transient errors.
    """

    def __init__(self, endpoint: str, token: str | None, *, retries: int = 5, timeout: float = 60.0) -> None:
        self.endpoint = endpoint
        self.token = token
        self.retries = retries
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=10.0),
            follow_redirects=True,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
            headers={"user-agent": USER_AGENT},
        )

    def close(self) -> None:
        self.client.close()

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.endpoint}{path}"

    def headers(self, extra: dict | None = None, *, auth: bool = True) -> dict:
        h = dict(extra or {})
        if auth and self.token:
            h["authorization"] = f"Bearer {self.token}"
        return h

    def exists_as(self, repo_id: str, repo_type: str) -> bool:
        """True when ``repo_id`` is a ``repo_type`` repo this token may see (one GET, no retries)."""
        try:
            resp = self.client.get(self.url(f"/api/{repo_type}s/{repo_id}"), headers=self.headers())
        except httpx.HTTPError:
            return False
        return resp.is_success

    def retrying(self, fn: Callable[[], httpx.Response], *, retry: bool = True) -> httpx.Response:
        """Run ``fn`` (one HTTP exchange) until it succeeds or fails for good; returns the response."""
        attempt = 0
        while True:
            try:
                resp = fn()
            except httpx.TransportError as e:
                if not retry or attempt >= self.retries:
                    raise
                delay = _sleep_for(attempt, None)
                log.info("%s; retrying in %.1f s", e.__class__.__name__, delay)
            else:
                if not retry or resp.status_code not in RETRY_STATUS or attempt >= self.retries:
                    return resp
                delay = _sleep_for(attempt, resp)
                log.info("HTTP %d from %s; retrying in %.1f s", resp.status_code, resp.url, delay)
                resp.close()
            time.sleep(delay)
            attempt += 1

    def request(self, method: str, path: str, *, where: Where = Where(), retry: bool = True, auth: bool = True,
                headers: dict | None = None, ok: tuple[int, ...] = (), **kw) -> httpx.Response:
        """One request, retried when transient; raises a :mod:`cove.errors` class on an error status.

        ``ok`` lists error statuses returned to the caller instead of raised (e.g. 409 for ``exist_ok``).
        """
        h = self.headers(headers, auth=auth)
        resp = self.retrying(lambda: self.client.request(method, self.url(path), headers=h, **kw), retry=retry)
        if resp.is_success or resp.status_code in ok:
            return resp
        raise error_for(resp, where, self.endpoint, bool(self.token), self.exists_as)

    @contextmanager
    def stream(self, method: str, path: str, *, where: Where = Where(), headers: dict | None = None,
               auth: bool = True, **kw):
        """A streamed response (retried until headers arrive); raises on error statuses."""
        h = self.headers(headers, auth=auth)
        url = self.url(path)

        def send() -> httpx.Response:
            return self.client.send(self.client.build_request(method, url, headers=h, **kw), stream=True)

        resp = self.retrying(send)
        try:
            if not resp.is_success:
                resp.read()
                raise error_for(resp, where, self.endpoint, bool(self.token), self.exists_as)
            yield resp
        finally:
            resp.close()

    def paginate(self, path: str, *, params: dict | list | None = None, where: Where = Where(),
                 limit: int | None = None):
        """Yield the items of a list endpoint, following ``Link: <...>; rel="next"``."""
        url: str | None = path
        count = 0
        while url:
            resp = self.request("GET", url, where=where, params=params if url == path else None)
            for item in resp.json():
                yield item
                count += 1
                if limit is not None and count >= limit:
                    return
            url = resp.links.get("next", {}).get("url")
