"""CLI commands `init` (a starter vault) and `demo` (the demo company, its spend and anomalies)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from brain.cli.common import day_count, notes_line, parse_now, print_json, print_table
from brain.money import count, usd

DEMO_MAX_DAYS = 365  # the demo makes its usage in memory: a year of it at most


def register(sub: argparse._SubParsersAction) -> None:
    """Register init and demo."""
    p = sub.add_parser("init", help="create a starter vault (opens in Obsidian) in PATH")
    p.add_argument("path", help="folder to create; must be empty or missing")
    p.add_argument("--force", action="store_true", help="add the missing starter files to a non-empty folder; existing files are kept")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser(
        "demo",
        help="build the demo company (vault + 60 days of usage) and print its spend, gaps and anomalies",
    )
    p.add_argument("path", nargs="?", default="demo-vault", help="demo vault folder (default: ./demo-vault)")
    p.add_argument("--seed", type=int, default=7, help="random seed of the usage (default: 7)")
    p.add_argument("--days", type=day_count(DEMO_MAX_DAYS), default=60,
                   help=f"days of usage ending now (default: 60, at most {DEMO_MAX_DAYS})")
    p.add_argument("--now", type=parse_now, default=None, help="end of the usage, ISO 8601 (default: now, UTC)")
    p.add_argument("--store", help="usage store file (default: <path>/.brain/usage.duckdb)")
    p.add_argument("--force", action="store_true",
                   help="rebuild a demo vault you have changed, keeping your edited and added notes; "
                        "a folder that is neither empty nor a demo vault is always refused")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(func=cmd_demo)


def cmd_init(args) -> int:
    """Copy the starter vault."""
    from brain.vault.template import init_vault

    made = init_vault(args.path, force=args.force)
    dest = made.path
    print(f"Created a starter vault in {dest}")
    if made.kept:
        print(f"Kept {count(len(made.kept), 'existing file')} as they were; copied only the {count(made.copied, 'missing file')}.")
    print("Open it in Obsidian (Open folder as vault), read Home.md, then try:")
    print(f"  brain graph --vault {_quote(dest)}")
    print(f"  brain check --vault {_quote(dest)}")
    return 0


def _quote(path: Path) -> str:
    s = str(path)
    return f'"{s}"' if " " in s else s


def _progress(message: str) -> None:
    if sys.stderr.isatty():
        print(message, file=sys.stderr, flush=True)


def cmd_demo(args) -> int:
    """Build the demo vault and print its headline figures."""
    from brain.demo.build import build_demo, demo_summary
    from brain.facade import Brain
    from brain.settings import Settings

    _progress(f"Building the demo company in {args.path} ({args.days} days of usage, seed {args.seed})...")
    demo = build_demo(args.path, seed=args.seed, days=args.days, now=args.now, force=args.force, store_path=args.store)
    _progress(f"Ingested {demo.accepted:,} usage events; computing spend...")
    settings = Settings(vault=demo.vault, store=demo.store)
    brain = Brain.open(settings)
    try:
        _progress("Publishing cost notes and the dashboard into Brain/ ...")
        published = brain.publish(now=demo.timeline.now)
        summary = demo_summary(brain, demo)
    finally:
        brain.close()
    stats = Brain.open(settings).graph.stats()  # the vault as `brain graph` reads it, published notes included
    summary["published"] = {"folder": published.folder, "written": len(published.written)}
    # the vault's notes as `brain graph` counts them: the company's and the starter templates
    summary["notes"] = stats["notes"]
    summary["templates"] = stats["by_type"].get("template", 0)
    summary["kept"] = list(demo.kept)
    if args.json:
        print_json(summary)
        return 0
    _print_summary(summary)
    return 0


def _rows(rows: list[dict], money: tuple[str, ...]) -> list[dict]:
    return [{**r, **{k: usd(r.get(k)) for k in money}} for r in rows]


def _print_summary(s: dict) -> None:
    h = s["headline"]
    print(
        f"Demo company in {s['vault']}: {notes_line(s['notes'], s['templates'])}, {s['events']:,} usage events over "
        f"{s['days']} days ending {s['now']}."
    )
    print(
        f"Last {s['window_days']} days: {usd(s['total_usd'])} spent, run-rate "
        f"{usd(s['run_rate_usd_per_day'])}/day, {usd(s['projected_30d_usd'])} projected for the "
        f"next 30 days; {usd(s['unattributed_usd'])} nobody claims."
    )
    print(
        f"Research Assistant: {usd(h['research_cost_per_run_usd'])} per run (a chain of 12 requests), "
        f"{usd(h['research_cost_per_run_since_prompt_v4_usd'])} since prompt v4; "
        f"Support Agent: {usd(h['support_cost_per_conversation_usd'])} per run (one conversation)."
    )
    print()
    print(f"Spend by agent, last {s['window_days']} days")
    money = ("spend_usd", "cost_per_run_usd", "run_rate_usd_per_day", "projected_30d_usd")
    print_table(
        _rows(s["by_agent"], money),
        [
            ("group", "agent"),
            ("owner", "owner"),
            ("team", "team"),
            ("spend_usd", "spend"),
            ("runs", "runs"),
            ("cost_per_run_usd", "per run"),
            ("run_rate_usd_per_day", "per day (7d)"),
            ("projected_30d_usd", "next 30 days"),
        ],
    )
    print()
    print("Spend by team")
    print_table(
        _rows(s["by_team"], money),
        [
            ("group", "team"),
            ("spend_usd", "spend"),
            ("run_rate_usd_per_day", "per day (7d)"),
            ("projected_30d_usd", "next 30 days"),
        ],
    )
    print()
    print(f"Unattributed: {usd(s['unattributed_usd'])} on keys (or agent names) no agent note claims")
    print_table(
        _rows(s["unattributed_keys"], money),
        [
            ("group", "api key id / agent"),
            ("spend_usd", "spend"),
            ("requests", "requests"),
            ("run_rate_usd_per_day", "per day (7d)"),
        ],
    )
    print()
    print("Inventory gaps (brain check)")
    print_table(s["gaps"], [("severity", "severity"), ("kind", "kind"), ("message", "problem")])
    if s.get("anomalies") is not None:
        print()
        print("Open anomalies, last 14 days (brain anomalies)")
        print_table(
            _rows(s["anomalies"], ("expected_usd_per_day", "actual_usd_per_day", "excess_usd_per_day")),
            [
                ("agent", "agent"),
                ("severity", "severity"),
                ("onset", "onset"),
                ("cause", "cause"),
                ("expected_usd_per_day", "expected/day"),
                ("actual_usd_per_day", "actual/day"),
                ("changes", "explained by"),
            ],
        )
    if s.get("alerts"):
        print()
        print("Where the alerts would go (brain alerts --dry-run; nothing is sent until a channel has a URL)")
        print_table([{**a, "channel": a["channel"] or "-", "why": _alert_why(a)} for a in s["alerts"]],
                    [("alert", "alert"), ("channel", "channel"), ("via", "via"), ("why", "status")])
        print("Connect one: export BRAIN_CHANNEL_FINOPS_ALERTS='slack://TokenA/TokenB/TokenC/#finops' "
              "(any Apprise URL; docs/alerts.md).")
    if s.get("published"):
        print()
        print(f"Published {count(s['published']['written'], 'file')} into {s['published']['folder']}/: "
              f"open {s['published']['folder']}/Cost Dashboard.md in Obsidian.")
    if s.get("kept"):
        print()
        print(f"Kept {count(len(s['kept']), 'note')} of yours as they were (the demo's version is not written): "
              + ", ".join(s["kept"]))
    print()
    vault = _quote(_shown_path(Path(s["vault"])))
    brain = brain_command()
    print(f"Next: open {vault} in Obsidian (Open folder as vault), or run:")
    print(f"  {brain} spend --vault {vault}")
    print(f"  {brain} anomalies --vault {vault}")


def _alert_why(a: dict) -> str:
    if a["outcome"] == "would send":
        return "would send"
    return a["reason"] or a["outcome"]


def _shown_path(path: Path) -> Path:
    """A path as short as it is right from the current folder."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def brain_command() -> str:
    """How to run `brain` from here: `brain` when that is on PATH and is this one, else the path of
    the script that is running (`.venv/bin/brain` after `python3 run.py demo`)."""
    import shutil

    me = Path(sys.argv[0])
    if me.name != "brain" or not me.exists():
        return "brain"
    on_path = shutil.which("brain")
    if on_path and Path(on_path).resolve() == me.resolve():
        return "brain"
    return str(_shown_path(me.absolute()))
