"""One alert pass: decide what is owed from the anomalies, budgets and delivery records, record it
as 'sending', send through Apprise, record the outcome; plus `send_test` and `delivery_status`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from brain.alerts import state
from brain.alerts.channels import ChannelBook, env_var, load_channels
from brain.alerts.decide import Decision, decide, digests, quiet_until
from brain.alerts.deliver import TIMEOUT_S, Job, deliver, notify_type
from brain.alerts.messages import Message, channel_test_message
from brain.alerts.route import route_agent, route_budget
from brain.alerts.settings import AlertSettings
from brain.costs.budgets import BudgetStatus

log = logging.getLogger(__name__)

NO_CHANNEL_HINT = ("set `notify: CHANNEL` on the agent's note, its owner's or its team's, or `default_channel` "
                   "in Brain/Settings.md; then give the channel a URL ($BRAIN_CHANNEL_<NAME> or the channels file)")


@dataclass
class AlertInputs:
    """What a pass reads: anomaly dicts, budget statuses, the settings, the graph, the store, and
    the dependents of an agent node (a dict or a function)."""

    anomalies: list[dict]
    budgets: list[BudgetStatus]
    settings: AlertSettings
    graph: Any
    store: Any
    dependents: Mapping[str, list[str]] | Callable[[str], list[str]] = field(default_factory=dict)
    channels: ChannelBook | None = None  # None: read the environment and channels file now
    timeout_s: float = TIMEOUT_S


@dataclass(frozen=True)
class PassItem:
    """One message of a pass and what became of it."""

    key: str
    kind: str
    ref: str
    subject: str
    severity: str | None
    channel: str | None
    via: str
    outcome: str  # sent | failed | held | skipped | digested | (dry run) would send | would hold | would retry
    reason: str = ""
    title: str = ""
    attempts: int = 0
    next_attempt: str | None = None

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return asdict(self)


@dataclass
class PassReport:
    """What one pass decided and did."""

    now: str
    dry_run: bool
    items: list[PassItem] = field(default_factory=list)

    def by_outcome(self, *outcomes: str) -> list[PassItem]:
        """The items with one of these outcomes."""
        return [i for i in self.items if i.outcome in outcomes]

    def to_dict(self) -> dict:
        """JSON-ready dict with counts per outcome."""
        counts: dict[str, int] = {}
        for i in self.items:
            counts[i.outcome] = counts.get(i.outcome, 0) + 1
        return {"now": self.now, "dry_run": self.dry_run, "counts": counts, "items": [i.to_dict() for i in self.items]}


def _iso(t: datetime | None) -> str | None:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z") if t else None


def _item(m: Message, outcome: str, reason: str = "", attempts: int = 0, next_attempt: datetime | None = None) -> PassItem:
    return PassItem(m.key, m.kind, m.ref, m.subject, m.severity, m.channel, m.via, outcome, reason, m.title,
                    attempts, _iso(next_attempt))


def _dependents(dep) -> Callable[[str], list[str]]:
    if callable(dep):
        return dep
    return lambda node: list(dep.get(node, []))


def _with_urls(decisions: list[Decision], book: ChannelBook) -> list[Decision]:
    """A message to a channel without a URL is skipped (and stays owed until it has one)."""
    out = []
    for d in decisions:
        if d.action != "skip" and d.message.channel and book.url(d.message.channel) is None:
            d = Decision(d.message, "skip", f"channel {d.message.channel!r} has no URL: set "
                                            f"${env_var(d.message.channel)} or add it to {book.file}")
        out.append(d)
    return out


def run_pass(inputs: AlertInputs, now: datetime, dry_run: bool = False) -> PassReport:
    """Decide, record, send and record again; `dry_run`: decide and report only."""
    now = now.astimezone(UTC)
    settings, graph = inputs.settings, inputs.graph
    book = inputs.channels or load_channels()
    deliveries = state.load_deliveries(inputs.store)
    decisions = decide(
        inputs.anomalies, inputs.budgets, deliveries, now, settings,
        route_anomaly=lambda a: route_agent(graph, a.get("agent_node"), settings),
        route_budget=lambda b: route_budget(graph, b.node, b.kind, settings),
        dependents=_dependents(inputs.dependents),
    )
    decisions = _with_urls(decisions, book)
    due_digests = digests(decisions, deliveries, now, settings)
    in_digest = {(m.key, m.channel) for _, items in due_digests for m in items}
    quiet = quiet_until(now, settings) is not None
    retries = [d for d in state.due_retries(deliveries, now) if d.urgent or not quiet]
    owed = {(d.message.key, d.message.channel) for d in decisions if d.action in ("send", "hold")}
    drops = tuple((d.key, d.channel) for d in deliveries if d.status == "held" and (d.key, d.channel) not in owed)

    report = PassReport(_iso(now) or "", dry_run)
    for d in decisions:
        if d.action == "skip":
            report.items.append(_item(d.message, "skipped", d.reason))
    sending = [d.message for d in decisions if d.action == "send"] + [m for m, _ in due_digests]
    held = [d for d in decisions if d.action == "hold" and (d.message.key, d.message.channel) not in in_digest]
    if dry_run:
        report.items += [_item(m, "would send") for m in sending]
        report.items += [_item(d.message, "would hold", f"{d.reason} until {_iso(d.until)}", next_attempt=d.until)
                         for d in held]
        report.items += [_item(m, "in digest", digest.key) for digest, items in due_digests for m in items]
        report.items += [PassItem(r.key, r.kind, r.ref, "", r.severity, r.channel, "", "would retry",
                                  r.error or "left 'sending' by a pass that stopped", r.title, r.attempts)
                         for r in retries]
        return report

    plan = state.Plan(
        holds=tuple((d.message, d.until) for d in held), drops=drops,
        digested=tuple((m, digest.key) for digest, items in due_digests for m in items),
        sending=tuple(sending), retries=tuple((r.key, r.channel) for r in retries),
    )
    state.apply_plan(inputs.store, plan, now)  # committed before anything is sent
    report.items += [_item(d.message, "held", f"{d.reason} until {_iso(d.until)}", next_attempt=d.until) for d in held]
    report.items += [_item(m, "digested", digest.key) for digest, items in due_digests for m in items]

    jobs = [Job((r.key, r.channel), book.url(r.channel), r.title, r.body, notify_type(r.kind, r.severity, r.title))
            for r in retries]  # the older messages first
    jobs += [Job((m.key, m.channel or ""), book.url(m.channel), m.title, m.body, notify_type(m.kind, m.severity, m.title))
             for m in sending]
    outcomes = deliver(jobs, timeout_s=inputs.timeout_s)
    state.record_results(inputs.store, [(k, c, o.ok, o.error) for (k, c), o in outcomes.items()], now)

    after = {(d.key, d.channel): d for d in state.load_deliveries(inputs.store)} if outcomes else {}
    for m in sending:
        o = outcomes[(m.key, m.channel or "")]
        rec = after.get((m.key, m.channel or ""))
        report.items.append(_item(m, "sent" if o.ok else "failed", o.error or "", rec.attempts if rec else 1,
                                  None if o.ok or rec is None else rec.next_attempt_at))
    for r in retries:
        o = outcomes[(r.key, r.channel)]
        rec = after.get((r.key, r.channel))
        report.items.append(PassItem(r.key, r.kind, r.ref, "", r.severity, r.channel, "retry",
                                     "sent" if o.ok else "failed", o.error or "", r.title,
                                     rec.attempts if rec else r.attempts + 1,
                                     None if o.ok or rec is None else _iso(rec.next_attempt_at)))
    return report


def send_test(channel_name: str, channels: ChannelBook | None = None, now: datetime | None = None,
              timeout_s: float = TIMEOUT_S) -> PassItem:
    """Send a test message to one channel now (not recorded); the item says how it went."""
    book = channels or load_channels()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    m = channel_test_message(channel_name, now)
    url = book.url(channel_name)
    if url is None:
        return _item(m, "skipped", f"channel {channel_name!r} has no URL: set ${env_var(channel_name)} or add it to {book.file}")
    outcome = deliver([Job((m.key, channel_name), url, m.title, m.body)], timeout_s=timeout_s)[(m.key, channel_name)]
    return _item(m, "sent" if outcome.ok else "failed", outcome.error or f"via {book.where(channel_name)}", attempts=1)


def delivery_status(store, now: datetime | None = None) -> list[dict]:
    """Per channel: last success, messages sent, failures pending retry (with the last error and the
    next attempt), messages held, and messages left 'sending'."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    out: dict[str, dict] = {}
    for d in state.load_deliveries(store):
        c = out.setdefault(d.channel, {"channel": d.channel, "sent": 0, "last_success": None, "failing": 0,
                                       "last_error": None, "next_attempt": None, "held": 0, "sending": 0})
        if d.status == "sent":
            c["sent"] += 1
            if d.sent_at and (c["last_success"] is None or _iso(d.sent_at) > c["last_success"]):
                c["last_success"] = _iso(d.sent_at)
        elif d.status == "failed":
            c["failing"] += 1
            c["last_error"] = d.error
            nxt = _iso(d.next_attempt_at)
            if nxt and (c["next_attempt"] is None or nxt < c["next_attempt"]):
                c["next_attempt"] = nxt
        elif d.status in ("held", "sending"):
            c[d.status] += 1
    return sorted(out.values(), key=lambda c: c["channel"])
