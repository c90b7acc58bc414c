"""``cove gc``: remove stored content no commit of any repo and no storage bucket references any more
(xorbs, Xet file records, LFS blobs), read from the Hub's data dir. A dry run unless ``--apply``."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("gc", help="remove content no commit references (dry run unless --apply)",
                       description="Find the xorbs, Xet file records and LFS blobs that no commit reachable from "
                                   "any ref of any repo (and no storage bucket) references, and that are older "
                                   "than the grace period "
                                   "(uploads in flight are younger); print them, and with --apply delete them. "
                                   "Safe while the Hub runs.")
    p.add_argument("--apply", action="store_true", help="delete what was found (default: only report it)")
    p.add_argument("--grace", type=float, default=None,
                   help="seconds anything new is kept (default COVE_STALE_UPLOAD_SECONDS, a day)")
    p.add_argument("--verbose", action="store_true", help="list each item")
    p.add_argument("--data-dir", default=None, help="the Hub's data dir (default ~/.cove/hub, env COVE_DATA_DIR)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cove.server.services import Hub
    from cove.server.services.gc import collect
    from cove.server.settings import Settings

    hub = Hub(Settings.from_env(data_dir=args.data_dir))
    report = collect(hub, apply=args.apply, grace=args.grace)
    if args.verbose:
        for kind, names in (("xorb", report.xorbs), ("xet-file", report.files), ("lfs-blob", report.blobs)):
            for name in names:
                print(f"{kind} {name}")
    print(report.summary())
    return 0
