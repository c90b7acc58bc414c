"""How a Space's build and app run: limits (``setrlimit`` before exec), their own process group, a
scrubbed environment, and bubblewrap where this machine allows it.

With bubblewrap (Debian package ``bubblewrap``) the process sees the system's read-only folders
(``/usr``, ``/etc``, the interpreter), a private ``/tmp``, and, writable, only the folders it is given
(its Space's folder; for builds also the shared pip cache): the Hub's data dir and the other Spaces do
not exist for it. Without bubblewrap (``COVE_SPACES_SANDBOX=none``, or ``auto`` where user namespaces
are refused) the fallback is weaker and says so in the build log: the app runs as the Hub's user, in
its own folder, with ``HOME`` there and an environment that holds none of the Hub's variables (no
``COVE_*``, no data dir path, no credentials), under the same limits.
"""

from __future__ import annotations

import functools
import os
import resource
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

#: System folders an app may read (each bound only if it exists).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")


@dataclass(frozen=True)
class Limits:
    memory_mb: int
    cpu_seconds: int
    open_files: int

    def apply(self) -> None:
        """Run in the child between fork and exec (``preexec_fn``)."""
        data = self.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_DATA, (data, data))
        resource.setrlimit(resource.RLIMIT_CPU, (self.cpu_seconds, self.cpu_seconds + 5))
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_files, self.open_files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


@functools.cache
def bwrap_usable() -> str | None:
    """The path of a bubblewrap that can make a sandbox here (user namespaces allowed), else None."""
    path = shutil.which("bwrap")
    if path is None:
        return None
    try:
        done = subprocess.run([path, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "true"],
                              capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return path if done.returncode == 0 else None


class Sandbox:
    """Wraps a command line in bubblewrap (or not, in the fallback) and starts it with limits."""

    def __init__(self, mode: str, limits: Limits) -> None:
        self.limits = limits
        self.bwrap = None if mode == "none" else bwrap_usable()
        if mode == "bwrap" and self.bwrap is None:
            raise RuntimeError("COVE_SPACES_SANDBOX=bwrap, but bubblewrap is missing or cannot create user "
                               "namespaces here (apt-get install bubblewrap; check kernel.unprivileged_userns_clone)")

    @property
    def description(self) -> str:
        if self.bwrap:
            return "bubblewrap sandbox (own mount, pid, ipc and user namespaces; only its folder writable)"
        return ("fallback without a sandbox (bubblewrap unavailable): own folder, HOME and process group, "
                "scrubbed environment, limits; the app runs as the Hub's user")

    def argv(self, command: list[str], *, cwd: Path, writable: list[Path], readable: list[Path] = ()) -> list[str]:
        if not self.bwrap:
            return command
        out = [self.bwrap, "--die-with-parent", "--unshare-user", "--unshare-pid", "--unshare-ipc",
               "--unshare-uts", "--unshare-cgroup-try", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        for d in SYSTEM_DIRS:
            if os.path.lexists(d):
                out += ["--ro-bind", d, d] if not os.path.islink(d) else ["--symlink", os.readlink(d), d]
        for d in {Path(sys.base_prefix), *readable}:
            if not str(d).startswith("/usr/"):
                out += ["--ro-bind", str(d), str(d)]
        for d in writable:
            out += ["--bind", str(d), str(d)]
        return [*out, "--chdir", str(cwd), *command]

    def start(self, command: list[str], *, cwd: Path, env: dict[str, str], writable: list[Path],
              readable: list[Path] = ()) -> subprocess.Popen:
        """Start ``command`` in its own session (process group) with the limits; output on one pipe."""
        return subprocess.Popen(self.argv(command, cwd=cwd, writable=writable, readable=readable), cwd=cwd,
                                env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=self.limits.apply)


def base_env(home: Path) -> dict[str, str]:
    """The environment every Space process starts from: nothing of the Hub's own."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "PYTHONUNBUFFERED": "1", "TMPDIR": "/tmp", "HF_HUB_DISABLE_TELEMETRY": "1"}


def stop_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """Stop a process started by :meth:`Sandbox.start` and everything it started: SIGTERM to its group,
    then SIGKILL after ``grace`` seconds."""
    import signal

    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
            os.killpg(proc.pid, signal.SIGCONT)  # a frozen (sleeping) app handles SIGTERM only once thawed
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue
