"""CLI commands for finance: reconcile (our estimate beside provider-reported cost) and export (FOCUS)."""

from __future__ import annotations

import argparse
import sys

from brain.cli.common import (
    add_common,
    add_window,
    print_json,
    print_table,
    settings_from,
    store_given,
)
from brain.money import count, usd


def register(sub: argparse._SubParsersAction) -> None:
    """Register reconcile and export."""
    p = sub.add_parser(
        "reconcile", help="our cost estimate beside provider-reported cost by day, provider and model"
    )
    add_common(p, store=True)
    add_window(p)
    p.add_argument(
        "--threshold-pct", type=float, default=5.0, help="flag gaps larger than this percentage (default: 5)"
    )
    p.add_argument("--threshold-usd", type=float, default=0.01, help="ignore gaps smaller than this (default: 0.01)")
    p.set_defaults(func=cmd_reconcile)

    p = sub.add_parser("export", help="export attributed spend as FinOps FOCUS rows (CSV or Parquet)")
    add_common(p, json_flag=False, store=True)
    p.add_argument("--format", choices=["focus"], default="focus", help="export format (default: focus)")
    p.add_argument("--out", help="output file, .csv or .parquet (default: CSV on stdout)")
    add_window(p)
    p.set_defaults(func=cmd_export)


def cmd_reconcile(args) -> int:
    """Print the reconciliation table (or JSON) and exit 0; flagged gaps are marked, not errors."""
    from brain.costs.reconcile import reconcile
    from brain.facade import Brain

    brain = Brain.open(settings_from(args, vault=not store_given(args)), read_only=True)
    try:
        result = reconcile(brain.store, days=args.days, since=args.since, until=args.until, threshold_pct=args.threshold_pct,
                           threshold_usd=args.threshold_usd, price_notes=brain.price_notes())
    finally:
        brain.close()
    if args.json:
        print_json(result)
        return 0
    rows = result["rows"]
    if not rows:
        print(f"no usage or provider cost in the last {args.days} days")
        return 0
    print_table(
        [
            {
                **r,
                "estimate_usd": _estimate(r),
                "reported_usd": usd(r["reported_usd"]),
                "gap_usd": _signed_usd(r["gap_usd"]),
                "gap_pct": "-" if r["gap_pct"] is None else f"{r['gap_pct']:+.1f}%",
                "flag": "GAP" if r["flagged"] else "",
            }
            for r in rows
        ],
        [
            ("day", "day"),
            ("provider", "provider"),
            ("model", "model"),
            ("estimate_usd", "our estimate"),
            ("reported_usd", "reported"),
            ("reported_source", "source"),
            ("gap_usd", "gap"),
            ("gap_pct", "gap %"),
            ("flag", "flag"),
        ],
    )
    t = result["totals"]
    print(
        f"\ntotal: estimate ${t['estimate_usd']:,.2f}, reported ${t['reported_usd']:,.2f} "
        f"({t['flagged']} gap(s) above {args.threshold_pct:g}%)"
    )
    return 0


def _estimate(row: dict) -> str:
    """Our estimate, never a bare $0 for usage we could not price: `unpriced` when none of the
    row's requests had a price, `$X + N unpriced` when some had none."""
    unpriced = int(row.get("unpriced_requests") or 0)
    if not unpriced:
        return usd(row["estimate_usd"])
    if unpriced >= int(row.get("requests") or 0):
        return f"unpriced ({count(unpriced, 'request')})"
    return f"{usd(row['estimate_usd'])} + {unpriced:,} unpriced"


def _signed_usd(x: float | None) -> str:
    """+$1.23 / -$0.0420: a gap with its sign before the dollar."""
    if x is None:
        return "-"
    return ("+" if x > 0 else "") + usd(x)


def cmd_export(args) -> int:
    """Write FOCUS rows to --out (CSV or Parquet by extension) or CSV on stdout."""
    from brain.costs.focus import focus_table, write_focus
    from brain.facade import Brain

    brain = Brain.open(settings_from(args, vault=not store_given(args)), read_only=True)
    try:
        table = focus_table(brain.store, brain.identities(), days=args.days, since=args.since, until=args.until,
                            price_notes=brain.graph.price_notes())
        write_focus(table, args.out)
    finally:
        brain.close()
    if args.out:
        print(f"wrote {table.num_rows} FOCUS rows to {args.out}", file=sys.stderr)
    return 0
