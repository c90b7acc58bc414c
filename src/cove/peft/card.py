"""The README.md card of an adapter: peft's metadata (``library_name: peft``, ``base_model``, the
``base_model:adapter:<base>`` and ``lora`` tags, ``pipeline_tag`` for causal LMs) and a body that
names the base model and its revision. A card already in the folder keeps its text and other keys.
"""

from __future__ import annotations

from pathlib import Path

from cove.formats.cards import join_card, split_card
from cove.peft.config import PEFT_VERSION, LoraConfig

CARD = "README.md"


def card_text(config: LoraConfig, *, causal: bool, existing: str = "") -> str:
    """The card for an adapter of ``config.base_model_name_or_path`` (merged into ``existing``)."""
    meta, body = split_card(existing) if existing else ({}, "")
    base = config.base_model_name_or_path
    meta["library_name"] = "peft"
    if base:
        meta["base_model"] = base
    tags = set(meta.get("tags") or []) | {"lora"} | ({f"base_model:adapter:{base}"} if base else set())
    meta["tags"] = sorted(tags)
    if causal and not meta.get("pipeline_tag"):
        meta["pipeline_tag"] = "text-generation"
    if not body.strip():
        body = _body(config)
    return join_card(meta, body)


def _body(config: LoraConfig) -> str:
    base = config.base_model_name_or_path
    source = f"[{base}](/{base})" if base else "its base model"
    revision = f" at revision `{config.revision}`" if config.revision else ""
    targets = config.target_modules if isinstance(config.target_modules, str) else ", ".join(config.target_modules or [])
    return (
        f"\n# LoRA adapter\n\nA LoRA adapter (rank {config.r}, alpha {config.lora_alpha}) of {source}{revision},"
        f" on {targets}.\n\n## Use\n\n```python\nfrom cove.peft import AutoPeftModel\n\n"
        f"model = AutoPeftModel.from_pretrained(\"<this repo>\")\n```\n\n"
        f"It loads with `peft` too (`PeftModel.from_pretrained(base, \"<this repo>\")`).\n\n"
        f"### Framework versions\n\n- PEFT {PEFT_VERSION} (file format)\n"
    )


def write_card(folder: Path, config: LoraConfig, *, causal: bool) -> str:
    """Write (or update) ``folder/README.md``; returns its name."""
    path = folder / CARD
    existing = path.read_text() if path.is_file() else ""
    path.write_text(card_text(config, causal=causal, existing=existing))
    return CARD
