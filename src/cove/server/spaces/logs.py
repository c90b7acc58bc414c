"""Build and run logs of a Space: one file each, JSON lines ``{"data", "timestamp"}`` (the shape the
client reads from the log stream), capped in size so an app that prints forever costs a bounded file."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import IO


def now_z() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class CappedLog:
    """Appends lines to ``path`` until ``limit`` bytes are written, then one line saying the rest was cut.
    Thread-safe: the runner and the process's output pump both write."""

    def __init__(self, path: Path, limit: int) -> None:
        self.path = path
        self.limit = limit
        self.written = 0
        self.cut = False
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = open(path, "w", encoding="utf-8")

    def write(self, line: str) -> None:
        record = json.dumps({"data": line.rstrip("\n") + "\n", "timestamp": now_z()}) + "\n"
        with self._lock:
            if self.cut or self._file.closed:
                return
            if self.written + len(record) > self.limit:
                self.cut = True
                record = json.dumps({"data": f"[log cut at {self.limit} bytes: the app keeps running, its "
                                             "further output is dropped]\n", "timestamp": now_z()}) + "\n"
            self._file.write(record)
            self._file.flush()
            self.written += len(record)

    def pump(self, stream: IO[bytes]) -> None:
        """Copy a process's output into the log, line by line, until it ends (always drained, so a
        chatty process never blocks on a full pipe once the cap is reached)."""
        for raw in iter(lambda: stream.readline(65536), b""):
            self.write(raw.decode("utf-8", "replace"))

    def close(self) -> None:
        with self._lock:
            self._file.close()


def read_events(path: Path, offset: int) -> tuple[list[dict], int]:
    """The complete records written to ``path`` past ``offset``, and the offset after them."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1
    events = []
    for raw in data[:end].splitlines():
        try:
            events.append(json.loads(raw))
        except ValueError:
            continue
    return events, offset + end


def tail_text(path: Path, lines: int = 5) -> str:
    """The last ``lines`` lines of a log, as text (for an error message)."""
    events, _ = read_events(path, 0)
    return "".join(e.get("data", "") for e in events[-lines:]).strip()
