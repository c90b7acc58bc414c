"""``cove users passwd NAME``: an admin on the server machine sets a user's password from the data dir
(a lost admin password): the rules of a new password, the old one and every web session of the user
end, tokens keep working, and the change is in the audit log."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
import uuid

import httpx

from cove.hub import HubApi
from tests.conftest import database_env

OLD, NEW = "first-password-1", "second-password-2"


def passwd(hub, name: str, stdin: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **database_env(str(hub.data_dir))}
    return subprocess.run([sys.executable, "-m", "cove.cli.main", "users", "passwd", name, "--data-dir",
                           str(hub.data_dir)], input=stdin, capture_output=True, text=True, env=env, timeout=120)


def sign_in(url: str, name: str, password: str) -> tuple[httpx.Client, int]:
    c = httpx.Client(base_url=url, follow_redirects=False, timeout=30)
    csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
    return c, c.post("/login", data={"csrf": csrf, "username": name, "password": password}).status_code


def test_passwd_resets_the_password_and_signs_out(hub):
    name = f"pat-{uuid.uuid4().hex[:8]}"
    token = hub.user(name, admin=True, password=OLD)
    web, status = sign_in(hub.url, name, OLD)
    other, _ = sign_in(hub.url, name, OLD)
    assert status == 303 and web.get("/settings/tokens").status_code == 200

    short = passwd(hub, name, "short\n")
    assert short.returncode == 1 and "at least 8 characters" in short.stderr
    assert web.get("/settings/tokens").status_code == 200  # nothing changed
    missing = passwd(hub, "nobody-here", NEW + "\n")
    assert missing.returncode == 1 and "no user named 'nobody-here'" in missing.stderr

    done = passwd(hub, name, NEW + "\n")
    assert done.returncode == 0, done.stderr
    assert f"Password of {name} changed; 2 web session(s) signed out" in done.stdout
    for session in (web, other):  # both browsers are signed out
        assert session.get("/settings/tokens").status_code != 200
    assert sign_in(hub.url, name, OLD)[1] != 303
    assert sign_in(hub.url, name, NEW)[1] == 303
    assert HubApi(hub.url, token).whoami()["name"] == name  # tokens are not passwords: they keep working
    audit = hub.cli("audit", "--action", "user.password")
    events = [json.loads(line) for line in audit.splitlines() if line.strip()]
    assert any(e["target"] == name and e["detail"]["sessions_ended"] == 2 for e in events), audit


def _on_a_terminal(hub, name: str, answers: list[str]) -> tuple[int, str]:
    """Run ``cove users passwd`` with a terminal (getpass reads it), typing ``answers`` at its prompts."""
    env = {**os.environ, **database_env(str(hub.data_dir))}
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec, never return into pytest
        os.execvpe(sys.executable, [sys.executable, "-m", "cove.cli.main", "users", "passwd", name, "--data-dir",
                                    str(hub.data_dir)], env)
    out, pending, deadline = b"", list(answers), time.monotonic() + 120
    while time.monotonic() < deadline:
        if not select.select([fd], [], [], 1)[0]:
            continue  # a child that waits for input we will not send fails at the deadline, not at pytest's
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child has exited
            break
        if not chunk:
            break
        out += chunk
        # answer a prompt only once it is on screen ("...: ", no newline after it): getpass flushes what
        # was typed before it turned echo off, so an answer sent early (on the echoed newline) is lost
        if pending and out.endswith(b": "):
            os.write(fd, pending.pop(0).encode() + b"\n")
    else:
        os.kill(pid, 9)
    _, code = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(code), out.decode(errors="replace")


def test_passwd_asks_twice_on_a_terminal(hub):
    name = f"tess-{uuid.uuid4().hex[:8]}"
    hub.user(name, password=OLD)
    code, out = _on_a_terminal(hub, name, [NEW, NEW + "-typo"])
    assert code == 1 and "the passwords differ; nothing changed" in out and NEW not in out  # not echoed
    assert sign_in(hub.url, name, OLD)[1] == 303
    code, out = _on_a_terminal(hub, name, [NEW, NEW])
    assert code == 0 and "changed" in out, out
    assert sign_in(hub.url, name, NEW)[1] == 303
