"""Which messages a pass owes, from the anomalies and budgets as they are now and what was already
recorded: a new anomaly once; an update when its severity rises above any sent; a resolution when
it ends; nothing more once acknowledged or planned. A budget threshold once per period. Outside
urgent ones, messages wait through quiet hours, and for the daily digest when it is on."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from brain.alerts.messages import (
    Message,
    anomaly_message,
    budget_message,
    budget_ref,
    digest_message,
)
from brain.alerts.route import SEVERITY_RANK, Route
from brain.alerts.settings import AlertSettings
from brain.alerts.state import DELIVERED, Delivery
from brain.costs.budgets import BudgetStatus

ENDED_RECENTLY = timedelta(days=14)  # an episode over before anything was sent is still told if this recent


@dataclass(frozen=True)
class Decision:
    """What a pass does with one owed message: "send", "hold" (until `until`) or "skip"."""

    message: Message
    action: str
    reason: str = ""  # why held or skipped, in words
    until: datetime | None = None


def local_zone(settings: AlertSettings) -> tzinfo:
    """The settings' time zone (UTC when it does not name one zoneinfo knows)."""
    try:
        return ZoneInfo(settings.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _next_at(now: datetime, at: time, zone: tzinfo) -> datetime:
    """The next local `at` after `now`, in UTC."""
    local = now.astimezone(zone)
    when = datetime.combine(local.date(), at, zone)
    if when <= local:
        when = datetime.combine(local.date() + timedelta(days=1), at, zone)
    return when.astimezone(UTC)


def quiet_until(now: datetime, settings: AlertSettings) -> datetime | None:
    """The end of the quiet hours `now` falls in (None outside them, or with none set)."""
    if not settings.quiet_hours:
        return None
    start, end = settings.quiet_hours
    zone = local_zone(settings)
    t = now.astimezone(zone).time().replace(tzinfo=None)
    inside = (start <= t < end) if start <= end else (t >= start or t < end)
    return _next_at(now, end, zone) if inside and start != end else None


def digest_day(now: datetime, settings: AlertSettings) -> str | None:
    """The local day whose digest is due at `now` (None before today's digest time)."""
    local = now.astimezone(local_zone(settings))
    return local.date().isoformat() if local.time().replace(tzinfo=None) >= settings.digest_time else None


def _ended(a: dict) -> bool:
    return bool(a.get("ended_at")) or a.get("ongoing") is False


def _end_time(a: dict) -> datetime | None:
    for k in ("ended_at", "last_bucket"):
        if a.get(k):
            try:
                return datetime.fromisoformat(str(a[k]).replace("Z", "+00:00"))
            except ValueError:
                continue
    return None


def _filtered(a: dict, route: Route, settings: AlertSettings) -> str | None:
    """Why an anomaly is not alerted at its severity and size (None when it is)."""
    floor = route.min_severity or settings.min_severity
    if SEVERITY_RANK.get(a.get("severity") or "info", 0) < SEVERITY_RANK.get(floor, 1):
        return f"{a.get('severity')} is below the minimum severity {floor}"
    if route.min_usd_per_day is not None and (a.get("excess_usd_per_day") or 0) < route.min_usd_per_day:
        return f"excess ${a.get('excess_usd_per_day') or 0:,.2f}/day is below alert_min_usd_per_day {route.min_usd_per_day:g}"
    return None


def _anomaly_owed(a: dict, sent: list[Delivery], route: Route, settings: AlertSettings, now: datetime,
                  dependents: Callable[[str], list[str]]) -> Message | tuple[Message, str] | None:
    """The message owed for one anomaly, or (message, why not) when it is skipped, or None."""
    deps = dependents(a.get("agent_node") or "")
    ended = _ended(a)

    def msg(kind: str, previous: str | None = None) -> Message:
        return anomaly_message(kind, a, route.channel, route.via, deps, previous, first=not sent)

    if not sent:
        first = msg("resolved" if ended else "new")
        end = _end_time(a)
        if ended and end is not None and now - end > ENDED_RECENTLY:
            return first, f"ended {end:%Y-%m-%d} before any alert was sent"
        why = "alerts: off on the " + str(route.off_by) if route.off else _filtered(a, route, settings)
        return (first, why) if why else first
    if route.off or any(d.kind == "resolved" for d in sent):
        return None
    if ended:
        return msg("resolved")
    top = max((SEVERITY_RANK.get(d.severity or "info", 0) for d in sent if d.kind in ("new", "update")), default=0)
    if SEVERITY_RANK.get(a.get("severity") or "info", 0) <= top:
        return None
    update = msg("update", next(s for s, r in SEVERITY_RANK.items() if r == top))
    why = _filtered(a, route, settings)
    return (update, why) if why else update


def decide(
    anomalies: Iterable[dict],
    budgets: Iterable[BudgetStatus],
    deliveries: Iterable[Delivery],
    now: datetime,
    settings: AlertSettings,
    route_anomaly: Callable[[dict], Route],
    route_budget: Callable[[BudgetStatus], Route],
    dependents: Callable[[str], list[str]] = lambda _node: [],
) -> list[Decision]:
    """The messages owed now and what to do with each: send, hold or skip (with the reason)."""
    by_ref: dict[str, list[Delivery]] = defaultdict(list)
    for d in deliveries:
        if d.status in DELIVERED:
            by_ref[d.ref].append(d)
    owed: list[tuple[Message, str | None]] = []
    for a in anomalies:
        if a.get("status", "open") != "open":
            continue  # acknowledged or planned: nothing more, not even a resolution
        route = route_anomaly(a)
        found = _anomaly_owed(a, by_ref.get(a["id"], []), route, settings, now, dependents)
        if found is not None:
            owed.append(found if isinstance(found, tuple) else (found, None))
    for b in budgets:
        route = route_budget(b)
        done = {t for d in by_ref.get(budget_ref(b), []) for t in d.key.rsplit(":", 1)[-1].split("+")}
        new = [t for t in b.crossed(settings.budget_thresholds) if t not in done]
        if new:
            owed.append((budget_message(b, new, route.channel, route.via),
                         f"alerts: off on the {route.off_by}" if route.off else None))
    return [_timing(m, why, now, settings) for m, why in owed]


def _timing(m: Message, skip: str | None, now: datetime, settings: AlertSettings) -> Decision:
    if skip:
        return Decision(m, "skip", skip)
    if m.channel is None:
        return Decision(m, "skip", "no channel")
    if m.urgent:
        return Decision(m, "send")
    quiet = quiet_until(now, settings)
    if quiet is not None:
        return Decision(m, "hold", "quiet hours", quiet)
    if settings.digest and m.kind in ("new", "update", "budget"):
        return Decision(m, "hold", "digest", _next_at(now, settings.digest_time, local_zone(settings)))
    return Decision(m, "send")


def digests(decisions: list[Decision], deliveries: Iterable[Delivery], now: datetime,
            settings: AlertSettings) -> list[tuple[Message, list[Message]]]:
    """The digest due per channel now (one a local day, at or after digest_time, outside quiet
    hours) with the held messages it lists."""
    day = digest_day(now, settings)
    if not settings.digest or day is None or quiet_until(now, settings) is not None:
        return []
    done = {(d.key, d.channel) for d in deliveries if d.kind == "digest"}
    held: dict[str, list[Message]] = defaultdict(list)
    for d in decisions:
        if d.action == "hold" and d.reason == "digest" and d.message.channel:
            held[d.message.channel].append(d.message)
    out = []
    for channel, items in sorted(held.items()):
        digest = digest_message(channel, day, [(m.title, m.body.splitlines()[0]) for m in items])
        if (digest.key, channel) not in done:
            out.append((digest, items))
    return out
