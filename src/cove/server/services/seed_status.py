"""What ``cove serve --seed`` is still preparing, read from ``<data dir>/seed-status.json``.

The seed (a ``cove seed`` child of the server) rewrites the file on every step; the home page lists the
pending steps, and a request for a seeded repo that does not exist yet gets a "not found" that says it
is being prepared and about when it will be ready, instead of a bare "Repository not found".
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from cove.protocol import SEED_STATUS_FILE, SeedStatus


def minutes(seconds: float) -> str:
    """A wait for people: ``"under a minute"``, ``"~3 min"``."""
    return "under a minute" if seconds < 60 else f"~{round(seconds / 60)} min"


class SeedProgress:
    """The seed status of one data dir, re-read only when the file changes."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / SEED_STATUS_FILE
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        self._status: SeedStatus | None = None

    def current(self) -> SeedStatus | None:
        """The last status the seed wrote, or None when there is none (or it cannot be read)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        key = (st.st_mtime_ns, st.st_size)
        with self._lock:
            if key != self._seen:
                try:
                    self._status = SeedStatus.from_json(self.path.read_text(encoding="utf-8"))
                except (OSError, ValueError, KeyError, TypeError):
                    self._status = None
                self._seen = key
            return self._status

    def active(self) -> SeedStatus | None:
        """The status while a seed runs, else None."""
        status = self.current()
        return status if status is not None and status.active else None

    def banner(self) -> list[dict] | None:
        """The home page's list while a seed runs: each step with its state and, when pending, about
        how long until it is ready; None when no seed runs."""
        status, now = self.active(), time.time()
        if status is None:
            return None
        rows = []
        for s in status.steps:
            left = status.seconds_until_ready(s.repo_type, s.repo_id, now) if s.pending else None
            rows.append({"repo_id": s.repo_id, "repo_type": s.repo_type, "state": s.state,
                         "ready_in": minutes(left) if left is not None else ""})
        return rows

    def not_ready(self, repo_type: str, repo_id: str) -> str | None:
        """A sentence for a request of ``repo_id`` while the seed has still to publish it, else None."""
        status = self.active()
        left = status.seconds_until_ready(repo_type, repo_id, time.time()) if status else None
        if left is None:
            return None
        return (f"{repo_id} is being prepared by the seed of this Hub (`cove serve --seed`) and will be ready "
                f"in {minutes(left)}: try again then (the Hub's home page shows the seed's progress)")
