"""Where the hub client talks to and where it keeps files: ``COVE_*`` environment, read once per call.

===================  ==========================================  =====================================
variable             meaning                                     default
===================  ==========================================  =====================================
``COVE_ENDPOINT``    the Hub's base URL                          ``http://127.0.0.1:8000``
``COVE_TOKEN``       the access token                            the token saved by ``cove login``
``COVE_HOME``        where ``cove login`` saves the token        ``~/.cove``
``COVE_CACHE``       the download cache (the HF cache layout)    ``~/.cache/cove/hub``
``COVE_OFFLINE``     ``1``: never touch the network, cache only  off
``COVE_VERIFY``      ``0``: skip hashing downloads (sha256 costs  on
                     ~4 s/GB of CPU without SHA-NI)
``COVE_CLIENT_XET``  ``0``: never transfer through Xet, even     on (used when ``hf_xet`` is
                     when the Hub offers it (plain GET, LFS)     installed: ``pip install cove[xet]``)
===================  ==========================================  =====================================

Explicit arguments win over the environment. Nothing is read at import time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ENDPOINT = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class HubConfig:
    endpoint: str
    token: str | None
    cache_dir: Path
    offline: bool
    verify: bool = True
    xet: bool = True


def cove_home() -> Path:
    return Path(os.environ.get("COVE_HOME") or "~/.cove").expanduser()


def token_path() -> Path:
    """The file ``cove login`` writes the token to (mode 0600)."""
    return cove_home() / "token"


def saved_token() -> str | None:
    try:
        return token_path().read_text().strip() or None
    except OSError:
        return None


def save_token(token: str) -> Path:
    path = token_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)
    os.replace(tmp, path)
    return path


def delete_token() -> bool:
    try:
        token_path().unlink()
        return True
    except FileNotFoundError:
        return False


def is_offline() -> bool:
    return os.environ.get("COVE_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def default_cache_dir() -> Path:
    return Path(os.environ.get("COVE_CACHE") or "~/.cache/cove/hub").expanduser()


def resolve_config(endpoint: str | None = None, token: str | bool | None = None,
                   cache_dir: str | os.PathLike | None = None) -> HubConfig:
    """The effective settings: arguments, then ``COVE_*`` variables, then defaults.

    Args:
        endpoint: the Hub URL; a trailing ``/`` is dropped.
        token: a token, ``False`` to send none, or ``None`` for ``COVE_TOKEN`` / the saved token.
        cache_dir: the cache folder.
    """
    url = (endpoint or os.environ.get("COVE_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    if token is False:
        tok = None
    elif isinstance(token, str) and token:
        tok = token
    else:
        tok = os.environ.get("COVE_TOKEN") or saved_token()
    cache = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    verify = _flag("COVE_VERIFY")
    return HubConfig(endpoint=url, token=tok, cache_dir=cache, offline=is_offline(), verify=verify,
                     xet=_flag("COVE_CLIENT_XET"))


def _flag(name: str) -> bool:
    """An on-by-default switch: off when the variable is ``0``, ``false``, ``no`` or ``off``."""
    return os.environ.get(name, "1").strip().lower() not in ("0", "false", "no", "off")
