"""Datasets on a Hub, through :mod:`cove.hub`: listing and fetching a dataset repo's files, reading
them over HTTP range requests for streaming, and ``push_to_hub``.

``push_to_hub`` writes what ``datasets`` writes, so each library reads the other's uploads:
``data/{split}-0000i-of-0000n.parquet`` (``{config}/...`` for a named config), and a README.md whose
YAML declares ``configs`` (``data_files: [{split, path: data/{split}-*}]``) and ``dataset_info``
(features, splits with ``num_examples`` and ``num_bytes``).
"""

from __future__ import annotations

import io
import math
import tempfile
from pathlib import Path

import httpx

from cove.datasets.features import Audio, Features, Image
from cove.datasets.io import parse_size
from cove.formats.cards import join_card, split_card
from cove.hub import CommitOperationAdd, CommitOperationDelete, HubApi
from cove.hub.download import resolve_url
from cove.protocol import is_digits

REPO_TYPE = "dataset"


class HubFiles:
    """One revision of a dataset repo: its file list, its card, and file access."""

    def __init__(self, repo_id: str, *, revision: str | None = None, token: str | None = None,
                 endpoint: str | None = None) -> None:
        self.api = HubApi(endpoint, token)
        self.repo_id = repo_id
        self.revision = self.api.repo_info(repo_id, revision=revision, repo_type=REPO_TYPE).sha or revision or "main"
        self.paths = self.api.list_repo_files(repo_id, revision=self.revision, repo_type=REPO_TYPE)

    def card(self) -> dict:
        if "README.md" not in self.paths:
            return {}
        text = Path(self.download("README.md")).read_text(encoding="utf-8", errors="replace")
        try:
            return split_card(text)[0]
        except ValueError:
            return {}

    def download(self, path: str) -> str:
        return str(self.api.download(self.repo_id, path, revision=self.revision, repo_type=REPO_TYPE))

    def open(self, path: str) -> HttpFile:
        """``path`` as a seekable binary file read with HTTP range requests (nothing is fetched up front)."""
        url = resolve_url(self.api.endpoint, self.repo_id, REPO_TYPE, self.revision, path)
        return HttpFile(self.api.session.client, url, self.api.session.headers())

    def close(self) -> None:
        self.api.close()


class HttpFile(io.RawIOBase):
    """A remote file read by ranges of at least ``block`` bytes; ``fetched`` counts bytes received."""

    def __init__(self, client: httpx.Client, url: str, headers: dict, block: int = 1 << 20) -> None:
        self.client, self.url, self.headers, self.block = client, url, headers, block
        self.pos, self.fetched = 0, 0
        self._buf, self._buf_start = b"", 0
        self._size: int | None = None

    @property
    def size(self) -> int:
        if self._size is None:
            resp = self.client.get(self.url, headers={**self.headers, "range": "bytes=0-0"})
            resp.raise_for_status()
            total = resp.headers.get("content-range", "").rpartition("/")[2]
            self._size = int(total) if is_digits(total) else len(resp.content)
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def _fill(self, n: int) -> None:
        end = min(self.size, self.pos + max(n, self.block))
        resp = self.client.get(self.url, headers={**self.headers, "range": f"bytes={self.pos}-{end - 1}"})
        resp.raise_for_status()
        data = resp.content if resp.status_code == 206 else resp.content[self.pos:end]
        self.fetched += len(data)
        self._buf, self._buf_start = data, self.pos

    def readinto(self, buffer) -> int:
        n = len(buffer)
        if self.pos >= self.size or n == 0:
            return 0
        offset = self.pos - self._buf_start
        if not 0 <= offset < len(self._buf):
            self._fill(n)
            offset = 0
        chunk = self._buf[offset:offset + n]
        buffer[:len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)


# -- push_to_hub ----------------------------------------------------------------------------------


def _card_with(card: dict, config: str, prefix: str, splits: dict, features: Features) -> dict:
    """``card`` with ``config``'s ``configs`` entry and ``dataset_info`` updated for ``splits``."""
    configs = [c for c in card.get("configs") or [] if c.get("config_name", "default") != config]
    old = next((c for c in card.get("configs") or [] if c.get("config_name", "default") == config), None)
    files = [f for f in (old or {}).get("data_files") or [] if isinstance(f, dict) and f.get("split") not in splits]
    files += [{"split": s, "path": f"{prefix}/{s}-*"} for s in splits]
    configs.append({"config_name": config, "data_files": files})
    infos = card.get("dataset_info")
    infos = infos if isinstance(infos, list) else [infos] if isinstance(infos, dict) else []
    previous = next((i for i in infos if i.get("config_name", "default") == config), {})
    kept = [s for s in previous.get("splits") or [] if s.get("name") not in splits]
    info = {"features": features.to_yaml_list(),
            "splits": kept + [{"name": s, "num_bytes": b, "num_examples": n} for s, (n, b) in splits.items()]}
    info["dataset_size"] = sum(s["num_bytes"] for s in info["splits"])
    others = [i for i in infos if i.get("config_name", "default") != config]
    out = {k: v for k, v in card.items() if k not in ("configs", "dataset_info")}
    if others or config != "default":
        out["dataset_info"] = [*others, {"config_name": config, **info}]
    else:
        out["dataset_info"] = info
    out["configs"] = sorted(configs, key=lambda c: c["config_name"] != "default")
    return out


def _embed_media(ds):
    """Images and audio given as local paths get their bytes stored (the Hub has no access to the paths)."""
    media = [k for k, f in ds._features.items() if isinstance(f, Image | Audio)]
    if not media:
        return ds

    def embed(batch):
        return {k: [v if v is None or v.get("bytes") is not None or not v.get("path")
                    else {"bytes": Path(v["path"]).read_bytes(), "path": Path(v["path"]).name} for v in batch[k]]
                for k in media}

    raw = ds.cast(Features({k: type(f)(decode=False) if k in media else f for k, f in ds._features.items()}))
    return raw.map(embed, batched=True, keep_in_memory=True, progress=False).cast(ds._features)


def push_splits(splits: dict, repo_id: str, *, config_name: str = "default", private: bool | None = None,
                token: str | None = None, endpoint: str | None = None, commit_message: str | None = None,
                revision: str | None = None, max_shard_size: int | str = "500MB",
                num_shards: int | dict | None = None):
    """Upload ``{split: Dataset}`` as one config of a dataset repo, in one commit; returns the CommitInfo."""
    with HubApi(endpoint, token) as api:
        api.create_repo(repo_id, private=private, repo_type=REPO_TYPE, exist_ok=True)
        existing = api.list_repo_files(repo_id, revision=revision, repo_type=REPO_TYPE)
        prefix = "data" if config_name == "default" else config_name
        features = next(iter(splits.values()))._features
        ops, stats = [], {}
        with tempfile.TemporaryDirectory() as tmp:
            for split, ds in splits.items():
                if ds._features != features:
                    raise ValueError(f"push_to_hub: split {split!r} has other features than the first split")
                size = ds._view().nbytes if ds._indices is not None else ds._table.nbytes
                wanted = num_shards.get(split) if isinstance(num_shards, dict) else num_shards
                n = max(1, wanted or math.ceil(size / parse_size(max_shard_size)))
                names = []
                for i in range(n):
                    name = f"{prefix}/{split}-{i:05d}-of-{n:05d}.parquet"
                    local = Path(tmp) / name.replace("/", "__")
                    _embed_media(ds.shard(n, i, contiguous=True)).to_parquet(local)
                    ops.append(CommitOperationAdd(name, str(local)))
                    names.append(name)
                ops += [CommitOperationDelete(p) for p in existing
                        if p.startswith(f"{prefix}/{split}-") and p.endswith(".parquet") and p not in names]
                stats[split] = (ds.num_rows, size)
            card, body = {}, ""
            if "README.md" in existing:
                text = Path(api.download(repo_id, "README.md", revision=revision, repo_type=REPO_TYPE)).read_text()
                card, body = split_card(text)
            card = _card_with(card, config_name, prefix, stats, features)
            text = join_card(card, body or f"\n# {repo_id}\n\nUploaded with `cove.datasets`.\n")
            ops.append(CommitOperationAdd("README.md", text.encode()))
            return api.create_commit(repo_id, ops, repo_type=REPO_TYPE, revision=revision,
                                     commit_message=commit_message or "Upload dataset")
