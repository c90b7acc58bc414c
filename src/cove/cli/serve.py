"""``cove serve``: start the Hub."""

from __future__ import annotations

import argparse
import errno
import os
import secrets
import socket
import sys


def register(sub) -> None:
    p = sub.add_parser("serve", help="start the Hub server",
                       description="Start the Hub: API, git and LFS, and the web UI. On the first start with an "
                                   "empty data dir it creates an admin account and prints its password and a "
                                   "token once (COVE_ADMIN_PASSWORD sets the password).")
    p.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1, env COVE_HOST)")
    p.add_argument("--port", type=int, default=None, help="port (default 8000, env COVE_PORT)")
    p.add_argument("--data-dir", default=None, help="where repos and the database live "
                                                    "(default ~/.cove/hub, env COVE_DATA_DIR)")
    p.add_argument("--public-url", default=None, help="URL clients use to reach this server, if not the one "
                                                      "they connect to (env COVE_PUBLIC_URL)")
    p.add_argument("--workers", type=int, default=None, help="server processes (default 1, env COVE_WORKERS); "
                                                             "more serve more requests at once on more cores")
    p.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    p.add_argument("--seed", action="store_true",
                   help="once the server listens, publish the default models and datasets (`cove seed`) in the "
                        "background as the admin; a marker in the data dir makes later starts skip it")
    p.set_defaults(func=run)


def first_start(hub, out=sys.stdout) -> None:
    """Create the admin account of an empty Hub and say, once, how to sign in."""
    if hub.accounts.count_users():
        return
    password = os.environ.get("COVE_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
    try:
        hub.accounts.create_user("admin", password=password, admin=True)
    except Exception:
        if hub.accounts.count_users():  # another replica, started at the same time, made it first
            return
        raise
    token = hub.accounts.create_token("admin", "first-start")
    hub.audit.record("user.create", target="admin", detail={"admin": True, "via": "first start"})
    hub.audit.record("token.create", target="admin/first-start", detail={"role": "write", "via": "first start"})
    print("Created the admin account (shown once):", file=out)
    print("  user:     admin", file=out)
    if not os.environ.get("COVE_ADMIN_PASSWORD"):
        print(f"  password: {password}", file=out)
    print(f"  token:    {token}", file=out, flush=True)


SEED_TOKEN = "cove-serve-seed"


def start_seed(hub, settings, out=sys.stdout):
    """Seed this Hub in the background with a token of the ``admin`` account, revoked when the seed ends.
    Returns the runner, or None when the seed is already done or there is no admin to seed as."""
    from cove.seed.background import MARKER, BackgroundSeed, seed_done

    if seed_done(settings.data_dir):
        print(f"[seed] already done ({settings.data_dir / MARKER}); not seeding again", file=out, flush=True)
        return None
    admin = hub.accounts.get("admin")
    if admin is None or not admin.is_admin:
        print("[seed] no admin account named 'admin'; run `cove seed --token <an admin's token>`", file=out,
              flush=True)
        return None
    token = hub.accounts.create_token("admin", SEED_TOKEN)
    hub.audit.record("token.create", target=f"admin/{SEED_TOKEN}", detail={"role": "write", "via": "seed"})

    def revoke() -> None:
        for t in hub.accounts.list_tokens(admin.id):
            if t.name == SEED_TOKEN:
                hub.accounts.revoke_token(admin.id, t.id)
                hub.audit.record("token.revoke", target=f"admin/{SEED_TOKEN}", detail={"via": "seed"})

    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    host = f"[{host}]" if ":" in host else host
    return BackgroundSeed(f"http://{host}:{settings.port}", token, settings.data_dir, on_exit=revoke,
                          out=out).start()


def port_problem(host: str, port: int) -> str | None:
    """Why ``cove serve`` cannot listen on ``host:port`` (taken, or not an address of this machine), or
    None. Checked before the data dir is touched, so a second ``cove serve`` changes nothing."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        return f"cannot listen on {host}:{port}: {e.strerror}"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return (f"port {port} on {host} is already in use (another `cove serve`?): stop it, or pick "
                        "another port with --port or COVE_PORT")
            return f"cannot listen on {host}:{port}: {e.strerror}"
    return None


def run(args: argparse.Namespace) -> int:
    from cove.protocol import SEED_STATUS_FILE
    from cove.seed.status import mark_inactive
    from cove.server.services import Hub
    from cove.server.settings import Settings

    os.umask(0o077)  # what the server writes (repos, uploads, the database) is for its own user only
    settings = Settings.from_env(host=args.host, port=args.port, data_dir=args.data_dir,
                                 public_url=args.public_url)
    workers = args.workers or int(os.environ.get("COVE_WORKERS", "1"))
    problem = port_problem(settings.host, settings.port)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    hub = Hub(settings)
    mark_inactive(settings.data_dir / SEED_STATUS_FILE)  # a seed of an earlier start is not running now
    first_start(hub)
    print(f"Cove Hub on http://{settings.host}:{settings.port} (data in {settings.data_dir})", flush=True)
    from cove.server.listener import BoundedHttpToolsProtocol

    options = {"host": settings.host, "port": settings.port, "log_level": args.log_level,
               "timeout_keep_alive": 30, "limit_concurrency": 1000,
               "proxy_headers": True, "forwarded_allow_ips": settings.forwarded_allow_ips,
               # httptools with the request head bounded (the h11 setting carries the bound to it)
               "http": BoundedHttpToolsProtocol, "h11_max_incomplete_event_size": settings.max_request_head_bytes}
    seeder = start_seed(hub, settings) if args.seed else None
    try:
        _serve(hub, settings, workers, options)
    finally:
        if seeder is not None:
            seeder.stop()
    return 0


def _serve(hub, settings, workers: int, options: dict) -> None:
    import uvicorn

    from cove.server.app import create_app

    if workers <= 1:
        uvicorn.run(create_app(hub.settings, hub), **options)
        return
    # Several processes: each builds its app from the environment (the flags are passed down through it).
    # Git refs move by compare-and-swap under file locks and SQLite runs in WAL mode, so they can share
    # one data dir.
    os.environ.update({"COVE_DATA_DIR": str(settings.data_dir), "COVE_HOST": settings.host,
                       "COVE_PORT": str(settings.port)})
    if settings.public_url:
        os.environ["COVE_PUBLIC_URL"] = settings.public_url
    uvicorn.run("cove.server.app:app_from_env", factory=True, workers=workers, **options)
