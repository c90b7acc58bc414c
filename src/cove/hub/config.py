"""Where the hub client talks to and where it keeps files: the environment, read once per call.

Each setting is read from the first of: an explicit argument, the ``COVE_*`` variable, the Hugging Face
variable that means the same (so one configuration serves both libraries), the default.

===================  =================================  ==========================================
Cove variable        Hugging Face fallback              default
===================  =================================  ==========================================
``COVE_ENDPOINT``    ``HF_ENDPOINT``                    ``http://127.0.0.1:8000``
``COVE_TOKEN``       ``HF_TOKEN``                       the token ``cove login`` saved
                                                        (``$COVE_HOME/token``), else the one ``hf auth
                                                        login`` saved (``HF_TOKEN_PATH``, else
                                                        ``$HF_HOME/token``)
``COVE_CACHE``       ``HF_HUB_CACHE``, then             ``~/.cache/huggingface/hub``: the cache
                     ``$HF_HOME/hub``                   ``huggingface_hub`` uses, in the same layout
                                                        (``XDG_CACHE_HOME`` moves ``~/.cache``)
``COVE_OFFLINE``     ``HF_HUB_OFFLINE``                 off
===================  =================================  ==========================================

Cove's own switches have no Hugging Face twin:

===================  ==========================================  =====================================
``COVE_HOME``        where ``cove login`` saves the token        ``~/.cove``
``COVE_VERIFY``      ``0``: skip hashing downloads (sha256 costs  on
                     ~4 s/GB of CPU without SHA-NI)
``COVE_CLIENT_XET``  ``0``: never transfer through Xet, even     on (used when ``hf_xet`` is
                     when the Hub offers it (plain GET, LFS)     installed: ``pip install cove[xet]``)
===================  ==========================================  =====================================

Nothing is read at import time.
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


def _env(*names: str) -> str | None:
    """The first of ``names`` that is set to something other than blanks."""
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def hf_home() -> Path:
    """``$HF_HOME``, else ``$XDG_CACHE_HOME/huggingface``, else ``~/.cache/huggingface`` (as huggingface_hub)."""
    home = _env("HF_HOME")
    if home:
        return Path(home).expanduser()
    return Path(_env("XDG_CACHE_HOME") or "~/.cache").expanduser() / "huggingface"


def hf_token_path() -> Path:
    """The file ``hf auth login`` (``huggingface-cli login``) writes the token to."""
    return Path(_env("HF_TOKEN_PATH") or hf_home() / "token").expanduser()


def _read_token(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def saved_token() -> str | None:
    """The token ``cove login`` saved, else the one ``hf auth login`` saved."""
    return _read_token(token_path()) or _read_token(hf_token_path())


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
    value = _env("COVE_OFFLINE", "HF_HUB_OFFLINE") or ""
    return value.lower() in ("1", "true", "yes", "on")


def default_cache_dir() -> Path:
    """``COVE_CACHE``, else huggingface_hub's cache: ``HF_HUB_CACHE``, else ``$HF_HOME/hub``."""
    explicit = _env("COVE_CACHE", "HF_HUB_CACHE")
    return Path(explicit).expanduser() if explicit else hf_home() / "hub"


def resolve_config(endpoint: str | None = None, token: str | bool | None = None,
                   cache_dir: str | os.PathLike | None = None) -> HubConfig:
    """The effective settings: arguments, then ``COVE_*`` variables, then ``HF_*`` ones, then defaults.

    Args:
        endpoint: the Hub URL; a trailing ``/`` is dropped.
        token: a token, ``False`` to send none, or ``None`` for ``COVE_TOKEN``, ``HF_TOKEN``, then the
            token ``cove login`` or ``hf auth login`` saved.
        cache_dir: the cache folder.
    """
    url = (endpoint or _env("COVE_ENDPOINT", "HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    if token is False:
        tok = None
    elif isinstance(token, str) and token:
        tok = token
    else:
        tok = _env("COVE_TOKEN", "HF_TOKEN") or saved_token()
    cache = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    verify = _flag("COVE_VERIFY")
    return HubConfig(endpoint=url, token=tok, cache_dir=cache, offline=is_offline(), verify=verify,
                     xet=_flag("COVE_CLIENT_XET"))


def _flag(name: str) -> bool:
    """An on-by-default switch: off when the variable is ``0``, ``false``, ``no`` or ``off``."""
    return os.environ.get(name, "1").strip().lower() not in ("0", "false", "no", "off")
