"""Bare git repositories, one per Hub repo, read and written with libgit2 (pygit2).

Stock ``git clone`` works on them as they are (``git http-backend`` serves them; every push passes the
checks of :mod:`cove.server.storage.receive` first). Commits are built from the branch head, changing
only the folders they touch, written as objects, and published by a single compare-and-swap of the ref
(``git update-ref NEW OLD``) under a per-repo file lock: a crash before the ref moves leaves only
unreachable objects, never a half commit, and two writers never lose each other's commit.

What is read back is checked again, for repos written before those checks or by hand: listings and
lookups show only files and folders whose names pass :func:`cove.protocol.name_problem` (symbolic links,
submodules and unreadable trees are skipped), and a blob that looks like an LFS pointer is an LFS file
only if the repo may reference that object with that size (its :data:`LfsScope`); otherwise it is an
ordinary small file whose content is the pointer text.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pygit2

from cove.errors import (
    BadRequest,
    Conflict,
    EntryNotFound,
    PreconditionFailed,
    RevisionNotFound,
    Unprocessable,
)
from cove.protocol import (
    MAX_PATH_BYTES,
    AddFile,
    DeleteFile,
    DeleteFolder,
    Operation,
    TreeEntry,
    check_path,
    check_revision,
    git_name_problem,
    is_commit_sha,
    looks_like_sha_prefix,
    parse_lfs_pointer,
)
from cove.server.storage import receive
from cove.server.storage.locks import FileLocks, RepoLock

BLOB = pygit2.enums.FileMode.BLOB
TREE = pygit2.enums.FileMode.TREE
BLOB_EXECUTABLE = pygit2.enums.FileMode.BLOB_EXECUTABLE
#: The entry modes the Hub shows: files, executable files, folders (never symbolic links or submodules).
SHOWN_MODES = (BLOB, BLOB_EXECUTABLE, TREE)

#: Largest parsed tree libgit2 keeps in its object cache (whose total stays under its own budget).
TREE_CACHE_LIMIT = 64 * 1024 * 1024

#: ``oids -> {oid: size}``: of the LFS objects (sha256) among ``oids``, those a repo may reference and
#: that are stored, with their size. The service layer provides one per repo (:meth:`GitStore.open`).
LfsScope = Callable[[set[str]], dict[str, int]]


def _no_lfs(oids: set[str]) -> dict[str, int]:
    """No LFS at all: every pointer is an ordinary file."""
    return {}


#: What a new repo's first commit holds, as on the Hugging Face Hub.
DEFAULT_GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
    for pattern in (
        "*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.ftz", "*.gguf", "*.gz", "*.h5", "*.joblib",
        "*.lfs.*", "*.mlmodel", "*.model", "*.msgpack", "*.npy", "*.npz", "*.onnx", "*.ot",
        "*.parquet", "*.pb", "*.pickle", "*.pkl", "*.pt", "*.pth", "*.rar", "*.safetensors",
        "saved_model/**/*", "*.tar.*", "*.tar", "*.tflite", "*.tgz", "*.wasm", "*.xz", "*.zip",
        "*.zst", "*tfevents*",
    )
)


@dataclass(frozen=True)
class CommitInfo:
    id: str
    title: str
    message: str
    date: datetime
    author: str
    parents: tuple[str, ...]


@dataclass(frozen=True)
class Identity:
    name: str
    email: str


class _BlobInfoCache:
    """blob oid -> (blob size, ``(sha256, size)`` if the blob is an LFS pointer). Blob ids are content
    hashes, so entries never go stale; whether a repo may use the pointer is not kept here."""

    def __init__(self, capacity: int = 200_000) -> None:
        self._data: OrderedDict[str, tuple[int, tuple[str, int] | None]] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def get(self, repo: pygit2.Repository, oid: pygit2.Oid) -> tuple[int, tuple[str, int] | None]:
        key = str(oid)
        with self._lock:
            hit = self._data.get(key)
        if hit is not None:
            return hit
        _, size = repo.odb.read_header(oid)
        info = (size, parse_lfs_pointer(repo[oid].data) if size <= 1024 else None)
        with self._lock:
            self._data[key] = info
            if len(self._data) > self._capacity:
                self._data.popitem(last=False)
        return info


class GitStore:
    """The folder that holds every bare repo, by storage key, and the push hook they share.

    ``hook_env`` is what the push hook needs besides the repo (``COVE_DATABASE_URL``,
    ``COVE_STORAGE_URL``): see :func:`cove.server.storage.receive.main`. ``locks`` is the per-repo write
    lock (default: :class:`FileLocks` in ``<root>/.locks``).
    """

    def __init__(self, root: Path, hook_env: dict[str, str] | None = None, max_entries: int = 1_000_000,
                 locks: RepoLock | None = None) -> None:
        self.root = Path(root)
        #: The most entries one listing yields (see :meth:`GitRepo.list_tree`).
        self.max_entries = max_entries
        self.root.mkdir(parents=True, exist_ok=True)
        self._locks = locks or FileLocks(self.root / ".locks")
        self.hooks = self.root / ".hooks"
        receive.install_hook(self.hooks)
        # libgit2 keeps parsed trees of up to 4 KiB only (about 100 entries): a lookup in a larger folder
        # parsed it again, so N lookups there (preupload of N files) cost O(N^2). Keep trees of any size.
        pygit2.settings.cache_object_limit(pygit2.enums.ObjectType.TREE, TREE_CACHE_LIMIT)
        self._hook_env = dict(hook_env or {})
        self._blob_info = _BlobInfoCache()
        self._tree_sizes = _TreeSizes()
        self._open: OrderedDict[str, pygit2.Repository] = OrderedDict()
        self._open_lock = threading.Lock()
        #: Told of each ref this process moves, ``(storage key, ref, old sha or None, new sha or None)``,
        #: right after it moved (under the repo's lock, maybe inside a database transaction: it must not
        #: wait on either). A push moves refs in git itself: see ``routes/git.py``.
        self.ref_listener: Callable[[str, str, str | None, str | None], None] | None = None

    def path(self, key: str) -> Path:
        return self.root / f"{key}.git"

    def backend_env(self, key: str) -> dict[str, str]:
        """What ``git http-backend`` on repo ``key`` needs in its environment so that a push is checked
        (git's fsck with name checks as errors, then the hook) before any ref moves. Environment, not
        repo config, so that every repo is covered, however old."""
        return {**receive.backend_env(self.hooks), **self._hook_env, "COVE_REPO_KEY": key}

    def init(self, key: str, identity: Identity, files: dict[str, bytes] | None = None) -> GitRepo:
        """A new bare repo whose ``main`` holds the default ``.gitattributes`` (and ``files``)."""
        path = self.path(key)
        repo = pygit2.init_repository(str(path), bare=True, initial_head="main")
        repo.config["http.receivepack"] = "true"
        repo.config["uploadpack.allowFilter"] = "true"
        repo.config["uploadpack.allowAnySHA1InWant"] = "true"
        repo.config["receive.denyNonFastForwards"] = "false"
        git = GitRepo(self, key, repo)
        extra = [AddFile(path, data) for path, data in (files or {}).items()]
        git.commit("main", [AddFile(".gitattributes", DEFAULT_GITATTRIBUTES.encode()), *extra], identity,
                   "initial commit")
        return git

    def open(self, key: str, lfs_scope: LfsScope = _no_lfs) -> GitRepo:
        """The repo, from a small cache of open handles (opening one costs about a millisecond).
        ``lfs_scope`` decides which LFS pointers in it are LFS files (by default, none)."""
        with self._open_lock:
            repo = self._open.get(key)
            if repo is not None:
                self._open.move_to_end(key)
        if repo is None:
            path = self.path(key)
            if not path.is_dir():
                raise KeyError(key)
            repo = pygit2.Repository(str(path))
            with self._open_lock:
                self._open[key] = repo
                if len(self._open) > 256:
                    self._open.popitem(last=False)
        return GitRepo(self, key, repo, lfs_scope)

    def delete(self, key: str) -> None:
        with self._open_lock:
            self._open.pop(key, None)
        path = self.path(key)
        if path.exists():
            trash = self.root / f".deleted-{key}"
            path.rename(trash)  # atomic: the repo is gone at once, the files after
            shutil.rmtree(trash, ignore_errors=True)

    def lock(self, key: str) -> AbstractContextManager[None]:
        """An exclusive lock on one repo's refs (the injected :data:`RepoLock`)."""
        return self._locks(key)


class _TreeSizes:
    """tree oid -> entries a recursive listing of it yields (capped). Content-addressed: never stale."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._data: OrderedDict[str, int] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def get(self, key: str) -> int | None:
        with self._lock:
            return self._data.get(key)

    def put_all(self, sizes: dict[str, int]) -> None:
        with self._lock:
            self._data.update(sizes)
            while len(self._data) > self._capacity:
                self._data.popitem(last=False)


def _read_tree(repo: pygit2.Repository, oid: pygit2.Oid) -> pygit2.Tree | None:
    """The tree ``oid``, or ``None`` if it is missing, not a tree, or one libgit2 cannot parse (an
    empty name, written by hand)."""
    try:
        obj = repo[oid]
    except (KeyError, pygit2.GitError):
        return None
    return obj if isinstance(obj, pygit2.Tree) else None


def _shown(tree: pygit2.Tree) -> Iterator[tuple[str, pygit2.Object]]:
    """``(name, entry)`` for the entries of ``tree`` that the Hub shows: files and folders whose names
    pass the name rule. The others ('..' or '.git' pushed before the push hook existed, symbolic
    links, submodules) are skipped, never read or followed."""
    for item in tree:
        if item.filemode in SHOWN_MODES:
            raw = item.raw_name
            if git_name_problem(raw) is None:
                yield raw.decode(), item


class GitRepo:
    def __init__(self, store: GitStore, key: str, repo: pygit2.Repository, lfs_scope: LfsScope = _no_lfs) -> None:
        self.store = store
        self.key = key
        self.repo = repo
        self.lfs_scope = lfs_scope

    # -- refs ------------------------------------------------------------------------------------

    def refs(self, prefix: str) -> dict[str, str]:
        """``{short name: commit sha}`` for refs under ``prefix`` (e.g. ``refs/heads/``), tags peeled;
        a ref that does not lead to a commit is left out."""
        out = {}
        for name in self.repo.listall_references():
            if name.startswith(prefix):
                sha = self.ref_target(name)
                if sha is not None:
                    out[name[len(prefix):]] = sha
        return out

    def raw_target(self, name: str) -> str:
        """What ref ``name`` points at, unpeeled (an annotated tag's object, not its commit)."""
        return str(self.repo.lookup_reference(name).target)

    def ref_target(self, name: str) -> str | None:
        try:
            return str(self.repo.lookup_reference(name).peel(pygit2.Commit).id)
        except (KeyError, pygit2.InvalidSpecError, pygit2.GitError, ValueError):
            return None

    def resolve(self, rev: str) -> str:
        """Branch, tag, ``refs/pr/N``, full or short commit sha -> full commit sha."""
        check_revision(rev)
        if rev.startswith("refs/"):
            sha = self.ref_target(rev)
        else:
            sha = self.ref_target(f"refs/heads/{rev}") or self.ref_target(f"refs/tags/{rev}")
        if sha is None and looks_like_sha_prefix(rev):
            try:
                obj = self.repo.revparse_single(rev) if is_commit_sha(rev) else self.repo[rev]
                if obj.type == pygit2.enums.ObjectType.COMMIT:
                    sha = str(obj.id)
            except (KeyError, ValueError, pygit2.GitError):
                sha = None
        if sha is None:
            raise RevisionNotFound(f"Invalid rev id: {rev}")
        return sha

    def update_ref(self, name: str, new: str | None, old: str | None) -> None:
        """Move (or create, or with ``new=None`` delete) a ref only if it still points at ``old``.

        ``old=None`` means the ref must not exist yet. Atomic against every git process.
        """
        zero = "0" * 40
        if new is None:
            args = ["update-ref", "-d", name, old or ""]
        else:
            args = ["update-ref", name, new, old or zero]
        proc = subprocess.run(["git", *args], cwd=self.repo.path, capture_output=True, text=True)
        if proc.returncode != 0:
            raise Conflict(f"{name} moved during the operation, try again ({proc.stderr.strip()})")
        if self.store.ref_listener is not None:
            self.store.ref_listener(self.key, name, old, new)

    # -- reading ---------------------------------------------------------------------------------

    def _commit(self, sha: str) -> pygit2.Commit:
        return self.repo[sha].peel(pygit2.Commit)

    def _entries(self, found: Iterable[tuple[str, pygit2.Oid, int]]) -> list[TreeEntry]:
        """Tree entries for ``(path, id, mode)`` items, with one LFS scope query for all their pointers.
        A pointer outside the scope, or whose size is not the stored size, is an ordinary file."""
        items = []
        for path, oid, mode in found:
            if mode == TREE:
                items.append((path, oid, None))
                continue
            try:
                items.append((path, oid, self.store._blob_info.get(self.repo, oid)))
            except KeyError:  # a tree naming a blob the repo lacks: nothing to show
                continue
        pointers = {info[1][0] for _, _, info in items if info is not None and info[1] is not None}
        allowed = self.lfs_scope(pointers) if pointers else {}
        out = []
        for path, oid, info in items:
            if info is None:
                out.append(TreeEntry("directory", path, str(oid), 0))
                continue
            size, pointer = info
            if pointer is not None and allowed.get(pointer[0]) == pointer[1]:
                out.append(TreeEntry("file", path, str(oid), pointer[1], pointer[0], size))
            else:
                out.append(TreeEntry("file", path, str(oid), size))
        return out

    def _lookup(self, sha: str, path: str) -> pygit2.Object | None:
        """The entry at ``path`` (whose names pass the name rule) if it is shown, else ``None``."""
        try:
            check_path(path)
            item = self._commit(sha).tree[path]
        except (BadRequest, KeyError, pygit2.GitError):
            return None
        return item if item.filemode in SHOWN_MODES else None

    def list_tree(self, sha: str, path: str = "", recursive: bool = False) -> list[TreeEntry]:
        """Entries under ``path`` at commit ``sha``, in git's order, paths from the root."""
        if path:
            item = self._lookup(sha, path)
            if item is None:
                raise EntryNotFound(f"{path} does not exist at {sha}")
            if item.filemode != TREE:
                raise EntryNotFound(f"{path} is a file, not a folder")
            top = _read_tree(self.repo, item.id)
        else:
            top = _read_tree(self.repo, self._commit(sha).tree_id)
        cap = self.store.max_entries
        if recursive and top is not None and self.listed_count(top, cap) > cap:
            raise Unprocessable(f"{path or 'The repo'} at {sha[:12]} lists more than {cap} files and folders "
                                "(folders reused under several names count each time): list one folder at a time")
        found: list[tuple[str, pygit2.Oid, int]] = []
        # depth first with a stack, not recursion: a pushed tree may nest thousands of folders deep
        stack = [(_shown(top), f"{path}/" if path else "")] if top is not None else []
        while stack:
            entries, prefix = stack[-1]
            nxt = next(entries, None)
            if nxt is None:
                stack.pop()
                continue
            name, item = nxt
            full = prefix + name
            if len(full.encode()) > MAX_PATH_BYTES:
                continue
            found.append((full, item.id, item.filemode))
            if len(found) > cap:  # one folder alone holds that many
                raise Unprocessable(f"{path or 'The repo'} at {sha[:12]} lists more than {cap} files and "
                                    "folders: list one folder at a time")
            if recursive and item.filemode == TREE:
                sub = _read_tree(self.repo, item.id)
                if sub is not None:
                    stack.append((_shown(sub), full + "/"))
        return self._entries(found)

    def listed_count(self, top: pygit2.Tree, cap: int) -> int:
        """How many entries a recursive listing of ``top`` yields, at most ``cap + 1``, from each distinct
        tree read once: a few small trees that reuse each other can stand for billions of paths (a
        "zip bomb" of trees), which a walk would take hours to find out. Sizes are kept by tree id."""
        known = self.store._tree_sizes
        memo: dict[str, int] = {}

        def size_of(key: str) -> int | None:
            return memo[key] if key in memo else known.get(key)

        stack: list[tuple[pygit2.Tree, bool]] = [(top, False)]
        while stack:
            tree, done = stack.pop()
            key = str(tree.id)
            if not done and size_of(key) is not None:
                continue
            if done:
                total = 0
                for _, item in _shown(tree):
                    total += 1 + ((size_of(str(item.id)) or 0) if item.filemode == TREE else 0)
                    if total > cap:
                        break
                memo[key] = min(total, cap + 1)
                continue
            stack.append((tree, True))
            for _, item in _shown(tree):
                if item.filemode == TREE and size_of(str(item.id)) is None:
                    sub = _read_tree(self.repo, item.id)
                    if sub is None:
                        memo[str(item.id)] = 0
                    else:
                        stack.append((sub, False))
        known.put_all(memo)
        return memo.get(str(top.id), known.get(str(top.id)) or 0)

    def get_entry(self, sha: str, path: str) -> TreeEntry | None:
        item = self._lookup(sha, path)
        if item is None:
            return None
        entries = self._entries([(path, item.id, item.filemode)])
        return entries[0] if entries else None

    def read_blob(self, oid: str) -> bytes:
        return self.repo[oid].data

    def log(self, sha: str, *, skip: int = 0, limit: int = 1000) -> tuple[list[CommitInfo], bool]:
        """Commits reachable from ``sha``, newest first; and whether more follow."""
        walker = self.repo.walk(sha, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.TIME)
        out: list[CommitInfo] = []
        for i, c in enumerate(walker):
            if i < skip:
                continue
            if len(out) == limit:
                return out, True
            out.append(self._info(c))
        return out, False

    def last_commits(self, sha: str, paths: list[str], *, max_walk: int = 2000) -> dict[str, CommitInfo]:
        """For each path, the newest commit (first-parent history from ``sha``) that changed it. Paths
        unchanged in the last ``max_walk`` commits get the oldest commit examined."""
        remaining = set(paths)
        out: dict[str, CommitInfo] = {}
        walker = self.repo.walk(sha, pygit2.enums.SortMode.TOPOLOGICAL)
        walker.simplify_first_parent()

        def oid_at(tree: pygit2.Tree | None, path: str):
            if tree is None:
                return None
            try:
                return tree[path].id
            except (KeyError, pygit2.GitError):
                return None

        commit = None
        for n, commit in enumerate(walker):
            tree = _read_tree(self.repo, commit.tree_id)
            parent_tree = _read_tree(self.repo, commit.parents[0].tree_id) if commit.parents else None
            changed = [p for p in remaining if oid_at(tree, p) != oid_at(parent_tree, p)]
            if changed:
                info = self._info(commit)
                for p in changed:
                    out[p] = info
                    remaining.discard(p)
            if not remaining or n >= max_walk:
                break
        if remaining and commit is not None:
            info = self._info(commit)
            out.update({p: info for p in remaining})
        return out

    @staticmethod
    def _info(c: pygit2.Commit) -> CommitInfo:
        return CommitInfo(id=str(c.id), title=c.message.split("\n", 1)[0], message=c.message,
                          date=datetime.fromtimestamp(c.commit_time, UTC), author=c.author.name,
                          parents=tuple(str(p) for p in c.parent_ids))

    def commit_info(self, sha: str) -> CommitInfo:
        return self.log(sha, limit=1)[0][0]

    # -- writing ---------------------------------------------------------------------------------

    def commit(
        self,
        ref: str,
        ops: list[Operation],
        identity: Identity,
        message: str,
        *,
        parent_commit: str | None = None,
        start_point: str | None = None,
        lfs_blobs: dict[str, bytes] | None = None,
    ) -> str:
        """Apply ``ops`` on top of ``ref`` (a branch name or ``refs/...``) and move it; returns the sha.

        ``start_point`` is the commit a ref that does not exist yet starts from (for pull requests).
        ``lfs_blobs`` maps path -> pointer bytes for files stored in the LFS store.

        Blobs and trees are written before the repo lock is taken, on the head seen then; under the
        lock the head is read again, and only if it moved is the tree built again on the new head
        (blobs are kept: they are content-addressed). The commit runs on its own libgit2 handle: the
        cached one is shared by readers, and libgit2 objects are for one thread at a time.
        """
        full = ref if ref.startswith("refs/") else f"refs/heads/{ref}"
        repo = pygit2.Repository(self.repo.path)
        blobs = {}
        for op in ops:
            if not isinstance(op, DeleteFile | DeleteFolder):
                data = op.content if isinstance(op, AddFile) else (lfs_blobs or {})[op.path]
                blobs[op.path] = repo.create_blob(data)
        seen = self._base(full, ref, start_point, parent_commit)
        tree = _build(repo, seen or start_point, ops, blobs)
        with self.store.lock(self.key):
            head = self._base(full, ref, start_point, parent_commit)
            base = head or start_point
            if head != seen:
                tree = _build(repo, base, ops, blobs)
            sig = pygit2.Signature(identity.name, identity.email or f"{identity.name}@cove.local")
            sha = str(repo.create_commit(None, sig, sig, message, tree, [base] if base else []))
            self.update_ref(full, sha, head)
        return sha

    def _base(self, full: str, ref: str, start_point: str | None, parent_commit: str | None) -> str | None:
        """The head of ``full`` now, checked against what the commit expects."""
        head = self.ref_target(full)
        if head is None and start_point is None and self.repo.listall_references():
            raise RevisionNotFound(f"Invalid rev id: {ref}")
        if parent_commit and not (head or start_point or "").startswith(parent_commit.lower()):
            raise PreconditionFailed(
                "The branch was updated since you opened this page. Please refresh and try again. "
                f"(parent {parent_commit}, head of {ref} is {head})"
            )
        return head


def _build(repo: pygit2.Repository, base: str | None, ops: list[Operation], blobs: dict[str, pygit2.Oid]) -> pygit2.Oid:
    """The tree of commit ``base`` with ``ops`` applied: each op costs the depth of its path, and only
    the folders it touches are written again."""
    root = _Folder(repo, _read_tree(repo, repo[base].peel(pygit2.Commit).tree_id) if base else None)
    for op in ops:
        root.apply(op, blobs.get(op.path))
    tree = root.write()
    return tree if tree is not None else repo.TreeBuilder().write()


class _Folder:
    """One folder of a tree being edited: its tree in the base commit (if any) and the changes to it,
    by name (a sub-folder being edited, a new file ``(blob id, mode)``, or ``None``: removed)."""

    def __init__(self, repo: pygit2.Repository, tree: pygit2.Tree | None) -> None:
        self.repo = repo
        self.tree = tree
        self.changes: dict[str, _Folder | tuple[pygit2.Oid, int] | None] = {}

    def get(self, name: str) -> _Folder | tuple[pygit2.Oid, int] | None:
        """What ``name`` is now: a folder (loaded for editing), a file ``(blob id, mode)``, or nothing."""
        if name in self.changes:
            return self.changes[name]
        try:
            item = self.tree[name] if self.tree is not None else None
        except KeyError:
            item = None
        if item is None:
            return None
        if item.filemode != TREE:
            return item.id, item.filemode
        folder = _Folder(self.repo, _read_tree(self.repo, item.id))
        self.changes[name] = folder
        return folder

    def is_empty(self) -> bool:
        for change in self.changes.values():
            if change is not None and not (isinstance(change, _Folder) and change.is_empty()):
                return False
        return self.tree is None or all(item.raw_name.decode(errors="surrogateescape") in self.changes
                                        for item in self.tree)

    def apply(self, op: Operation, blob: pygit2.Oid | None) -> None:
        deleting = isinstance(op, DeleteFile | DeleteFolder)
        missing = f"A {'folder' if isinstance(op, DeleteFolder) else 'file'} with this name doesn't exist: {op.path}"
        *parents, name = op.path.split("/")
        folder = self
        for i, part in enumerate(parents):
            sub = folder.get(part)
            if sub is None and not deleting:
                sub = folder.changes[part] = _Folder(self.repo, None)
            elif not isinstance(sub, _Folder):
                if deleting:
                    raise EntryNotFound(missing)
                raise BadRequest(f"Cannot add {op.path}: {'/'.join(parents[:i + 1])} is a file")
            folder = sub
        current = folder.get(name)
        if isinstance(op, DeleteFile):  # naming a folder without the trailing "/" deletes it, as on the Hub
            if current is None or isinstance(current, _Folder) and current.is_empty():
                raise EntryNotFound(missing)
            folder.changes[name] = None
        elif isinstance(op, DeleteFolder):
            if not isinstance(current, _Folder) or current.is_empty():
                raise EntryNotFound(missing)
            folder.changes[name] = None
        else:
            if isinstance(current, _Folder) and not current.is_empty():
                raise BadRequest(f"Cannot add {op.path}: it is a folder")
            folder.changes[name] = (blob, BLOB)

    def write(self) -> pygit2.Oid | None:
        """This folder's tree id (written if it changed), or ``None`` if it ended up empty."""
        if not self.changes:
            return self.tree.id if self.tree is not None else None
        builder = self.repo.TreeBuilder(self.tree) if self.tree is not None else self.repo.TreeBuilder()
        for item in self.tree if self.tree is not None else ():
            # a tree the server writes holds only what a push may hold: entries stored before the push
            # checks existed (hidden from every reader) are dropped from each folder written again
            if item.filemode not in SHOWN_MODES or git_name_problem(item.raw_name) is not None:
                builder.remove(item.name)
        for name, change in self.changes.items():
            if isinstance(change, _Folder):
                oid = change.write()
                change = (oid, TREE) if oid is not None else None
            if change is None:
                if builder.get(name) is not None:
                    builder.remove(name)
            else:
                builder.insert(name, *change)
        return builder.write() if len(builder) else None
