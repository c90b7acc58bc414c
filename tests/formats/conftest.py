"""Fixtures of the format tests: the real checkpoints (see assets.py)."""

from tests.formats.assets import librivox, minilm_folder, smollm_gguf, whisper_folder  # noqa: F401  (pytest fixtures)
