"""``cove serve --seed``: run the seed against a Hub that has just started, without holding it up.

The seed runs as a ``cove seed`` child process (its memory and its torch threads stay out of the server)
once the server answers; its lines go to the server's log with a ``[seed]`` prefix, its tqdm bars (one
over the repos, one per upload, the sentiment model's training steps) too, a line every few seconds. It
keeps ``<data dir>/seed-status.json`` (:mod:`cove.seed.status`) up to date, from the moment the server
starts: the Hub's home page lists what is still being prepared, and asking for a seeded repo that is not
published yet answers when it will be.
When it succeeds a marker in the data dir records the seed's version, so the next start skips it; when it
fails, the error is logged and the server keeps serving.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import httpx

from cove.protocol import SEED_STATUS_FILE, SeedStatus, SeedStep
from cove.seed.status import mark_inactive, write_status

MARKER = "seed-done.json"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def seed_version() -> str:
    """Names every default build: a new artefact or version makes the marker stale, and the seed run again."""
    from cove.seed.publish import artefacts

    return "+".join(a.key for a in artefacts())


def seed_done(data_dir: str | os.PathLike) -> bool:
    path = Path(data_dir) / MARKER
    try:
        return json.loads(path.read_text())["version"] == seed_version()
    except (OSError, ValueError, KeyError):
        return False


class BackgroundSeed:
    """Seed ``url`` with ``token`` in a thread that waits for the server, then runs ``cove seed``.

    Args:
        url: the Hub as this machine reaches it.
        token: an admin's write token.
        data_dir: where the completion marker goes.
        on_exit: called when the seed has ended, successfully or not (e.g. to revoke the token).
        out: where the ``[seed]`` lines go.
        argv: extra ``cove seed`` arguments.
        progress: the child's tqdm bars, as ``[seed]`` lines too.
    """

    def __init__(
        self,
        url: str,
        token: str,
        data_dir: str | os.PathLike,
        *,
        on_exit: Callable[[], None] | None = None,
        out: TextIO = sys.stdout,
        argv: list[str] | None = None,
        wait_seconds: float = 120.0,
        progress: bool = True,
    ) -> None:
        self.url, self.token, self.data_dir = url, token, Path(data_dir)
        self.on_exit, self.out, self.argv, self.wait_seconds = on_exit, out, list(argv or []), wait_seconds
        self.progress = progress
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None
        self._stopped = False
        self.thread = threading.Thread(target=self._run, name="cove-seed", daemon=True)

    def say(self, line: str) -> None:
        line = ANSI.sub("", line)  # tqdm moves the cursor between its bars: not for a log
        print(f"[seed] {line}", file=self.out, flush=True)

    def start(self) -> BackgroundSeed:
        if not self.argv:  # the whole seed: every step waits until the child takes over the file
            from cove.seed.publish import artefacts

            steps = tuple(SeedStep(a.repo_id, a.repo_type, estimate=a.estimate) for a in artefacts(progress=False))
            write_status(self.data_dir / SEED_STATUS_FILE, SeedStatus(steps, active=True))
        self.thread.start()
        return self

    def stop(self) -> None:
        """End the child process (the server is shutting down); the marker is not written."""
        self._stopped = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(10)  # its cleanup: the status file, the token

    def _wait_for_server(self) -> bool:
        deadline = time.monotonic() + self.wait_seconds
        while time.monotonic() < deadline and not self._stopped:
            try:
                if httpx.get(f"{self.url}/api/agent-harnesses", timeout=2).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        return False

    def _run(self) -> None:
        try:
            self.returncode = self._seed()
        except Exception as e:  # a seed failure must never take the server down
            self.returncode = -1
            self.say(f"failed: {type(e).__name__}: {e}")
        finally:
            mark_inactive(self.data_dir / SEED_STATUS_FILE)  # a child killed mid-step left it active
            if self.on_exit is not None:
                try:
                    self.on_exit()
                except Exception as e:
                    self.say(f"cleanup failed: {e}")

    def _seed(self) -> int:
        if not self._wait_for_server():
            self.say(f"the Hub did not answer at {self.url}; not seeding")
            return -1
        self.say(f"seeding {self.url} with the default models and datasets (first run: several minutes)")
        env = {**os.environ, "COVE_TOKEN": self.token, "COVE_ENDPOINT": self.url}
        flags = ["--status-file", str(self.data_dir / SEED_STATUS_FILE)] + ([] if self.progress else ["--no-progress"])
        # tqdm's bars arrive as lines too (text mode splits at its "\r"): one every few seconds per bar
        env["TQDM_MININTERVAL"] = os.environ.get("TQDM_MININTERVAL", "5")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cove.cli.main", "seed", *flags, *self.argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip():
                self.say(line.rstrip())
        code = self.proc.wait()
        if self._stopped:
            return code
        if code == 0:
            marker = {"version": seed_version(), "completed": datetime.now(UTC).isoformat()}
            (self.data_dir / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
            self.say("done; the next start skips the seed")
        else:
            self.say(f"failed (exit {code}); the Hub keeps running. Run `cove seed` to try again.")
        return code
