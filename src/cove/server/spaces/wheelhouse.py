"""The shared wheelhouse, written only by the Hub, and only with files the configured package index
vouches for: a file a build fetched joins it when one of the trusted indexes (``COVE_SPACES_INDEX_URLS``)
lists a file of that exact name with that exact sha256 (PEP 503 pages carry ``#sha256=``).

Whatever else a build leaves in its download folder stays that build's own: wheels from an index or a
``--find-links`` folder that ``requirements.txt`` names, direct URLs and VCS links, local paths, files a
hostile ``setup.py`` wrote there while pip ran it (under any name, a trusted one included). So a Space
cannot put a file into the cache that another Space later installs.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

import httpx

#: Files the wheelhouse keeps: wheels and source archives with plain names.
WHEEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,200}\.(whl|tar\.gz|zip)$")
ANCHOR = re.compile(r"""<a\s[^>]*href\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
PYPI = "https://pypi.org/simple"


def configured_indexes() -> list[str]:
    """The indexes pip is configured with on this machine (``pip config``: index-url, then
    extra-index-url), PyPI when none is set: the default of ``COVE_SPACES_INDEX_URLS``."""
    try:
        done = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                              timeout=60)
        lines = done.stdout.splitlines() if done.returncode == 0 else []
    except (OSError, subprocess.TimeoutExpired):
        lines = []
    found: dict[str, list[str]] = {}
    for line in lines:
        key, _, value = line.partition("=")
        option = key.rsplit(".", 1)[-1]
        if option in ("index-url", "extra-index-url"):
            found.setdefault(option, []).extend(value.strip().strip("'\"").split())
    return (found.get("index-url") or [PYPI]) + found.get("extra-index-url", [])


def project_of(filename: str) -> str:
    """The PEP 503 normalized project name of a wheel or source archive's file name."""
    if filename.endswith(".whl"):
        name = filename.split("-")[0]
    else:
        stem = re.sub(r"\.(tar\.gz|zip)$", "", filename)
        name = stem.rsplit("-", 1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Index:
    """The trusted indexes' project pages, read once per project per build."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = [u.rstrip("/") for u in urls]
        self._pages: dict[str, dict[str, set[str]]] = {}

    def hashes(self, project: str) -> dict[str, set[str]]:
        """``{file name: {sha256, ...}}`` the indexes list for ``project``."""
        if project not in self._pages:
            files: dict[str, set[str]] = {}
            for base in self.urls:
                for href in ANCHOR.findall(self._page(f"{base}/{project}/")):
                    path, _, fragment = href.partition("#")
                    name = urllib.parse.unquote(path.rsplit("/", 1)[-1])
                    algo, _, digest = fragment.partition("=")
                    if algo == "sha256" and digest:
                        files.setdefault(name, set()).add(digest.lower())
            self._pages[project] = files
        return self._pages[project]

    @staticmethod
    def _page(url: str) -> str:
        try:
            if url.startswith("file://"):
                folder = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path))
                page = folder / "index.html"
                return page.read_text(errors="replace") if page.is_file() else ""
            answer = httpx.get(url, timeout=30, follow_redirects=True,
                               headers={"Accept": "text/html"})
            return answer.text if answer.status_code == 200 else ""
        except (OSError, httpx.HTTPError):
            return ""

    def vouches(self, path: Path, name: str) -> bool:
        """Whether an index lists a file called ``name`` with the contents of ``path``."""
        return sha256_of(path) in self.hashes(project_of(name)).get(name, set())


def admit(download: Path, wheelhouse: Path, index: Index) -> tuple[int, list[str]]:
    """Copy into ``wheelhouse`` the files of ``download`` that ``index`` vouches for (never replacing a
    file). Returns how many were added and the names kept out (the build still installs them)."""
    added, refused = 0, []
    for f in sorted(download.iterdir()):
        target = wheelhouse / f.name
        if not f.is_file() or f.is_symlink() or target.exists() or not WHEEL_NAME.match(f.name):
            continue
        tmp = wheelhouse / f".{f.name}.part"
        shutil.copyfile(f, tmp)  # checked as copied: the build's folder may still change under us
        if not index.vouches(tmp, f.name):
            tmp.unlink()
            refused.append(f.name)
            continue
        tmp.rename(target)
        added += 1
    return added, refused
