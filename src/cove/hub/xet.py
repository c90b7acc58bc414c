"""Xet transfers for the hub client, through ``hf_xet`` (optional: ``pip install cove[xet]``).

When the Hub offers Xet (``xet-protocol.md`` §2) and ``hf_xet`` is installed, large files move as
deduplicated chunks instead of whole objects:

* **Downloads.** ``HEAD resolve`` (``X-Xet-Hash`` and the refresh route) or the tree (``xetHash``)
  name the file; :meth:`XetClient.stream` asks the refresh route for a read token, then lets hf_xet
  fetch the reconstruction and the xorb ranges and yields the file's bytes **from any offset**. The
  caller (:func:`cove.hub.download.fetch`) writes them into the same ``.incomplete`` file as a plain
  GET, hashes them as they arrive (hf_xet checks no hash: the sha256 etag is the only end-to-end
  check) and resumes a killed download from the bytes already on disk.
* **Uploads.** :meth:`XetClient.upload` asks ``xet-write-token`` (a 404 means the Hub has Xet off:
  the caller uses the LFS batch API), then hf_xet chunks, deduplicates (its shard cache and the
  Hub's global dedup answers), sends the new xorbs and one shard, and returns each file's sha256
  for the commit's ``lfsFile`` lines.

Why hf_xet rather than Cove's own chunking, hashing, xorb and shard code in the client: measured in
``docs/benchmarks.md`` ("Hub client: Xet"). ``hf_xet`` is imported lazily, only here
(:func:`load_hf_xet`, the import guard); without it, or with ``COVE_CLIENT_XET=0``, nothing here is
used. Its caches (the shard cache that makes a second upload send nothing) live where the stock
client keeps them: ``HF_XET_CACHE``, else ``$HF_HOME/xet``, shared with ``huggingface_hub``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx

from cove.errors import CoveError
from cove.hub.http import USER_AGENT, Session

log = logging.getLogger("cove.hub")
#: Tokens closer than this to their expiry are fetched again (the stock client uses 60 s).
TOKEN_MARGIN = 60
#: hf_xet sizes its download buffers from the machine's memory (1.5 GB here, a peak RSS near 1 GB for
#: a 1 GiB file); Cove writes the stream to disk as it comes, and 256 MB (four xorbs in flight) was as
#: fast on loopback with half the memory (docs/benchmarks.md). ``HF_XET_RECONSTRUCTION_*`` still wins.
DOWNLOAD_BUFFER = {"reconstruction.download_buffer_size": 256_000_000,
                   "reconstruction.download_buffer_perfile_size": 256_000_000,
                   "reconstruction.download_buffer_limit": 256_000_000}


class XetError(Exception):
    """A Xet transfer failed after hf_xet's own retries; the caller falls back to plain HTTP / LFS."""


def load_hf_xet():
    """The ``hf_xet`` module, or None when it is not installed (or too old to have ``XetSession``)."""
    try:
        import hf_xet
    except ImportError:
        return None
    return hf_xet if hasattr(hf_xet, "XetSession") else None


@dataclass(frozen=True)
class XetGrant:
    """A CAS access token: what ``xet-{read,write}-token`` answers."""

    cas_url: str
    token: str
    exp: int


@dataclass(frozen=True)
class XetFile:
    """A file the Hub serves through Xet: its file ID, size, and where to get a read token."""

    hash: str
    size: int
    refresh_url: str


@dataclass(frozen=True)
class XetUpload:
    """One file to upload: a local path or bytes, its sha256 if already known, a name for progress."""

    source: Path | bytes
    name: str
    sha256: str | None = None


def read_token_url(endpoint: str, repo_id: str, repo_type: str, commit: str) -> str:
    """The refresh route of a revision (what ``snapshot_download`` uses with the tree's ``xetHash``)."""
    return f"{endpoint}/api/{repo_type}s/{repo_id}/xet-read-token/{quote(commit, safe='')}"


def write_token_url(endpoint: str, repo_id: str, repo_type: str, revision: str) -> str:
    return f"{endpoint}/api/{repo_type}s/{repo_id}/xet-write-token/{quote(revision, safe='')}"


class XetClient:
    """The Xet side of one :class:`~cove.hub.client.HubApi`: an hf_xet session made on first use.

    Args:
        session: the Hub session (its token asks for Xet tokens; it is never sent to the CAS).
        enabled: ``False`` (``COVE_CLIENT_XET=0``) never uses Xet.
    """

    def __init__(self, session: Session, *, enabled: bool = True) -> None:
        self.session = session
        self.enabled = enabled
        self._lock = threading.Lock()
        self._xet = None  # (pid, hf_xet.XetSession): a forked child makes its own
        self._groups: dict[str, object] = {}  # refresh URL -> download stream group
        self._grants: dict[str, XetGrant] = {}

    @property
    def available(self) -> bool:
        return self.enabled and load_hf_xet() is not None

    def file(self, xet_hash: str | None, size: int, refresh_url: str | None) -> XetFile | None:
        """The Xet form of a download, or None to use the plain GET (no hash, Xet off, no hf_xet)."""
        if not xet_hash or not refresh_url or size <= 0 or not self.available:
            return None
        return XetFile(xet_hash, size, refresh_url)

    def close(self) -> None:
        with self._lock:
            self._groups.clear()
            self._xet = None

    # -- tokens and the hf_xet session -------------------------------------------------------------

    def _ours(self, url: str) -> bool:
        """Whether ``url`` is on this client's Hub: the Hub token goes nowhere else."""
        return url.startswith(self.session.endpoint + "/")

    def _auth_headers(self, url: str) -> dict[str, str]:
        return self.session.headers({"user-agent": USER_AGENT}, auth=self._ours(url))

    def grant(self, url: str) -> XetGrant | None:
        """The token a refresh route answers (cached until a minute before it expires); None on a 404
        (the Hub has Xet off). Other errors raise the matching :mod:`cove.errors` class."""
        with self._lock:
            known = self._grants.get(url)
        if known is not None and known.exp > time.time() + TOKEN_MARGIN:
            return known
        resp = self.session.request("GET", url, ok=(404,), auth=self._ours(url))
        if resp.status_code == 404:
            return None
        try:
            body = resp.json()
            grant = XetGrant(body["casUrl"].rstrip("/"), body["accessToken"], int(body["exp"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            h = resp.headers
            if not h.get("X-Xet-Cas-Url") or not h.get("X-Xet-Access-Token"):
                raise XetError(f"{url} answered no Xet token") from None
            grant = XetGrant(h["X-Xet-Cas-Url"].rstrip("/"), h["X-Xet-Access-Token"],
                             int(h.get("X-Xet-Token-Expiration") or 0))
        with self._lock:
            self._grants[url] = grant
        return grant

    def _session(self):
        hf_xet = load_hf_xet()
        if hf_xet is None:
            raise XetError("hf_xet is not installed")
        with self._lock:
            if self._xet is None or self._xet[0] != os.getpid():
                # telemetry off: it would go to this Hub's CAS, which does not collect it
                settings: dict = {"telemetry.enabled": False}
                settings.update((k, v) for k, v in DOWNLOAD_BUFFER.items()
                                if "HF_XET_" + k.replace(".", "_").upper() not in os.environ)
                config = hf_xet.XetConfig().with_config(settings)
                self._xet = (os.getpid(), hf_xet.XetSession(config=config))
                self._groups.clear()
            return self._xet[1]

    # -- downloads ---------------------------------------------------------------------------------

    def _group(self, refresh_url: str):
        with self._lock:
            group = self._groups.get(refresh_url)
        if group is not None:
            return group
        try:
            grant = self.grant(refresh_url)
        except (CoveError, httpx.HTTPError) as e:  # the plain GET will say it again if it matters
            raise XetError(f"no Xet read token from {refresh_url}: {e}") from e
        if grant is None:
            raise XetError(f"{refresh_url} answered 404: the Hub does not serve Xet now")
        xs = self._session()
        try:
            group = xs.new_download_stream_group(
                endpoint=grant.cas_url, token=grant.token, token_expiry_unix_secs=grant.exp,
                token_refresh_url=refresh_url, token_refresh_headers=self._auth_headers(refresh_url))
        except Exception as e:  # hf_xet raises OSError / RuntimeError / ValueError subclasses
            raise XetError(f"cannot reach the Xet CAS at {grant.cas_url}: {e}") from e
        with self._lock:
            return self._groups.setdefault(refresh_url, group)

    def stream(self, file: XetFile, start: int = 0) -> Iterator[bytes]:
        """The bytes ``[start, size)`` of ``file``, in order, in blocks as hf_xet yields them (up to a
        xorb's 64 MiB). Any failure, before or during the transfer, raises :class:`XetError`."""
        if start >= file.size:
            return
        hf_xet = load_hf_xet()
        group = self._group(file.refresh_url)
        try:
            it = group.download_stream(hf_xet.XetFileInfo(file.hash, file.size), start=start)
        except Exception as e:
            raise XetError(f"Xet download of {file.hash} failed: {e}") from e
        try:
            while True:
                try:
                    block = next(it)
                except StopIteration:
                    return
                except Exception as e:
                    raise XetError(f"Xet download of {file.hash} failed: {e}") from e
                yield block
        finally:
            it.cancel()

    # -- uploads -----------------------------------------------------------------------------------

    def upload(self, write_url: str, items: list[XetUpload], bar=None) -> list[str] | None:
        """Upload ``items`` through Xet (xorbs, then one shard); returns their sha256 hex in order.

        Returns None when ``write_url`` answers 404 (the Hub has Xet off). A failed transfer raises
        :class:`XetError` (``bar`` is then set back to where it was).
        """
        hf_xet = load_hf_xet()
        grant = self.grant(write_url)
        if grant is None:
            return None
        xs = self._session()
        done = [0]

        def progress(group, _items) -> None:  # called by hf_xet every 100 ms and once at the end
            delta = group.total_bytes_completed - done[0]
            if delta > 0 and bar is not None:
                bar.update(delta)
                done[0] += delta

        try:
            with xs.new_upload_commit(endpoint=grant.cas_url, token=grant.token, token_expiry_unix_secs=grant.exp,
                                      token_refresh_url=write_url, token_refresh_headers=self._auth_headers(write_url),
                                      progress_callback=progress) as commit:
                handles = []
                for item in items:
                    sha = item.sha256 or hf_xet.COMPUTE_SHA256
                    if isinstance(item.source, bytes):
                        handles.append(commit.start_upload_bytes(item.source, sha256=sha, name=item.name))
                    else:
                        handles.append(commit.start_upload_file(str(item.source), sha256=sha))
            shas = [h.result().xet_info.sha256 for h in handles]
        except Exception as e:  # hf_xet's errors, after its own retries
            if bar is not None and done[0]:
                bar.update(-done[0])
            raise XetError(f"Xet upload failed: {e}") from e
        log.info("Uploaded %d file(s) through Xet", len(items))
        return shas
