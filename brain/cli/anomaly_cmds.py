"""CLI command `anomalies`: list explained spend anomalies, and `anomalies ack ID` to silence one."""

from __future__ import annotations

import argparse

from brain.anomaly.config import AnomalyConfig
from brain.cli.common import (
    add_common,
    day_count,
    parse_now,
    print_json,
    print_table,
    settings_from,
)
from brain.facade import Brain
from brain.money import usd

_COLUMNS = [
    ("id", "id"),
    ("severity", "severity"),
    ("status", "status"),
    ("agent", "agent"),
    ("owner", "owner"),
    ("onset", "onset"),
    ("family", "kind"),
    ("state", "state"),
    ("cause", "cause"),
    ("expected", "expected/day"),
    ("actual", "actual/day"),
    ("excess", "excess/day"),
    ("impact", "impact"),
    ("changes", "explained by"),
]


def table_row(a: dict) -> dict:
    """An anomaly as a table row: dollars with `$`, and its impact said for what it is: the next 30
    days at its excess while it goes on, what it cost in all once it is over."""
    ongoing = a.get("ongoing", True)
    impact = usd(a["projected_30d_impact_usd"])
    state = "ongoing" if ongoing else ("ended" + (f": {a['end']}" if a.get("end") else ""))
    return {**a, "state": state, "expected": usd(a["expected_usd_per_day"]), "actual": usd(a["actual_usd_per_day"]),
            "excess": usd(a["excess_usd_per_day"]),
            "impact": f"{impact} next 30d" if ongoing else f"{impact} in all"}


def register(sub: argparse._SubParsersAction) -> None:
    """Register anomalies (and its ack subcommand)."""
    p = sub.add_parser(
        "anomalies",
        help="spend anomalies per agent with cause, $ impact and the change notes near the onset",
        description="List anomalies active in the last N days; `brain anomalies ack ID` silences one.",
    )
    add_common(p, store=True)
    p.add_argument(
        "--days", type=day_count(AnomalyConfig().horizon_days), default=7,
        help="show anomalies flagged in the last N days or still ongoing (default: 7, at most 90: the "
        "history scanned); an anomaly's id and figures do not depend on N",
    )
    p.add_argument(
        "--min-severity", choices=["info", "warn", "critical"], default="info", help="hide milder anomalies"
    )
    p.add_argument("--all", action="store_true", help="also list acknowledged and planned anomalies")
    p.add_argument("--now", type=parse_now, default=None, help="scan as of this ISO 8601 time (default: now)")
    p.set_defaults(func=cmd_anomalies)
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=False)
    a = acts.add_parser("ack", help="acknowledge an anomaly (or mark it planned); it stops alerting")
    a.add_argument("anomaly_id", metavar="ID", help="the anomaly id shown by `brain anomalies`")
    a.add_argument("--note", default="", help="why it is fine (kept with the ack; optional)")
    a.add_argument("--planned", action="store_true", help="mark the cost change as planned")
    a.add_argument("--vault", default=argparse.SUPPRESS, help="vault folder (default: $BRAIN_VAULT or .)")
    a.add_argument("--store", default=argparse.SUPPRESS, help="usage store file")
    a.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    a.add_argument("--now", type=parse_now, default=argparse.SUPPRESS, help="scan as of this ISO 8601 time")
    a.set_defaults(func=cmd_ack)


def cmd_anomalies(args) -> int:
    """Print anomalies as a table or JSON."""
    from brain.anomaly import detect_anomalies

    brain = Brain.open(settings_from(args), read_only=True)
    try:
        found = detect_anomalies(brain.scan_inputs(), days=args.days, now=args.now, min_severity=args.min_severity,
                                 config=brain.anomaly_config(args.now))  # the settings note's floors
    finally:
        brain.close()
    rows = [a.to_dict() for a in found if args.all or a.status == "open"]
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print(f"No open anomalies in the last {args.days} days.")
        return 0
    print_table([table_row(a) for a in rows], _COLUMNS)
    return 0


def cmd_ack(args) -> int:
    """Record an ack for one anomaly id."""
    from brain.live.handoff import ack_anywhere

    d = ack_anywhere(settings_from(args), args.anomaly_id, note=args.note, planned=args.planned,
                     now=getattr(args, "now", None))
    if getattr(args, "json", False):
        print_json(d)
    else:
        print(f"{d['id']} ({d['agent']}, {d['cause']}, onset {d['onset']}) is now {d['status']}" + (f": {d['note']}" if d.get("note") else ""))
    return 0
