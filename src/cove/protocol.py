"""Wire shapes that the Hub server and the hub client both speak. Plain values, no I/O.

Repo ids, repo types and their URL prefixes, revisions, file paths inside a repo, git object ids,
LFS pointers and the NDJSON commit operations follow the Hugging Face Hub
(``../shared/specs/hub-http-api.md``), so the stock ``huggingface_hub`` client works unchanged.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from cove.errors import BadRequest, Unprocessable

RepoType = Literal["model", "dataset", "space", "kernel"]
#: The repo types, as huggingface_hub 2.4 has them (``kernel``: compute kernels, ``REPO_TYPE_KERNEL``).
REPO_TYPES: tuple[RepoType, ...] = ("model", "dataset", "space", "kernel")

#: URL prefix of a repo's web, resolve and git URLs, by type (models have none).
URL_PREFIX: dict[str, str] = {"model": "", "dataset": "datasets/", "space": "spaces/", "kernel": "kernels/"}

#: ``(path prefix, type)`` of those URLs, most specific first: the route tables register each under these.
TYPED_PREFIXES: tuple[tuple[str, RepoType], ...] = (("/datasets", "dataset"), ("/spaces", "space"),
                                                    ("/kernels", "kernel"), ("", "model"))

#: The API's plural segment (``/api/models/...``) of each type.
API_SEGMENTS: dict[str, RepoType] = {f"{t}s": t for t in REPO_TYPES}


def type_of_path(path: str) -> RepoType:
    """The repo type of a typed URL or route template (``/datasets/ns/name/...``; a model has no prefix)."""
    return next(t for prefix, t in TYPED_PREFIXES if path.startswith(f"{prefix}/"))

_PART = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?$")
_SHA1 = re.compile(r"^[0-9a-f]{40}$")
_HEX = re.compile(r"^[0-9a-f]{5,40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

SPACE_SDKS = ("gradio", "streamlit", "docker", "static")


def repo_type_of(value: str | None) -> RepoType:
    """Normalise a repo type: ``None``/"model"/"models" -> "model", and so on."""
    if value in (None, "", "model", "models"):
        return "model"
    if value in ("dataset", "datasets"):
        return "dataset"
    if value in ("space", "spaces"):
        return "space"
    if value in ("kernel", "kernels"):
        return "kernel"
    raise BadRequest(f"Invalid repo type {value!r}: use one of model, dataset, space, kernel")


def check_name_part(part: str, what: str = "name") -> str:
    """Validate one segment of a repo id (a namespace or a name) and return it."""
    if not isinstance(part, str) or not _PART.match(part) or "--" in part or ".." in part:
        raise BadRequest(
            f"Invalid {what} {part!r}: use 1-96 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter, digit or '_', without '--' or '..'"
        )
    return part


def split_repo_id(repo_id: str) -> tuple[str, str]:
    """``"ns/name"`` -> ``("ns", "name")``, validated as the Hub does."""
    if not isinstance(repo_id, str) or repo_id.count("/") != 1 or repo_id.endswith(".git"):
        raise BadRequest(f"Invalid repo id {repo_id!r}: use 'namespace/name'")
    ns, name = repo_id.split("/")
    return check_name_part(ns, "namespace"), check_name_part(name, "repo name")


def is_commit_sha(rev: str) -> bool:
    return bool(_SHA1.match(rev))


def looks_like_sha_prefix(rev: str) -> bool:
    return bool(_HEX.match(rev))


def is_digits(text: str) -> bool:
    """True when ``text`` is one or more ASCII digits. ``str.isdigit`` also accepts "¹" or "①",
    which ``int`` refuses (a 500 where a 400 belongs), and ``int`` reads other scripts' digits: every
    number that crosses a trust boundary is checked here."""
    return text.isascii() and text.isdigit()


def is_sha256(value: str) -> bool:
    return bool(_SHA256.match(value))


def check_revision(rev: str) -> str:
    """Validate a branch, tag, commit or ``refs/pr/N`` name as it arrives from a client."""
    if (
        not rev
        or len(rev) > 255
        or any(c in rev for c in "\x00\\ ~^:?*[")
        or ".." in rev
        or rev.startswith(("/", "-", "."))
        or rev.endswith(("/", ".lock", "."))
        or "//" in rev
        or "@{" in rev
        or any(ord(c) < 32 or ord(c) == 127 for c in rev)
    ):
        raise BadRequest(f"Invalid revision {rev!r}")
    return rev


# -- file and folder names --------------------------------------------------------------------------

#: Most UTF-8 bytes in one file or folder name (what common file systems store).
MAX_NAME_BYTES = 255
#: Most UTF-8 bytes in a path inside a repo.
MAX_PATH_BYTES = 4096
#: Code points HFS+ ignores in names, so that ``.g\u200cit`` is ``.git`` on a Mac (git's is_hfs_dotgit).
_HFS_IGNORED = dict.fromkeys([*range(0x200C, 0x2010), *range(0x202A, 0x202F), *range(0x206A, 0x2070), 0xFEFF])
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_NOT_UNICODE = "it is not valid Unicode (a lone surrogate): send names as UTF-8 text"


def is_dotgit(name: str) -> bool:
    """Whether some file system takes ``name`` for ``.git``, as git's is_hfs_dotgit and is_ntfs_dotgit
    decide: any case, HFS+ ignored code points anywhere, trailing dots and spaces or an NTFS stream
    (``.git.``, ``.git::$INDEX_ALLOCATION``), and the NTFS short name ``git~1``."""
    folded = name.translate(_HFS_IGNORED).lower()
    return folded.split(":", 1)[0].rstrip(". ") in (".git", "git~1")


def name_problem(name: str) -> str | None:
    """What is wrong with ``name`` as one file or folder name in a repo, or ``None``.

    The one rule for names, wherever they come from: commit paths from clients (:func:`check_path`),
    tree entries in a push, and tree entries read back from git. A name that passes is safe to join
    to a folder on any common file system.
    """
    if name in ("", ".", ".."):
        return "a file or folder name cannot be empty, '.' or '..' (give the path from the repo's root)"
    if _SURROGATE.search(name):
        return _NOT_UNICODE
    if "/" in name or "\\" in name:
        return "a name cannot hold '/' or '\\' (separate folders with '/' in the path)"
    if _CONTROL.search(name):
        return "a name cannot hold control characters"
    if len(name.encode()) > MAX_NAME_BYTES:
        return f"a file or folder name may hold at most {MAX_NAME_BYTES} bytes of UTF-8: shorten it"
    if is_dotgit(name):
        return ("'.git' is reserved, in any case and in every spelling a file system takes for it "
                "('.git.', '.git ', 'git~1', ...): rename it")
    return None


def git_name_problem(raw: bytes) -> str | None:
    """:func:`name_problem` for a name as git stores it (bytes, meant to be UTF-8)."""
    try:
        return name_problem(raw.decode())
    except UnicodeDecodeError:
        return "it is not valid UTF-8"


def check_path(path: str) -> str:
    """Validate a file path inside a repo: relative, '/'-separated, each name passing :func:`name_problem`.

    File paths come from clients and are never trusted: this is the one gate they pass.
    """
    if not isinstance(path, str) or not path:
        raise BadRequest(f"Invalid path {path!r}: give the path inside the repo, like 'folder/file.txt'")
    problem = _NOT_UNICODE if _SURROGATE.search(path) else None
    if problem is None and len(path.encode()) > MAX_PATH_BYTES:
        problem = f"a path may hold at most {MAX_PATH_BYTES} bytes of UTF-8"
    if problem is None and path.startswith("/"):
        problem = "give the path from the repo's root, without a leading '/'"
    for part in path.split("/") if problem is None else ():
        problem = name_problem(part)
        if problem is not None:
            break
    if problem is not None:
        raise BadRequest(f"Invalid path {path!r}: {problem}")
    return path


def check_commit_path(path: str) -> str:
    """:func:`check_path` for a path a commit or a preupload would write: refused with 422, as the Hub
    answers a path it will not store (``..\\ddd``), where a malformed request gets 400."""
    try:
        return check_path(path)
    except BadRequest as e:
        raise Unprocessable(e.message) from None


# -- JSON from clients ---------------------------------------------------------------------------

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def json_depth(data: bytes) -> int:
    """How deeply arrays and objects nest in a JSON text (brackets inside strings do not count)."""
    if data.count(b"[") + data.count(b"{") <= 1:
        return int(b"[" in data or b"{" in data)
    import numpy as np

    brackets = _JSON_STRING.sub(b"", data).translate(None, bytes(set(range(256)) - set(b"[]{}")))
    if not brackets:
        return 0
    b = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.where((b == ord("[")) | (b == ord("{")), 1, -1)
    return int(np.cumsum(steps).max())


def _has_lone_surrogate(value: object) -> bool:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return False


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def loads_json(data: bytes | str, *, max_depth: int = 64, what: str = "The body") -> object:
    """Parse JSON that a client sent, or raise ``BadRequest`` saying what is wrong with it.

    Refused: invalid JSON or UTF-8, nesting deeper than ``max_depth``, integers longer than Python
    converts (4300 digits), ``NaN``/``Infinity``, and strings with lone surrogates (``"\\ud800"``),
    which no UTF-8 file name, commit message or database row can hold.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    depth = json_depth(raw)
    if depth > max_depth:
        raise BadRequest(f"{what} nests {depth} levels deep: at most {max_depth} are allowed")
    try:
        value = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise BadRequest(f"{what} is not valid JSON: {e}") from None
    if b"\\u" in raw and _SURROGATE_ESCAPE.search(raw) and _has_lone_surrogate(value):
        raise BadRequest(f"{what} holds a lone UTF-16 surrogate (\\ud800-\\udfff): send valid Unicode")
    return value


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a blob with this content: ``sha1(b"blob <len>\\0" + data)``."""
    h = hashlib.sha1(b"blob %d\x00" % len(data))
    h.update(data)
    return h.hexdigest()


# -- LFS pointers ---------------------------------------------------------------------------------

LFS_SPEC = "https://git-lfs.github.com/spec/v1"


def lfs_pointer(oid: str, size: int) -> bytes:
    """The text git stores in place of a large file (the git-lfs v1 pointer format)."""
    return f"version {LFS_SPEC}\noid sha256:{oid}\nsize {size}\n".encode()


def parse_lfs_pointer(data: bytes) -> tuple[str, int] | None:
    """``(sha256, size)`` if ``data`` is a git-lfs pointer, else ``None``."""
    if len(data) > 1024 or not data.startswith(b"version "):
        return None
    try:
        fields = dict(line.split(" ", 1) for line in data.decode().splitlines() if line)
    except (UnicodeDecodeError, ValueError):
        return None
    oid = fields.get("oid", "")
    size = fields.get("size", "")
    if not oid.startswith("sha256:") or not is_sha256(oid[7:]) or not is_digits(size):
        return None
    return oid[7:], int(size)


# -- Commit operations (the NDJSON lines of POST /api/{type}s/{id}/commit/{rev}) ---------------


@dataclass(frozen=True)
class AddFile:
    """Add or replace a file whose content travels in the commit (``key: file``)."""

    path: str
    content: bytes


@dataclass(frozen=True)
class AddLfsFile:
    """Add or replace a file whose content is already in the LFS store (``key: lfsFile``).

    ``size`` is ``None`` for a copy of an LFS file: the server looks it up by oid.
    """

    path: str
    oid: str
    size: int | None


@dataclass(frozen=True)
class DeleteFile:
    path: str


@dataclass(frozen=True)
class DeleteFolder:
    path: str


Operation = AddFile | AddLfsFile | DeleteFile | DeleteFolder


@dataclass(frozen=True)
class TreeEntry:
    """One file or folder at a revision, as ``tree`` and ``paths-info`` list it."""

    type: Literal["file", "directory"]
    path: str
    oid: str  # git sha1 of the blob (the pointer, for LFS files) or of the tree
    size: int = 0
    lfs_oid: str | None = None  # sha256 of the content, for LFS files
    lfs_pointer_size: int | None = None

    def to_json(self) -> dict:
        out: dict = {"type": self.type, "path": self.path, "oid": self.oid, "size": self.size}
        if self.lfs_oid is not None:
            out["lfs"] = {"oid": self.lfs_oid, "size": self.size, "pointerSize": self.lfs_pointer_size}
        return out


def iso_z(dt: datetime) -> str:
    """A datetime as the Hub writes it: UTC, milliseconds, ending in ``Z``."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


# -- The seed's progress (``<data dir>/seed-status.json``: ``cove seed`` writes it, the Hub reads it) ----

SEED_STATUS_FILE = "seed-status.json"
SEED_STATES = ("waiting", "building", "publishing", "done", "skipped", "failed")


@dataclass(frozen=True)
class SeedStep:
    """One repo the seed prepares. ``estimate`` is the seconds its build and upload take on a 2-core
    machine; ``started``/``finished`` are Unix times (0: not yet)."""

    repo_id: str
    repo_type: str
    state: str = "waiting"
    estimate: float = 0.0
    started: float = 0.0
    finished: float = 0.0

    @property
    def pending(self) -> bool:
        return self.state in ("waiting", "building", "publishing")


@dataclass(frozen=True)
class SeedStatus:
    """The seed's steps in the order it runs them; ``active`` while a ``cove seed`` is running them."""

    steps: tuple[SeedStep, ...]
    active: bool = True

    def to_json(self) -> str:
        steps = [{k: getattr(s, k) for k in SeedStep.__dataclass_fields__} for s in self.steps]
        return json.dumps({"active": self.active, "steps": steps}, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> SeedStatus:
        """Raises ValueError (or KeyError/TypeError) on a file that is not a seed status."""
        data = json.loads(text)
        steps = tuple(SeedStep(**{k: s[k] for k in SeedStep.__dataclass_fields__ if k in s}) for s in data["steps"])
        if any(s.state not in SEED_STATES for s in steps):
            raise ValueError("unknown seed state")
        return cls(steps, bool(data.get("active")))

    def seconds_until_ready(self, repo_type: str, repo_id: str, now: float) -> float | None:
        """About how long until ``repo_id`` is published: the estimates of the steps up to and including
        it, less the time the running step has had. None when it is not a pending step of an active seed."""
        if not self.active:
            return None
        left = 0.0
        for s in self.steps:
            if not s.pending:
                continue
            left += max(0.0, s.estimate - (now - s.started if s.started else 0.0))
            if (s.repo_type, s.repo_id) == (repo_type, repo_id):
                return left
        return None
