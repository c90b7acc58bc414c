"""``cove.hub``: the client of a Hugging Face-compatible Hub: download, cache, upload, offline.

```python
from cove.hub import HubApi, download, snapshot_download

path = download("alice/tiny-bert", "config.json")         # a file in the cache (HF layout)
folder = snapshot_download("alice/tiny-bert", allow_patterns=["*.json"])
```

Configuration comes from arguments, then ``COVE_ENDPOINT``, ``COVE_TOKEN`` (or ``cove login``),
``COVE_CACHE`` and ``COVE_OFFLINE``, then their Hugging Face twins (``HF_ENDPOINT``, ``HF_TOKEN``,
``HF_HUB_CACHE`` / ``HF_HOME``, ``HF_HUB_OFFLINE``); the default cache is huggingface_hub's own (see
:mod:`cove.hub.config`). Errors are :mod:`cove.errors` classes.
"""

from __future__ import annotations

import os
from pathlib import Path

from cove.hub.cache import CachedRepo, CachedRevision, delete_cached, scan_cache, verify_cache
from cove.hub.client import HubApi
from cove.hub.info import (
    CommitInfo,
    GitCommitInfo,
    GitRefInfo,
    GitRefs,
    RepoFile,
    RepoFolder,
    RepoInfo,
    RepoUrl,
)
from cove.hub.upload import CommitOperationAdd, CommitOperationCopy, CommitOperationDelete

__all__ = [
    "CachedRepo", "CachedRevision", "CommitInfo", "CommitOperationAdd", "CommitOperationCopy",
    "CommitOperationDelete", "GitCommitInfo", "GitRefInfo", "GitRefs", "HubApi", "RepoFile", "RepoFolder",
    "RepoInfo", "RepoUrl", "delete_cached", "download", "scan_cache", "snapshot_download", "verify_cache",
]


def download(repo_id: str, filename: str, *, revision: str | None = None, repo_type: str | None = None,
             cache_dir: str | os.PathLike | None = None, local_dir: str | os.PathLike | None = None,
             endpoint: str | None = None, token: str | bool | None = None, force_download: bool = False,
             progress: bool = True) -> Path:
    """Download one file of a repo and return its local path (``hf_hub_download``).

    Args:
        repo_id: ``namespace/name``.
        filename: the path inside the repo.
        revision: a branch, tag or commit (default ``main``).
        repo_type: ``"model"`` (default), ``"dataset"`` or ``"space"``.
        cache_dir: the cache (default ``COVE_CACHE``); ``local_dir`` writes a plain file there instead.
        endpoint, token: the Hub and the token (default ``COVE_ENDPOINT``, ``COVE_TOKEN`` / ``cove login``).
        force_download: fetch again even if cached.

    Raises:
        RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo; LocalEntryNotFound when offline
        (or the Hub unreachable) and the file is not cached.
    """
    with HubApi(endpoint, token, cache_dir=cache_dir) as api:
        return api.download(repo_id, filename, revision=revision, repo_type=repo_type, local_dir=local_dir,
                            force_download=force_download, progress=progress)


def snapshot_download(repo_id: str, *, revision: str | None = None, repo_type: str | None = None,
                      allow_patterns=None, ignore_patterns=None, cache_dir: str | os.PathLike | None = None,
                      local_dir: str | os.PathLike | None = None, endpoint: str | None = None,
                      token: str | bool | None = None, max_workers: int = 8, force_download: bool = False,
                      progress: bool = True) -> Path:
    """Download every file of a revision (filtered by fnmatch patterns) and return the folder.

    The revision is resolved to one commit first, so the snapshot never mixes two commits.
    Arguments and errors as :func:`download`.
    """
    with HubApi(endpoint, token, cache_dir=cache_dir) as api:
        return api.snapshot_download(repo_id, revision=revision, repo_type=repo_type, allow_patterns=allow_patterns,
                                     ignore_patterns=ignore_patterns, local_dir=local_dir, max_workers=max_workers,
                                     force_download=force_download, progress=progress)
