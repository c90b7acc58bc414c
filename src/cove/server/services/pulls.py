"""Pull requests: who may commit to ``refs/pr/N``, opening a PR with its first commit, and merging.

* ``create_commit(create_pr=True)`` (and ``preupload``, LFS and Xet uploads with ``create_pr=1``) need
  only read access to the repo and a write token: a PR is how a non-writer proposes a change.
* A commit to ``refs/pr/N`` needs write access, or to be the author of that open (or draft) PR.
* Merging needs write access and an ``open`` PR (a draft is published by setting it ``open``). It
  fast-forwards the base when it can, else writes a merge commit (:mod:`cove.server.storage.merge`);
  paths changed on both sides are refused with 409 and kept in ``filesWithConflicts``.
"""

from __future__ import annotations

from cove.errors import BadRequest, Conflict, Forbidden, RevisionNotFound, Unauthorized
from cove.server.db import Repo
from cove.server.services.accounts import Principal
from cove.server.services.commits import Commits, CommitTarget
from cove.server.services.content import Content
from cove.server.services.discussions import MAX_COMMENT, MAX_TITLE, Discussions, Thread
from cove.server.services.ndjson import ParsedCommit
from cove.server.services.repos import Repos
from cove.server.storage import merge
from cove.server.storage.git import GitRepo, Identity


class Pulls:
    def __init__(self, discussions: Discussions, repos: Repos, content: Content, commits: Commits) -> None:
        self.discussions = discussions
        self._repos = repos
        self._content = content
        self._commits = commits

    def git_of(self, repo: Repo) -> GitRepo:
        return self._repos.open_git(repo)

    def open_for_commit(self, who: Principal, repo: Repo, git: GitRepo, base: str, title: str,
                        description: str) -> int:
        """A new open PR against branch ``base`` whose ``refs/pr/N`` starts at its head, for a commit
        sent with ``create_pr=1``; returns its number."""
        if base.startswith("refs/") and not base.startswith("refs/heads/"):
            raise RevisionNotFound(f"Invalid rev id: {base} (a pull request targets a branch)")
        full = base if base.startswith("refs/heads/") else f"refs/heads/{base}"
        sha = git.ref_target(full)
        if sha is None:
            raise RevisionNotFound(f"Invalid rev id: {base} (a pull request targets an existing branch)")
        title, description = (title or "Update files")[:MAX_TITLE], (description or "(no description)")[:MAX_COMMENT]
        return self.discussions.insert(who, repo, title, description,
                                       is_pr=True, base_ref=full, base_sha=sha, git=git)

    def commit_new_pr(self, target: CommitTarget, who: Principal, parsed: ParsedCommit) -> tuple[int, str]:
        """``create_commit(create_pr=True)``: a new open PR against ``target.rev`` and ``parsed`` as its
        first commit, on ``refs/pr/N`` (through the commit service's whole commit); ``(N, commit sha)``.
        If the commit fails, the PR and its ref go too."""
        repo, git, base = target.repo, target.git, target.rev
        try:
            num = self.open_for_commit(who, repo, git, base, parsed.summary.strip(), parsed.description.strip())
        except Exception:
            parsed.discard()
            raise
        ref = f"refs/pr/{num}"
        try:
            return num, self._commits.commit(CommitTarget(repo, git, ref), who, parsed)
        except Exception:
            start = git.ref_target(ref)
            if start is not None:
                git.update_ref(ref, None, start)
            self.discussions.forget(repo, num)
            raise

    def merge(self, who: Principal | None, repo_type: str, repo_id: str, num: int, comment: object) -> Thread:
        discussions = self.discussions
        repo = discussions.repo(who, repo_type, repo_id)
        row = discussions.row(repo, num)
        if who is None:
            raise Unauthorized("You must be authenticated to merge a pull request: pass a write token")
        if not discussions.can_write(who, repo):
            raise Forbidden(f"Only writers of {repo.repo_id} may merge pull requests")
        if not row.is_pr:
            raise BadRequest(f"#{num} is a discussion, not a pull request")
        if row.status != "open":
            hint = " (publish it first: set its status to open)" if row.status == "draft" else ""
            raise BadRequest(f"Pull request #{num} is {row.status}: only an open pull request can be merged{hint}")
        git = self.git_of(repo)
        head = git.ref_target(f"refs/pr/{num}")
        if head is None or git.ref_target(row.base_ref) is None:
            raise Conflict(f"Pull request #{num} cannot be merged: its ref or its base branch "
                           f"{row.base_ref} is gone")
        message = f"Merge pull request #{num}: {row.title}\n"
        try:
            result = merge.merge(git, row.base_ref, head, Identity(who.name, ""), message)
        except KeyError:
            raise Conflict(f"The base branch {row.base_ref} is gone") from None
        if result.sha is None:
            discussions.set_conflicts(row, result.conflicts)
            raise Conflict(f"Pull request #{num} conflicts with {row.base_ref}: "
                           f"{', '.join(result.conflicts[:20])} changed on both sides. Merge "
                           f"{row.base_ref} into refs/pr/{num} (or change those files) and try again")
        if comment:
            discussions.comment(who, repo_type, repo_id, num, comment)
        discussions.add_event(row, who, "status-change", {"status": "merged"}, status="merged",
                              merge_sha=result.sha, conflicts=[])
        main = row.base_ref == "refs/heads/main"
        card = self._content.card(git, result.sha, repo) if main else None
        self._repos.touch(repo, head_sha=result.sha if main else None, card=card)
        return discussions.thread(repo, discussions.row(repo, num), git)
