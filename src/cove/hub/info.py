"""What the hub client returns: small dataclasses named as in ``huggingface_hub``, each keeping the raw JSON."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

_XET_HASH = re.compile(r"[0-9a-fA-F]{64}")


def parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class BlobLfsInfo:
    sha256: str
    size: int
    pointer_size: int | None = None


@dataclass(frozen=True)
class RepoSibling:
    rfilename: str
    size: int | None = None
    blob_id: str | None = None
    lfs: BlobLfsInfo | None = None


@dataclass(frozen=True)
class RepoInfo:
    """``repo_info`` / ``model_info`` / ``dataset_info`` / ``space_info``."""

    id: str
    sha: str | None
    repo_type: str
    private: bool = False
    gated: bool | str = False
    author: str | None = None
    last_modified: datetime | None = None
    created_at: datetime | None = None
    downloads: int = 0
    likes: int = 0
    tags: list[str] = field(default_factory=list)
    card_data: dict | None = None
    siblings: list[RepoSibling] | None = None
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, d: dict, repo_type: str) -> RepoInfo:
        siblings = None
        if d.get("siblings") is not None:
            siblings = []
            for s in d["siblings"]:
                lfs = s.get("lfs")
                siblings.append(RepoSibling(
                    s["rfilename"], s.get("size"), s.get("blobId"),
                    BlobLfsInfo(lfs["sha256"], lfs["size"], lfs.get("pointerSize")) if lfs else None))
        return cls(id=d["id"], sha=d.get("sha"), repo_type=repo_type, private=bool(d.get("private")),
                   gated=d.get("gated", False), author=d.get("author"),
                   last_modified=parse_date(d.get("lastModified")), created_at=parse_date(d.get("createdAt")),
                   downloads=d.get("downloads") or 0, likes=d.get("likes") or 0, tags=d.get("tags") or [],
                   card_data=d.get("cardData"), siblings=siblings, raw=d)


@dataclass(frozen=True)
class RepoFile:
    """A file of ``list_repo_tree``. ``blob_id`` is the git sha1 (of the pointer, for LFS files);
    ``xet_hash`` the Xet file ID when the Hub serves the file through Xet."""

    path: str
    size: int
    blob_id: str
    lfs: BlobLfsInfo | None = None
    xet_hash: str | None = None

    @property
    def etag(self) -> str:
        """The cache's blob name: sha256 for LFS files, git sha1 otherwise (what ``resolve`` sends as ETag)."""
        return self.lfs.sha256 if self.lfs else self.blob_id


@dataclass(frozen=True)
class RepoFolder:
    path: str
    tree_id: str


def tree_entry(d: dict) -> RepoFile | RepoFolder:
    if d["type"] == "directory":
        return RepoFolder(d["path"], d["oid"])
    lfs = d.get("lfs")
    xet = d.get("xetHash")
    xet = xet.lower() if lfs and isinstance(xet, str) and _XET_HASH.fullmatch(xet) else None  # as the stock client
    return RepoFile(d["path"], d["size"], d["oid"],
                    BlobLfsInfo(lfs["oid"], lfs["size"], lfs.get("pointerSize")) if lfs else None, xet)


@dataclass(frozen=True)
class GitRefInfo:
    name: str
    ref: str
    target_commit: str


@dataclass(frozen=True)
class GitRefs:
    branches: list[GitRefInfo]
    converts: list[GitRefInfo]
    tags: list[GitRefInfo]
    pull_requests: list[GitRefInfo] | None = None


@dataclass(frozen=True)
class GitCommitInfo:
    commit_id: str
    title: str
    message: str
    created_at: datetime | None
    authors: list[str]


@dataclass(frozen=True)
class CommitInfo:
    """What ``create_commit`` and the uploads return."""

    commit_url: str
    commit_message: str
    commit_description: str
    oid: str
    pr_url: str | None = None

    def __str__(self) -> str:
        return self.commit_url


class RepoUrl(str):
    """The URL of a repo (a ``str``), with its parts: ``RepoUrl(...).repo_id``."""

    def __new__(cls, url: str, *, endpoint: str, repo_id: str, repo_type: str) -> RepoUrl:
        self = super().__new__(cls, url)
        self.endpoint, self.repo_id, self.repo_type = endpoint, repo_id, repo_type
        return self
