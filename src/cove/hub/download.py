"""Downloads: revision -> commit -> blob, into the HF-layout cache (or a plain ``local_dir``).

* ``download`` asks ``HEAD resolve`` for the commit, the etag (sha256 for LFS, git blob sha1
  otherwise) and the size, then fetches the blob unless the cache has it.
* ``snapshot_download`` resolves the revision to a commit **once** (``repo_info``), lists the tree at
  that commit, and fetches every file by commit in parallel; the tree already gives each file's etag
  and size, so no per-file HEAD is needed.
* A fetch holds a file lock per blob (several processes may ask for the same file), writes into
  ``<blob>.incomplete``, resumes it with ``Range: bytes=N-`` after an interruption (also in a later
  run), hashes while it writes, and renames into place only when the hash is the etag.
* Xet: when the Hub names a file's Xet hash (``X-Xet-Hash`` on the HEAD, ``xetHash`` in the tree) and
  hf_xet is installed, the bytes come through Xet (:mod:`cove.hub.xet`) into the same
  ``.incomplete`` file, hashed the same way, resumed from the same offset; if Xet fails the plain GET
  continues where it stopped, and a download whose hash is wrong is fetched again over plain HTTP.
* Offline (``COVE_OFFLINE=1``, or the Hub unreachable) answers from the cache alone.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import quote

import httpx
from filelock import FileLock
from tqdm.auto import tqdm

from cove.errors import (
    CoveError,
    EntryNotFound,
    LocalEntryNotFound,
    RevisionNotFound,
    Unprocessable,
)
from cove.hub.cache import CHUNK, RepoCache, hash_file, new_hasher
from cove.hub.http import Session, Where, error_for
from cove.hub.info import RepoFile
from cove.hub.xet import XetClient, XetError, read_token_url
from cove.protocol import URL_PREFIX, check_path, is_commit_sha, is_digits

log = logging.getLogger("cove.hub")


#: Where a Xet download reads from: ``start`` -> the file's bytes from there on (see ``XetClient.stream``).
XetStream = Callable[[int], Iterator[bytes]]


@dataclass(frozen=True)
class FileMeta:
    """What ``HEAD resolve`` says about a file (with its Xet hash and token route when it has one)."""

    commit: str
    etag: str
    size: int
    xet_hash: str | None = None
    xet_refresh: str | None = None


def resolve_url(endpoint: str, repo_id: str, repo_type: str, revision: str, filename: str) -> str:
    return f"{endpoint}/{URL_PREFIX[repo_type]}{repo_id}/resolve/{quote(revision, safe='')}/{quote(filename)}"


def _etag(headers: httpx.Headers) -> str:
    raw = headers.get("X-Linked-Etag") or headers.get("ETag") or ""
    return raw.removeprefix("W/").strip('"')


def head_file(session: Session, repo_id: str, repo_type: str, revision: str, filename: str,
              cache: RepoCache | None = None, *, retry: bool = True) -> FileMeta:
    """``HEAD resolve``; a missing file is remembered in ``.no_exist`` and raises ``EntryNotFound``."""
    where = Where(repo_id, repo_type, revision, filename)
    url = resolve_url(session.endpoint, repo_id, repo_type, revision, filename)
    resp = session.request("HEAD", url, where=where, headers={"Accept-Encoding": "identity"},
                           ok=(404,), retry=retry)
    if resp.status_code == 404:
        err = error_for(resp, where, session.endpoint, bool(session.token), session.exists_as)
        commit = resp.headers.get("X-Repo-Commit", "")
        if isinstance(err, EntryNotFound) and cache is not None and is_commit_sha(commit):
            cache.write_ref(revision, commit)
            cache.mark_missing(commit, filename)
        raise err
    commit, etag = resp.headers.get("X-Repo-Commit", ""), _etag(resp.headers)
    size = resp.headers.get("X-Linked-Size") or resp.headers.get("Content-Length") or ""
    if not is_commit_sha(commit) or not etag or not is_digits(size):
        raise LocalEntryNotFound(f"{url} did not answer like a Hub (X-Repo-Commit, ETag and size are needed)")
    refresh = resp.links.get("xet-auth", {}).get("url") or resp.headers.get("X-Xet-Refresh-Route")
    return FileMeta(commit, etag, int(size), resp.headers.get("X-Xet-Hash"), refresh)


def xet_stream(xet: XetClient | None, xet_hash: str | None, size: int, refresh: str | None) -> XetStream | None:
    """The Xet source of a download, or None for the plain GET (no Xet hash, Xet off, no hf_xet)."""
    file = xet.file(xet_hash, size, refresh) if xet is not None else None
    return partial(xet.stream, file) if file is not None else None


# -- fetching one blob -----------------------------------------------------------------------------


def _bar(total: int, desc: str, progress: bool):
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc[-40:], disable=not progress,
                leave=False)


def fetch(session: Session, url: str, dest: Path, incomplete: Path, etag: str, size: int, *,
          lock: FileLock | None, bar=None, force: bool = False, verify: bool = True,
          xet: XetStream | None = None) -> Path:
    """Download ``url`` to ``dest`` through ``incomplete`` (resumed if present), verified against ``etag``.

    Args:
        etag: sha256 (64 hex) or git blob sha1 (40 hex) of the content; other values are not checked.
        size: the expected size in bytes.
        lock: held while downloading, so that concurrent processes fetch the file once.
        bar: a tqdm to update with bytes received.
        verify: hash the content while receiving it (``False``: trust the size alone).
        xet: receive the bytes through Xet first (the plain GET of ``url`` takes over if Xet fails, and
            fetches the file again if its hash is wrong).
    """
    with lock if lock is not None else nullcontext():
        if dest.exists() and not force and dest.stat().st_size == size:
            if bar is not None:
                bar.update(size)
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(2):  # a second, clean attempt after a corrupted one (over plain HTTP)
            got = _receive(session, url, incomplete, etag if verify else "", size, bar, fresh=force or attempt > 0,
                           xet=xet if attempt == 0 else None)
            if got is None or got == etag:
                os.replace(incomplete, dest)
                return dest
            how = " over plain HTTP" if xet is not None else ""
            log.warning("%s: content hashes to %s, not %s; downloading it again%s", url, got, etag, how)
            incomplete.unlink(missing_ok=True)
            if bar is not None:
                bar.update(-size)
        raise Unprocessable(f"The download of {url} does not match its hash {etag} (got {got}): "
                            "the server's copy may be damaged; the partial file was removed")


class _Hashing:
    """Hashes the blocks it is fed in a background thread, so that hashing overlaps receiving
    (hashlib releases the GIL on large buffers; sha256 without SHA-NI runs near loopback speed)."""

    def __init__(self, etag: str, size: int) -> None:
        self.etag, self.size = etag, size
        self.hasher = new_hasher(etag, size) if len(etag) in (40, 64) else None
        self.queue: queue.Queue = queue.Queue(maxsize=8)
        self.thread = threading.Thread(target=self._run, daemon=True) if self.hasher and size > CHUNK else None
        if self.thread is not None:
            self.thread.start()

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            if item is _RESET:
                self.hasher = new_hasher(self.etag, self.size)
            else:
                self.hasher.update(item)

    def feed(self, block: bytes) -> None:
        if self.thread is not None:
            self.queue.put(block)
        elif self.hasher is not None:
            self.hasher.update(block)

    def reset(self) -> None:
        if self.thread is not None:
            self.queue.put(_RESET)
        elif self.hasher is not None:
            self.hasher = new_hasher(self.etag, self.size)

    def hexdigest(self) -> str | None:
        if self.thread is not None:
            self.queue.put(None)
            self.thread.join()
        return self.hasher.hexdigest() if self.hasher is not None else None


_RESET = object()


def _receive(session: Session, url: str, incomplete: Path, etag: str, size: int, bar, *,
             fresh: bool, xet: XetStream | None = None) -> str | None:
    """Fill ``incomplete`` up to ``size`` bytes, resuming after network errors with a Range request.

    Returns the hash of the content (sha256 or git sha1, as ``etag``), or None for an unknown etag kind.
    """
    if fresh:
        incomplete.unlink(missing_ok=True)
    pos = incomplete.stat().st_size if incomplete.exists() else 0
    if pos > size:
        incomplete.unlink()
        pos = 0
    hashing = _Hashing(etag, size)
    try:
        if pos and hashing.hasher is not None:
            hash_file(incomplete, etag, upto=pos, hasher=hashing.hasher)
        if bar is not None and pos:
            bar.update(pos)
        if xet is not None:
            pos = _fill_xet(xet, url, incomplete, size, pos, bar, hashing)
        pos = _fill(session, url, incomplete, size, pos, bar, hashing)
    finally:
        digest = hashing.hexdigest()
    return digest


def _fill_xet(xet: XetStream, url: str, incomplete: Path, size: int, pos: int, bar, hashing: _Hashing) -> int:
    """Append bytes ``pos..size`` through Xet; returns the new end. On a failure what arrived stays, and
    the plain GET (:func:`_fill`) continues from there."""
    if pos >= size:
        return pos
    if pos:
        log.info("Resuming %s through Xet at byte %d of %d", url, pos, size)
    else:
        log.info("Downloading %s through Xet", url)
    try:
        with open(incomplete, "ab") as f:
            for block in xet(pos):
                view = memoryview(block)  # up to a xorb (64 MiB): written and hashed in CHUNK pieces
                for i in range(0, len(view), CHUNK):
                    piece = view[i: i + CHUNK]
                    f.write(piece)
                    hashing.feed(piece)
                    pos += len(piece)
                    if bar is not None:
                        bar.update(len(piece))
                if pos > size:
                    break
    except XetError as e:
        log.warning("Xet download of %s stopped at byte %d of %d (%s); continuing over plain HTTP", url, pos, size, e)
    if pos > size:  # more than announced: start again over plain HTTP
        log.warning("Xet sent %d bytes of %s, more than its %d; downloading it over plain HTTP", pos, url, size)
        with open(incomplete, "r+b") as f:
            f.truncate(0)
        hashing.reset()
        if bar is not None:
            bar.update(-pos)
        pos = 0
    elif pos < size:
        log.info("Continuing %s over plain HTTP at byte %d of %d", url, pos, size)
    return pos


def _fill(session: Session, url: str, incomplete: Path, size: int, pos: int, bar, hashing: _Hashing) -> int:
    failures = 0
    while pos < size or (size == 0 and not incomplete.exists()):
        headers = {"Accept-Encoding": "identity"}
        if pos:
            headers["Range"] = f"bytes={pos}-"
            log.info("Resuming %s at byte %d of %d", url, pos, size)
        try:
            with session.stream("GET", url, headers=headers) as resp, open(incomplete, "ab") as f:
                if pos and resp.status_code != 206:  # the server ignored Range: start over
                    f.truncate(0)
                    hashing.reset()
                    if bar is not None:
                        bar.update(-pos)
                    pos = 0
                for block in resp.iter_raw(CHUNK):
                    f.write(block)
                    hashing.feed(block)
                    pos += len(block)
                    if bar is not None:
                        bar.update(len(block))
        except httpx.TransportError as e:
            failures += 1
            if failures > session.retries:
                raise
            delay = min(8.0, 0.5 * 2 ** (failures - 1))
            log.info("Download of %s interrupted at byte %d (%s); resuming in %.1f s", url, pos, e, delay)
            time.sleep(delay)
            continue
        if size == 0:
            incomplete.touch()
        if pos < size:  # the server closed early without an error
            failures += 1
            if failures > session.retries:
                raise OSError(f"{url}: got {pos} of {size} bytes")
        elif pos > size:
            incomplete.unlink()
            raise OSError(f"{url}: got {pos} bytes, more than the announced {size} (the file changed?)")
    return pos


# -- the cache -------------------------------------------------------------------------------------


def cached_file(cache: RepoCache, revision: str, filename: str) -> Path | None:
    """The cached path of ``filename`` at ``revision`` (a ref seen before, or a commit), if any."""
    commit = cache.read_ref(revision)
    if commit is None:
        return None
    if cache.no_exist(commit, filename).exists():
        raise EntryNotFound(f"{filename} does not exist in {cache.repo_id} at {revision} (cached answer)")
    path = cache.snapshot(commit, filename)
    return path if path.exists() else None


def _offline_miss(what: str, cache: RepoCache, revision: str, why: str) -> LocalEntryNotFound:
    return LocalEntryNotFound(
        f"{what} of {cache.repo_type} repo {cache.repo_id} at revision '{revision}' is not in the cache "
        f"{cache.root} and {why}: run once online (unset COVE_OFFLINE) or check the name")


def download_file(session: Session | None, cache: RepoCache, filename: str, *, revision: str,
                  force: bool = False, progress: bool = True, verify: bool = True,
                  xet: XetClient | None = None) -> Path:
    """The path of ``filename`` in the cache, fetched if needed; ``session=None`` means offline.
    ``xet``: fetch through Xet when the Hub offers it for this file."""
    check_path(filename)
    if is_commit_sha(revision) and not force:
        hit = cached_file(cache, revision, filename)
        if hit is not None:
            return hit
    if session is None:
        hit = cached_file(cache, revision, filename)
        if hit is None:
            raise _offline_miss(filename, cache, revision, "the client is offline (COVE_OFFLINE=1)")
        return hit
    try:
        try:
            meta = head_file(session, cache.repo_id, cache.repo_type, revision, filename, cache, retry=False)
        except httpx.TransportError:
            if not force and (hit := cached_file(cache, revision, filename)) is not None:
                return hit
            meta = head_file(session, cache.repo_id, cache.repo_type, revision, filename, cache)
    except (RevisionNotFound, EntryNotFound):
        raise
    except (CoveError, httpx.TransportError) as e:
        hit = None if force else cached_file(cache, revision, filename)
        if hit is not None:
            log.warning("Using the cached %s: the Hub answered %s", filename, e)
            return hit
        if isinstance(e, httpx.TransportError):
            raise _offline_miss(filename, cache, revision, f"the Hub at {session.endpoint} is unreachable ({e})") from e
        raise
    cache.write_ref(revision, meta.commit)
    url = resolve_url(session.endpoint, cache.repo_id, cache.repo_type, meta.commit, filename)
    with _bar(meta.size, filename, progress) as bar:
        fetch(session, url, cache.blob(meta.etag), cache.incomplete(meta.etag), meta.etag, meta.size,
              lock=cache.lock(meta.etag), bar=bar, force=force, verify=verify,
              xet=xet_stream(xet, meta.xet_hash, meta.size, meta.xet_refresh))
    return cache.link(meta.commit, filename, meta.etag)


# -- local_dir: plain files, with HF's metadata beside them ----------------------------------------


def _local_paths(local_dir: Path, filename: str) -> tuple[Path, Path]:
    rel = Path(*check_path(filename).split("/"))
    return local_dir / rel, local_dir / ".cache" / "huggingface" / "download" / f"{rel}.metadata"


def _read_meta(path: Path) -> tuple[str, str] | None:
    try:
        commit, etag, _ = path.read_text().splitlines()[:3]
    except (OSError, ValueError):
        return None
    return commit, etag


def download_to_dir(session: Session | None, local_dir: Path, repo_id: str, repo_type: str, filename: str, *,
                    revision: str, meta: FileMeta | None = None, force: bool = False, bar=None,
                    progress: bool = True, verify: bool = True, xet: XetClient | None = None) -> Path:
    """``filename`` as a real file under ``local_dir`` (``.cache/huggingface/download`` keeps its etag)."""
    file, meta_path = _local_paths(local_dir, filename)
    if session is None:
        if file.exists():
            return file
        raise LocalEntryNotFound(f"{filename} is not in {local_dir} and the client is offline (COVE_OFFLINE=1)")
    if meta is None:
        meta = head_file(session, repo_id, repo_type, revision, filename)
    known = _read_meta(meta_path)
    if not force and known and known[1] == meta.etag and file.exists() and file.stat().st_size == meta.size:
        if bar is not None:
            bar.update(meta.size)
        return file
    meta_path.parent.mkdir(parents=True, exist_ok=True)
    short = hashlib.sha256(meta_path.name.encode()).hexdigest()[:10]
    url = resolve_url(session.endpoint, repo_id, repo_type, meta.commit, filename)
    own_bar = bar is None
    bar = bar if bar is not None else _bar(meta.size, filename, progress)
    try:
        fetch(session, url, file, meta_path.parent / f"{short}.{meta.etag}.incomplete", meta.etag, meta.size,
              lock=FileLock(str(meta_path.with_suffix(".lock"))), bar=bar, force=True, verify=verify,
              xet=xet_stream(xet, meta.xet_hash, meta.size, meta.xet_refresh))
    finally:
        if own_bar:
            bar.close()
    meta_path.write_text(f"{meta.commit}\n{meta.etag}\n{time.time()}\n")
    return file


# -- snapshots -------------------------------------------------------------------------------------


def _as_list(patterns: str | Iterable[str] | None) -> list[str] | None:
    if patterns is None:
        return None
    items = [patterns] if isinstance(patterns, str) else list(patterns)
    return [p + "*" if p.endswith("/") else p for p in items]


def filter_paths(paths: Iterable[str], allow_patterns=None, ignore_patterns=None) -> list[str]:
    """Keep paths matching any ``allow`` pattern and no ``ignore`` pattern (fnmatch; ``"dir/"`` = ``"dir/*"``)."""
    allow, ignore = _as_list(allow_patterns), _as_list(ignore_patterns)
    return [p for p in paths
            if (allow is None or any(fnmatch.fnmatch(p, a) for a in allow))
            and not (ignore and any(fnmatch.fnmatch(p, i) for i in ignore))]


def snapshot(session: Session | None, cache: RepoCache, files: list[RepoFile] | None, commit: str | None, *,
             revision: str, local_dir: Path | None = None, allow_patterns=None, ignore_patterns=None,
             max_workers: int = 8, force: bool = False, progress: bool = True, verify: bool = True,
             xet: XetClient | None = None) -> Path:
    """Fetch ``files`` (the tree at ``commit``) into the cache or ``local_dir``; returns the folder.

    ``session=None`` (offline) returns the cached snapshot of ``revision`` if there is one.
    """
    if session is None or files is None or commit is None:
        if local_dir is not None and local_dir.is_dir():
            return local_dir
        commit = cache.read_ref(revision)
        if commit is not None and cache.snapshot(commit).is_dir():
            return cache.snapshot(commit)
        why = "the client is offline (COVE_OFFLINE=1)" if session is None else "the Hub is unreachable"
        raise _offline_miss("A snapshot", cache, revision, why)
    wanted = set(filter_paths([f.path for f in files], allow_patterns, ignore_patterns))
    todo = [f for f in files if f.path in wanted]
    if local_dir is None:
        cache.write_ref(revision, commit)
        cache.snapshot(commit).mkdir(parents=True, exist_ok=True)
    total = sum(f.size for f in todo)
    desc = f"{len(todo)} files of {cache.repo_id}"
    refresh = read_token_url(session.endpoint, cache.repo_id, cache.repo_type, commit)

    def one(f: RepoFile) -> None:
        meta = FileMeta(commit, f.etag, f.size, f.xet_hash, refresh if f.xet_hash else None)
        if local_dir is not None:
            download_to_dir(session, local_dir, cache.repo_id, cache.repo_type, f.path, revision=commit,
                            meta=meta, force=force, bar=bar, verify=verify, xet=xet)
            return
        link = cache.snapshot(commit, f.path)
        if not force and link.exists() and cache.blob(f.etag).exists():
            bar.update(f.size)
            return
        url = resolve_url(session.endpoint, cache.repo_id, cache.repo_type, commit, f.path)
        fetch(session, url, cache.blob(f.etag), cache.incomplete(f.etag), f.etag, f.size,
              lock=cache.lock(f.etag), bar=bar, force=force, verify=verify,
              xet=xet_stream(xet, meta.xet_hash, meta.size, meta.xet_refresh))
        cache.link(commit, f.path, f.etag)

    with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, disable=not progress) as bar:
        if max_workers <= 1 or len(todo) <= 1:
            for f in todo:
                one(f)
        else:
            with ThreadPoolExecutor(max_workers) as pool:
                for fut in [pool.submit(one, f) for f in todo]:
                    fut.result()
    return local_dir if local_dir is not None else cache.snapshot(commit)
