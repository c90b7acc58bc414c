"""Fixtures of the e2e tests that use the stock client as the session Hub's two users."""

from __future__ import annotations

import pytest
from huggingface_hub import HfApi


@pytest.fixture
def api(hub, alice) -> HfApi:
    """The stock client as alice (a write token)."""
    return HfApi(endpoint=hub.url, token=alice)


@pytest.fixture
def other(hub, bob) -> HfApi:
    """The stock client as bob, who owns none of alice's repos."""
    return HfApi(endpoint=hub.url, token=bob)
