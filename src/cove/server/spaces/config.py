"""What a Space declares in its README front matter (``sdk``, ``app_file``, ...), checked: the runner
builds from this, never from the raw card."""

from __future__ import annotations

import re
from dataclasses import dataclass

#: SDKs the runner builds; ``docker`` is accepted in cards (the client sends it) but not run here.
RUNNABLE = ("gradio", "streamlit", "static")
_VERSION = re.compile(r"^[0-9][0-9A-Za-z.+!-]{0,40}$")
_PYTHON = re.compile(r"^3\.[0-9]{1,2}(\.[0-9]{1,2})?$")
_DURATION = re.compile(r"^([0-9]{1,6})\s*(s|m|h)?$")


class ConfigError(ValueError):
    """The card cannot be run; ``stage`` is what the Space shows (CONFIG_ERROR or NO_APP_FILE)."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage


@dataclass(frozen=True)
class SpaceConfig:
    sdk: str
    sdk_version: str
    python_version: str
    app_file: str
    app_port: int
    startup_timeout: int | None  # seconds, from ``startup_duration_timeout``

    @property
    def runs_process(self) -> bool:
        return self.sdk != "static"


def _duration(value: object) -> int | None:
    if value is None:
        return None
    m = _DURATION.match(str(value).strip())
    if not m:
        raise ConfigError("CONFIG_ERROR", f"startup_duration_timeout {value!r} is not a duration like 30m or 1h")
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, None: 60}[m.group(2)]


def space_config(card: dict, files: set[str], repo_sdk: str = "") -> SpaceConfig:
    """The config of a Space whose README front matter is ``card`` and whose commit holds ``files``
    (``repo_sdk``: what the Space was created with, used when the card names none)."""
    sdk = card.get("sdk") or repo_sdk
    if sdk not in (*RUNNABLE, "docker"):
        raise ConfigError("CONFIG_ERROR", f"The README's front matter needs `sdk:` gradio, streamlit or static "
                                          f"(found {sdk!r})")
    if sdk == "docker":
        raise ConfigError("CONFIG_ERROR", "Docker Spaces are not run by this Hub: use sdk gradio, streamlit or static")
    version = str(card.get("sdk_version") or "")
    if version and not _VERSION.match(version):
        raise ConfigError("CONFIG_ERROR", f"sdk_version {version!r} is not a version number")
    python = str(card.get("python_version") or "3.10")
    if not _PYTHON.match(python):
        raise ConfigError("CONFIG_ERROR", f"python_version {python!r} is not like 3.10 or 3.10.13")
    app_file = str(card.get("app_file") or ("index.html" if sdk == "static" else "app.py"))
    if app_file.startswith("/") or ".." in app_file.split("/"):
        raise ConfigError("CONFIG_ERROR", f"app_file {app_file!r} must be a path inside the repo")
    if app_file not in files:
        raise ConfigError("NO_APP_FILE", f"The app file {app_file} is not in the repo (set app_file in README.md)")
    try:
        port = int(card.get("app_port") or 7860)
    except (TypeError, ValueError):
        raise ConfigError("CONFIG_ERROR", f"app_port {card.get('app_port')!r} is not a number") from None
    return SpaceConfig(sdk, version, python, app_file, port, _duration(card.get("startup_duration_timeout")))
