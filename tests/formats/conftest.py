"""Fixtures of the format tests: the real checkpoints (see assets.py)."""

from tests.formats.assets import minilm_folder, smollm_gguf  # noqa: F401  (pytest fixtures)
