"""Branches, tags, refs and history: the part of :class:`cove.hub.HubApi` about git references."""

from __future__ import annotations

from urllib.parse import quote

from cove.hub.http import Session, Where
from cove.hub.info import GitCommitInfo, GitRefInfo, GitRefs, parse_date


def _refs(items: list[dict]) -> list[GitRefInfo]:
    return [GitRefInfo(r["name"], r["ref"], r["targetCommit"]) for r in items]


class RefsMixin:
    """``create_branch``, ``delete_branch``, ``create_tag``, ``delete_tag``, ``list_repo_refs``, ``list_repo_commits``."""

    session: Session

    def create_branch(self, repo_id: str, *, branch: str, revision: str | None = None,
                      repo_type: str | None = None, exist_ok: bool = False) -> None:
        """Create ``branch`` at ``revision`` (default: the head of the default branch)."""
        repo_id, rtype = self._repo(repo_id, repo_type)
        body = {"startingPoint": revision} if revision else {}
        self.session.request("POST", self._api(repo_id, rtype, "branch", quote(branch, safe="")), json=body,
                             ok=(409,) if exist_ok else (), where=Where(repo_id, rtype, revision))

    def delete_branch(self, repo_id: str, *, branch: str, repo_type: str | None = None) -> None:
        repo_id, rtype = self._repo(repo_id, repo_type)
        self.session.request("DELETE", self._api(repo_id, rtype, "branch", quote(branch, safe="")),
                             where=Where(repo_id, rtype, branch))

    def create_tag(self, repo_id: str, *, tag: str, tag_message: str | None = None, revision: str | None = None,
                   repo_type: str | None = None, exist_ok: bool = False) -> None:
        """Tag ``revision`` (default ``main``) as ``tag``."""
        repo_id, rtype = self._repo(repo_id, repo_type)
        body = {"tag": tag}
        if tag_message:
            body["message"] = tag_message
        rev = revision or "main"
        self.session.request("POST", self._api(repo_id, rtype, "tag", quote(rev, safe="")), json=body,
                             ok=(409,) if exist_ok else (), where=Where(repo_id, rtype, rev))

    def delete_tag(self, repo_id: str, *, tag: str, repo_type: str | None = None) -> None:
        repo_id, rtype = self._repo(repo_id, repo_type)
        self.session.request("DELETE", self._api(repo_id, rtype, "tag", quote(tag, safe="")),
                             where=Where(repo_id, rtype, tag))

    def list_repo_refs(self, repo_id: str, *, repo_type: str | None = None,
                       include_pull_requests: bool = False) -> GitRefs:
        repo_id, rtype = self._repo(repo_id, repo_type)
        params = {"include_prs": "1"} if include_pull_requests else None
        d = self.session.request("GET", self._api(repo_id, rtype, "refs"), params=params,
                                 where=Where(repo_id, rtype)).json()
        prs = _refs(d.get("pullRequests", [])) if include_pull_requests else None
        return GitRefs(_refs(d["branches"]), _refs(d.get("converts", [])), _refs(d["tags"]), prs)

    def list_repo_commits(self, repo_id: str, *, revision: str | None = None,
                          repo_type: str | None = None) -> list[GitCommitInfo]:
        """The history of ``revision``, newest first."""
        repo_id, rtype = self._repo(repo_id, repo_type)
        rev = revision or "main"
        items = self.session.paginate(self._api(repo_id, rtype, "commits", quote(rev, safe="")),
                                      where=Where(repo_id, rtype, rev))
        return [GitCommitInfo(c["id"], c.get("title", ""), c.get("message", ""), parse_date(c.get("date")),
                              [a.get("user", "") for a in c.get("authors", [])]) for c in items]
