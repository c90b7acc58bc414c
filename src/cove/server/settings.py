"""Server settings: ``COVE_*`` environment variables, then CLI flags, frozen into one value.

Nothing reads the environment after :meth:`Settings.from_env`; the app gets its ``Settings``
passed in (``create_app(settings)``).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

MiB = 1024 * 1024


#: Integer settings read from ``COVE_<NAME>``, with the least value each accepts.
INT_SETTINGS: dict[str, int] = {
    "lfs_threshold": 1, "page_size": 1, "multipart_part_size": 1024,
    "inference_memory_mb": 1, "inference_workers": 1, "inference_max_new_tokens": 1, "inference_threads": 0,
    "max_json_bytes": 1024, "max_commit_bytes": 1024, "max_file_bytes": 1, "max_commit_files": 1,
    "max_batch_objects": 1, "max_repo_files": 1, "max_json_depth": 2, "max_request_head_bytes": 8192,
    "login_failures_per_user": 1, "login_failures_per_ip": 1, "login_window": 1, "password_checks_at_once": 1,
    "stale_upload_seconds": 60, "xet_token_seconds": 120, "xet_max_shard_bytes": 1024,
    "discussions_per_minute": 1, "s3_presign_seconds": 10,
    "webhook_retry_seconds": 1, "webhook_attempts": 1, "webhook_timeout_seconds": 1,
    "spaces_sleep_seconds": 1, "spaces_memory_mb": 64, "spaces_cpu_seconds": 1, "spaces_open_files": 64,
    "spaces_build_timeout": 10, "spaces_deep_sleep_seconds": 1, "spaces_startup_timeout": 1, "spaces_log_bytes": 4096,
}

#: String settings read from ``COVE_<NAME>`` as they are.
STR_SETTINGS = ("s3_endpoint_url", "s3_access_key", "s3_secret_key", "s3_region")


def _flag(env: dict[str, str], name: str, default: str) -> bool:
    value = env.get(name, default).strip().lower()
    if value not in ("0", "1", "true", "false", "on", "off", "yes", "no"):
        raise ValueError(f"{name} must be 0 or 1, not {env[name]!r}")
    return value in ("1", "true", "on", "yes")


#: What a replica may serve (``COVE_ROLES``).
ROLES = ("web", "inference", "spaces")


def parse_roles(text: str) -> frozenset[str]:
    roles = frozenset(r.strip().lower() for r in text.split(",") if r.strip())
    unknown = roles - set(ROLES)
    if not roles or unknown:
        raise ValueError(f"COVE_ROLES must name some of {', '.join(ROLES)} (comma-separated), not {text!r}")
    return roles


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    #: SQLAlchemy URL. Default: SQLite (WAL) in the data dir; ``postgresql+psycopg://...`` moves it.
    database_url: str = ""
    #: Where blobs (LFS objects, Xet xorbs) live. Default: ``file://<data_dir>/lfs``; ``s3://BUCKET/PREFIX``
    #: moves them to an S3-compatible store, reached with the ``s3_*`` settings below (docs/deploy.md).
    storage_url: str = ""
    #: The S3 endpoint (``https://...``; empty: AWS's for the region). Credentials and region left
    #: empty fall back to boto's own (``AWS_*`` variables, ``~/.aws``, instance roles).
    s3_endpoint_url: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = field(default="", repr=False)
    s3_region: str = ""
    #: Downloads of stored blobs redirect to presigned URLs of the store instead of streaming through
    #: the Hub (the store must be reachable by the clients); they live ``s3_presign_seconds``.
    s3_presign: bool = False
    s3_presign_seconds: int = 300
    host: str = "127.0.0.1"
    port: int = 8000
    #: The URL clients reach this server at, for absolute links; default: taken from each request.
    public_url: str | None = None
    #: What preupload answers for large files when Xet is off. "regular" sends them inline in the
    #: commit, which every client handles (a client with hf_xet installed sends "lfs" files through
    #: Xet); "lfs" uses the LFS batch API (clients with HF_HUB_DISABLE_XET=1, git-lfs). With Xet on,
    #: preupload always answers "lfs" for them: hf_xet clients use Xet, the others the batch API.
    lfs_uploads: Literal["regular", "lfs"] = "regular"
    #: Serve Xet storage (``COVE_XET``, on unless "0"): the token routes, the CAS routes under
    #: ``/cas``, Xet hashes on downloads. Off: preupload as above and the Xet routes answer 404 (files
    #: stored through Xet stay readable over plain HTTP and git-lfs).
    xet: bool = True
    #: The CAS URL handed to clients (no trailing slash); default ``<public URL>/cas``, this server.
    xet_cas_url: str | None = None
    #: Lifetime of the Xet access tokens and fetch URLs handed out (clients refresh before expiry).
    xet_token_seconds: int = 3600
    #: Largest shard accepted (the client aims at 64 MiB at most).
    xet_max_shard_bytes: int = 80 * MiB
    #: Files at least this large are stored in LFS.
    lfs_threshold: int = 10 * MiB
    #: Part size offered for multipart LFS uploads.
    multipart_part_size: int = 64 * MiB
    #: Items per page of list endpoints (repos, tree, commits); the client follows the ``Link`` header.
    page_size: int = 1000
    #: Largest request body accepted on JSON routes (commit bodies are streamed and bounded separately).
    max_json_bytes: int = 16 * MiB
    #: Largest commit body (inline base64 content included).
    max_commit_bytes: int = 64 * 1024 * MiB
    #: Memory for models loaded by the inference API (parameters + buffers, MiB); least recently used
    #: models are unloaded to make room, and a model larger than this is refused.
    inference_memory_mb: int = 2048
    #: Threads that run inference calls (each model also runs one call at a time).
    inference_workers: int = 4
    #: Most new tokens one text-generation request may ask for.
    inference_max_new_tokens: int = 1024
    #: torch threads per inference call (0: torch's default, one per core). On a busy machine 1 can do
    #: better: see docs/benchmarks.md, "Hub inference".
    inference_threads: int = 0
    #: Compile text-generation models' decode steps in a background thread while requests run eagerly,
    #: then swap them in (``COVE_INFERENCE_COMPILE=0``: never). Compiled steps are kept under
    #: ``<data_dir>/compile-cache``, so a restart pays seconds, not a full compile.
    inference_compile: bool = True
    # -- limits on what one request may ask for (each a clear 4xx past it) ---------------------------
    #: Largest file accepted through LFS (batch API, commits).
    max_file_bytes: int = 100 * 1024 * MiB
    #: Most operations (files added, deleted, copied) in one commit, and files in one preupload call.
    max_commit_files: int = 100_000
    #: Most files and folders one revision may hold, counted as listed (a folder reused under several
    #: names counts each time): a push past it is refused, a listing past it is a 422.
    max_repo_files: int = 1_000_000
    #: Most objects in one git-lfs batch request.
    max_batch_objects: int = 10_000
    #: Deepest nesting of arrays and objects in a JSON body.
    max_json_depth: int = 64
    #: Largest request line + headers; past it the connection gets 431 and is closed.
    max_request_head_bytes: int = 64 * 1024
    #: Discussions and pull requests one repo accepts per minute (all authors together); past it: 429.
    discussions_per_minute: int = 30
    # -- webhooks ----------------------------------------------------------------------------------------
    #: Private, loopback and other non-public addresses webhooks may be delivered to (public addresses
    #: always may): comma-separated addresses, CIDR blocks or host names; ``*`` for any. The Hub itself
    #: never is a target (services/webhook_targets.py).
    webhook_allow: str = ""
    #: A failed delivery is tried again after this many seconds × 4^(attempt-1), at most an hour later,
    #: until ``webhook_attempts`` were made; each waits ``webhook_timeout_seconds`` for an answer.
    webhook_retry_seconds: int = 30
    webhook_attempts: int = 6
    webhook_timeout_seconds: int = 10
    # -- sign-in ---------------------------------------------------------------------------------------
    #: Failed password checks allowed per user name, and per client address, in ``login_window``
    #: seconds; past them the next attempts get 429 with ``Retry-After`` until the window moves on.
    login_failures_per_user: int = 10
    login_failures_per_ip: int = 30
    login_window: int = 300
    #: Password checks (scrypt, ~16 MiB and ~50 ms each) run at once; more wait, off the event loop.
    password_checks_at_once: int = 2
    # -- housekeeping ------------------------------------------------------------------------------
    #: Upload temporaries (multipart parts, spooled commit lines) untouched this long are removed.
    stale_upload_seconds: int = 24 * 3600
    # -- several replicas ------------------------------------------------------------------------------
    #: What this replica serves (``COVE_ROLES``, comma-separated): ``web`` is the Hub (API, git, LFS, Xet,
    #: web UI), ``inference`` the inference API (``/api/inference``, ``/v1/...``), which loads models
    #: into this process's memory. Default: both. With several replicas, dedicated inference replicas
    #: (``inference``) take the models' memory and CPU away from the others (``web``), and the load
    #: balancer sends inference paths to them (docs/deploy.md, "Several replicas").
    roles: frozenset[str] = frozenset(ROLES)
    # -- Spaces (docs/spaces.md) -----------------------------------------------------------------------
    #: The replica whose roles include ``spaces`` builds and runs the Space apps (one process per
    #: machine takes the runner's lock; the others proxy to the port it records in the database).
    #: Seconds without a proxied request before a Space's app sleeps (a Space's own ``sleep_time`` wins).
    spaces_sleep_seconds: int = 48 * 3600
    #: How an app sleeps: ``stop`` (its processes end, their memory is freed; the next request starts it
    #: again, as long as the app takes to start: Gradio imports in 3-10 s), ``freeze`` (SIGSTOP: no CPU,
    #: memory kept, so the kernel may swap it out; the next request thaws it at once) or ``tiered`` (the
    #: default: frozen first, stopped once it has slept ``spaces_deep_sleep_seconds``).
    spaces_sleep_mode: str = "tiered"
    spaces_deep_sleep_seconds: int = 24 * 3600
    #: Limits on each app (and its build): data segment (MiB), CPU seconds, open files.
    spaces_memory_mb: int = 2048
    spaces_cpu_seconds: int = 24 * 3600
    spaces_open_files: int = 1024
    #: Longest build (venv and pip), and longest time from start to the app answering on its port.
    spaces_build_timeout: int = 1800
    spaces_startup_timeout: int = 300
    #: Bytes of build log and of run log kept per Space; past it the log says it was cut.
    spaces_log_bytes: int = 1024 * 1024
    #: Install the Debian packages of a Space's ``packages.txt`` (apt-get, needs root): off by default,
    #: where they are only reported in the build log.
    spaces_apt: bool = False
    #: How apps are confined: ``auto`` (bubblewrap when it works here, else the fallback), ``bwrap``
    #: (refuse to run without it) or ``none`` (the fallback only: own folder and scrubbed environment).
    spaces_sandbox: str = "auto"
    #: The wheelhouse all Space builds share (default ``<data_dir>/spaces/wheelhouse``), and where the
    #: venvs live, one per interpreter + SDK + requirements, shared by the Spaces that ask the same
    #: (default ``<data_dir>/spaces/envs``).
    spaces_wheelhouse: str = ""
    spaces_envs: str = ""
    #: The package indexes builds install from (space-separated, the first is pip's --index-url), and the
    #: only sources whose files (checked by sha256 against them) enter the shared wheelhouse. Default:
    #: the indexes pip is configured with here, else PyPI.
    spaces_index_urls: str = ""
    #: Addresses whose ``X-Forwarded-For`` and ``X-Forwarded-Proto`` are trusted (the load balancer's;
    #: ``COVE_FORWARDED_ALLOW_IPS``, comma-separated, ``*`` for any): sign-in limits count the client's
    #: address from them. Default: loopback only.
    forwarded_allow_ips: str = "127.0.0.1"
    #: Secret for signed upload URLs, web sessions and the key that encrypts Space secrets
    #: (``COVE_SECRET_KEY``, else ``<data_dir>/secret``, created on first start).
    secret_key: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser().resolve())
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.data_dir / 'cove.db'}")
        if not self.storage_url:
            object.__setattr__(self, "storage_url", f"file://{self.data_dir / 'lfs'}")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> Settings:
        """Settings from ``COVE_*`` variables; keyword overrides (CLI flags) win when not None."""
        env = dict(os.environ if env is None else env)
        values: dict = {
            "data_dir": env.get("COVE_DATA_DIR", "~/.cove/hub"),
            "database_url": env.get("COVE_DATABASE_URL", ""),
            "storage_url": env.get("COVE_STORAGE_URL", ""),
            "host": env.get("COVE_HOST", "127.0.0.1"),
            "port": int(env.get("COVE_PORT", "8000")),
            "public_url": env.get("COVE_PUBLIC_URL") or None,
            "lfs_uploads": env.get("COVE_LFS_UPLOADS", "regular"),
            "xet_cas_url": (env.get("COVE_XET_CAS_URL") or "").rstrip("/") or None,
            "roles": parse_roles(env.get("COVE_ROLES", ",".join(ROLES))),
            "forwarded_allow_ips": env.get("COVE_FORWARDED_ALLOW_IPS", "127.0.0.1"),
            "webhook_allow": env.get("COVE_WEBHOOK_ALLOW", ""),
            "secret_key": env.get("COVE_SECRET_KEY", ""),
        }
        values["xet"] = _flag(env, "COVE_XET", "1")
        values["s3_presign"] = _flag(env, "COVE_S3_PRESIGN", "0")
        values["spaces_apt"] = _flag(env, "COVE_SPACES_APT", "0")
        values["inference_compile"] = _flag(env, "COVE_INFERENCE_COMPILE", "1")
        values["spaces_sandbox"] = env.get("COVE_SPACES_SANDBOX", "auto")
        values["spaces_wheelhouse"] = env.get("COVE_SPACES_WHEELHOUSE", "")
        values["spaces_sleep_mode"] = env.get("COVE_SPACES_SLEEP_MODE", "tiered")
        if values["spaces_sleep_mode"] not in ("stop", "freeze", "tiered"):
            raise ValueError("COVE_SPACES_SLEEP_MODE must be stop, freeze or tiered, not "
                             f"{values['spaces_sleep_mode']!r}")
        values["spaces_envs"] = env.get("COVE_SPACES_ENVS", "")
        values["spaces_index_urls"] = env.get("COVE_SPACES_INDEX_URLS", "")
        if values["spaces_sandbox"] not in ("auto", "bwrap", "none"):
            raise ValueError(f"COVE_SPACES_SANDBOX must be auto, bwrap or none, not {values['spaces_sandbox']!r}")
        values.update({key: env[f"COVE_{key.upper()}"] for key in STR_SETTINGS if f"COVE_{key.upper()}" in env})
        for key, least in INT_SETTINGS.items():
            name = f"COVE_{key.upper()}"
            if name in env:
                try:
                    values[key] = int(env[name])
                except ValueError:
                    raise ValueError(f"{name} must be an integer, not {env[name]!r}") from None
                if values[key] < least:
                    raise ValueError(f"{name} must be at least {least}, not {values[key]}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        if values["lfs_uploads"] not in ("regular", "lfs"):
            raise ValueError(f"COVE_LFS_UPLOADS must be 'regular' or 'lfs', not {values['lfs_uploads']!r}")
        return cls(**values)

    def storage_env(self) -> dict[str, str]:
        """The ``COVE_*`` variables that reach the blob store, for processes the Hub starts (git hooks)."""
        env = {"COVE_DATA_DIR": str(self.data_dir), "COVE_STORAGE_URL": self.storage_url, "COVE_S3_PRESIGN": "1" if self.s3_presign else "0",
               "COVE_S3_PRESIGN_SECONDS": str(self.s3_presign_seconds)}
        env.update({f"COVE_{key.upper()}": getattr(self, key) for key in STR_SETTINGS if getattr(self, key)})
        return env

    def with_secret(self) -> Settings:
        """These settings with ``secret_key`` filled from ``<data_dir>/secret`` (created if absent)."""
        if self.secret_key:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / "secret"
        if not path.exists():
            # several replicas may start at once on one data dir: each writes a temporary of its own and
            # links it into place, which only the first does (a link never replaces), so all read the same
            tmp = self.data_dir / f".secret-{os.getpid()}-{secrets.token_hex(4)}"
            tmp.write_text(secrets.token_hex(32))
            tmp.chmod(0o600)
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        return replace(self, secret_key=path.read_text().strip())
