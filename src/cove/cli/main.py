"""``cove``: the command line. Each subcommand lives in its own module and registers its parser here."""

from __future__ import annotations

import argparse
import sys

from cove.cli import accounts, audit, db, gc, hub, seed, serve


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cove",
        description="Cove: a self-hostable Hugging Face Hub and the ML stack that uses it.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve.register(sub)
    accounts.register(sub)
    audit.register(sub)
    db.register(sub)
    gc.register(sub)
    hub.register(sub)
    seed.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from cove.errors import CoveError

    try:
        return args.func(args) or 0
    except CoveError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
