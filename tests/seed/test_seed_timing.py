"""``make serve`` on this machine, timed: ``cove serve --seed`` with an empty data dir, sharing the test
asset cache's packages and builds (``tests/seed/conftest.py``), so that CI trains the sentiment model once
for this test and the seed fixture together. On a fresh machine (CI) whichever runs first trains it, and
the printout says whether this run did; on a machine that keeps its asset cache the build step is a
cache hit (docs/benchmarks.md has a fresh run's figures, `bench/seed.py` times the builds alone). The
times are printed (``pytest -s`` shows them; docs/benchmarks.md has this machine's), not asserted; what
is asserted is that every step ends published, in order, and that a repo asked for before it is ready
gets "being prepared" rather than "not found"."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import httpx
import pytest

from cove.protocol import SEED_STATUS_FILE
from cove.seed import SentimentRecipe
from cove.seed.background import MARKER
from cove.seed.status import read_status
from tests.conftest import free_port
from tests.formats.assets import ASSETS

pytestmark = pytest.mark.timeout(3600)  # the sentiment model may train from scratch here


def test_make_serve_seed_steps_timed(tmp_path):
    data, port = tmp_path / "data", free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "COVE_DATA_DIR": str(data), "COVE_ADMIN_PASSWORD": "admin-pass-123",
           "COVE_ASSETS": str(ASSETS), "COVE_SEED_CACHE": str(ASSETS / "seed")}
    trained_before = (ASSETS / "seed" / f"minilm-sentiment-2-{SentimentRecipe().key()}").is_dir()
    log = tmp_path / "serve.log"
    start = time.time()
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cove.cli.main", "serve", "--seed", "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    answered = prepared_message = None
    try:
        deadline = start + 3000
        while time.time() < deadline and not (data / MARKER).exists():
            assert proc.poll() is None, log.read_text()[-3000:]
            if answered is None:
                try:
                    if httpx.get(f"{url}/api/agent-harnesses", timeout=2).status_code == 200:
                        answered = time.time() - start
                except httpx.HTTPError:
                    pass
            status = read_status(data / SEED_STATUS_FILE)
            if answered and prepared_message is None and status is not None and status.active and any(
                    s.repo_id == "cove/minilm-sentiment" and s.state == "waiting" for s in status.steps):
                prepared_message = httpx.get(f"{url}/api/models/cove/minilm-sentiment").json()["error"]
            if "[seed] failed" in log.read_text():
                break
            time.sleep(0.5)
        text = log.read_text()
        assert "[seed] done; the next start skips the seed" in text, text[-4000:]
    finally:
        proc.terminate()
        proc.wait(30)

    status = read_status(data / SEED_STATUS_FILE)
    assert status is not None and not status.active and {s.state for s in status.steps} == {"done"}
    assert [s.repo_id for s in status.steps][-1] == "cove/minilm-sentiment"  # the one that trains goes last
    finished = [s.finished for s in status.steps]
    assert finished == sorted(finished)
    if prepared_message is not None:  # seen while it waited its turn (unless the others were very quick)
        assert "is being prepared by the seed" in prepared_message and "ready in" in prepared_message
    assert re.search(r"\[seed\] cove seed: +\d+%", text)  # tqdm's bar over the steps, in the log

    split = dict(re.findall(r"\[seed\]   (\S+): published \((build [\d.]+ s, publish [\d.]+ s)\)", text))
    built = "reused from the test asset cache" if trained_before else "trained in this run"
    print(f"\n`cove serve --seed` on an empty data dir (sentiment model {built}; "
          f"load average {os.getloadavg()[0]:.1f}):")
    print(f"  the Hub answered after {answered:.1f} s")
    for s in status.steps:
        print(f"  {s.repo_id:28} ready after {s.finished - start:7.1f} s  ({split.get(s.repo_id, '')})")
    print(f"  every default repo published after {max(finished) - start:.1f} s")
