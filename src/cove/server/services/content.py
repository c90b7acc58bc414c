"""What is in a repo at a revision: files, folders, the card, refs, history, and file bodies."""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cove.errors import BadRequest, EntryNotFound
from cove.formats.cards import split_card
from cove.protocol import TreeEntry, split_repo_id
from cove.server.db import Repo
from cove.server.services.objects import Objects, Stored
from cove.server.storage.git import GitRepo


@dataclass(frozen=True)
class FileBody:
    """A file to send: its tree entry and either its bytes (regular) or where its LFS content is
    (``stored``; ``path`` when it is a blob file, which readers may map or link)."""

    entry: TreeEntry
    data: bytes | None = None
    stored: Stored | None = None

    @property
    def path(self) -> Path | None:
        return self.stored.path if self.stored is not None else None

    @property
    def xet_hash(self) -> str | None:
        """The file ID clients download it by through Xet, when the CAS can serve it."""
        return self.stored.xet.file_id if self.stored is not None and self.stored.xet is not None else None

    @property
    def etag(self) -> str:
        return self.entry.lfs_oid or self.entry.oid


class _CardCache:
    def __init__(self, capacity: int = 4096) -> None:
        self._data: OrderedDict[str, dict] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def get(self, key: str) -> dict | None:
        with self._lock:
            return self._data.get(key)

    def put(self, key: str, value: dict) -> None:
        with self._lock:
            self._data[key] = value
            if len(self._data) > self._capacity:
                self._data.popitem(last=False)


class Content:
    def __init__(self, objects: Objects) -> None:
        self.objects = objects
        self._cards = _CardCache()

    def file(self, git: GitRepo, sha: str, path: str, *, with_data: bool = True, xet: bool = False) -> FileBody:
        """A file at ``sha``; ``with_data=False`` (for HEAD) leaves a regular file's bytes unread.

        ``xet=True`` (a HEAD, on a Hub serving Xet) queues the conversion of an LFS blob that has no
        Xet form yet, so that later downloads can use Xet (:mod:`cove.server.services.objects`).
        """
        entry = git.get_entry(sha, path)
        if entry is None or entry.type != "file":
            raise EntryNotFound(f"{path} does not exist at revision {sha}")
        if entry.lfs_oid is not None:
            stored = self.objects.require(entry.lfs_oid, path)
            if xet and stored.xet is None and stored.size:
                self.objects.convert_later(entry.lfs_oid)
            return FileBody(entry, stored=stored)
        return FileBody(entry, data=git.read_blob(entry.oid) if with_data else b"")

    def open(self, body: FileBody) -> BinaryIO:
        """A seekable binary file of a file's content."""
        return io.BytesIO(body.data) if body.stored is None else self.objects.open(body.stored)

    def presign(self, body: FileBody, filename: str | None = None) -> str | None:
        """A short-lived URL of the blob store for an LFS file's content, when downloads go there
        (``COVE_S3_PRESIGN``); None: stream it. The caller has checked access."""
        return self.objects.presign(body.stored, filename) if body.stored is not None else None

    def stream(self, body: FileBody, start: int, length: int) -> Iterator[bytes]:
        """``length`` bytes of a file's content from ``start``."""
        if body.stored is None:
            return iter((body.data[start:start + length],))
        return self.objects.stream(body.stored, start, start + length)

    def paths_info(self, git: GitRepo, sha: str, paths: list[str]) -> list[TreeEntry]:
        out = []
        for p in paths:
            p = p.strip("/")
            entry = git.get_entry(sha, p) if p else None
            if entry is not None:
                out.append(entry)
        return out

    def card(self, git: GitRepo, sha: str, repo: Repo) -> dict:
        """Hub metadata derived from the README front matter and the files at ``sha``."""
        readme = git.get_entry(sha, "README.md")
        files = [e.path for e in git.list_tree(sha)]
        key = f"{readme.oid if readme else '-'}:{repo.type}:{'config.json' in files}:" + ",".join(
            sorted({p.rsplit('.', 1)[-1] for p in files if '.' in p}))
        hit = self._cards.get(key)
        if hit is not None:
            return hit
        data: dict = {}
        if readme is not None and readme.lfs_oid is None:
            try:
                data, _ = split_card(git.read_blob(readme.oid).decode("utf-8", "replace"))
            except ValueError:
                data = {}
        tags = [str(t) for t in data.get("tags") or [] if isinstance(t, str | int | float)]
        library = data.get("library_name") if isinstance(data.get("library_name"), str) else ""
        if not library and repo.type == "model" and "config.json" in files:
            library = "transformers"
        extra = []
        if library:
            extra.append(library)
        if any(p.endswith(".safetensors") for p in files):
            extra.append("safetensors")
        if any(p.endswith(".gguf") for p in files):
            extra.append("gguf")
        if any(p.endswith(".parquet") for p in files):
            extra.append("format:parquet")
        lic = data.get("license")
        if isinstance(lic, str):
            extra.append(f"license:{lic}")
        langs = data.get("language")
        for lang in [langs] if isinstance(langs, str) else langs or []:
            if isinstance(lang, str):
                extra.append(f"language:{lang}" if repo.type == "dataset" else lang)
        sets = data.get("datasets")
        for ds in [sets] if isinstance(sets, str) else sets or []:
            if isinstance(ds, str):
                extra.append(f"dataset:{ds}")
        pipeline = data.get("pipeline_tag") if isinstance(data.get("pipeline_tag"), str) else ""
        if pipeline:
            extra.append(pipeline)
        seen: set[str] = set()
        all_tags = [t for t in tags + extra if not (t in seen or seen.add(t))]
        out = {"cardData": data, "tags": all_tags, "pipeline_tag": pipeline, "library_name": library,
               "adapter_of": adapter_of(data) if library == "peft" else None}
        self._cards.put(key, out)
        return out


def adapter_of(data: dict) -> str | None:
    """The base model a PEFT adapter's card names (``base_model:``, a repo id), or None: the model
    page says "Adapter of <base>" with a link. A value that is not a valid repo id is not linked."""
    base = data.get("base_model")
    base = base[0] if isinstance(base, list) and base else base
    if not isinstance(base, str):
        return None
    try:
        split_repo_id(base)
    except BadRequest:
        return None
    return base
