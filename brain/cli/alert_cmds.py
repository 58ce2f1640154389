"""CLI command `alerts`: one alert pass (what was sent to whom), `--dry-run` (what would be),
`--status` (per channel: last success, failures waiting for a retry), and `alerts test CHANNEL`."""

from __future__ import annotations

import argparse

from brain.cli.common import add_common, parse_now, print_json, print_table, settings_from

_ORDER = ("sent", "would send", "failed", "would retry", "held", "would hold", "digested", "in digest")
_NO_CHANNEL_HINT = (
    "To give these a channel: `notify: CHANNEL` on the agent's note, its owner's or its team's, or\n"
    "`default_channel: CHANNEL` in Brain/Settings.md; and the channel's Apprise URL in $BRAIN_CHANNEL_<NAME>\n"
    "or in ~/.config/company-brain/channels.toml (`name = \"url\"`, chmod 600). `brain check` lists what is missing."
)


def register(sub: argparse._SubParsersAction) -> None:
    """Register alerts (and its test subcommand)."""
    p = sub.add_parser(
        "alerts",
        help="send the alerts owed (new, worse or ended anomalies, budget thresholds) to their owners' channels",
        description=(
            "Run one alert pass: scan, decide what is owed, send it through Apprise, record it. A second pass "
            "sends nothing new; a channel that failed is retried with backoff. `brain alerts test CHANNEL` "
            "sends a test message."
        ),
    )
    add_common(p, store=True)
    p.add_argument("--dry-run", action="store_true", help="print what would be sent to whom; send and record nothing")
    p.add_argument("--status", action="store_true",
                   help="per channel: last success, failures waiting for a retry and when, messages held")
    p.add_argument("--now", type=parse_now, default=None, help="scan and decide as of this ISO 8601 time (default: now)")
    p.set_defaults(func=cmd_alerts)
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=False)
    t = acts.add_parser("test", help="send a test message to one channel")
    t.add_argument("channel", metavar="CHANNEL", help="the channel name a note's `notify:` uses")
    t.add_argument("--vault", default=argparse.SUPPRESS, help="vault folder (default: $BRAIN_VAULT or .)")
    t.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    t.set_defaults(func=cmd_test)


def cmd_alerts(args) -> int:
    """Run one pass (or show the delivery status) and print it."""
    if args.status:
        return _status(args)
    from brain.live.handoff import alerts_anywhere

    report = alerts_anywhere(settings_from(args), now=args.now, dry_run=args.dry_run)
    if args.json:
        print_json(report)
        return 0
    _print_report(report)
    return 0


def _print_report(report: dict) -> None:
    items = report["items"]
    acted = sorted((i for i in items if i["outcome"] in _ORDER), key=lambda i: _ORDER.index(i["outcome"]))
    unrouted = [i for i in items if i["outcome"] == "skipped" and (i["reason"] == "no channel" or "has no URL" in i["reason"])]
    others: dict[str, int] = {}
    for i in items:
        if i["outcome"] == "skipped" and i not in unrouted:
            others[i["reason"]] = others.get(i["reason"], 0) + 1
    when = report["now"]
    head = f"Dry run as of {when}: nothing is sent or recorded." if report["dry_run"] else f"Alert pass as of {when}."
    print(head + ("" if acted or unrouted else " Nothing to send."))
    if acted:
        print_table([{"outcome": i["outcome"], "to": i["channel"], "via": i["via"], "alert": i["title"],
                      "detail": _detail(i)} for i in acted],
                    [("outcome", "outcome"), ("to", "to"), ("via", "via"), ("alert", "alert"), ("detail", "detail")])
    if unrouted:
        print(f"\nNot sent, {len(unrouted)} with nowhere to go (they stay owed and go once there is):")
        print_table([{"alert": i["title"], "why": i["reason"] if i["reason"] != "no channel"
                      else "no channel: the agent, its owner and team name none, and there is no default"}
                     for i in unrouted], [("alert", "alert"), ("why", "why")])
        print(_NO_CHANNEL_HINT)
    if others:
        print("\nNot alerted: " + "; ".join(f"{n} {reason}" for reason, n in sorted(others.items(), key=lambda kv: -kv[1])))


def _detail(i: dict) -> str:
    if i["outcome"] == "failed":
        return f"{i['reason']}; retry at {i['next_attempt'] or 'the next pass'} (attempt {i['attempts']})"
    if i["outcome"] in ("sent", "would send") and i["via"] == "retry":
        return f"retried (attempt {i['attempts']})"
    return i["reason"]


def _status(args) -> int:
    from brain.facade import Brain

    settings = settings_from(args)
    if not settings.store_path.exists():
        rows: list[dict] = []
    else:
        brain = Brain.open(settings, read_only=True)
        try:
            rows = brain.alert_status()
        finally:
            brain.close()
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("No alert has been sent or tried yet.")
        return 0
    print_table(rows, [("channel", "channel"), ("sent", "sent"), ("last_success", "last success"),
                       ("failing", "failing"), ("last_error", "last error"), ("next_attempt", "next try"),
                       ("held", "held"), ("sending", "sending")])
    return 0


def cmd_test(args) -> int:
    """Send a test message to one channel; exit 1 when it did not go."""
    from brain.facade import Brain

    result = Brain.open(settings_from(args)).test_channel(args.channel)
    if getattr(args, "json", False):
        print_json(result)
    elif result["outcome"] == "sent":
        print(f"Sent a test message to {args.channel} ({result['reason']}).")
    else:
        print(f"Not sent to {args.channel}: {result['reason']}")
    return 0 if result["outcome"] == "sent" else 1
