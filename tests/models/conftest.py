"""Fixtures of the model tests: the real checkpoints (see tests/formats/assets.py)."""

from tests.formats.assets import minilm_folder, smollm_gguf  # noqa: F401  (pytest fixtures)
