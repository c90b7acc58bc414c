"""``cove serve --seed``: the background runner (waits for the Hub, logs, writes the marker, survives a
failing seed) and a second start that skips a completed seed."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time

import httpx
import pytest

from cove.seed.background import MARKER, BackgroundSeed, seed_done, seed_version
from tests.conftest import free_port

pytestmark = pytest.mark.timeout(1800)  # the first test may build the seed (see test_seed.py)


def test_background_seed_logs_and_marks_completion(hub, seeder, seeded, tmp_path):
    out, ended = io.StringIO(), []
    runner = BackgroundSeed(
        hub.url, seeder, tmp_path, on_exit=lambda: ended.append(True), out=out, argv=["--only", "datasets"]
    ).start()
    runner.thread.join(300)
    log = out.getvalue()
    assert runner.returncode == 0, log
    assert "[seed]   cove/vader-sentiment: up to date" in log and ended == [True]
    assert seed_done(tmp_path)
    assert json.loads((tmp_path / MARKER).read_text())["version"] == seed_version()


def test_a_failing_seed_is_logged_and_leaves_no_marker(hub, seed_env, tmp_path):
    out, ended = io.StringIO(), []
    runner = BackgroundSeed(
        hub.url,
        "hf_not-a-token",
        tmp_path,
        on_exit=lambda: ended.append(True),
        out=out,
        argv=["--only", "datasets"],
    ).start()
    runner.thread.join(120)
    log = out.getvalue()
    assert runner.returncode not in (0, None) and ended == [True]
    assert "failed (exit 1); the Hub keeps running" in log and "error:" in log
    assert not (tmp_path / MARKER).exists() and not seed_done(tmp_path)


def test_serve_seed_skips_a_completed_seed(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / MARKER).write_text(json.dumps({"version": seed_version()}))
    port = free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "COVE_DATA_DIR": str(data), "COVE_ADMIN_PASSWORD": "admin-pass-123"}
    with open(log, "w") as f:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cove.cli.main", "serve", "--seed", "--port", str(port)],
            stdout=f,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/agent-harnesses", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        text = log.read_text()
        assert f"[seed] already done ({data / MARKER})" in text, text
        assert "[seed] seeding" not in text
    finally:
        proc.terminate()
        proc.wait(10)


def test_cli_errors_are_clear():
    def cove(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "cove.cli.main", "seed", "--no-progress", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )

    down = cove("--endpoint", "http://127.0.0.1:9", "--token", "x")
    assert down.returncode == 1 and "cannot reach the Hub" in down.stderr
    unknown = cove("--endpoint", "http://127.0.0.1:9", "--only", "nope")
    assert unknown.returncode == 1 and "error: Nothing to seed is called 'nope'" in unknown.stderr
