"""The ``cove`` hub subcommands, run as real subprocesses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.hub.conftest import unique


def cove(env: dict, *args: str, ok: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "cove.cli.main", *args], capture_output=True, text=True, env=env,
                          input=stdin, timeout=120)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_login_whoami_logout(cove_env, alice, tmp_path):
    env = {**cove_env, "COVE_TOKEN": ""}
    assert cove(env, "whoami", ok=False).returncode == 1
    out = cove(env, "login", stdin=alice + "\n").stdout
    assert "Logged in as alice" in out
    assert (tmp_path / "cove-home" / "token").read_text() == alice
    assert (tmp_path / "cove-home" / "token").stat().st_mode & 0o777 == 0o600
    assert cove(env, "whoami").stdout.strip().startswith("alice")
    bad = cove(env, "login", "--token", "bogus", ok=False)
    assert bad.returncode == 1 and "cove login" in bad.stderr
    assert "Token removed" in cove(env, "logout").stdout
    assert cove(env, "whoami", ok=False).returncode == 1


def test_repo_upload_download_cache(cove_env, hub, tmp_path):
    repo = f"alice/{unique('cli')}"
    assert cove(cove_env, "repo", "create", repo).stdout.strip() == f"{hub.url}/{repo}"
    assert repo in cove(cove_env, "repo", "list", "--search", repo.split("/")[1]).stdout
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.json").write_text("{}")
    (folder / "sub" / "b.txt").write_text("b")
    (folder / "skip.log").write_text("x")
    out = cove(cove_env, "upload", repo, str(folder), "--exclude", "*.log", "--quiet").stdout
    assert f"{hub.url}/{repo}/commit/" in out
    single = tmp_path / "single.txt"
    single.write_text("one")
    cove(cove_env, "upload", repo, str(single), "docs/one.txt", "-m", "one file")
    res = cove(cove_env, "download", repo, "docs/one.txt")
    path = Path(res.stdout.strip().splitlines()[-1])
    assert path.read_text() == "one" and "/models--alice--" in str(path)
    assert "%" in res.stderr or "B/s" in res.stderr or "it/s" in res.stderr  # a tqdm bar
    quiet = cove(cove_env, "download", repo, "--include", "*.json", "--quiet")
    snap = Path(quiet.stdout.strip())
    assert quiet.stderr == "" and (snap / "a.json").exists() and not (snap / "sub" / "b.txt").exists()
    local = tmp_path / "local"
    cove(cove_env, "download", repo, "--local-dir", str(local), "--exclude", "docs/*", "-q")
    assert sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()
                  and ".cache" not in p.parts) == [".gitattributes", "a.json", "sub/b.txt"]
    listing = cove(cove_env, "cache", "ls").stdout
    assert repo in listing and "main" in listing and "1 repos" in listing
    assert cove(cove_env, "cache", "verify").stdout.strip().endswith("0 corrupted blobs")
    assert "freed" in cove(cove_env, "cache", "rm", repo).stdout
    assert "0 repos" in cove(cove_env, "cache", "ls").stdout
    missing = cove(cove_env, "download", repo, "nope.bin", ok=False)
    assert missing.returncode == 1 and "nope.bin" in missing.stderr
    assert "Deleted" in cove(cove_env, "repo", "delete", repo).stdout
    gone = cove(cove_env, "repo", "delete", repo, ok=False)
    assert gone.returncode == 1 and "not found" in gone.stderr.lower()


def test_offline_cli(cove_env, hub, alice):
    from cove.hub import HubApi

    repo = f"alice/{unique('off')}"
    with HubApi(hub.url, alice) as api:
        api.create_repo(repo)
        api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo, progress=False)
    cove(cove_env, "download", repo, "x.txt", "-q")
    env = {**cove_env, "COVE_OFFLINE": "1", "COVE_ENDPOINT": "http://127.0.0.1:9"}
    assert Path(cove(env, "download", repo, "x.txt").stdout.strip()).read_text() == "x"
    miss = cove(env, "download", repo, "y.txt", ok=False)
    assert miss.returncode == 1 and "offline" in miss.stderr


def test_unreachable_hub_is_one_line(cove_env):
    env = {**cove_env, "COVE_ENDPOINT": "http://127.0.0.1:9"}
    res = cove(env, "whoami", ok=False)
    assert res.returncode == 1 and "cannot reach the Hub at http://127.0.0.1:9" in res.stderr
    assert "Traceback" not in res.stderr
