"""config.json I/O: the JSON files that sit next to weights (config.json, generation_config.json).

Written the way transformers writes them (2-space indent, sorted keys, trailing newline) so a diff
between a Cove-saved and a transformers-saved folder shows only real differences.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cove.errors import CoveError

CONFIG_NAME = "config.json"


class ConfigError(CoveError, ValueError):
    """A config file is missing, not JSON, or lacks what the caller needs.

    Example: ``ConfigError: /models/bert/config.json: no 'model_type' key; cannot pick an architecture``
    """

    status = 422
    code = "Unprocessable"


def read_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A JSON object from ``path``; a clear :class:`ConfigError` if it is absent or malformed."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: not a JSON file ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must hold a JSON object, not {type(data).__name__}")
    return data


def write_json(data: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``data`` as transformers does: indent 2, sorted keys, newline at the end."""
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def config_path(folder: str | os.PathLike[str]) -> Path:
    """``folder/config.json``."""
    return Path(folder) / CONFIG_NAME
