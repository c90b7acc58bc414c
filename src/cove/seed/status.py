"""The seed's progress file (:class:`cove.protocol.SeedStatus`), which the Hub's home page and its "not
found" answers read while ``cove serve --seed`` prepares the default repos.

Each change rewrites the whole (small) file through a temporary file and a rename, so the Hub never reads
half of it.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

from cove.protocol import SeedStatus, SeedStep


class StatusFile:
    """The status of one seed run, written to ``path`` on every change (nothing is written when None)."""

    def __init__(self, path: Path | None, steps: list[SeedStep]) -> None:
        self.path = path
        self.status = SeedStatus(tuple(steps), active=True)
        self._write()

    def set(self, repo_id: str, state: str) -> None:
        """Move ``repo_id`` to ``state``; "building" stamps its start, a final state its end."""
        now = time.time()

        def moved(s: SeedStep) -> SeedStep:
            if s.repo_id != repo_id:
                return s
            if state == "building":
                return replace(s, state=state, started=now)
            if state in ("done", "skipped", "failed"):
                return replace(s, state=state, finished=now, started=s.started or now)
            return replace(s, state=state)

        self.status = replace(self.status, steps=tuple(moved(s) for s in self.status.steps))
        self._write()

    def close(self) -> None:
        """The run has ended: steps still pending are failed, and the file says no seed is running."""
        steps = tuple(replace(s, state="failed") if s.pending else s for s in self.status.steps)
        self.status = SeedStatus(steps, active=False)
        self._write()

    def _write(self) -> None:
        if self.path is not None:
            write_status(self.path, self.status)


def write_status(path: Path, status: SeedStatus) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(status.to_json(), encoding="utf-8")
    os.replace(tmp, path)


def read_status(path: Path) -> SeedStatus | None:
    try:
        return SeedStatus.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def mark_inactive(path: Path) -> None:
    """After a seed process died without closing its file (killed, or the server stopped): no seed runs."""
    status = read_status(path)
    if status is not None and status.active:
        steps = tuple(replace(s, state="failed") if s.pending else s for s in status.steps)
        write_status(path, SeedStatus(steps, active=False))
