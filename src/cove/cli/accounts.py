"""``cove users``, ``cove tokens``, ``cove orgs``: manage accounts in a Hub's data dir.

``cove users add`` and ``cove tokens add`` print the new token alone on the last line of stdout,
so scripts can take it with ``$(cove users add alice | tail -n1)``. ``cove users passwd NAME`` sets a
new password (asked twice on a terminal, else read from the first line of stdin) and signs the user out
of the web UI everywhere: the way back in when an admin has lost theirs.
"""

from __future__ import annotations

import argparse
import getpass
import sys


def _hub(args: argparse.Namespace):
    from cove.server.services import Hub
    from cove.server.settings import Settings

    return Hub(Settings.from_env(data_dir=args.data_dir))


def _data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=None, help="the Hub's data dir (default ~/.cove/hub, env COVE_DATA_DIR)")


def register(sub) -> None:
    users = sub.add_parser("users", help="manage users").add_subparsers(dest="action", metavar="ACTION")
    p = users.add_parser("add", help="create a user and print a new write token")
    p.add_argument("name")
    p.add_argument("--admin", action="store_true", help="make the user a Hub administrator")
    p.add_argument("--password", default=None, help="password for the web UI (optional)")
    p.add_argument("--email", default="")
    _data_dir(p)
    p.set_defaults(func=users_add)

    p = users.add_parser("passwd", help="set a user's password (e.g. a lost admin password) and end their web "
                                        "sessions; asked twice, or read from stdin")
    p.add_argument("name")
    _data_dir(p)
    p.set_defaults(func=users_passwd)

    tokens = sub.add_parser("tokens", help="manage access tokens").add_subparsers(dest="action", metavar="ACTION")
    p = tokens.add_parser("add", help="print a new token for a user")
    p.add_argument("name", help="the user")
    p.add_argument("--read-only", action="store_true", help="a token that can read but not write")
    p.add_argument("--token-name", default="cli", help="a label for the token")
    _data_dir(p)
    p.set_defaults(func=tokens_add)

    orgs = sub.add_parser("orgs", help="manage organizations").add_subparsers(dest="action", metavar="ACTION")
    p = orgs.add_parser("add", help="create an organization")
    p.add_argument("org")
    p.add_argument("--owner", required=True, help="the user who becomes its first admin")
    _data_dir(p)
    p.set_defaults(func=orgs_add)
    p = orgs.add_parser("add-member", help="add a user to an organization (or change their role)")
    p.add_argument("org")
    p.add_argument("name", help="the user")
    p.add_argument("--role", choices=["read", "write", "admin"], default="read")
    _data_dir(p)
    p.set_defaults(func=orgs_add_member)
    p = orgs.add_parser("set", help="change an organization's settings")
    p.add_argument("org")
    p.add_argument("--private-by-default", choices=["yes", "no"], required=True,
                   help="repos and buckets created without a visibility are private (yes) or public (no)")
    _data_dir(p)
    p.set_defaults(func=orgs_set)


# The audit log's actor for these is None: whoever runs them has the data dir, not an account.


def users_add(args: argparse.Namespace) -> int:
    hub = _hub(args)
    hub.accounts.create_user(args.name, password=args.password, admin=args.admin, email=args.email)
    hub.audit.record("user.create", target=args.name, detail={"admin": args.admin, "via": "cli"})
    token = hub.accounts.create_token(args.name, "cli")
    hub.audit.record("token.create", target=f"{args.name}/cli", detail={"role": "write", "via": "cli"})
    print(token)
    return 0


def _new_password(name: str) -> str | None:
    """The new password: typed twice on a terminal, else the first line of stdin; None when the two differ."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"New password for {name}: ")
    if getpass.getpass("Again: ") != first:
        return None
    return first


def users_passwd(args: argparse.Namespace) -> int:
    hub = _hub(args)
    if hub.accounts.get(args.name) is None:
        print(f"error: no user named {args.name!r} in {hub.settings.data_dir}", file=sys.stderr)
        return 1
    password = _new_password(args.name)
    if password is None:
        print("error: the passwords differ; nothing changed", file=sys.stderr)
        return 1
    ended = hub.accounts.reset_password(args.name, password)
    hub.audit.record("user.password", target=args.name, detail={"via": "cli", "sessions_ended": ended})
    print(f"Password of {args.name} changed; {ended} web session(s) signed out")
    return 0


def tokens_add(args: argparse.Namespace) -> int:
    hub = _hub(args)
    role = "read" if args.read_only else "write"
    token = hub.accounts.create_token(args.name, args.token_name, role=role)
    hub.audit.record("token.create", target=f"{args.name}/{args.token_name}", detail={"role": role, "via": "cli"})
    print(token)
    return 0


def orgs_add(args: argparse.Namespace) -> int:
    hub = _hub(args)
    hub.accounts.create_org(args.org, args.owner)
    hub.audit.record("org.create", target=args.org, detail={"owner": args.owner, "via": "cli"})
    print(f"Created organization {args.org} (admin: {args.owner})")
    return 0


def orgs_set(args: argparse.Namespace) -> int:
    hub = _hub(args)
    value = args.private_by_default == "yes"
    hub.accounts.set_private_by_default(args.org, value)
    hub.audit.record("org.settings", target=args.org, detail={"private_by_default": value, "via": "cli"})
    print(f"New repos and buckets in {args.org} are {'private' if value else 'public'} unless created otherwise")
    return 0


def orgs_add_member(args: argparse.Namespace) -> int:
    hub = _hub(args)
    hub.accounts.add_member(args.org, args.name, args.role)
    hub.audit.record("org.member", target=args.org, detail={"user": args.name, "role": args.role, "via": "cli"})
    print(f"{args.name} is now {args.role} in {args.org}")
    return 0
