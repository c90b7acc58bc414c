"""Pull requests in git: a PR's commits, its diff against the base, and merging it into the base.

A merge is a fast-forward of the base branch when the base has not moved since the PR's head was
built on it; otherwise a merge commit of the two heads (parents: base head, PR head), its tree from
libgit2's three-way merge of the trees. Paths both sides changed differently are conflicts and nothing
is written; ``.gitattributes``, to which Cove appends one line per LFS file, is merged as a union of
lines. The base moves by one compare-and-swap under the repo's lock, as every commit does
(:meth:`GitRepo.commit`), so a concurrent commit to the base is never lost.
"""

from __future__ import annotations

from dataclasses import dataclass

import pygit2

from cove.server.storage.git import CommitInfo, GitRepo, Identity

#: The longest diff given out (the rest is cut, with a line that says so).
MAX_DIFF_BYTES = 1_000_000
UNION_MERGED = (".gitattributes",)


@dataclass(frozen=True)
class MergeResult:
    sha: str | None  # the base's new head, or None when conflicts stopped the merge
    conflicts: list[str]
    fast_forward: bool = False


def pr_commits(git: GitRepo, head: str, since: str, *, limit: int = 500) -> list[CommitInfo]:
    """Commits reachable from ``head`` but not from ``since`` (the base head when the PR opened), oldest first."""
    walker = git.repo.walk(head, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.TIME)
    if since and since != head:
        try:
            walker.hide(since)
        except (KeyError, ValueError, pygit2.GitError):
            pass
    elif since == head:
        return []
    out = []
    for i, c in enumerate(walker):
        if i >= limit:
            break
        out.append(GitRepo._info(c))
    return out[::-1]


def diff(git: GitRepo, base: str, head: str) -> str:
    """The unified diff from the merge base of ``base`` and ``head`` to ``head`` (what the PR changes)."""
    repo = git.repo
    ancestor = repo.merge_base(base, head) or base
    patch = repo.diff(repo[ancestor].peel(pygit2.Commit), repo[head].peel(pygit2.Commit)).patch or ""
    data = patch.encode("utf-8", "replace")
    if len(data) > MAX_DIFF_BYTES:
        return data[:MAX_DIFF_BYTES].decode("utf-8", "ignore") + "\n... (diff cut at 1 MB)\n"
    return patch


def is_merged(git: GitRepo, base: str, head: str) -> bool:
    """Whether every commit of ``head`` is already in ``base``."""
    return base == head or git.repo.descendant_of(base, head)


def merge(git: GitRepo, base_ref: str, head: str, identity: Identity, message: str) -> MergeResult:
    """Merge commit ``head`` into the branch ``base_ref`` (see the module docstring)."""
    repo = pygit2.Repository(git.repo.path)  # a handle of this thread's own, as commits use
    with git.store.lock(git.key):
        base = git.ref_target(base_ref)
        if base is None:
            raise KeyError(base_ref)
        if base == head or repo.descendant_of(base, head):
            return MergeResult(base, [])  # nothing left to merge
        if repo.descendant_of(head, base):
            git.update_ref(base_ref, head, base)
            return MergeResult(head, [], fast_forward=True)
        ancestor = repo.merge_base(base, head)
        trees = (repo[ancestor].peel(pygit2.Commit).tree if ancestor else repo.TreeBuilder().write(),
                 repo[base].peel(pygit2.Commit).tree, repo[head].peel(pygit2.Commit).tree)
        if not isinstance(trees[0], pygit2.Tree):
            trees = (repo[trees[0]], *trees[1:])
        index = repo.merge_trees(*trees)
        conflicts = _conflicts(index)
        union = [p for p in conflicts if p in UNION_MERGED]
        if union:
            merged = repo.merge_trees(*trees, favor=pygit2.enums.MergeFavor.UNION)
            for path in union:
                del index.conflicts[path]
                index.add(merged[path])
            conflicts = _conflicts(index)
        if conflicts:
            return MergeResult(None, conflicts)
        tree = index.write_tree(repo)
        sig = pygit2.Signature(identity.name, identity.email or f"{identity.name}@cove.local")
        sha = str(repo.create_commit(None, sig, sig, message, tree, [base, head]))
        git.update_ref(base_ref, sha, base)
        return MergeResult(sha, [])


def _conflicts(index: pygit2.Index) -> list[str]:
    if index.conflicts is None:
        return []
    paths = set()
    for ancestor, ours, theirs in index.conflicts:
        entry = ours or theirs or ancestor
        paths.add(entry.path)
    return sorted(paths)
