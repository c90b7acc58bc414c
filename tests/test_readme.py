"""The README's library example runs as written against a Hub holding what a fresh ``make serve`` holds.

``make serve`` runs ``cove serve --seed``, which runs ``cove seed`` with its default options; the
``seeded`` fixture runs the same ``seed`` with the same options (the default recipe, ``CI_RECIPE``) on
the test Hub, building from the test asset cache. The example then runs in a fresh interpreter with only
the endpoint set: no token, nothing else created.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.seed.conftest import seed_env, seeded, seeder  # noqa: F401  (fixtures: the seeded Hub)

ROOT = Path(__file__).resolve().parents[1]


def readme_python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a cold asset cache builds the seed first (see tests/seed/test_seed.py)
def test_readme_library_example(hub, seeded, tmp_path):  # noqa: F811
    from cove.seed import SentimentRecipe
    from tests.seed.conftest import CI_RECIPE

    assert CI_RECIPE == SentimentRecipe()  # the recipe `make serve` trains: the Hub is what it seeds
    blocks = [b for b in readme_python_blocks() if "load_dataset" in b]
    assert blocks, "README has no python example of the library"
    code = blocks[0] + "\nassert ids.shape[1] > 5 and len(data) > 100 and path.name == 'config.json'\n"
    env = {**os.environ, "COVE_ENDPOINT": hub.url, "COVE_CACHE": str(tmp_path / "cache")}
    env.pop("COVE_TOKEN", None)  # the seeded repos are public
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert "'cove/SmolLM2-135M-Instruct'" in lines[0] and "'cove/all-MiniLM-L6-v2'" in lines[0], proc.stdout
    assert lines[1].startswith("The capital of France is") and len(lines[1]) > len("The capital of France is")
    assert "num_rows" in proc.stdout
