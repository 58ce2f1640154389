"""What a pass owes: a new anomaly once, an update when severity rises, a resolution when it ends,
nothing after an ack; budget thresholds once per period; quiet hours and the digest."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from brain.alerts.decide import decide, digests, quiet_until
from brain.alerts.messages import Message
from brain.alerts.route import Route
from brain.alerts.settings import AlertSettings
from brain.alerts.state import Delivery
from brain.costs.budgets import BudgetStatus

NOW = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)
TO_ADA = Route("ada-hook", "owner Ada Lovelace")


def _recorded(m: Message, status: str = "sent") -> Delivery:
    return Delivery(m.key, m.channel or "", m.kind, m.ref, m.severity, m.title, m.body, status, 1, NOW, NOW,
                    None, None, NOW, None, NOW)


def _decide(anomalies=(), budgets=(), records=(), now=NOW, settings=None, route=TO_ADA):
    return decide(list(anomalies), list(budgets), list(records), now, settings or AlertSettings(),
                  route_anomaly=lambda a: route, route_budget=lambda b: route,
                  dependents=lambda node: ["Triage Bot"] if node == "Agents/Support Agent" else [])


def test_a_new_anomaly_is_owed_once_and_then_nothing_while_unchanged(anomaly):
    a = anomaly()
    [d] = _decide([a])
    assert (d.action, d.message.kind, d.message.channel) == ("send", "new", "ada-hook")
    assert "Triage Bot" in d.message.body
    assert _decide([a], records=[_recorded(d.message)]) == []
    assert _decide([a], records=[_recorded(d.message, "failed")]) == [], "a failed one is retried, not decided again"


def test_a_severity_rise_is_one_update_and_an_end_one_resolution(anomaly):
    a = anomaly()
    [new] = _decide([a])
    critical = anomaly(severity="critical", excess_usd_per_day=250.0)
    [up] = _decide([critical], records=[_recorded(new.message)])
    assert (up.message.kind, up.message.severity) == ("update", "critical")
    assert "rose from warn to critical" in up.message.body
    records = [_recorded(new.message), _recorded(up.message)]
    assert _decide([critical], records=records) == []
    ended = anomaly(severity="critical", ongoing=False, ended_at="2026-11-18T15:00:00Z", end="new normal")
    [res] = _decide([ended], records=records)
    assert (res.message.kind, res.message.title) == ("resolved", "[resolved] Support Agent: new normal")
    assert _decide([ended], records=[*records, _recorded(res.message)]) == []


def test_acknowledged_or_planned_anomalies_get_nothing_more_not_even_a_resolution(anomaly):
    [new] = _decide([anomaly()])
    for status in ("acknowledged", "planned"):
        assert _decide([anomaly(status=status)]) == []
        assert _decide([anomaly(status=status, ongoing=False, ended_at="2026-11-18T15:00:00Z")],
                       records=[_recorded(new.message)]) == []


def test_an_episode_over_before_any_alert_is_told_once_as_over(anomaly):
    ended = anomaly(ongoing=False, ended_at="2026-11-18T12:00:00Z", end="back to baseline")
    [d] = _decide([ended])
    assert d.message.kind == "resolved" and d.message.title.startswith("[warn, ended] Support Agent")
    assert "brain anomalies ack" in d.message.body
    assert _decide([ended], records=[_recorded(d.message)]) == []
    long_ago = anomaly(ongoing=False, ended_at="2026-10-01T12:00:00Z")
    assert [x.action for x in _decide([long_ago])] == ["skip"]


def test_severity_and_size_floors_and_alerts_off_skip_with_a_reason(anomaly):
    info = anomaly(severity="info")
    assert [(d.action, d.reason) for d in _decide([info])] == [("skip", "info is below the minimum severity warn")]
    strict = Route("ada-hook", "owner", min_severity="critical")
    assert _decide([anomaly()], route=strict)[0].action == "skip"
    assert _decide([anomaly(severity="info")], settings=AlertSettings(min_severity="info"))[0].action == "send"
    floor = Route("ada-hook", "owner", min_usd_per_day=50.0)
    assert "alert_min_usd_per_day 50" in _decide([anomaly()], route=floor)[0].reason
    off = Route("ada-hook", "owner", off=True, off_by="agent")
    assert _decide([anomaly()], route=off)[0].reason == "alerts: off on the agent"
    nowhere = Route(None, "no channel")
    assert [(d.action, d.reason) for d in _decide([anomaly()], route=nowhere)] == [("skip", "no channel")]


def test_quiet_hours_hold_warn_until_they_end_but_critical_goes_at_once(anomaly):
    night = AlertSettings(quiet_hours=(time(22, 0), time(7, 0)), timezone="Europe/Berlin")
    at_night = datetime(2026, 11, 18, 23, 30, tzinfo=UTC)  # 00:30 in Berlin
    assert quiet_until(NOW, night) is None
    assert quiet_until(at_night, night) == datetime(2026, 11, 19, 6, 0, tzinfo=UTC)  # 07:00 Berlin
    warn, critical = anomaly("aaaaaaaaaaaa"), anomaly("bbbbbbbbbbbb", severity="critical")
    decisions = {d.message.ref: d for d in _decide([warn, critical], now=at_night, settings=night)}
    assert decisions["aaaaaaaaaaaa"].action == "hold" and decisions["aaaaaaaaaaaa"].reason == "quiet hours"
    assert decisions["aaaaaaaaaaaa"].until == datetime(2026, 11, 19, 6, 0, tzinfo=UTC)
    assert decisions["bbbbbbbbbbbb"].action == "send"
    assert _decide([warn], now=at_night + timedelta(hours=7), settings=night)[0].action == "send"


def test_the_digest_holds_non_critical_alerts_for_one_message_a_day_per_channel(anomaly):
    daily = AlertSettings(digest=True, digest_time=time(9, 0))
    morning = datetime(2026, 11, 19, 8, 0, tzinfo=UTC)
    two = [anomaly("aaaaaaaaaaaa"), anomaly("bbbbbbbbbbbb", agent="Triage Bot"), anomaly("cccccccccccc", severity="critical")]
    decisions = _decide(two, now=morning, settings=daily)
    assert sorted((d.message.ref, d.action) for d in decisions) == [
        ("aaaaaaaaaaaa", "hold"), ("bbbbbbbbbbbb", "hold"), ("cccccccccccc", "send")]
    assert digests(decisions, [], morning, daily) == [], "not before digest_time"
    nine = morning + timedelta(hours=1, minutes=5)
    decisions = _decide(two, now=nine, settings=daily)
    [(digest, items)] = digests(decisions, [], nine, daily)
    assert digest.key == "digest:ada-hook:2026-11-19" and {m.ref for m in items} == {"aaaaaaaaaaaa", "bbbbbbbbbbbb"}
    assert "2 alerts" in digest.title and "Triage Bot" in digest.body
    assert digests(decisions, [_recorded(digest)], nine, daily) == [], "one digest a day per channel"


def _budget(spent: float, projected: float, start: str = "2026-11-01") -> BudgetStatus:
    return BudgetStatus("Teams/Platform", "Platform", "team", "month", start, 1000.0, spent, projected,
                        spent / 10, ("Agents/Support Agent", "Agents/Triage Bot"))


def test_each_budget_threshold_is_told_once_per_period():
    [forecast] = _decide(budgets=[_budget(500, 1200)])
    assert forecast.message.key == "budget:Teams/Platform:month:2026-11-01:forecast"
    assert forecast.message.severity == "warn" and "projected to overrun" in forecast.message.body
    records = [_recorded(forecast.message)]
    assert _decide(budgets=[_budget(600, 1300)], records=records) == []
    [eighty] = _decide(budgets=[_budget(850, 1300)], records=records)
    assert eighty.message.key.endswith(":80%") and "Support Agent" in eighty.message.body
    records.append(_recorded(eighty.message))
    [full] = _decide(budgets=[_budget(1010, 1300)], records=records)
    assert full.message.key.endswith(":100%") and full.message.severity == "critical"
    records.append(_recorded(full.message))
    assert _decide(budgets=[_budget(1500, 1800)], records=records) == []
    [december] = _decide(budgets=[_budget(900, 1200, start="2026-12-01")], records=records)
    assert december.message.key == "budget:Teams/Platform:month:2026-12-01:forecast+80%", "a new month starts over"
