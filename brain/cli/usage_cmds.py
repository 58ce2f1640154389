"""CLI commands over usage: ingest, quarantine, spend, agent."""

from __future__ import annotations

import argparse
import sys

from brain.cli.common import (
    add_common,
    add_window,
    day_count,
    print_json,
    print_table,
    settings_from,
    store_given,
)
from brain.errors import BrainError
from brain.facade import Brain
from brain.ingest.formats import CANONICAL_FORMATS, COST_FORMATS, USAGE_FORMATS
from brain.money import count, usd

SPARK = "▁▂▃▄▅▆▇█"


def register(sub: argparse._SubParsersAction) -> None:
    """Register ingest, quarantine, spend and agent."""
    p = sub.add_parser("ingest", help="load usage files or folders (JSONL, CSV, Parquet, exports; '-' = JSONL on stdin) into the store")
    add_common(p, store=True)
    p.add_argument("files", nargs="+", metavar="PATH",
                   help="usage files, or folders of them (read recursively); '-' reads JSONL from stdin")
    p.add_argument(
        "--format",
        choices=[*CANONICAL_FORMATS, *USAGE_FORMATS, *COST_FORMATS],
        help="force the format (default: from the extension and contents)",
    )
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("quarantine", help="usage rows that were not trusted: reason, file and line")
    add_common(p, store=True)
    p.add_argument("--limit", type=int, default=100, help="rows to show (default: 100)")
    p.add_argument("--file", help="only rows from this source file (its path, or the end of it: usage.jsonl)")
    p.add_argument("--reason", help="only rows whose reason contains this text (e.g. timestamp)")
    p.add_argument("--history", action="store_true",
                   help="also rows a later ingest of their file no longer found (fixed or replaced)")
    p.set_defaults(func=cmd_quarantine)

    p = sub.add_parser("spend", help="ranked spend, run-rate and projection by agent, owner, team, model...")
    add_common(p, store=True)
    p.add_argument("--by", choices=["agent", "owner", "team", "model", "provider", "key"], default="agent")
    add_window(p)
    p.set_defaults(func=cmd_spend)

    p = sub.add_parser("agent", help="an agent's card: owner, dependencies, spend, run-rate, daily trend")
    add_common(p, store=True)
    p.add_argument("name", help="agent note name, alias or agent id")
    p.add_argument("--days", type=day_count(), default=30, help="days back, today included (default: 30)")
    p.set_defaults(func=cmd_agent)


class _Bar:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self) -> None:
        self.on = sys.stderr.isatty()

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.on:
            return
        width = 24
        filled = int(width * done / max(total, 1))
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {phase[:40]:<40}")
        sys.stderr.flush()

    def close(self) -> None:
        if self.on:
            sys.stderr.write("\r" + " " * 80 + "\r")
            sys.stderr.flush()


def _store(args, read_only: bool = False):
    from brain.store.shared import open_store

    return open_store(settings_from(args, vault=not store_given(args)).store_path, read_only=read_only)


def _one_line(text: str) -> str:
    """A row as written, on one table line (a CSV row with an open quote can run over several)."""
    return text.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\r")


# `brain ingest` lists at most this many files; a folder of hourly logs is summed up in one row.
MAX_FILE_ROWS = 20
_COUNTS = ("accepted", "replaced", "duplicates", "quarantined")


def _file_rows(files: list[dict]) -> list[dict]:
    """The files to list: all of them when few, else those with something to say (errors,
    quarantined, duplicate or replaced rows; at most MAX_FILE_ROWS) and one row for the rest."""
    if len(files) <= MAX_FILE_ROWS:
        return files
    notable = [x for x in files if x.get("error") or any(x.get(k) for k in _COUNTS[1:])][:MAX_FILE_ROWS]
    listed = {id(x) for x in notable}
    rest = [x for x in files if id(x) not in listed]
    summary = {"source": f"(and {count(len(rest), 'more file')}; --json lists every file)", "format": "",
               **{k: sum(int(x.get(k) or 0) for x in rest) for k in _COUNTS}}
    return [*notable, summary]


def cmd_ingest(args) -> int:
    """Ingest files; through the running `brain serve` when there is one, else straight into the store."""
    from brain.live.handoff import ingest_anywhere

    def announce(server: dict, n_paths: int) -> None:
        print(f"handing {count(n_paths, 'path')} to the running server (pid {server['pid']})", file=sys.stderr)

    bar = _Bar()
    try:
        result = ingest_anywhere(settings_from(args, vault=not store_given(args)), args.files, args.format, progress=bar, announce=announce)
    finally:
        bar.close()
    files = result["files"]
    totals = {k: sum(int(x.get(k) or 0) for x in files) for k in ("accepted", "replaced", "duplicates", "quarantined")}
    readable = any(not x.get("error") for x in files)
    if args.json:
        print_json({**totals, "files": files})
    elif readable or len(files) > 1:  # one unreadable file: its error line below says it all
        print_table(
            [{**x, "error": x.get("error") or ""} for x in _file_rows(files)],
            [("source", "file"), ("format", "format"), ("accepted", "accepted"), ("replaced", "replaced"), ("duplicates", "duplicates"),
             ("quarantined", "quarantined"), ("error", "error")],
        )
        print(
            f"\n{totals['accepted']:,} accepted, "
            + (f"{totals['replaced']:,} replaced (refreshed buckets), " if totals["replaced"] else "")
            + f"{totals['duplicates']:,} duplicate, "
            f"{totals['quarantined']:,} quarantined" + ("  (see `brain quarantine`)" if totals["quarantined"] else "")
        )
    if not readable:
        errors = [x.get("error") for x in files if x.get("error")]
        more = f" (and {count(len(errors) - 1, 'other file')})" if len(errors) > 1 else ""
        print(f"Error: nothing could be read: {errors[0]}{more}" if errors else "Error: nothing could be read",
              file=sys.stderr)
        return 1
    return 0


def cmd_quarantine(args) -> int:
    """Quarantined rows: counts by file and reason, then the rows, newest ingest first."""
    from brain.ingest.quarantine import quarantine_report

    store = _store(args, read_only=True)
    try:
        report = quarantine_report(store, file=args.file, reason=args.reason, limit=args.limit, history=args.history)
    finally:
        store.close()
    if args.json:
        print_json(report)
        return 0
    hidden = f" ({report['superseded']:,} older rows of re-ingested files: --history)" if report["superseded"] else ""
    if not report["total"]:
        print(("No quarantined rows." if not (args.file or args.reason) else "No quarantined rows match.") + hidden)
        return 0
    print_table(report["by_reason"], [("rows", "rows"), ("reason", "reason"), ("source_file", "file")])
    print()
    print_table(
        [{**d, "raw": _one_line(d["raw"] or "")[:60], "old": "superseded" if d["superseded"] else ""} for d in report["rows"]],
        [("source_file", "file"), ("source_line", "line"), ("reason", "reason"), ("raw", "row"),
         *([("old", "")] if args.history else [])],
    )
    if report["total"] > len(report["rows"]):
        print(f"\n{len(report['rows']):,} of {report['total']:,} rows shown (--limit, --file, --reason)")
    if hidden:
        print(f"\nnot shown:{hidden}")
    return 0


def sparkline(values: list[float]) -> str:
    """A unicode sparkline of a series (flat series draw as the lowest bar)."""
    if not values:
        return ""
    lo, hi = min(values), max(values)
    span = hi - lo
    return "".join(SPARK[0 if not span else int((v - lo) / span * (len(SPARK) - 1))] for v in values)


def cmd_spend(args) -> int:
    """Print the spend leaderboard for one grouping."""
    from brain.costs.spend import spend_report

    brain = Brain.open(settings_from(args), read_only=True)
    try:
        report = spend_report(
            brain.store,
            brain.graph.agent_identities(),
            by=args.by,
            days=args.days,
            since=args.since,
            until=args.until,
            price_notes=brain.graph.price_notes(),
        )
        note = brain.usage_note()
        budgets = brain.budgets()
    finally:
        brain.close()
    if note:
        print(f"brain: {note}", file=sys.stderr)
    budgeted = _budgets_of_rows(report, budgets)
    if args.json:
        print_json({**report, "budgets": budgets})
        return 0
    top = max((r["spend_usd"] or 0 for r in report["rows"]), default=0)
    table = []
    for r in report["rows"]:
        change = r["change_vs_previous_pct"]
        table.append(
            {
                "group": r["group"],
                "bar": "█" * max(1, round(10 * r["spend_usd"] / top)) if top and r["spend_usd"] is not None else "",
                "spend": usd(r["spend_usd"], missing="unpriced"),
                "share": f"{r['share_pct']:.1f}%" if r["share_pct"] is not None else "-",
                "requests": f"{r['requests']:,}",
                "per_req": usd(r["cost_per_request_usd"]),
                "per_1k_runs": usd(r["cost_per_1k_runs_usd"]),
                "rate": usd(r["run_rate_usd_per_day"]),
                "proj": usd(r["projected_30d_usd"]),
                "change": f"{change:+.0f}%" if change is not None else "new",
            }
        )
    print(f"Spend by {report['by']}, {report['since']} .. {report['until']} ({report['days']} days)\n")
    print_table(
        table,
        [("group", args.by), ("spend", "spend"), ("bar", ""), ("share", "share"), ("requests", "requests"),
         ("per_req", "$/request"), ("per_1k_runs", "$/1k runs"), ("rate", "$/day (7d)"),
         ("proj", "next 30d"), ("change", "vs prev")],
    )
    print(
        f"\nTotal {usd(report['total_usd'])} · unattributed {usd(report['unattributed_usd'])}"
        f" · unpriced {count(report['unpriced_requests'], 'request')} ({count(report['unpriced_tokens'], 'token')})"
        f" · run-rate {usd(report['run_rate_usd_per_day'])}/day"
    )
    if budgeted:
        rows = [{"group": group, "budget": f"{usd(b['budget_usd'])}/{b['period']}", "spent": usd(b["spent_usd"]),
                 "used": f"{b['used_pct']:.0f}%", "projected": usd(b["projected_usd"]), "status": _budget_state(b)}
                for group, b in budgeted]
        print("\nBudgets: spent this month (or today) and projected to its end, UTC\n")
        print_table(rows, [("group", args.by), ("budget", "budget"), ("spent", "spent"), ("used", "used"),
                           ("projected", "projected end"), *([("status", "")] if any(r["status"] for r in rows) else [])])
    return 0


def _budgets_of_rows(report: dict, budgets: list[dict]) -> list[tuple[str, dict]]:
    """Attach each row's budget (`budget`: its month budget, else its day budget, else None) and
    return (group, budget) for every budget of the rows shown: agent budgets by agent, team budgets
    by team, person (and team) budgets by owner."""
    kinds = {"agent": ("agent",), "team": ("team",), "owner": ("person", "team")}.get(report["by"], ())
    out = []
    for row in report["rows"]:
        if report["by"] == "agent":
            mine = [b for b in budgets if b["kind"] == "agent" and b["node"] == row.get("node_id")]
        else:
            mine = [b for b in budgets if b["kind"] in kinds and b["name"] == row["group"]]
        mine.sort(key=lambda b: b["period"] != "month")
        row["budget"] = mine[0] if mine else None
        out += [(row["group"], b) for b in mine]
    return out


def _budget_state(b: dict) -> str:
    """What a budget's figures say, in words."""
    end = "month" if b["period"] == "month" else "day"
    if b["spent_usd"] >= b["budget_usd"]:
        return "over budget"
    if b["projected_usd"] > b["budget_usd"]:
        return f"projected over by the {end}'s end"
    return ""


def cmd_agent(args) -> int:
    """Print one agent's cost card."""
    brain = Brain.open(settings_from(args), read_only=True)
    try:
        g = brain.graph
        try:
            node_id = g.find(args.name)
        except BrainError as exc:
            raise BrainError(f"{exc}{_unclaimed_hint(brain, args.name, args.days)}") from exc
        node = g.node(node_id)
        if node.get("type") != "agent":
            raise BrainError(f"{args.name!r} is a {node.get('type')} note, not an agent")
        card = brain.agent_costs(node_id, days=args.days)
        owner = g.owner_of_id(node_id)
        deps = g.dependencies(node_id, 1)
        try:
            anomalies = [a for a in brain.anomalies(days=14, agent=node_id) if a.get("status") == "open"]
        except BrainError as exc:
            anomalies = [{"error": str(exc)}]
        budgets = sorted((b for b in brain.budgets() if b["kind"] == "agent" and b["node"] == node_id),
                         key=lambda b: b["period"] != "month")
    finally:
        brain.close()
    props = node.get("properties") or {}
    card = {
        **card,
        "model": props.get("model"),
        "owner": owner.get("person") or card.get("owner"),
        "team": owner.get("team") or card.get("team"),
        "depends_on": [d["name"] for d in deps],
        "anomalies": anomalies,
        "budget": budgets[0] if budgets else None,  # the month budget, else the day budget
        "budgets": budgets,
    }
    if args.json:
        print_json(card)
        return 0
    _print_card(card)
    return 0


def _unclaimed_hint(brain: Brain, name: str, days: int) -> str:
    """When usage names `name` (agent field, key id or service) but no note claims it: how to claim it."""
    try:
        rows = brain.unattributed_usage(days=days)["rows"]
    except BrainError:
        return ""
    row = next((r for r in rows if (r["seen_as"] or "").lower() == name.lower()), None)
    if row is None:
        return ""
    return (f"; usage names it: {count(row['requests'], 'request')}, {usd(row['spend_usd'], missing='unpriced')} "
            f"in {days} days, unattributed ({row['how_to_claim']})")


def _print_card(c: dict) -> None:
    used = ", ".join(m["model"] for m in c["models"][:3])
    print(f"{c['name']}  (agent id: {c['agent_id']})")
    print(f"  model       {c.get('model') or '-'}" + (f"   used: {used}" if used else ""))
    print(f"  owner       {c.get('owner') or '(no owner)'}   team: {c.get('team') or '-'}")
    print(f"  depends on  {', '.join(c['depends_on']) or '-'}")
    print(f"\n  Last {c['days']} days ({c['since']} .. {c['until']})")
    print(f"  spend       {usd(c['spend_usd'], missing='unpriced')}   requests {c['requests']:,}   runs {c['runs']:,}")
    parts = c["spend_by_token_type_usd"]
    print("  by type     " + "   ".join(f"{k.replace('_', ' ')} {usd(v)}" for k, v in parts.items() if v))
    print(
        f"  unit cost   {usd(c['cost_per_request_usd'])}/request   {usd(c['cost_per_run_usd'])}/run"
        f"   {usd(c['cost_per_1k_runs_usd'])}/1k runs"
    )
    print(
        f"  run-rate    {usd(c['run_rate_usd_per_day'])}/day   next 30 days {usd(c['projected_30d_usd'])}"
        f"   this quarter {usd(c['projected_quarter_usd'])}"
    )
    for b in c.get("budgets") or []:
        this, end = ("this month", "month end") if b["period"] == "month" else ("today", "day end")
        state = _budget_state(b)
        print(
            f"  budget      {usd(b['budget_usd'])}/{b['period']}   spent {this} {usd(b['spent_usd'])} ({b['used_pct']:.0f}%)"
            f"   projected {end} {usd(b['projected_usd'])}" + (f"   {state}" if state else "")
        )
    if c["change_vs_previous_pct"] is not None:
        print(f"  vs prev     {c['change_vs_previous_pct']:+.1f}% (previous {usd(c['previous_spend_usd'])})")
    if c["unpriced_requests"]:
        print(f"  unpriced    {count(c['unpriced_requests'], 'request')} ({count(c['unpriced_tokens'], 'token')})")
    daily = [d["spend_usd"] or 0 for d in c["daily"]]
    print(f"\n  daily       {sparkline(daily)}  max {usd(max(daily, default=0))}/day")
    open_ = [a for a in c.get("anomalies") or [] if "error" not in a]
    if open_:
        print(f"\n  {len(open_)} open anomal{'y' if len(open_) == 1 else 'ies'} (brain anomalies):")
        for a in open_:
            changes = ", ".join(a.get("changes") or []) or "no change note nearby"
            print(
                f"  ! {a['severity']:<8} since {a['onset']}  cause {a['cause']}: "
                f"{usd(a['expected_usd_per_day'])}/day -> {usd(a['actual_usd_per_day'])}/day  ({changes})  id {a['id']}"
            )
