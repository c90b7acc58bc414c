"""push_to_hub and from_pretrained("namespace/name") against a real ``cove serve`` on 127.0.0.1
(the ``hub`` and ``alice`` fixtures of tests/conftest.py)."""

from __future__ import annotations

import uuid

import torch

from cove.models import AutoConfig, AutoModelForCausalLM
from tests.models.reference import TINY, batch


def test_push_then_load_from_the_hub(hub, alice, tmp_path, monkeypatch):
    monkeypatch.setenv("COVE_CACHE", str(tmp_path / "cache"))  # an empty client cache
    repo = f"alice/tiny-llama-{uuid.uuid4().hex[:8]}"
    config = AutoConfig.from_dict(TINY["llama"]().to_dict())
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config).eval()
    model.push_to_hub(repo, token=alice, endpoint=hub.url, max_shard_size=30_000)  # several shards
    loaded = AutoModelForCausalLM.from_pretrained(repo, token=alice, endpoint=hub.url, strict=True)
    ids, mask = batch("llama")
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids, mask).logits, model(ids, mask).logits, atol=0, rtol=0)
    # the snapshot sits in the client cache, with the index and its shards
    files = {p.name for p in (tmp_path / "cache").rglob("*.safetensors*")}
    assert "model.safetensors.index.json" in files and len(files) > 2
