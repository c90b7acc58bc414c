"""Configuration from arguments, COVE_* variables, then the Hugging Face ones; what ``import cove.hub``
pulls in."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cove.hub.config import resolve_config, save_token

VARIABLES = ("COVE_ENDPOINT", "COVE_TOKEN", "COVE_CACHE", "COVE_OFFLINE", "COVE_VERIFY", "COVE_CLIENT_XET",
             "HF_ENDPOINT", "HF_TOKEN", "HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE", "HF_TOKEN_PATH",
             "XDG_CACHE_HOME")


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No Cove or Hugging Face variable set; HOME and COVE_HOME in ``tmp_path``."""
    for var in VARIABLES:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("COVE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HOME", str(tmp_path))
    return monkeypatch


def effective(monkeypatch, **env: str) -> tuple:
    """Set ``env``, then (endpoint, token, cache dir, offline) as resolved."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    cfg = resolve_config()
    return cfg.endpoint, cfg.token, cfg.cache_dir, cfg.offline


def test_defaults_and_environment(clean_env, tmp_path):
    monkeypatch = clean_env
    cfg = resolve_config()
    assert cfg.endpoint == "http://127.0.0.1:8000" and cfg.token is None and not cfg.offline and cfg.verify
    assert cfg.cache_dir == tmp_path / ".cache" / "huggingface" / "hub"  # huggingface_hub's own cache
    save_token("saved-tok")
    assert resolve_config().token == "saved-tok"
    assert (tmp_path / "home" / "token").stat().st_mode & 0o777 == 0o600
    assert effective(monkeypatch, COVE_TOKEN="env-tok", COVE_ENDPOINT="http://hub:9/prefix/",
                     COVE_CACHE=str(tmp_path / "c"), COVE_OFFLINE="1") == ("http://hub:9/prefix", "env-tok",
                                                                             tmp_path / "c", True)
    cfg = resolve_config("http://other", "arg-tok", tmp_path / "d")
    assert (cfg.endpoint, cfg.token, cfg.cache_dir) == ("http://other", "arg-tok", tmp_path / "d")
    assert resolve_config(token=False).token is None
    assert resolve_config().xet
    monkeypatch.setenv("COVE_CLIENT_XET", "0")
    assert not resolve_config().xet


def test_hugging_face_variables_are_the_fallback(clean_env, tmp_path):
    """COVE_* > HF_* > defaults, for the endpoint, the token, the cache and offline mode; and the token
    file ``hf auth login`` writes is read when ``cove login`` saved none."""
    monkeypatch = clean_env
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_config().cache_dir == tmp_path / "xdg" / "huggingface" / "hub"
    hf_home = tmp_path / "hf"
    hf_home.mkdir()
    (hf_home / "token").write_text("hf-file-tok\n")
    monkeypatch.setenv("HF_HOME", str(hf_home))
    cfg = resolve_config()
    assert (cfg.cache_dir, cfg.token) == (hf_home / "hub", "hf-file-tok")
    save_token("cove-file-tok")  # `cove login` wins over `hf auth login`
    assert resolve_config().token == "cove-file-tok"
    (tmp_path / "elsewhere").write_text("path-tok")
    monkeypatch.setenv("HF_TOKEN_PATH", str(tmp_path / "elsewhere"))
    (tmp_path / "home" / "token").unlink()
    assert resolve_config().token == "path-tok"

    assert effective(monkeypatch, HF_ENDPOINT="http://hf-hub:1/", HF_TOKEN="hf-env-tok",
                     HF_HUB_CACHE=str(tmp_path / "hf-cache"), HF_HUB_OFFLINE="1") == (
        "http://hf-hub:1", "hf-env-tok", tmp_path / "hf-cache", True)
    assert effective(monkeypatch, COVE_ENDPOINT="http://cove-hub:2", COVE_TOKEN="cove-env-tok",
                     COVE_CACHE=str(tmp_path / "cove-cache"), COVE_OFFLINE="0") == (
        "http://cove-hub:2", "cove-env-tok", tmp_path / "cove-cache", False)
    monkeypatch.setenv("COVE_TOKEN", "")  # blank is unset
    assert resolve_config().token == "hf-env-tok"


def test_import_is_light():
    code = ("import sys, cove.hub; cove.hub.HubApi('http://127.0.0.1:9');"
            "bad = [m for m in ('torch', 'huggingface_hub', 'hf_xet', 'cove.server') if m in sys.modules];"
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
