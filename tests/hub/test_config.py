"""Configuration from arguments and COVE_* variables; what ``import cove.hub`` pulls in."""

from __future__ import annotations

import subprocess
import sys

from cove.hub.config import resolve_config, save_token


def test_defaults_and_environment(monkeypatch, tmp_path):
    for var in ("COVE_ENDPOINT", "COVE_TOKEN", "COVE_CACHE", "COVE_OFFLINE", "COVE_VERIFY", "COVE_CLIENT_XET"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("COVE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = resolve_config()
    assert cfg.endpoint == "http://127.0.0.1:8000" and cfg.token is None and not cfg.offline and cfg.verify
    assert cfg.cache_dir == tmp_path / ".cache" / "cove" / "hub"
    save_token("saved-tok")
    assert resolve_config().token == "saved-tok"
    assert (tmp_path / "home" / "token").stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("COVE_TOKEN", "env-tok")
    monkeypatch.setenv("COVE_ENDPOINT", "http://hub:9/prefix/")
    monkeypatch.setenv("COVE_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("COVE_OFFLINE", "1")
    cfg = resolve_config()
    assert (cfg.token, cfg.endpoint, cfg.cache_dir, cfg.offline) == ("env-tok", "http://hub:9/prefix",
                                                                     tmp_path / "c", True)
    cfg = resolve_config("http://other", "arg-tok", tmp_path / "d")
    assert (cfg.endpoint, cfg.token, cfg.cache_dir) == ("http://other", "arg-tok", tmp_path / "d")
    assert resolve_config(token=False).token is None
    assert resolve_config().xet
    monkeypatch.setenv("COVE_CLIENT_XET", "0")
    assert not resolve_config().xet


def test_import_is_light():
    code = ("import sys, cove.hub; cove.hub.HubApi('http://127.0.0.1:9');"
            "bad = [m for m in ('torch', 'huggingface_hub', 'hf_xet', 'cove.server') if m in sys.modules];"
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
