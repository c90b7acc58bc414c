"""``cove db``: the Hub's metadata database: ``upgrade`` its schema to this Cove's newest migration,
or show the ``current`` one. ``cove serve`` upgrades at start by itself; these are for doing it ahead of
a deployment (a PostgreSQL shared by several servers) and for checking."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("db", help="the metadata database's schema: upgrade, current",
                       description="The Hub's metadata database (COVE_DATABASE_URL; default SQLite in the data "
                                   "dir). Its schema changes through migrations packaged with Cove; `cove serve` "
                                   "applies them at start, under a lock, so these commands are optional.")
    db = p.add_subparsers(dest="db_command", metavar="ACTION")

    up = db.add_parser("upgrade", help="apply the migrations this Cove has that the database lacks",
                       description="Bring the schema to the newest migration (or to --revision), keeping the "
                                   "data: a new database is created, one from before migrations is adopted "
                                   "in place. Safe while other servers start: they wait on the same lock.")
    up.add_argument("--revision", default="head", help="the revision to reach (default: head, the newest)")
    _common(up)
    up.set_defaults(func=upgrade)

    cur = db.add_parser("current", help="show the database's schema revision and whether it is the newest",
                        description="Print the database's revision and this Cove's newest; exit 1 when the "
                                    "database needs `cove db upgrade` (or is newer than this Cove).")
    _common(cur)
    cur.set_defaults(func=current)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=None, help="the Hub's data dir (default ~/.cove/hub, env COVE_DATA_DIR)")
    p.add_argument("--database-url", default=None,
                   help="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/cove (default env "
                        "COVE_DATABASE_URL, else SQLite in the data dir)")


def _settings(args: argparse.Namespace):
    from cove.server.settings import Settings

    return Settings.from_env(data_dir=args.data_dir, database_url=args.database_url)


def _engine(args: argparse.Namespace):
    from cove.server.db import make_engine

    settings = _settings(args)
    if settings.database_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return make_engine(settings.database_url)


def _secret(args: argparse.Namespace) -> str | None:
    """The Hub's secret (COVE_SECRET_KEY or the data dir's ``secret`` file) for the migrations that
    encrypt with it; None when neither exists (nothing was ever encrypted with one)."""
    settings = _settings(args)
    if settings.secret_key or (settings.data_dir / "secret").is_file():
        return settings.with_secret().secret_key
    return None


def _show(engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def upgrade(args: argparse.Namespace) -> int:
    from cove.server.db import migrate

    engine = _engine(args)
    try:
        before = migrate.status(engine)
        after = migrate.upgrade(engine, args.revision, secret_key=_secret(args))
    finally:
        engine.dispose()
    if before.legacy:
        print(f"{_show(engine)}: made before migrations: adopted at the baseline, its data kept")
    if before.current == after.current:
        print(f"{_show(engine)}: already at {after.current}")
    else:
        print(f"{_show(engine)}: upgraded from {before.current or '(empty)'} to {after.current}")
    return 0


def current(args: argparse.Namespace) -> int:
    from cove.server.db import migrate

    engine = _engine(args)
    try:
        st = migrate.status(engine)
    finally:
        engine.dispose()
    print(f"database: {_show(engine)}")
    if st.current is None:
        what = "from before migrations (adopted at the baseline by `cove db upgrade`)" if st.legacy else "empty"
        print(f"current: none ({what})")
    else:
        print(f"current: {st.current}")
    print(f"head:    {st.head}")
    if st.up_to_date:
        print("up to date")
        return 0
    print("needs `cove db upgrade`" if st.current is None or st.current in migrate.known()
          else "newer than this Cove: upgrade Cove")
    return 1
