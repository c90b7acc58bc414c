"""Audit events from a request: the client's address and, for repo events, the caller come from it.

Call these after the action succeeded; they never raise (see :meth:`Audit.record`).
"""

from __future__ import annotations

from fastapi import Request

from cove.server.routes._common import hub_of, principal


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def record(request: Request, action: str, *, actor: str | None, target: str = "", detail: dict | None = None) -> None:
    hub_of(request).audit.record(action, actor=actor, ip=client_ip(request), target=target, detail=detail)


def record_repo(request: Request, action: str, repo_type: str, repo_id: str, detail: dict | None = None) -> None:
    """A repo event by the caller, and ``admin.override`` when only Hub-admin rights allowed it."""
    hub_of(request).audit.record_repo(action, principal(request), client_ip(request), repo_type, repo_id,
                                      detail=detail)


def record_override(request: Request, action: str, repo_type: str, repo_id: str) -> None:
    """Only the ``admin.override`` event, for writes (a commit, a branch) that are not logged otherwise."""
    hub_of(request).audit.record_override(action, principal(request), client_ip(request), repo_type, repo_id,
                                          need="write")
