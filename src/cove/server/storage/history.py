"""Reading and rewriting a repo's whole history: where its LFS pointers are, squashing a branch, and
dropping the pointers to deleted LFS objects from every commit of every ref.

Rewrites follow the rule of :mod:`cove.server.storage.git`: new objects are written first, then each
ref moves by compare-and-swap under the repo's lock, so a crash leaves only unreachable objects and a
ref that moved meanwhile is never overwritten (the caller gets a Conflict and may try again). Every walk
is iterative (a pushed tree may nest thousands of folders deep) and reads each distinct tree once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pygit2

from cove.errors import BadRequest, Conflict, RevisionNotFound
from cove.protocol import git_name_problem
from cove.server.storage.git import BLOB, BLOB_EXECUTABLE, TREE, GitRepo, Identity

FILE_MODES = (BLOB, BLOB_EXECUTABLE)
#: Refs in the order a pointer's ref is reported: the default branch first.
_REF_ORDER = ("refs/heads/main", "refs/heads/", "refs/tags/", "refs/pr/", "refs/convert/")


@dataclass(frozen=True)
class PointerSeen:
    """Where an LFS object is first referenced: ``path`` in a commit of ``ref`` made at ``date``."""

    oid: str
    size: int
    path: str
    ref: str
    date: datetime
    blob: str  # the git blob id of the pointer file


def _ordered_refs(repo: pygit2.Repository) -> list[str]:
    def rank(name: str) -> tuple[int, str]:
        return next((i for i, p in enumerate(_REF_ORDER) if name.startswith(p)), len(_REF_ORDER)), name
    return sorted(repo.listall_references(), key=rank)


def _peeled(repo: pygit2.Repository, name: str) -> pygit2.Commit | None:
    try:
        return repo.lookup_reference(name).peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError):
        return None


def _entries(repo: pygit2.Repository, tree_id: pygit2.Oid) -> Iterator[tuple[bytes, pygit2.Object]]:
    try:
        tree = repo[tree_id]
    except (KeyError, ValueError, pygit2.GitError):
        return
    if isinstance(tree, pygit2.Tree):
        yield from ((item.raw_name, item) for item in tree)


def lfs_pointers(git: GitRepo) -> dict[str, PointerSeen]:
    """Every LFS object any commit of any ref points to, with where it first appears: refs in the order
    of :data:`_REF_ORDER`, each one's commits oldest first."""
    repo = git.repo
    seen: dict[str, PointerSeen] = {}
    trees: set[pygit2.Oid] = set()
    commits: set[pygit2.Oid] = set()
    for ref in _ordered_refs(repo):
        head = _peeled(repo, ref)
        if head is None:
            continue
        walker = repo.walk(head.id, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE)
        for commit in walker:
            if commit.id in commits:
                continue
            commits.add(commit.id)
            date = datetime.fromtimestamp(commit.commit_time, UTC)
            stack = [(commit.tree_id, "")]
            while stack:
                tree_id, prefix = stack.pop()
                if tree_id in trees:
                    continue  # met in an older commit: its pointers are known already
                trees.add(tree_id)
                for raw, item in _entries(repo, tree_id):
                    if git_name_problem(raw) is not None:
                        continue
                    path = prefix + raw.decode()
                    if item.filemode == TREE:
                        stack.append((item.id, path + "/"))
                    elif item.filemode in FILE_MODES:
                        pointer = _pointer(git, item.id)
                        if pointer is not None and pointer[0] not in seen:
                            seen[pointer[0]] = PointerSeen(pointer[0], pointer[1], path, ref, date, str(item.id))
    return seen


def _pointer(git: GitRepo, blob: pygit2.Oid) -> tuple[str, int] | None:
    try:
        return git.store._blob_info.get(git.repo, blob)[1]
    except KeyError:  # a tree naming a blob the repo lacks
        return None


def squash(git: GitRepo, rev: str, message: str, identity: Identity) -> str:
    """Replace the history of branch ``rev`` (or ``refs/pr/N``, ``refs/convert/x``) by one commit of its
    current files; returns the new commit. Tags cannot be squashed."""
    if rev.startswith("refs/"):
        if not rev.startswith(("refs/heads/", "refs/pr/", "refs/convert/")):
            raise BadRequest(f"Invalid reference for a branch: {rev}")
        full = rev
    else:
        full = f"refs/heads/{rev}"
    if git.ref_target(full) is None:
        if git.ref_target(f"refs/tags/{rev}") is not None:
            raise BadRequest(f"Invalid reference for a branch: {rev} is a tag (tags cannot be squashed)")
        raise RevisionNotFound(f"Invalid rev id: {rev}")
    repo = pygit2.Repository(git.repo.path)  # its own handle: libgit2 objects are for one thread at a time
    sig = pygit2.Signature(identity.name, identity.email or f"{identity.name}@cove.local")
    with git.store.lock(git.key):
        head = git.ref_target(full)
        if head is None:
            raise Conflict(f"{full} was deleted during the operation")
        sha = str(repo.create_commit(None, sig, sig, message, repo[head].peel(pygit2.Commit).tree_id, []))
        git.update_ref(full, sha, head)
    return sha


class _Rewriter:
    """Trees and commits of one repo without the blobs that are LFS pointers to ``oids``, memoised by id."""

    def __init__(self, git: GitRepo, repo: pygit2.Repository, oids: set[str]) -> None:
        self.git, self.repo, self.oids = git, repo, oids
        self.trees: dict[pygit2.Oid, pygit2.Oid | None] = {}  # None: nothing left in it
        self.commits: dict[pygit2.Oid, pygit2.Oid] = {}

    def _drops(self, item: pygit2.Object) -> bool:
        if item.filemode not in FILE_MODES:
            return False
        pointer = _pointer(self.git, item.id)
        return pointer is not None and pointer[0] in self.oids

    def tree(self, top: pygit2.Oid) -> pygit2.Oid | None:
        """``top`` rewritten (post-order, with an explicit stack)."""
        stack = [(top, False)]
        while stack:
            tree_id, done = stack.pop()
            if tree_id in self.trees:
                continue
            items = list(_entries(self.repo, tree_id))
            subs = [item.id for _, item in items if item.filemode == TREE and item.id not in self.trees]
            if not done and subs:
                stack.append((tree_id, True))
                stack.extend((sub, False) for sub in subs)
                continue
            builder, changed = None, False
            for _, item in items:
                new = self.trees[item.id] if item.filemode == TREE else (None if self._drops(item) else item.id)
                if new == item.id:
                    continue
                if builder is None:
                    builder = self.repo.TreeBuilder(self.repo[tree_id])
                builder.remove(item.name)
                if new is not None:
                    builder.insert(item.name, new, item.filemode)
                changed = True
            if not changed:
                self.trees[tree_id] = tree_id
            else:
                self.trees[tree_id] = builder.write() if len(builder) else None
        return self.trees[top]

    def commit(self, head: pygit2.Oid) -> pygit2.Oid:
        """Commit ``head`` with its history rewritten (unchanged commits keep their ids)."""
        walker = self.repo.walk(head, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE)
        for c in walker:
            if c.id in self.commits:
                continue
            tree = self.tree(c.tree_id)
            if tree is None:
                tree = self.repo.TreeBuilder().write()
            parents = [self.commits.get(p, p) for p in c.parent_ids]
            if tree == c.tree_id and parents == list(c.parent_ids):
                self.commits[c.id] = c.id
            else:
                encoding = [c.message_encoding] if c.message_encoding else []
                self.commits[c.id] = self.repo.create_commit(None, c.author, c.committer, c.raw_message, tree,
                                                             parents, *encoding)
        return self.commits[head]


def drop_lfs_pointers(git: GitRepo, oids: set[str]) -> int:
    """Rewrite every ref's history without the files that are LFS pointers to ``oids``; returns how many
    refs moved. An annotated tag is written again (same name, tagger and message) on the new commit."""
    repo = pygit2.Repository(git.repo.path)
    rewriter = _Rewriter(git, repo, oids)
    moved = 0
    with git.store.lock(git.key):
        for name in _ordered_refs(repo):
            try:
                ref = repo.lookup_reference(name)
                target = ref.target
                obj = repo[target]
            except (KeyError, ValueError, pygit2.GitError):
                continue
            if isinstance(obj, pygit2.Tag):
                commit = repo[obj.target]
                if not isinstance(commit, pygit2.Commit):
                    continue  # a tag of a tag: left as it is
                new_commit = rewriter.commit(commit.id)
                if new_commit == commit.id:
                    continue
                raw = obj.read_raw()  # "object <sha>\n..." : the same tag, on the new commit
                new = repo.odb.write(pygit2.enums.ObjectType.TAG, b"object %s%s" % (
                    str(new_commit).encode(), raw[raw.index(b"\n"):]))
            elif isinstance(obj, pygit2.Commit):
                new = rewriter.commit(obj.id)
            else:
                continue
            if new != target:
                git.update_ref(name, str(new), str(target))
                moved += 1
    return moved
