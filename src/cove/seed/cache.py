"""The build cache: each seeded artefact is built once into ``<cache>/<name>-<version>/``.

``COVE_SEED_CACHE`` (default ``~/.cache/cove/seed``) holds the converted SmolLM2, the fine-tuned sentiment
model, the Parquet files and the cards. A build writes into a hidden temporary folder and renames it into
place when it has finished, so an interrupted build leaves nothing that looks complete, and seeding a
second Hub reuses every folder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path


def seed_cache_dir() -> Path:
    return Path(os.environ.get("COVE_SEED_CACHE") or Path.home() / ".cache" / "cove" / "seed")


def cached_build(key: str, build: Callable[[Path], Path | None], *, cache_dir: Path | None = None) -> Path:
    """The folder ``<cache>/<key>``, made by ``build(tmp_folder)`` if it does not exist yet: the
    temporary folder, or the folder under it that ``build`` returns, is renamed into place."""
    root = cache_dir or seed_cache_dir()
    target = root / key
    if target.is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{key}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        done = build(tmp) or tmp
        try:
            done.rename(target)
        except OSError:
            if not target.is_dir():  # another process may have won the race: its copy is as good
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def is_built(key: str, *, cache_dir: Path | None = None) -> bool:
    return ((cache_dir or seed_cache_dir()) / key).is_dir()
