"""CLI: brain publish — write cost notes, dashboard, Bases table and charts into the vault."""

from __future__ import annotations

import argparse

from brain.cli.common import add_common, day_count, print_json, settings_from
from brain.facade import Brain


def register(sub: argparse._SubParsersAction) -> None:
    """Register publish."""
    p = sub.add_parser(
        "publish",
        help="write generated cost notes, a dashboard, a Bases table and charts into the vault's Brain/ folder",
    )
    add_common(p, store=True)
    p.add_argument("--folder", default="Brain", help="vault folder the brain may write into (default: Brain)")
    p.add_argument("--days", type=day_count(), default=30, help="spend window in days (default 30)")
    p.set_defaults(func=cmd_publish)


def cmd_publish(args) -> int:
    """Publish and report what changed."""
    brain = Brain.open(settings_from(args), read_only=True)  # writes notes; never makes a usage store
    try:
        report = brain.publish(folder=args.folder, days=args.days)
    finally:
        brain.close()
    if args.json:
        print_json(report.as_dict())
    else:
        print(
            f"{report.folder}/: {len(report.written)} written, {len(report.unchanged)} unchanged, "
            f"{len(report.removed)} removed, {len(report.kept)} kept"
        )
        for rel in report.kept:
            print(f"kept {rel}: not as brain publish last wrote it (written or edited by someone); move it away to have it generated again")
    return 0
