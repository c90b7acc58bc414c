"""Branches and tags: listing a repo's refs, creating and deleting branches and tags.

Each change moves one ref by compare-and-swap (:meth:`~cove.server.storage.git.GitRepo.update_ref`:
it moves only if the ref is still where it was read, whatever replica or ``git push`` moves it too)
and records the repo's last change. ``main`` is the default branch and cannot be deleted.
"""

from __future__ import annotations

from cove.errors import BadRequest, Conflict, RevisionNotFound
from cove.protocol import check_revision
from cove.server.db import Repo
from cove.server.services.accounts import Principal
from cove.server.services.repos import Repos
from cove.server.storage.git import GitRepo

#: The ref kinds a listing shows, by the name the API gives them.
KINDS = {"branches": "refs/heads/", "converts": "refs/convert/", "tags": "refs/tags/"}


def _is_sha(name: str) -> bool:
    return len(name) == 40 and all(c in "0123456789abcdef" for c in name)


class Refs:
    def __init__(self, repos: Repos) -> None:
        self._repos = repos

    def _writable(self, who: Principal | None, repo_type: str, repo_id: str) -> tuple[Repo, GitRepo]:
        repo = self._repos.get(who, repo_type, repo_id, "write")
        return repo, self._repos.open_git(repo)

    def _move(self, repo: Repo, git: GitRepo, ref: str, new: str | None, old: str | None) -> Repo:
        """Move ``ref`` from ``old`` to ``new`` (compare-and-swap) and record the repo's change."""
        git.update_ref(ref, new, old)
        self._repos.touch(repo, head_sha=None)
        return repo

    def listing(self, who: Principal | None, repo_type: str, repo_id: str, *,
                pull_requests: bool = False) -> dict[str, dict[str, str]]:
        """``{kind: {name: commit sha}}`` for branches, converts and tags (and ``pullRequests``: ``refs/pr/N``
        by number, when asked)."""
        git = self._repos.open_git(self._repos.get(who, repo_type, repo_id))
        out = {kind: git.refs(prefix) for kind, prefix in KINDS.items()}
        if pull_requests:
            out["pullRequests"] = git.refs("refs/pr/")
        return out

    def create_branch(self, who: Principal | None, repo_type: str, repo_id: str, branch: str,
                      start: object = "main") -> Repo:
        """A new branch at ``start`` (a revision); Conflict if it exists."""
        repo, git = self._writable(who, repo_type, repo_id)
        check_revision(branch)
        if not isinstance(start, str):
            raise BadRequest("'startingPoint' must be a revision")
        if branch.startswith("refs/") or _is_sha(branch):
            raise BadRequest(f"Invalid branch name {branch!r}")
        if git.ref_target(f"refs/heads/{branch}") is not None:
            raise Conflict(f"Reference refs/heads/{branch} already exists")
        return self._move(repo, git, f"refs/heads/{branch}", git.resolve(start), None)

    def delete_branch(self, who: Principal | None, repo_type: str, repo_id: str, branch: str) -> Repo:
        repo, git = self._writable(who, repo_type, repo_id)
        check_revision(branch)
        if branch == "main":
            raise BadRequest("Cannot delete refs/heads/main: it is the default branch")
        sha = git.ref_target(f"refs/heads/{branch}")
        if sha is None:
            raise RevisionNotFound(f"Invalid rev id: {branch}")
        return self._move(repo, git, f"refs/heads/{branch}", None, sha)

    def create_tag(self, who: Principal | None, repo_type: str, repo_id: str, rev: str, tag: object) -> Repo:
        """A tag named ``tag`` at ``rev``; Conflict if it exists."""
        repo, git = self._writable(who, repo_type, repo_id)
        sha = git.resolve(rev)  # a missing revision first, as on the Hub, whatever the tag's name
        if not isinstance(tag, str):
            raise BadRequest("'tag' must be a string")
        check_revision(tag)
        if tag.startswith("refs/"):
            raise BadRequest(f"Invalid tag name {tag!r}")
        if git.ref_target(f"refs/tags/{tag}") is not None:
            raise Conflict(f"Tag already exists: {tag}")
        return self._move(repo, git, f"refs/tags/{tag}", sha, None)

    def delete_tag(self, who: Principal | None, repo_type: str, repo_id: str, tag: str) -> Repo:
        repo, git = self._writable(who, repo_type, repo_id)
        check_revision(tag)
        if git.ref_target(f"refs/tags/{tag}") is None:
            raise RevisionNotFound(f"Invalid rev id: {tag}")
        return self._move(repo, git, f"refs/tags/{tag}", None, git.raw_target(f"refs/tags/{tag}"))
