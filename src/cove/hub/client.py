"""``HubApi``: one method per Hub endpoint, with the names and meanings ``huggingface_hub.HfApi`` users know.

```python
from cove.hub import HubApi

api = HubApi()                                   # COVE_ENDPOINT, COVE_TOKEN or `cove login`
api.create_repo("alice/tiny-bert", exist_ok=True)
api.upload_folder(repo_id="alice/tiny-bert", folder_path="out/")
path = api.download("alice/tiny-bert", "config.json")
```

Branch, tag and commit calls live in :mod:`cove.hub.client_refs`; downloads in
:mod:`cove.hub.download`, uploads in :mod:`cove.hub.upload`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from cove.errors import Conflict, EntryNotFound, RepoNotFound, RevisionNotFound, Unauthorized
from cove.hub import download as dl
from cove.hub import upload as up
from cove.hub.cache import RepoCache
from cove.hub.client_refs import RefsMixin
from cove.hub.config import resolve_config
from cove.hub.http import LOGIN_HOWTO, Session, Where
from cove.hub.info import CommitInfo, RepoFile, RepoFolder, RepoInfo, RepoUrl, tree_entry
from cove.hub.xet import XetClient
from cove.protocol import URL_PREFIX, check_path, repo_type_of, split_repo_id


class HubApi(RefsMixin):
    """A client of one Hub.

    Args:
        endpoint: the Hub URL; default ``COVE_ENDPOINT``, ``HF_ENDPOINT`` or ``http://127.0.0.1:8000``.
        token: an access token; default ``COVE_TOKEN``, ``HF_TOKEN``, or the token saved by ``cove login``
            (else by ``hf auth login``).
            ``False`` sends none.
        cache_dir: the download cache; default ``COVE_CACHE``, ``HF_HUB_CACHE`` or huggingface_hub's
            ``~/.cache/huggingface/hub`` (shared with it).
    """

    def __init__(self, endpoint: str | None = None, token: str | bool | None = None, *,
                 cache_dir: str | os.PathLike | None = None) -> None:
        self.config = resolve_config(endpoint, token, cache_dir)
        self.endpoint = self.config.endpoint
        self.session = Session(self.endpoint, self.config.token)
        #: Xet transfers (hf_xet, loaded on first use) when the Hub offers them; COVE_CLIENT_XET=0: never
        self.xet = XetClient(self.session, enabled=self.config.xet)

    def close(self) -> None:
        self.xet.close()
        self.session.close()

    def __enter__(self) -> HubApi:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- helpers ---------------------------------------------------------------------------------

    @staticmethod
    def _repo(repo_id: str, repo_type: str | None) -> tuple[str, str]:
        split_repo_id(repo_id)
        return repo_id, repo_type_of(repo_type)

    def _api(self, repo_id: str, repo_type: str, *tail: str) -> str:
        return "/".join([f"/api/{repo_type}s/{repo_id}", *tail])

    def _url(self, repo_id: str, repo_type: str) -> RepoUrl:
        return RepoUrl(f"{self.endpoint}/{URL_PREFIX[repo_type]}{repo_id}", endpoint=self.endpoint,
                       repo_id=repo_id, repo_type=repo_type)

    # -- account ---------------------------------------------------------------------------------

    def whoami(self) -> dict:
        """The account of the token: ``{"name", "orgs": [{"name"}], "auth": {...}, ...}``.

        Raises:
            Unauthorized: without a token ("Not logged in: ..."), or when the Hub rejects it.
        """
        if not self.session.token:
            raise Unauthorized(f"You are not logged in to {self.endpoint}: {LOGIN_HOWTO}")
        return self.session.request("GET", "/api/whoami-v2").json()

    def create_org(self, name: str, *, fullname: str | None = None, exist_ok: bool = False) -> None:
        """Create the organization ``name`` with the token's user as its admin.

        ``exist_ok`` makes an existing name a success only when the token's user is a member of it.
        """
        body = {"name": name, "fullname": fullname or name}
        try:
            self.session.request("POST", "/api/organizations/new", json=body)
        except Conflict:
            if not exist_ok or name not in {o["name"] for o in self.whoami().get("orgs", [])}:
                raise

    # -- repos -----------------------------------------------------------------------------------

    def create_repo(self, repo_id: str, *, private: bool | None = None, repo_type: str | None = None,
                    exist_ok: bool = False, space_sdk: str | None = None) -> RepoUrl:
        """Create ``namespace/name`` and return its URL; ``exist_ok`` makes an existing repo a success."""
        repo_id, rtype = self._repo(repo_id, repo_type)
        ns, name = repo_id.split("/")
        body: dict = {"name": name, "organization": ns}
        if rtype != "model":
            body["type"] = rtype
        if private is not None:
            body["visibility"] = "private" if private else "public"
        if rtype == "space":
            body["sdk"] = space_sdk or "static"
        self.session.request("POST", "/api/repos/create", json=body, ok=(409,) if exist_ok else (),
                             where=Where(repo_id, rtype))
        return self._url(repo_id, rtype)

    def delete_repo(self, repo_id: str, *, repo_type: str | None = None, missing_ok: bool = False) -> None:
        repo_id, rtype = self._repo(repo_id, repo_type)
        ns, name = repo_id.split("/")
        body: dict = {"name": name, "organization": ns}
        if rtype != "model":
            body["type"] = rtype
        try:
            self.session.request("DELETE", "/api/repos/delete", json=body, where=Where(repo_id, rtype))
        except RepoNotFound:
            if not missing_ok:
                raise

    def move_repo(self, from_id: str, to_id: str, *, repo_type: str | None = None) -> RepoUrl:
        """Rename or transfer a repo; returns its new URL."""
        _, rtype = self._repo(from_id, repo_type)
        split_repo_id(to_id)
        self.session.request("POST", "/api/repos/move", json={"fromRepo": from_id, "toRepo": to_id, "type": rtype},
                             where=Where(from_id, rtype))
        return self._url(to_id, rtype)

    def update_repo_settings(self, repo_id: str, *, private: bool | None = None, gated: str | bool | None = None,
                             repo_type: str | None = None) -> None:
        """Change visibility (``private``) and/or gating (``gated``: ``"auto"``, ``"manual"`` or ``False``)."""
        repo_id, rtype = self._repo(repo_id, repo_type)
        body: dict = {}
        if private is not None:
            body["visibility"] = "private" if private else "public"
        if gated is not None:
            body["gated"] = gated
        if not body:
            raise ValueError("update_repo_settings needs private= or gated=")
        self.session.request("PUT", self._api(repo_id, rtype, "settings"), json=body, where=Where(repo_id, rtype))

    def repo_info(self, repo_id: str, *, revision: str | None = None, repo_type: str | None = None,
                  files_metadata: bool = False) -> RepoInfo:
        """Metadata of a repo at ``revision`` (default: its default branch); ``sha`` is the resolved commit."""
        repo_id, rtype = self._repo(repo_id, repo_type)
        path = self._api(repo_id, rtype, "revision", quote(revision, safe="")) if revision else self._api(repo_id, rtype)
        params = {"blobs": "true"} if files_metadata else None
        resp = self.session.request("GET", path, params=params, where=Where(repo_id, rtype, revision))
        return RepoInfo.from_json(resp.json(), rtype)

    def model_info(self, repo_id: str, **kw) -> RepoInfo:
        return self.repo_info(repo_id, repo_type="model", **kw)

    def dataset_info(self, repo_id: str, **kw) -> RepoInfo:
        return self.repo_info(repo_id, repo_type="dataset", **kw)

    def space_info(self, repo_id: str, **kw) -> RepoInfo:
        return self.repo_info(repo_id, repo_type="space", **kw)

    def repo_exists(self, repo_id: str, *, repo_type: str | None = None) -> bool:
        try:
            self.repo_info(repo_id, repo_type=repo_type)
        except RepoNotFound:
            return False
        return True

    def revision_exists(self, repo_id: str, revision: str, *, repo_type: str | None = None) -> bool:
        try:
            self.repo_info(repo_id, revision=revision, repo_type=repo_type)
        except RevisionNotFound:
            return False
        return True

    def file_exists(self, repo_id: str, filename: str, *, revision: str | None = None,
                    repo_type: str | None = None) -> bool:
        repo_id, rtype = self._repo(repo_id, repo_type)
        try:
            dl.head_file(self.session, repo_id, rtype, revision or "main", filename)
        except EntryNotFound:
            return False
        return True

    def _list(self, kind: str, *, search: str | None, author: str | None, filter: str | list[str] | None,
              sort: str | None, limit: int | None, full: bool) -> Iterator[RepoInfo]:
        params: list[tuple[str, str]] = []
        for key, value in (("search", search), ("author", author), ("sort", sort)):
            if value:
                params.append((key, value))
        for f in [filter] if isinstance(filter, str) else filter or []:
            params.append(("filter", f))
        if limit:
            params.append(("limit", str(limit)))
        if full:
            params.append(("full", "true"))
        for item in self.session.paginate(f"/api/{kind}s", params=params, limit=limit):
            yield RepoInfo.from_json(item, kind)

    def list_models(self, *, search: str | None = None, author: str | None = None, filter=None,
                    sort: str | None = None, limit: int | None = None, full: bool = False) -> Iterator[RepoInfo]:
        return self._list("model", search=search, author=author, filter=filter, sort=sort, limit=limit, full=full)

    def list_datasets(self, *, search: str | None = None, author: str | None = None, filter=None,
                      sort: str | None = None, limit: int | None = None, full: bool = False) -> Iterator[RepoInfo]:
        return self._list("dataset", search=search, author=author, filter=filter, sort=sort, limit=limit, full=full)

    def list_spaces(self, *, search: str | None = None, author: str | None = None, filter=None,
                    sort: str | None = None, limit: int | None = None, full: bool = False) -> Iterator[RepoInfo]:
        return self._list("space", search=search, author=author, filter=filter, sort=sort, limit=limit, full=full)

    def list_kernels(self, *, search: str | None = None, author: str | None = None, filter=None,
                     sort: str | None = None, limit: int | None = None, full: bool = False) -> Iterator[RepoInfo]:
        return self._list("kernel", search=search, author=author, filter=filter, sort=sort, limit=limit, full=full)

    # -- files -----------------------------------------------------------------------------------

    def list_repo_tree(self, repo_id: str, path_in_repo: str | None = None, *, recursive: bool = False,
                       revision: str | None = None, repo_type: str | None = None) -> Iterator[RepoFile | RepoFolder]:
        """Files and folders under ``path_in_repo`` (the root by default); paths are from the repo root."""
        repo_id, rtype = self._repo(repo_id, repo_type)
        rev = revision or "main"
        tail = [quote(rev, safe="")]
        if path_in_repo and path_in_repo.strip("/"):
            tail.append(quote(check_path(path_in_repo.strip("/")), safe=""))
        path = self._api(repo_id, rtype, "tree", *tail)
        params = {"recursive": "true" if recursive else "false", "expand": "false"}
        for item in self.session.paginate(path, params=params, where=Where(repo_id, rtype, rev, path_in_repo)):
            yield tree_entry(item)

    def list_repo_files(self, repo_id: str, *, revision: str | None = None, repo_type: str | None = None) -> list[str]:
        """Every file path at ``revision``."""
        return [e.path for e in self.list_repo_tree(repo_id, recursive=True, revision=revision, repo_type=repo_type)
                if isinstance(e, RepoFile)]

    def get_paths_info(self, repo_id: str, paths: list[str] | str, *, revision: str | None = None,
                       repo_type: str | None = None) -> list[RepoFile | RepoFolder]:
        """Tree entries of the given paths; paths that do not exist are left out."""
        repo_id, rtype = self._repo(repo_id, repo_type)
        rev = revision or "main"
        paths = [paths] if isinstance(paths, str) else list(paths)
        resp = self.session.request("POST", self._api(repo_id, rtype, "paths-info", quote(rev, safe="")),
                                    data={"paths": paths, "expand": "false"}, where=Where(repo_id, rtype, rev))
        return [tree_entry(e) for e in resp.json()]

    # -- downloads -------------------------------------------------------------------------------

    def download(self, repo_id: str, filename: str, *, revision: str | None = None, repo_type: str | None = None,
                 cache_dir: str | os.PathLike | None = None, local_dir: str | os.PathLike | None = None,
                 force_download: bool = False, progress: bool = True) -> Path:
        """Download one file (the ``hf_hub_download`` equivalent); see :func:`cove.hub.download`."""
        repo_id, rtype = self._repo(repo_id, repo_type)
        rev = revision or "main"
        session = None if self.config.offline else self.session
        if local_dir is not None:
            return dl.download_to_dir(session, Path(local_dir), repo_id, rtype, filename, revision=rev,
                                      force=force_download, progress=progress, verify=self.config.verify,
                                      xet=self.xet)
        cache = RepoCache(Path(cache_dir) if cache_dir else self.config.cache_dir, repo_id, rtype)
        return dl.download_file(session, cache, filename, revision=rev, force=force_download, progress=progress,
                                verify=self.config.verify, xet=self.xet)

    def snapshot_download(self, repo_id: str, *, revision: str | None = None, repo_type: str | None = None,
                          allow_patterns=None, ignore_patterns=None, cache_dir: str | os.PathLike | None = None,
                          local_dir: str | os.PathLike | None = None, max_workers: int = 8,
                          force_download: bool = False, progress: bool = True) -> Path:
        """Download a whole revision (one commit, resolved once); see :func:`cove.hub.snapshot_download`."""
        import httpx

        repo_id, rtype = self._repo(repo_id, repo_type)
        rev = revision or "main"
        cache = RepoCache(Path(cache_dir) if cache_dir else self.config.cache_dir, repo_id, rtype)
        local = Path(local_dir) if local_dir is not None else None
        session = None if self.config.offline else self.session
        files = commit = None
        if session is not None:
            try:
                commit = self.repo_info(repo_id, revision=rev, repo_type=rtype).sha
                files = [e for e in self.list_repo_tree(repo_id, recursive=True, revision=commit, repo_type=rtype)
                         if isinstance(e, RepoFile)]
            except httpx.TransportError:
                files = commit = None
        return dl.snapshot(session, cache, files, commit, revision=rev, local_dir=local,
                           allow_patterns=allow_patterns, ignore_patterns=ignore_patterns,
                           max_workers=max_workers, force=force_download, progress=progress,
                           verify=self.config.verify, xet=self.xet)

    # -- uploads ---------------------------------------------------------------------------------

    def create_commit(self, repo_id: str, operations: list[up.Operation], *, commit_message: str,
                      commit_description: str = "", repo_type: str | None = None, revision: str | None = None,
                      parent_commit: str | None = None, num_threads: int = 8, progress: bool = True) -> CommitInfo:
        """One commit of add, delete and copy operations on branch ``revision`` (default ``main``).

        Args:
            operations: :class:`CommitOperationAdd`, :class:`CommitOperationDelete`, :class:`CommitOperationCopy`.
            parent_commit: fail with ``PreconditionFailed`` if the branch has moved past this commit.
            num_threads: parallel LFS transfers.
        """
        repo_id, rtype = self._repo(repo_id, repo_type)
        return up.create_commit(self, repo_id, list(operations), commit_message=commit_message,
                                commit_description=commit_description, repo_type=rtype, revision=revision or "main",
                                parent_commit=parent_commit, num_threads=num_threads, progress=progress)

    def upload_file(self, *, path_or_fileobj, path_in_repo: str, repo_id: str, repo_type: str | None = None,
                    revision: str | None = None, commit_message: str | None = None, commit_description: str = "",
                    parent_commit: str | None = None, progress: bool = True) -> CommitInfo:
        """Upload one file (a path, bytes or a binary file object) as ``path_in_repo``."""
        op = up.CommitOperationAdd(path_in_repo, path_or_fileobj)
        return self.create_commit(repo_id, [op], commit_message=commit_message or f"Upload {path_in_repo}",
                                  commit_description=commit_description, repo_type=repo_type, revision=revision,
                                  parent_commit=parent_commit, progress=progress)

    def upload_folder(self, *, repo_id: str, folder_path: str | os.PathLike, path_in_repo: str | None = None,
                      repo_type: str | None = None, revision: str | None = None, commit_message: str | None = None,
                      commit_description: str = "", allow_patterns=None, ignore_patterns=None,
                      delete_patterns=None, parent_commit: str | None = None, num_threads: int = 8,
                      progress: bool = True) -> CommitInfo:
        """Upload the files of a folder in one commit.

        Args:
            allow_patterns / ignore_patterns: fnmatch patterns on paths relative to ``folder_path``.
            delete_patterns: remote files under ``path_in_repo`` matching these (and not uploaded now) are deleted.
        """
        repo_id, rtype = self._repo(repo_id, repo_type)
        ops = up.folder_operations(self, repo_id, Path(folder_path), path_in_repo=path_in_repo or "", repo_type=rtype,
                                   revision=revision or "main", allow_patterns=allow_patterns,
                                   ignore_patterns=ignore_patterns, delete_patterns=delete_patterns)
        return self.create_commit(repo_id, ops, commit_message=commit_message or "Upload folder",
                                  commit_description=commit_description, repo_type=rtype, revision=revision,
                                  parent_commit=parent_commit, num_threads=num_threads, progress=progress)
