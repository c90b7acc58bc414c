"""``cove audit``: print a Hub's audit log as JSON lines, read from its data dir (as ``GET /api/admin/audit``)."""

from __future__ import annotations

import argparse
import json


def register(sub) -> None:
    p = sub.add_parser("audit", help="print the audit log as JSON lines",
                       description="Print security events (sign-ins, tokens, repo visibility, deletions and moves, "
                                   "organizations, admin overrides) in time order, one JSON object a line.")
    p.add_argument("--since", default=None, help="events at or after this time (ISO 8601, UTC unless it says)")
    p.add_argument("--action", default=None, help="one action (user.login), or a prefix ending in * (repo.*)")
    p.add_argument("--actor", default=None, help="events by this user")
    p.add_argument("--limit", type=int, default=1000, help="at most this many: the first from --since, else the last")
    p.add_argument("--data-dir", default=None, help="the Hub's data dir (default ~/.cove/hub, env COVE_DATA_DIR)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cove.errors import BadRequest
    from cove.server.services import Hub
    from cove.server.services.audit import AuditQuery, as_json, parse_time
    from cove.server.settings import Settings

    try:
        since = parse_time(args.since) if args.since else None
    except ValueError:
        raise BadRequest(f"Invalid --since {args.since!r}: use ISO 8601, e.g. 2027-01-31T12:00:00Z") from None
    hub = Hub(Settings.from_env(data_dir=args.data_dir))
    for event in hub.audit.log(AuditQuery(since=since, action=args.action, actor=args.actor), limit=max(1, args.limit)):
        print(json.dumps(as_json(event), ensure_ascii=False))
    return 0
