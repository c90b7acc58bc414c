"""Uploads: commit operations, preupload, LFS through Xet or the batch API, the NDJSON commit.

``create_commit`` follows the Hub's sequence (``hub-http-api.md`` §6): preupload tells which files
go inline ("regular") and which through LFS, and which are unchanged (same remote oid). LFS files go
through Xet when the Hub offers it and hf_xet is installed (:mod:`cove.hub.xet`: deduplicated chunks,
the sha256 computed while chunking), else through the batch API in parallel (multipart when the
server offers parts); either way the commit names them by sha256 (``lfsFile``). The commit is one
NDJSON body, streamed from disk so that a large inline file never sits in memory.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import io
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import quote

from tqdm.auto import tqdm

from cove.errors import BadRequest, EntryNotFound, Unprocessable
from cove.hub.http import Where, error_for
from cove.hub.info import CommitInfo
from cove.hub.xet import XetError, XetUpload, write_token_url
from cove.protocol import (
    URL_PREFIX,
    AddLfsFile,
    DeleteFile,
    DeleteFolder,
    check_path,
    git_blob_sha1,
    is_digits,
)

if TYPE_CHECKING:
    from cove.hub.client import HubApi

log = logging.getLogger("cove.hub")
LFS_HEADERS = {"Accept": "application/vnd.git-lfs+json", "Content-Type": "application/vnd.git-lfs+json"}
SAMPLE = 512
COALESCE = 1024 * 1024
BLOCK = 3 * 1024 * 1024  # a multiple of 3, so base64 of consecutive blocks concatenates


# -- the operations users build (names as in huggingface_hub) --------------------------------------


@dataclass
class CommitOperationAdd:
    """Add or replace ``path_in_repo`` with a local file, bytes, or a binary file object."""

    path_in_repo: str
    path_or_fileobj: str | os.PathLike | bytes | BinaryIO
    _sha256: str | None = field(default=None, init=False, repr=False)
    _sha1: str | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        check_path(self.path_in_repo)
        src = self.path_or_fileobj
        if isinstance(src, (str, os.PathLike)):
            if not Path(src).is_file():
                raise BadRequest(f"{src} is not a file")
            self.path_or_fileobj = Path(src)
        elif isinstance(src, (bytes, bytearray)):
            self.path_or_fileobj = bytes(src)
        elif isinstance(src, io.IOBase):
            self.path_or_fileobj = src.read()
        else:
            raise BadRequest(f"path_or_fileobj of {self.path_in_repo} must be a path, bytes or a binary file")

    @property
    def size(self) -> int:
        src = self.path_or_fileobj
        return len(src) if isinstance(src, bytes) else src.stat().st_size

    def blocks(self, start: int = 0, length: int | None = None, block: int = BLOCK):
        """The content (or the slice ``[start, start + length)``), in blocks of ``block`` bytes."""
        end = self.size if length is None else min(self.size, start + length)
        src = self.path_or_fileobj
        if isinstance(src, bytes):
            for i in range(start, end, block):
                yield src[i: min(end, i + block)]
            return
        with open(src, "rb") as f:
            f.seek(start)
            left = end - start
            while left > 0:
                data = f.read(min(block, left))
                if not data:
                    raise OSError(f"{src} shrank while uploading")
                left -= len(data)
                yield data

    def sample(self) -> bytes:
        return next(self.blocks(0, SAMPLE), b"")

    def sha256(self) -> str:
        if self._sha256 is None:
            h = hashlib.sha256()
            for b in self.blocks(block=8 * 1024 * 1024):
                h.update(b)
            self._sha256 = h.hexdigest()
        return self._sha256

    def git_sha1(self) -> str:
        if self._sha1 is None:
            if isinstance(self.path_or_fileobj, bytes):
                self._sha1 = git_blob_sha1(self.path_or_fileobj)
            else:
                h = hashlib.sha1(b"blob %d\x00" % self.size)
                for b in self.blocks(block=8 * 1024 * 1024):
                    h.update(b)
                self._sha1 = h.hexdigest()
        return self._sha1


@dataclass
class CommitOperationDelete:
    """Delete a file, or a folder when ``is_folder`` (``"auto"``: when the path ends with ``/``)."""

    path_in_repo: str
    is_folder: bool | str = "auto"

    def __post_init__(self) -> None:
        if self.is_folder == "auto":
            self.is_folder = self.path_in_repo.endswith("/")
        check_path(self.path_in_repo.rstrip("/"))


@dataclass
class CommitOperationCopy:
    """Copy ``src_path_in_repo`` (at ``src_revision``, default: the commit's revision) to ``path_in_repo``."""

    src_path_in_repo: str
    path_in_repo: str
    src_revision: str | None = None

    def __post_init__(self) -> None:
        check_path(self.src_path_in_repo)
        check_path(self.path_in_repo)


Operation = CommitOperationAdd | CommitOperationDelete | CommitOperationCopy


# -- the commit ------------------------------------------------------------------------------------


@dataclass
class _Inline:
    """A ``file`` line whose base64 content streams from an add operation."""

    op: CommitOperationAdd
    path: str

    def parts(self) -> tuple[bytes, bytes]:
        head = json.dumps({"key": "file", "value": {"path": self.path, "content": ""}})
        before, after = head.rsplit('""', 1)
        return (before + '"').encode(), ('","encoding":"base64"' + after[:-1] + "}\n").encode()

    def length(self) -> int:
        a, b = self.parts()
        return len(a) + 4 * ((self.op.size + 2) // 3) + len(b)


def _line(key: str, value: dict) -> bytes:
    return (json.dumps({"key": key, "value": value}) + "\n").encode()


def _wire(op) -> bytes:
    if isinstance(op, AddLfsFile):
        value = {"path": op.path, "algo": "sha256", "oid": op.oid}
        if op.size is not None:
            value["size"] = op.size
        return _line("lfsFile", value)
    if isinstance(op, DeleteFolder):
        return _line("deletedFolder", {"path": op.path})
    if isinstance(op, DeleteFile):
        return _line("deletedFile", {"path": op.path})
    raise TypeError(op)


def _ndjson(header: bytes, lines: list, bar):
    """The commit body as a stream of bytes, and its exact length."""
    length = len(header) + sum(x.length() if isinstance(x, _Inline) else len(x) for x in lines)

    def pieces():
        yield header
        for x in lines:
            if not isinstance(x, _Inline):
                yield x
                continue
            before, after = x.parts()
            yield before
            for block in x.op.blocks():
                yield base64.b64encode(block)
                bar.update(len(block))
            yield after

    def body():  # small lines coalesced into ~1 MiB writes: fewer syscalls, fewer chunks to parse
        buf = bytearray()
        for piece in pieces():
            if len(piece) >= COALESCE and not buf:
                yield piece
                continue
            buf += piece
            if len(buf) >= COALESCE:
                yield bytes(buf)
                buf.clear()
        if buf:
            yield bytes(buf)

    return body(), length


def _api_path(api: HubApi, repo_id: str, repo_type: str, what: str, revision: str) -> str:
    return f"/api/{repo_type}s/{repo_id}/{what}/{quote(revision, safe='')}"


def _preupload(api: HubApi, repo_id: str, repo_type: str, revision: str,
               adds: list[CommitOperationAdd]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    where = Where(repo_id, repo_type, revision)
    for i in range(0, len(adds), 256):
        chunk = adds[i: i + 256]
        body = {"files": [{"path": a.path_in_repo, "sample": base64.b64encode(a.sample()).decode(),
                           "size": a.size} for a in chunk]}
        resp = api.session.request("POST", _api_path(api, repo_id, repo_type, "preupload", revision),
                                   json=body, where=where)
        for f in resp.json()["files"]:
            out[f["path"]] = f
    return out


def _upload_xet(api: HubApi, repo_id: str, repo_type: str, revision: str, ops: list[CommitOperationAdd],
                bar) -> bool:
    """Send ``ops`` through Xet; False when Xet is not usable (the caller uses the LFS batch API)."""
    if not api.xet.available:
        return False
    url = write_token_url(api.session.endpoint, repo_id, repo_type, revision)
    try:
        shas = api.xet.upload(url, [XetUpload(op.path_or_fileobj, op.path_in_repo, op._sha256) for op in ops], bar)
    except XetError as e:
        log.warning("%s; sending the files through the LFS batch API instead", e)
        return False
    if shas is None:
        log.info("%s answered 404 (Xet is off on this Hub): using the LFS batch API", url)
        return False
    for op, sha in zip(ops, shas):
        op._sha256 = sha  # computed by hf_xet in the same pass as the chunks; the Hub checks it
    return True


def _upload_lfs(api: HubApi, repo_id: str, repo_type: str, revision: str, ops: list[CommitOperationAdd],
                bar, num_threads: int) -> None:
    """Send the content of ``ops`` through the LFS batch API (basic PUT or multipart), in parallel."""
    session = api.session
    url = f"{session.endpoint}/{URL_PREFIX[repo_type]}{repo_id}.git/info/lfs/objects/batch"
    by_oid = {op.sha256(): op for op in ops}
    actions: list[tuple[CommitOperationAdd, dict]] = []
    oids = list(by_oid)
    for i in range(0, len(oids), 256):
        objects = [{"oid": oid, "size": by_oid[oid].size} for oid in oids[i: i + 256]]
        body = {"operation": "upload", "transfers": ["basic", "multipart"], "hash_algo": "sha256",
                "objects": objects, "ref": {"name": revision}}
        resp = session.request("POST", url, json=body, headers=LFS_HEADERS, where=Where(repo_id, repo_type, revision))
        for obj in resp.json()["objects"]:
            if obj.get("error"):
                raise Unprocessable(f"LFS upload of {by_oid[obj['oid']].path_in_repo} refused: "
                                    f"{obj['error'].get('message')} ({obj['error'].get('code')})")
            op = by_oid[obj["oid"]]
            if obj.get("actions", {}).get("upload"):
                actions.append((op, obj["actions"]))
            else:
                bar.update(op.size)  # already on the server

    def put(href: str, op: CommitOperationAdd, start: int, length: int) -> str:
        length = min(length, op.size - start)

        def send():
            return session.client.put(href, content=_counting(op.blocks(start, length), bar),
                                      headers={"Content-Length": str(length)})
        resp = session.retrying(send)
        if not resp.is_success:
            raise error_for(resp, Where(repo_id, repo_type, revision, op.path_in_repo), session.endpoint, False)
        return resp.headers.get("ETag", "")

    def one(op: CommitOperationAdd, act: dict, parts_pool: ThreadPoolExecutor) -> None:
        """Upload one object (its parts on ``parts_pool``), complete it, verify it."""
        up = act["upload"]
        header = up.get("header") or {}
        if "chunk_size" in header:
            chunk = int(header["chunk_size"])
            futures = [(int(k), parts_pool.submit(put, href, op, (int(k) - 1) * chunk, chunk))
                       for k, href in header.items() if is_digits(k)]
            etags = sorted((n, f.result()) for n, f in futures)
            if any(not e for _, e in etags):
                raise Unprocessable(f"The LFS server sent no ETag for a part of {op.path_in_repo}")
            session.request("POST", up["href"], auth=False, headers=LFS_HEADERS,
                            json={"oid": op.sha256(), "parts": [{"partNumber": n, "etag": e} for n, e in etags]})
        else:
            put(up["href"], op, 0, op.size)
        if act.get("verify"):
            session.request("POST", act["verify"]["href"], headers=LFS_HEADERS,
                            json={"oid": op.sha256(), "size": op.size})

    workers = max(1, num_threads)
    with ThreadPoolExecutor(workers) as files_pool, ThreadPoolExecutor(workers) as parts_pool:
        for fut in [files_pool.submit(one, op, act, parts_pool) for op, act in actions]:
            fut.result()


def _counting(blocks, bar):
    for b in blocks:
        bar.update(len(b))
        yield b


def _copies(api: HubApi, repo_id: str, repo_type: str, revision: str,
            copies: list[CommitOperationCopy]) -> list:
    """Wire operations for copies: ``lfsFile`` lines by oid, regular files downloaded and re-sent."""
    out: list = []
    by_rev: dict[str, list[CommitOperationCopy]] = {}
    for c in copies:
        by_rev.setdefault(c.src_revision or revision, []).append(c)
    for rev, items in by_rev.items():
        infos = {e.path: e for e in api.get_paths_info(repo_id, [c.src_path_in_repo for c in items],
                                                       revision=rev, repo_type=repo_type)}
        for c in items:
            entry = infos.get(c.src_path_in_repo)
            if entry is None or not hasattr(entry, "size"):
                raise EntryNotFound(f"Cannot copy {c.src_path_in_repo}: no such file in {repo_id} at {rev}")
            if entry.lfs is not None:
                out.append(AddLfsFile(c.path_in_repo, entry.lfs.sha256, None))
            else:
                data = api.session.request(
                    "GET", f"/{URL_PREFIX[repo_type]}{repo_id}/resolve/{quote(rev, safe='')}/{quote(c.src_path_in_repo)}",
                    where=Where(repo_id, repo_type, rev, c.src_path_in_repo)).content
                out.append(_Inline(CommitOperationAdd(c.path_in_repo, data), c.path_in_repo))
    return out


def create_commit(api: HubApi, repo_id: str, operations: list[Operation], *, commit_message: str,
                  commit_description: str = "", repo_type: str = "model", revision: str = "main",
                  parent_commit: str | None = None, num_threads: int = 8, progress: bool = True) -> CommitInfo:
    """Make one commit of ``operations`` on ``revision`` (a branch); see :meth:`HubApi.create_commit`."""
    if not commit_message:
        raise BadRequest("A commit needs a commit_message")
    adds = [op for op in operations if isinstance(op, CommitOperationAdd)]
    seen: set[str] = set()
    for a in adds:
        if a.path_in_repo in seen:
            raise BadRequest(f"{a.path_in_repo} is added twice in one commit")
        seen.add(a.path_in_repo)
    readme = next((a for a in adds if a.path_in_repo == "README.md"), None)
    if readme is not None:
        _validate_card(api, readme, repo_type)
    modes = _preupload(api, repo_id, repo_type, revision, adds) if adds else {}
    regular: list[CommitOperationAdd] = []
    lfs: list[CommitOperationAdd] = []
    for a in adds:
        m = modes.get(a.path_in_repo) or {"uploadMode": "regular", "shouldIgnore": False, "oid": None}
        if m.get("shouldIgnore"):
            continue
        is_lfs = m["uploadMode"] == "lfs" and a.size > 0
        remote = m.get("oid")
        if remote and remote == (a.sha256() if is_lfs else a.git_sha1()):
            log.info("%s is unchanged, not uploaded", a.path_in_repo)
            continue
        (lfs if is_lfs else regular).append(a)
    others = [op for op in operations if not isinstance(op, CommitOperationAdd)]
    if not regular and not lfs and not others:
        info = api.repo_info(repo_id, revision=revision, repo_type=repo_type)
        url = f"{api.session.endpoint}/{URL_PREFIX[repo_type]}{repo_id}/commit/{info.sha}"
        return CommitInfo(url, commit_message, commit_description, info.sha or "")

    total = sum(a.size for a in regular + lfs)
    with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=f"Upload to {repo_id}"[-40:],
              disable=not progress) as bar:
        if lfs and not _upload_xet(api, repo_id, repo_type, revision, lfs, bar):
            _upload_lfs(api, repo_id, repo_type, revision, lfs, bar, num_threads)
        lines: list = [_Inline(a, a.path_in_repo) for a in regular]
        lines += [_wire(AddLfsFile(a.path_in_repo, a.sha256(), a.size)) for a in lfs]
        copies = [op for op in others if isinstance(op, CommitOperationCopy)]
        lines += [x if isinstance(x, _Inline) else _wire(x) for x in _copies(api, repo_id, repo_type, revision, copies)]
        for op in others:
            if isinstance(op, CommitOperationDelete):
                path = op.path_in_repo
                lines.append(_wire(DeleteFolder(path if path.endswith("/") else path + "/") if op.is_folder
                                   else DeleteFile(path)))
        value = {"summary": commit_message, "description": commit_description}
        if parent_commit:
            value["parentCommit"] = parent_commit
        body, length = _ndjson(_line("header", value), lines, bar)
        resp = api.session.request(
            "POST", _api_path(api, repo_id, repo_type, "commit", revision), content=body, retry=False,
            headers={"Content-Type": "application/x-ndjson", "Content-Length": str(length)},
            where=Where(repo_id, repo_type, revision))
    out = resp.json()
    return CommitInfo(out["commitUrl"], commit_message, commit_description, out["commitOid"],
                      out.get("pullRequestUrl"))


def _validate_card(api: HubApi, readme: CommitOperationAdd, repo_type: str) -> None:
    if readme.size > 1024 * 1024:
        return
    text = b"".join(readme.blocks()).decode("utf-8", "replace")
    resp = api.session.request("POST", "/api/validate-yaml", json={"content": text, "repoType": repo_type}, ok=(400,))
    errors = resp.json().get("errors") or []
    if resp.status_code == 400 or errors:
        raise BadRequest("README.md metadata is invalid: " + "; ".join(e.get("message", str(e)) for e in errors))


# -- folders ---------------------------------------------------------------------------------------

ALWAYS_IGNORED = [".git/*", "*/.git/*", ".cache/huggingface/*", "*/.cache/huggingface/*", ".git", "*/.git"]


def _patterns(p: str | list[str] | None) -> list[str] | None:
    if p is None:
        return None
    items = [p] if isinstance(p, str) else list(p)
    return [x + "*" if x.endswith("/") else x for x in items]


def _matches(path: str, allow: list[str] | None, ignore: list[str] | None) -> bool:
    if allow is not None and not any(fnmatch.fnmatch(path, a) for a in allow):
        return False
    return not (ignore and any(fnmatch.fnmatch(path, i) for i in ignore))


def folder_operations(api: HubApi, repo_id: str, folder: Path, *, path_in_repo: str, repo_type: str,
                      revision: str, allow_patterns=None, ignore_patterns=None,
                      delete_patterns=None) -> list[Operation]:
    """The adds (files under ``folder`` that match) and deletes (remote files matching ``delete_patterns``)."""
    if not folder.is_dir():
        raise BadRequest(f"{folder} is not a folder")
    allow, ignore = _patterns(allow_patterns), (_patterns(ignore_patterns) or []) + ALWAYS_IGNORED
    prefix = path_in_repo.strip("/")
    prefix = prefix + "/" if prefix else ""
    ops: list[Operation] = []
    for dirpath, dirnames, files in os.walk(folder):
        dirnames.sort()
        for name in sorted(files):
            full = Path(dirpath) / name
            rel = full.relative_to(folder).as_posix()
            if full.is_file() and _matches(rel, allow, ignore):
                ops.append(CommitOperationAdd(prefix + rel, full))
    delete = _patterns(delete_patterns)
    if delete:
        added = {op.path_in_repo for op in ops}
        for path in api.list_repo_files(repo_id, revision=revision, repo_type=repo_type):
            if not path.startswith(prefix) or path in added or path == ".gitattributes":
                continue
            if _matches(path[len(prefix):], delete, None):
                ops.append(CommitOperationDelete(path, is_folder=False))
    return ops
