"""Anomaly detector on small hand-built series: each path, each cause, cold start, flat series."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from brain.anomaly import (
    Ack,
    AgentInfo,
    AnomalyConfig,
    ChangeNote,
    decompose_cost_change,
    scan_series,
)
from brain.anomaly.explain import change_point

D = 28
H = D * 24


@pytest.fixture
def scan(table, start, at):
    """scan(series, days=D, **kw): scan_series over the series from `start` to `days` later."""

    def _scan(series, days=D, **kw):
        return scan_series(table(series), start, at(days), **kw)

    return _scan


def test_decomposition_terms_sum_exactly_to_the_cost_change():
    rng = np.random.default_rng(7)
    for _ in range(50):
        r0, r1 = rng.uniform(0, 100, 4), rng.uniform(0, 100, 4)
        r0[rng.integers(4)] = 0  # a model new in the second period
        t0, t1 = r0 * rng.uniform(100, 5000, 4), r1 * rng.uniform(100, 5000, 4)
        c0, c1 = t0 * rng.uniform(1e-7, 1e-5, 4), t1 * rng.uniform(1e-7, 1e-5, 4)
        terms = decompose_cost_change(r0, t0, c0, r1, t1, c1)
        assert set(terms) == {"volume", "tokens_per_request", "model_mix", "price"}
        assert sum(terms.values()) == pytest.approx(c1.sum() - c0.sum(), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize(
    ("change", "cause"),
    [
        ("requests", "volume"),
        ("tokens", "tokens_per_request"),
        ("price", "price"),
        ("swap", "model_mix"),
    ],
)
def test_decomposition_puts_each_single_change_in_its_own_term(change, cause):
    r0, t0, c0 = np.array([100.0, 0.0]), np.array([1e5, 0.0]), np.array([1.0, 0.0])
    r1, t1, c1 = r0.copy(), t0.copy(), c0.copy()
    if change == "requests":
        r1, t1, c1 = r0 * 3, t0 * 3, c0 * 3
    elif change == "tokens":
        t1, c1 = t0 * 2, c0 * 2
    elif change == "price":
        c1 = c0 * 2
    else:
        r1, t1, c1 = r0[::-1].copy(), t0[::-1].copy(), np.array([0.0, 10.0])
    terms = decompose_cost_change(r0, t0, c0, r1, t1, c1)
    assert terms[cause] == pytest.approx(c1.sum() - c0.sum())
    assert sum(abs(v) for k, v in terms.items() if k != cause) == pytest.approx(0.0, abs=1e-9)


def test_runaway_loop_is_caught_in_its_first_hour_as_volume_with_errors_and_retries(scan, stream, daily_profile):
    base = daily_profile(D, 40, seed=1)
    loop = base.copy()
    onset = 25 * 24 + 14
    loop[onset : onset + 3] += 600
    errors = np.where(loop > base, 0.6, 0.0)
    cpr = np.where(loop > base, 8.0, 1.0)
    found = scan({
        "Agents/Calm": [stream(H, daily_profile(D, 40, seed=2), usd_per_mtok=5)],
        "Agents/Loop": [stream(H, loop, usd_per_mtok=5, error_share=errors, calls_per_run=cpr)],
    })
    assert [a.agent for a in found] == ["Loop"]
    a = found[0]
    assert (a.granularity, a.onset, a.detected_at_bucket) == ("hour", "2024-01-26T14:00:00Z", "2024-01-26T14:00:00Z")
    assert a.cause == "volume"
    assert {"error_rate", "calls_per_run"} <= set(a.supporting)
    assert a.severity == "critical"
    assert sum(a.decomposition.values()) == pytest.approx(a.excess_usd_per_day, abs=0.02)


def test_hourly_instead_of_daily_schedule_is_caught_within_the_hour(scan, stream, at):
    job = np.zeros(H)
    job[3::24] = 200  # a daily batch at 03:00
    job[20 * 24 + 10 :] = 200  # from day 20 10:00 it runs every hour
    found = scan({"Agents/Batch": [stream(H, job, tokens_per_request=4000, usd_per_mtok=3)]})
    hourly = [a for a in found if a.granularity == "hour"]
    assert hourly and hourly[0].onset == at(20, 10).isoformat().replace("+00:00", "Z")
    assert hourly[0].cause == "volume"
    assert "active_hours" in hourly[0].supporting
    assert hourly[0].ongoing


def test_prompt_bloat_is_a_daily_shift_with_tokens_per_request_cause_and_hour_onset(scan, stream, daily_profile):
    req = daily_profile(D, 30, seed=3)
    tpr = np.where(np.arange(H) >= 22 * 24 + 9, 4000.0, 2000.0)
    found = scan({"Agents/Research": [stream(H, req, tokens_per_request=tpr, usd_per_mtok=5)]})
    assert len(found) == 1
    a = found[0]
    assert (a.granularity, a.cause, a.detected_at_bucket) == ("day", "tokens_per_request", "2024-01-23T00:00:00Z")
    assert a.onset == "2024-01-23T09:00:00Z"
    assert a.signals["tokens_per_request"]["ratio"] == pytest.approx(2.0, rel=0.05)


def test_model_swap_to_a_pricier_model_is_model_mix_with_the_new_model_named(scan, stream, daily_profile):
    req = daily_profile(D, 30, seed=4)
    swap = np.arange(H) >= 21 * 24 + 15
    found = scan({
        "Agents/Support": [
            stream(H, np.where(swap, 0, req), model="gpt-4o-mini", usd_per_mtok=1.0, tokens_per_request=20_000),
            stream(H, np.where(swap, req, 0), model="gpt-4o", usd_per_mtok=3.0, tokens_per_request=20_000),
        ]
    })
    assert len(found) == 1
    assert found[0].cause == "model_mix"
    assert found[0].signals["new_models"] == ["openai/gpt-4o"]
    assert "new_model" in found[0].supporting


def test_price_rise_on_the_same_model_is_a_price_cause(scan, stream, daily_profile):
    req = daily_profile(D, 30, seed=5)
    upm = np.where(np.arange(H) >= 21 * 24, 2.5, 1.0)
    found = scan({"Agents/Priced": [stream(H, req, usd_per_mtok=upm, tokens_per_request=20_000)]})
    assert [a.cause for a in found] == ["price"]


def test_volume_step_is_a_daily_volume_shift(scan, stream, daily_profile):
    req = daily_profile(D, 30, seed=6)
    req[21 * 24 :] = daily_profile(D - 21, 75, seed=7)
    found = scan({"Agents/Growth": [stream(H, req, tokens_per_request=3000, usd_per_mtok=5)]})
    assert [(a.granularity, a.cause) for a in found] == [("day", "volume")]


def test_cold_start_uses_only_gross_absolute_thresholds(scan, stream):
    req = np.zeros(H)
    req[-48:] = 20
    req[-10] = 80  # 4x on day two: not judged without history
    found = scan({"Agents/New": [stream(H, req, usd_per_mtok=5)]})
    assert found == []
    req[-5] = 20_000  # gross: thousands of requests in an hour
    found = scan({"Agents/New": [stream(H, req, usd_per_mtok=5)]})
    assert [a.granularity for a in found] == ["hour"]


def test_flat_and_quiet_series_do_not_alarm_on_noise(scan, stream, daily_profile):
    flat = np.full(H, 10.0)
    flat[::7] = 11
    quiet = daily_profile(D, 0.5, seed=8)
    weekends = daily_profile(D, 40, seed=9, weekend=0.2)
    found = scan({
        "Agents/Flat": [stream(H, flat, usd_per_mtok=5)],
        "Agents/Quiet": [stream(H, quiet, usd_per_mtok=5)],
        "Agents/Weekdays": [stream(H, weekends, usd_per_mtok=5)],
    })
    assert found == []


def test_a_small_blip_on_a_tiny_agent_is_not_an_alert(scan, stream, daily_profile):
    req = daily_profile(D, 4, seed=10)
    req[25 * 24 + 12] += 40  # 10x, but cents
    assert scan({"Agents/Tiny": [stream(H, req, tokens_per_request=500, usd_per_mtok=1.0)]}) == []


@pytest.fixture
def bloat_agents(daily_profile, stream):
    """bloat_agents() -> Research's series: its tokens per request double from day 22, 09:00."""

    def _bloat_agents():
        req = daily_profile(D, 30, seed=3)
        tpr = np.where(np.arange(H) >= 22 * 24 + 9, 4000.0, 2000.0)
        return {"Agents/Research": [stream(H, req, tokens_per_request=tpr, usd_per_mtok=5)]}

    return _bloat_agents


def test_change_notes_of_the_agent_and_its_dependencies_link_nearest_first(scan, at, bloat_agents):
    onset = at(22, 9)

    def note(name, when, target, expected=False, whole_day=False):
        end = when + timedelta(days=1) if whole_day else when
        return ChangeNote(f"Changes/{name}", name, when, end, frozenset({target}), expected)

    changes = [
        note("Prompt v2", onset - timedelta(hours=2), "Agents/Research"),
        note("Index rebuild", onset - timedelta(hours=20), "Tools/Vector Store"),
        note("Too early", onset - timedelta(hours=30), "Agents/Research"),
        note("Unrelated", onset - timedelta(hours=1), "Agents/Other"),
        note("Dated only", at(22), "Agents/Research", whole_day=True),
    ]
    info = AgentInfo("Agents/Research", "Research", "research", "Ada", "Platform",
                     frozenset({"Agents/Research", "Tools/Vector Store"}))
    found = scan(bloat_agents(), agents={"Agents/Research": info}, changes=changes)
    assert found[0].changes == ["Dated only", "Prompt v2", "Index rebuild"]
    assert (found[0].owner, found[0].team, found[0].agent_id) == ("Ada", "Platform", "research")
    assert found[0].status == "open"


def test_expected_cost_change_marks_planned_and_acks_override(scan, at, bloat_agents):
    onset = at(22, 9)
    planned = ChangeNote("Changes/Bigger context", "Bigger context", onset, onset,
                         frozenset({"Agents/Research"}), expected_cost_change=True)
    found = scan(bloat_agents(), changes=[planned])
    assert found[0].status == "planned"
    acked = scan(bloat_agents(), acks={found[0].id: Ack("acknowledged", "known")})
    assert (acked[0].status, acked[0].note) == ("acknowledged", "known")


def test_ids_are_stable_across_scans_and_report_windows(scan, at, bloat_agents):
    first = scan(bloat_agents(), days=24, report_from=at(20))
    later = scan(bloat_agents(), days=D, report_from=at(22))
    assert first and [a.id for a in first] == [a.id for a in later]


def test_min_severity_filters_and_config_gates_apply(scan, bloat_agents):
    found = [(a.agent, a.granularity, a.cause, a.severity) for a in scan(bloat_agents())]
    assert found == [("Research", "day", "tokens_per_request", "info")]  # what the filter and the gate remove
    assert scan(bloat_agents(), min_severity="critical") == []
    assert scan(bloat_agents(), config=AnomalyConfig(slow_min_excess_usd_per_day=1e6)) == []


def test_incremental_scan_tests_only_the_newest_hour(scan, stream, daily_profile, at):
    base = daily_profile(D, 40, seed=1)
    base[-1] += 900
    agents = {"Agents/Loop": [stream(H, base, usd_per_mtok=5)]}
    found = scan(agents, evaluate_from=at(D) - timedelta(hours=1))
    assert [(a.granularity, a.onset) for a in found] == [("hour", "2024-01-28T23:00:00Z")]


def test_change_point_finds_a_step():
    v = np.r_[np.full(10, 1.0), np.full(7, 3.0)]
    v[3] = np.nan
    assert change_point(v) == 10


def _working_hours(days: int, seed: int) -> np.ndarray:
    """Runs of 12 calls on weekdays only, the working day starting and ending an hour early or late."""
    rng = np.random.default_rng(seed)
    req = np.zeros(days * 24)
    for day in range(days):
        if day % 7 >= 5:  # `start` is a Monday
            continue
        first, last = 8 + rng.integers(-1, 2), 18 + rng.integers(-1, 2)
        for h in range(first, last + 1):
            req[day * 24 + h] = 12 * rng.poisson(2.5)
    return req


def test_issue4_working_hours_agent_in_a_window_opening_on_a_weekend_does_not_alarm(stream, table, at):
    days = 42
    hours = days * 24
    series = {
        f"Agents/Office {seed}": [
            stream(hours, _working_hours(days, seed), usd_per_mtok=3, tokens_per_request=8000, calls_per_run=12)
        ]
        for seed in (11, 12)
    }
    since = at(5, 23)  # a Saturday evening: the agent's first hours in the window are its quiet weekend
    found = scan_series(table(series), since, at(days), report_from=at(days - 14))
    assert [(a.agent, a.onset, a.severity) for a in found if a.severity != "info"] == []


def test_prompt_change_before_a_weekend_is_one_alarm_with_its_change_note(stream, table, at, start):
    days = 36
    hours = days * 24
    req = _working_hours(days, 13)
    onset = at(30, 10)  # a Wednesday; the shift runs on through the weekend into Monday
    tpr = np.where(np.arange(hours) >= 30 * 24 + 10, 16_000.0, 8000.0)
    note = ChangeNote("Changes/Prompt v4", "Prompt v4", onset - timedelta(hours=1), onset - timedelta(hours=1),
                      frozenset({"Agents/Office"}))
    found = scan_series(
        table({"Agents/Office": [stream(hours, req, usd_per_mtok=3, tokens_per_request=tpr, calls_per_run=12)]}),
        start, at(days), changes=[note],
    )
    assert [(a.granularity, a.cause, a.changes) for a in found] == [("day", "tokens_per_request", ["Prompt v4"])]


@pytest.fixture
def spike_agents(daily_profile, stream):
    """spike_agents(spike_hour) -> a steady agent's series with 600 more requests in that one hour."""

    def _spike_agents(spike_hour: int) -> dict:
        req = daily_profile(D, 40, seed=1)
        req[spike_hour] += 600
        return {"Agents/Spike": [stream(H, req, usd_per_mtok=5)]}

    return _spike_agents


def test_a_finished_one_hour_spike_is_over_and_its_impact_is_what_it_cost(table, at, spike_agents, start):
    spike = 25 * 24 + 14
    during = scan_series(table(spike_agents(spike)), start, at(25, 15))
    assert [a.ongoing for a in during] == [True]  # the newest hour is the spike: it may go on
    assert during[0].projected_30d_impact_usd == pytest.approx(30 * during[0].excess_usd_per_day, rel=0.01)
    # over once the normal hours since hold a quarter of a usual day's expected cost (four here)
    after = scan_series(table(spike_agents(spike)), start, at(25, 19))
    assert [(a.id, a.ongoing, a.end) for a in after] == [(during[0].id, False, "back to baseline")]
    hour_excess = after[0].excess_usd_per_day / 24
    assert after[0].projected_30d_impact_usd == pytest.approx(hour_excess, rel=0.01)


def test_a_loop_still_running_in_the_newest_hours_is_ongoing(stream, table, daily_profile, at, start):
    req = daily_profile(D, 40, seed=1)
    req[25 * 24 + 14 :] += 600
    found = scan_series(table({"Agents/Loop": [stream(H, req, usd_per_mtok=5)]}), start, at(25, 19))
    assert [(a.granularity, a.ongoing) for a in found] == [("hour", True)]


def test_ids_follow_the_agent_id_when_its_note_moves_and_old_acks_still_hold(scan, bloat_agents):
    series = bloat_agents()
    moved = {"Agents/Bots/Research": series["Agents/Research"]}
    info = {n: AgentInfo(n, "Research", agent_id="research") for n in ("Agents/Research", "Agents/Bots/Research")}
    before = scan(series, agents=info)
    after = scan(moved, agents=info)
    assert before and [a.id for a in before] == [a.id for a in after]
    path_keyed = scan(series)  # no agent_id: keyed on the note path, as every id was before
    acked = scan(series, agents=info, acks={path_keyed[0].id: Ack("acknowledged", "known")})
    assert (acked[0].id, acked[0].status) == (before[0].id, "acknowledged")


def _office(days: int, shift_day: int) -> np.ndarray:
    """Weekday runs of 12 calls from 13:00 to 20:00 UTC (9-17 in New York), an hour later from shift_day."""
    rng = np.random.default_rng(21)
    req = np.zeros(days * 24)
    for day in range(days):
        if day % 7 < 5:
            first = 13 + (day >= shift_day)
            req[day * 24 + first : day * 24 + first + 8] = 12 * rng.poisson(3, 8)
    return req


def test_a_working_day_moved_one_hour_by_daylight_saving_time_does_not_alarm(stream, table, at, start):
    days = 35
    req = _office(days, shift_day=29)  # the Tuesday after the clocks changed
    series = {"Agents/Office": [stream(days * 24, req, usd_per_mtok=3, tokens_per_request=8000, calls_per_run=12)]}
    assert scan_series(table(series), start, at(days)) == []


def test_a_loop_in_the_hour_after_the_working_day_is_still_caught_in_its_hour(stream, table, at, start):
    days = 35
    req = _office(days, shift_day=days)
    req[30 * 24 + 21] = 400  # after hours, 10x a working hour
    series = {"Agents/Office": [stream(days * 24, req, usd_per_mtok=3, tokens_per_request=8000, calls_per_run=12)]}
    found = scan_series(table(series), start, at(days))
    assert [(a.granularity, a.onset) for a in found] == [("hour", "2024-01-31T21:00:00Z")]


def test_a_weekly_job_is_not_flagged_on_its_second_run(stream, table, at, start):
    days = 21
    req = np.zeros(days * 24)
    req[12 * 24 + 2 :: 7 * 24] = 2000  # Saturdays 02:00 from the second week: a new agent
    series = {"Agents/Weekly": [stream(days * 24, req, tokens_per_request=4000, usd_per_mtok=2)]}
    assert scan_series(table(series), start, at(days)) == []


def test_a_day_episode_ends_no_earlier_than_its_onset(scan, bloat_agents):
    found = scan(bloat_agents(), days=23)  # the onset day (09:00 on) is the only flagged day
    assert [(a.granularity, a.onset, a.last_bucket) for a in found] == [
        ("day", "2024-01-23T09:00:00Z", "2024-01-23T23:00:00Z")
    ]


def test_a_cold_start_anomaly_is_compared_with_the_agents_level_so_far(stream, table, at, start):
    req = np.zeros(H)
    req[20 * 24 + 12 :] = 20  # born at day 20 noon: 20 requests an hour, $2.40 a day
    req[22 * 24 + 3] = 20_000
    found = scan_series(table({"Agents/Young": [stream(H, req, usd_per_mtok=5)]}), start, at(22, 6))
    assert [a.granularity for a in found] == ["hour"]
    assert found[0].expected_usd_per_day == pytest.approx(2.4, rel=0.05)
    assert found[0].signals["requests_per_hour"]["expected"] == pytest.approx(20, rel=0.05)
    assert found[0].projected_30d_impact_usd == pytest.approx((20_000 - 20) * 1000 * 5 / 1e6, rel=0.02)
