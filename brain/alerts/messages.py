"""What an alert says: a title and a short Markdown body a person can act on: which agent, whose,
why in words, what it costs against what it should, the change note that may explain it, who
depends on it, and how to acknowledge it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from brain.money import usd

KINDS = ("new", "update", "resolved", "budget", "digest", "test")
ANOMALY_NOTES = "Brain/Anomalies"  # where `brain publish` writes one note per anomaly


@dataclass(frozen=True)
class Message:
    """One message for one channel. `key` names it for good (the same alert never gets two keys);
    `ref` is what it is about: an anomaly id or a budget."""

    key: str
    kind: str  # one of KINDS
    ref: str
    severity: str  # info | warn | critical
    title: str
    body: str
    channel: str | None
    via: str = ""  # how the channel was chosen (brain.alerts.route.Route.via)
    subject: str = ""  # the agent or budget name, for listings

    @property
    def urgent(self) -> bool:
        """Sent at once, through quiet hours and past the digest: a critical anomaly or budget."""
        return self.severity == "critical" and self.kind in ("new", "update", "budget")


def _ratio_words(ratio: float | None) -> str:
    if ratio is None:
        return "appeared from nothing"
    if 1.85 <= ratio < 2.25:
        return "doubled"
    if 2.75 <= ratio < 3.25:
        return "tripled"
    if ratio >= 10:
        return f"rose {ratio:,.0f}x"
    if ratio >= 1.05:
        return f"rose {ratio:.1f}x"
    if ratio <= 0.95:
        return f"fell to {ratio:.2f}x"
    return "barely changed"


def _signal(a: dict, name: str) -> dict:
    value = (a.get("signals") or {}).get(name)
    return value if isinstance(value, dict) else {}


def _figure(x) -> str:
    if x is None:
        return "?"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.3g}"


def cause_words(a: dict) -> str:
    """The anomaly's cause in words: "tokens per request doubled (10,130 -> 19,320)"."""
    cause = a.get("cause") or ""
    supporting = set(a.get("supporting") or ())
    if cause == "volume":
        name = next((n for n in ("requests_per_hour", "runs_per_hour") if _signal(a, n).get("ratio")), None)
        if name is None:
            text = "requests came where there were none"
        else:
            s = _signal(a, name)
            text = (f"{name.replace('_', ' ')} {_ratio_words(s.get('ratio'))} "
                    f"({_figure(s.get('expected'))} -> {_figure(s.get('actual'))})")
        extra = []
        if "error_rate" in supporting:
            extra.append("errors rose: retries likely")
        if "calls_per_run" in supporting:
            extra.append(f"calls per run {_ratio_words(_signal(a, 'calls_per_run').get('ratio'))}")
        if "active_hours" in supporting:
            h = _signal(a, "active_hours_per_day")
            extra.append(f"active {_figure(h.get('actual'))} hours a day instead of {_figure(h.get('expected'))}")
        return text + (f"; {', '.join(extra)}" if extra else "")
    if cause == "tokens_per_request":
        s = _signal(a, "tokens_per_request")
        return f"tokens per request {_ratio_words(s.get('ratio'))} ({_figure(s.get('expected'))} -> {_figure(s.get('actual'))})"
    if cause == "model_mix":
        new = (a.get("signals") or {}).get("new_models") or []
        return "traffic moved to pricier models" + (f" (new: {', '.join(map(str, new))})" if new else "")
    if cause == "price":
        s = _signal(a, "usd_per_mtok")
        return f"the price per token {_ratio_words(s.get('ratio'))}"
    return cause.replace("_", " ") or "cost rose"


def _when(iso: str | None) -> str:
    if not iso:
        return "?"
    try:
        t = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return t.strftime("%Y-%m-%d %H:%M UTC")


def _ack_lines(a: dict) -> list[str]:
    note = f"{ANOMALY_NOTES}/{a['id']} {a.get('agent')}.md"
    return [f"Acknowledge: `brain anomalies ack {a['id']} --note \"why\"`, or set `status: acknowledged` "
            f"(or `planned`) in {note}"]


def anomaly_message(kind: str, a: dict, channel: str | None, via: str, dependents: list[str] | None = None,
                    previous: str | None = None, first: bool = False) -> Message:
    """The new / update / resolved message of one anomaly dict (brain.anomaly.scan.Anomaly.to_dict());
    `first`: a resolution that is also the first word of it (it ended before any alert went)."""
    agent, sev = a.get("agent") or a.get("agent_node") or "?", a.get("severity") or "info"
    cause = cause_words(a)
    excess = a.get("excess_usd_per_day")
    ended = kind == "resolved"
    end = a.get("end") or "back to baseline"
    if kind == "new" or (ended and first):
        title = f"[{sev}{', ended' if ended else ''}] {agent}: {cause.split(' (')[0].split(';')[0]}, +{usd(excess)}/day"
    elif kind == "update":
        title = f"[{sev}, was {previous}] {agent}: now +{usd(excess)}/day"
    else:
        title = f"[resolved] {agent}: {end}"
    owner = a.get("owner") or "nobody (no owner in its note)"
    team = f" (team {a['team']})" if a.get("team") and a.get("team") != a.get("owner") else ""
    if ended:
        status = f"ended {_when(a['ended_at'])}: {end}" if a.get("ended_at") else f"over since {_when(a.get('last_bucket'))}: {end}"
    else:
        status = "ongoing"
    lines = [
        f"**{agent}** ({a.get('family', 'anomaly')}, {sev}): {cause}.",
        f"Owner: {owner}{team}",
        f"Since {_when(a.get('onset'))}, {status}",
        f"Cost: expected {usd(a.get('expected_usd_per_day'))}/day, actual {usd(a.get('actual_usd_per_day'))}/day "
        f"(+{usd(excess)}/day)",
        f"Projected 30-day impact: {usd(a.get('projected_30d_impact_usd'))}",
    ]
    if kind == "update" and previous:
        lines.insert(1, f"Severity rose from {previous} to {sev}.")
    changes = a.get("changes") or []
    lines.append(f"Change that may explain it: {'; '.join(changes)}" if changes else "Change that may explain it: none recorded near the onset")
    if dependents:
        lines.append(f"Dependents affected: {', '.join(dependents)}")
    if not ended or first:
        lines += _ack_lines(a)
    lines.append(f"Anomaly {a['id']} · to {channel or 'no channel'} via {via}")
    return Message(f"anomaly:{a['id']}:{kind}" + (f":{sev}" if kind == "update" else ""), kind, a["id"], sev,
                   title, "\n".join(lines), channel, via, agent)


def budget_message(b, thresholds: list[str], channel: str | None, via: str) -> Message:
    """The message for budget thresholds newly crossed (BudgetStatus `b`; "forecast", "80%", "100%")."""
    top = thresholds[-1]
    sev = "critical" if any(t.endswith("%") and float(t[:-1]) >= 100 for t in thresholds) else "warn"
    period = "this month" if b.period == "month" else "today"
    what = "projected to overrun" if top == "forecast" else f"{top} used"
    title = f"[budget {top}] {b.name}: {usd(b.spent_usd)} of {usd(b.budget_usd)} {period}"
    lines = [
        f"**{b.name}** ({b.kind}) budget {what}: {', '.join(thresholds)} crossed.",
        f"Budget: {usd(b.budget_usd)} per {b.period} from {b.period_start}",
        f"Spent: {usd(b.spent_usd)} ({b.used_pct:.0f}%)",
        f"Projected at period end: {usd(b.projected_usd)}",
    ]
    if b.kind != "agent" and b.agents:
        lines.append(f"Agents counted: {', '.join(a.rsplit('/', 1)[-1] for a in b.agents)}")
    lines.append(f"Change the budget with `budget_usd_per_{b.period}` in the {b.kind}'s note.")
    ref = budget_ref(b)
    lines.append(f"Budget {ref} · to {channel or 'no channel'} via {via}")
    return Message(f"{ref}:{'+'.join(thresholds)}", "budget", ref, sev, title, "\n".join(lines), channel, via, b.name)


def budget_ref(b) -> str:
    """The key of one budget's period: budget:<node>:<period>:<period_start>."""
    return f"budget:{b.node}:{b.period}:{b.period_start}"


def digest_message(channel: str, day: str, items: list[tuple[str, str]]) -> Message:
    """One daily message listing held alerts (title, first body line) for a channel."""
    n = len(items)
    title = f"Company Brain digest {day}: {n} alert{'s' if n != 1 else ''}"
    lines = [f"{n} alert{'s' if n != 1 else ''} since the last digest:", ""]
    for title_i, first in items:
        lines.append(f"- {title_i}")
        if first:
            lines.append(f"  {first}")
    lines += ["", "Run `brain anomalies` for details; `brain anomalies ack ID` silences one."]
    return Message(f"digest:{channel}:{day}", "digest", f"digest:{day}", "info", title, "\n".join(lines), channel,
                   "digest")


def channel_test_message(channel: str, when: datetime) -> Message:
    """A test message for `brain alerts test CHANNEL`."""
    stamp = when.strftime("%Y-%m-%d %H:%M:%S UTC")
    body = (f"This is a test from Company Brain to channel **{channel}** at {stamp}.\n"
            "Alerts about agents whose notes (or owners, or teams) say `notify: " + channel + "` come here.")
    return Message(f"test:{channel}:{when.isoformat()}", "test", f"test:{channel}", "info",
                   f"Company Brain test: {channel}", body, channel, "test")
