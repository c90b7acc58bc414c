"""Build a Space: check its commit out into the Space's own folder, read its config, and make its venv
(``python -m venv``, then ``pip install`` of the SDK at ``sdk_version`` and ``requirements.txt``) with
a wheelhouse shared by all Spaces, so the tenth Gradio Space downloads nothing: ``pip download`` into
the build's own folder (files the wheelhouse has are taken from it), the Hub copies the new files into
the wheelhouse (a build never writes there itself), then ``pip install --no-index`` from that folder.

A venv is keyed by what goes into it (interpreter, SDK and version, requirements) and shared by every
Space with the same key (``<data_dir>/spaces/envs/<key>``, read-only for the apps): a push that changes
only the app, and a new Space with the requirements of an existing one, install nothing. Builds run in the sandbox with the limits; a cancelled build (a newer push)
stops pip's whole process group.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from cove.server.spaces.config import ConfigError, SpaceConfig, space_config
from cove.server.spaces.logs import CappedLog
from cove.server.spaces.sandbox import Sandbox, base_env, stop_group
from cove.server.spaces.wheelhouse import Index, admit


class BuildError(Exception):
    """The build failed; the message is the Space's error."""


class Cancelled(Exception):
    """A newer commit or a restart replaced this build."""


@dataclass(frozen=True)
class SpaceDirs:
    """``<data_dir>/spaces/<storage key>/``: ``src/<sha>/`` (the checkout the app runs in),
    ``home/`` and the two logs (the venvs are shared: ``<data_dir>/spaces/envs/<key>``)."""

    root: Path

    @property
    def src(self) -> Path:
        return self.root / "src"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def build_log(self) -> Path:
        return self.root / "build.log"

    @property
    def run_log(self) -> Path:
        return self.root / "run.log"


@dataclass(frozen=True)
class Built:
    config: SpaceConfig
    app_dir: Path
    venv: Path | None


@dataclass(frozen=True)
class BuildJob:
    """What one build needs: where, which commit's files (already checked out by ``checkout``), the card."""

    dirs: SpaceDirs
    sha: str
    card: dict
    repo_sdk: str
    factory: bool


def _interpreter(version: str, log: CappedLog) -> str:
    """A Python for ``python_version``: ``python3.X`` on the PATH when it runs, else the Hub's own."""
    import sys

    major_minor = ".".join(version.split(".")[:2])
    if f"{sys.version_info.major}.{sys.version_info.minor}" == major_minor:
        return sys._base_executable  # type: ignore[attr-defined]
    found = shutil.which(f"python{major_minor}")
    if found:
        try:
            done = subprocess.run([found, "-c", "import venv, sys; print(sys.version.split()[0])"],
                                  capture_output=True, text=True, timeout=30)
            if done.returncode == 0:
                return found
        except (OSError, subprocess.TimeoutExpired):
            pass
    ours = f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"
    log.write(f"python_version {version} is not installed here: using the Hub's Python {ours}")
    return sys._base_executable  # type: ignore[attr-defined]


class Builder:
    def __init__(self, sandbox: Sandbox, wheelhouse: Path, envs: Path, *, timeout: int, apt: bool,
                 indexes: list[str]) -> None:
        self.sandbox = sandbox
        self.indexes = indexes
        self.envs = envs
        self.wheelhouse = wheelhouse
        self.timeout = timeout
        self.apt = apt

    def build(self, job: BuildJob, app_dir: Path, log: CappedLog, cancel: threading.Event) -> Built:
        files = {str(p.relative_to(app_dir)) for p in app_dir.rglob("*") if p.is_file()}
        config = space_config(job.card, files, job.repo_sdk)  # ConfigError: the runner records its stage
        log.write(f"Building {job.sha[:12]}: sdk {config.sdk} {config.sdk_version or '(latest)'}, app {config.app_file}")
        self._packages(app_dir, log, cancel)
        if not config.runs_process:
            log.write("Static Space: served from the checkout, nothing to install")
            return Built(config, app_dir, None)
        return Built(config, app_dir, self._venv(job, config, app_dir, log, cancel))

    def _packages(self, app_dir: Path, log: CappedLog, cancel: threading.Event) -> None:
        path = app_dir / "packages.txt"
        if not path.is_file():
            return
        names = [w for w in path.read_text(errors="replace").split() if not w.startswith("#")]
        log.write(f"packages.txt asks for Debian packages: {' '.join(names) or '(none)'}")
        if not names:
            return
        if not self.apt:
            log.write("Not installed: this Hub does not install Debian packages for Spaces (COVE_SPACES_APT=1 allows it)")
            return
        if any(not n.replace("-", "").replace(".", "").replace("+", "").isalnum() for n in names):
            raise BuildError("packages.txt holds a name that is not a Debian package name")
        self._run(["apt-get", "install", "-y", "--no-install-recommends", *names], "apt-get install", cwd=app_dir, env=None,
                  log=log, cancel=cancel, sandboxed=False)

    def _venv(self, job: BuildJob, config: SpaceConfig, app_dir: Path, log: CappedLog,
              cancel: threading.Event) -> Path:
        requirements = app_dir / "requirements.txt"
        wanted = f"{config.sdk}=={config.sdk_version}" if config.sdk_version else config.sdk
        python = _interpreter(config.python_version, log)
        key = hashlib.sha256("\n".join([python, wanted, requirements.read_text(errors="replace")
                                        if requirements.is_file() else ""]).encode()).hexdigest()[:16]
        final = self.envs / key
        if job.factory and final.exists():  # a factory reboot: this Space's next build makes it anew
            trash = self.envs / f".old-{key}-{secrets.token_hex(4)}"
            os.rename(final, trash)
            shutil.rmtree(trash, ignore_errors=True)
        if (final / ".complete").exists():
            log.write(f"Environment {key} (same interpreter, SDK and requirements) exists: nothing to install")
            return final
        self.envs.mkdir(parents=True, exist_ok=True)
        venv = self.envs / f".build-{key}-{secrets.token_hex(4)}"
        try:
            self._fill(venv, python, wanted, requirements, job, app_dir, log, cancel)
            try:
                os.rename(venv, final)
            except OSError:  # another Space with the same requirements finished first: use its
                if not (final / ".complete").exists():
                    raise
        finally:
            shutil.rmtree(venv, ignore_errors=True)
        return final

    def _fill(self, venv: Path, python: str, wanted: str, requirements: Path, job: BuildJob, app_dir: Path,
              log: CappedLog, cancel: threading.Event) -> None:
        log.write(f"Creating a virtual environment with {python}")
        self._run([python, "-m", "venv", str(venv)], "python -m venv", cwd=app_dir, env=None, log=log,
                  cancel=cancel, sandboxed=False)
        python_bin = str(venv / "bin" / "python")
        wanted_args = [wanted] + (["-r", str(requirements)] if requirements.is_file() else [])
        download = venv / ".download"
        self.wheelhouse.mkdir(parents=True, exist_ok=True)
        env = {**base_env(job.dirs.home), "VIRTUAL_ENV": str(venv), "PIP_NO_CACHE_DIR": "1"}
        index_args = ["--index-url", self.indexes[0], *[a for u in self.indexes[1:] for a in ("--extra-index-url", u)]]
        local = [Path(urllib.parse.unquote(urllib.parse.urlparse(u).path)) for u in self.indexes if u.startswith("file:")]
        local = [p.parent if p.name == "simple" else p for p in local]  # pages link to ../../files
        # 1. resolve and fetch into the build's own folder; files already in the wheelhouse are copied from
        #    there (the index is asked for versions only, no file is downloaded twice)
        log.write("pip download " + " ".join(wanted_args))
        self._run([python_bin, "-m", "pip", "download", "--disable-pip-version-check", "--no-input",
                   "--progress-bar", "off", "-d", str(download), *index_args, "--find-links", str(self.wheelhouse),
                   *wanted_args],
                  "pip download", cwd=app_dir, env=env, log=log, cancel=cancel, sandboxed=True,
                  writable=[venv, job.dirs.home], readable=[app_dir, self.wheelhouse, *local])
        # 2. the Hub (not the build) adds to the shared wheelhouse the new files the index vouches for
        added, kept_out = admit(download, self.wheelhouse, Index(self.indexes))
        log.write(f"{added} new files in the shared wheelhouse")
        if kept_out:
            log.write("Not shared (not files of the configured index, used by this build only): "
                      + " ".join(kept_out[:50]))
        # 3. install offline from what was fetched
        self._run([python_bin, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
                   "--progress-bar", "off", "--no-index", "--find-links", str(download), *wanted_args],
                  "pip install", cwd=app_dir, env=env, log=log, cancel=cancel, sandboxed=True,
                  writable=[venv, job.dirs.home], readable=[app_dir])
        shutil.rmtree(download, ignore_errors=True)
        (venv / ".complete").write_text(wanted + "\n")

    def _run(self, command: list[str], what: str, *, cwd: Path, env: dict | None, log: CappedLog, cancel: threading.Event,
             sandboxed: bool, writable: list[Path] = (), readable: list[Path] = ()) -> None:
        if sandboxed:
            proc = self.sandbox.start(command, cwd=cwd, env=env or {}, writable=list(writable),
                                      readable=list(readable))
        else:
            proc = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        pump = threading.Thread(target=log.pump, args=(proc.stdout,), daemon=True)
        pump.start()
        deadline = time.monotonic() + self.timeout
        try:
            while proc.poll() is None:
                if cancel.is_set():
                    raise Cancelled()
                if time.monotonic() > deadline:
                    raise BuildError(f"The build took longer than {self.timeout} s (COVE_SPACES_BUILD_TIMEOUT)")
                time.sleep(0.2)
        finally:
            stop_group(proc, grace=2)
            pump.join(30)  # the step's last lines (pip's reason) are in the log before its stage is set
        if proc.returncode != 0:
            raise BuildError(f"{what} failed (exit code {proc.returncode}): the build log says why")


__all__ = ["BuildError", "BuildJob", "Builder", "Built", "Cancelled", "ConfigError", "SpaceDirs"]
