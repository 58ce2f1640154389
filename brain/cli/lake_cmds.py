"""CLI commands past one machine (docs/lake.md): `brain lake write` (usage into a Parquet event lake),
`brain rollup` (the lake's hourly and daily rollups, by DuckDB here or by Spark), and `--lake` for
`brain collect` (its batches go to the lake instead of the store)."""

from __future__ import annotations

import argparse
import sys

from brain.cli.common import print_json, print_table
from brain.ingest.formats import CANONICAL_FORMATS, USAGE_FORMATS

ENGINES = ("duckdb", "spark")


def register(sub: argparse._SubParsersAction) -> None:
    """Register lake (write) and rollup, and add --lake to collect (registered before this module)."""
    p = sub.add_parser(
        "lake",
        help="write usage files into a Parquet event lake (date=YYYY-MM-DD/ batches), validated and priced",
        description="Write usage into an event lake: `brain lake write LAKE FILES...` validates, prices and "
        "deduplicates the files as `brain ingest` does and writes one Parquet file per UTC day, named by the "
        "batch's content (a retried write changes nothing). See docs/lake.md.",
    )
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    w = acts.add_parser("write", help="write usage files or folders to the lake as one batch")
    w.add_argument("lake", metavar="LAKE", help="the lake: a folder, or an object-store URL (s3://bucket/lake)")
    w.add_argument("files", nargs="+", metavar="PATH", help="usage files, or folders of them (read recursively)")
    w.add_argument("--format", choices=[*CANONICAL_FORMATS, *USAGE_FORMATS],
                   help="force the format (default: from the extension and contents)")
    w.add_argument("--json", action="store_true", help="print JSON instead of a table")
    w.set_defaults(func=cmd_lake_write)

    p = sub.add_parser(
        "rollup",
        help="roll an event lake up into hourly and daily Parquet rollups (DuckDB here, or Spark) for --rollups",
    )
    p.add_argument("--lake", required=True, metavar="LAKE", help="the event lake (`brain lake write`)")
    p.add_argument("--out", required=True, metavar="ROLLUPS", help="the rollups folder to write (read with --rollups ROLLUPS)")
    p.add_argument("--engine", choices=ENGINES, default="duckdb",
                   help="duckdb: on this machine (local folders); spark: a local Spark (pip install 'company-brain[spark]', Java 17+)")
    p.add_argument("--master", default="local[*]", help="Spark master with --engine spark (default: local[*])")
    p.add_argument("--full", action="store_true", help="rebuild every day, not only the days whose lake files changed")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_rollup)


def cmd_lake_write(args) -> int:
    """Write files to the lake and print what each source gave."""
    from brain.lake.writer import write_files

    report = write_files(args.lake, args.files, args.format)
    if args.json:
        print_json(report.to_dict())
        return 0 if any(not f.get("error") for f in report.files) else 1
    print_table([{**f, "error": f.get("error") or ""} for f in report.files],
                [("source", "file"), ("format", "format"), ("accepted", "accepted"), ("duplicates", "duplicates"),
                 ("quarantined", "quarantined"), ("error", "error")])
    where = (f"{len(report.written)} day file(s) written" + (f", {len(report.present)} already in the lake (same batch)"
                                                            if report.present else ""))
    print(f"\nbatch {report.batch or '-'}: {report.accepted:,} events; {where}")
    return 0 if any(not f.get("error") for f in report.files) else 1


def cmd_rollup(args) -> int:
    """Roll the lake up with the chosen engine and print the run's report."""
    if args.engine == "spark":
        from brain.lake.spark_job import run_local

        report = run_local(args.lake, args.out, master=args.master, full=args.full)
    else:
        from brain.lake.duckdb_engine import run

        report = run(args.lake, args.out, full=args.full)
    for s in report.skipped:
        print(f"skipped {s['path']}: {s['error']}", file=sys.stderr)
    if args.json:
        print_json(report.to_dict())
        return 0
    days = (f"{len(report.rebuilt)} day(s) rebuilt" + (f", {len(report.removed)} removed" if report.removed else "")
            + f", {report.unchanged} unchanged")
    print(f"{report.engine}: {days}; {report.events:,} events -> {report.hourly_rows:,} hourly and "
          f"{report.daily_rows:,} daily rows in {report.seconds:.1f} s"
          + (f"; {len(report.skipped)} unreadable file(s) skipped" if report.skipped else ""))
    return 0
