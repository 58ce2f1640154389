"""One episode, one anomaly: runs of flags merged while the episode is open, its end, its id and severity."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from brain.anomaly import SEVERITIES, AgentInfo, AnomalyConfig, scan_series
from brain.anomaly.scan import _stable_id

SWAP_DAY, SWAP_HOUR = 35, 15  # a Monday afternoon (`start` is a Monday)


@pytest.fixture
def swap_series(stream, table, daily_profile):
    """swap_series(days, usd_per_mtok=1.0) -> a small agent (about $2/day) whose model is swapped for
    one 8x the price on SWAP_DAY at SWAP_HOUR: flagged at each day's peak hours for weeks."""

    def _swap_series(days: int, usd_per_mtok: float = 1.0):
        hours = days * 24
        req = daily_profile(days, 30, seed=4, weekend=0.5)
        swapped = np.arange(hours) >= SWAP_DAY * 24 + SWAP_HOUR
        return table({"Agents/Support": [
            stream(hours, np.where(swapped, 0, req), model="gpt-4o-mini", usd_per_mtok=usd_per_mtok,
                   tokens_per_request=5000),
            stream(hours, np.where(swapped, req, 0), model="gpt-4o", usd_per_mtok=8 * usd_per_mtok,
                   tokens_per_request=5000),
        ]})

    return _swap_series


@pytest.fixture
def loops(stream, table, daily_profile):
    """loops(days, *onsets) -> an agent with a 3-hour runaway loop (600 more calls an hour, errors,
    retries) at each onset hour."""

    def _loops(days: int, *onsets: int):
        base = daily_profile(days, 40, seed=1)
        req = base.copy()
        for onset in onsets:
            req[onset : onset + 3] += 600
        looping = req > base
        return table({"Agents/Loop": [stream(days * 24, req, usd_per_mtok=5, error_share=np.where(looping, 0.6, 0.0),
                                             calls_per_run=np.where(looping, 8.0, 1.0))]})

    return _loops


def test_a_model_swap_on_a_small_agent_flagged_every_day_is_one_anomaly_that_becomes_a_shift(swap_series, start, at):
    series = swap_series(49)
    first_day = scan_series(series, start, at(SWAP_DAY + 1))
    assert [(a.granularity, a.family, a.ongoing) for a in first_day] == [("hour", "spike", True)]
    two_weeks = scan_series(series, start, at(49))
    assert [a.id for a in two_weeks] == [first_day[0].id]  # flagged again each day (one anomaly a day, before)
    a = two_weeks[0]
    assert (a.granularity, a.family, a.cause, a.ongoing, a.ended_at, a.end) == ("hour", "shift", "model_mix", True, None, None)
    assert (a.detected_at_bucket, a.onset) == (first_day[0].detected_at_bucket, first_day[0].onset)
    assert a.last_bucket > first_day[0].last_bucket
    # figures over whole days: about $2 a day expected, about 8x that spent
    assert 1 < a.expected_usd_per_day < 3
    assert a.actual_usd_per_day / a.expected_usd_per_day == pytest.approx(6.5, rel=0.3)
    assert sum(a.decomposition.values()) == pytest.approx(a.excess_usd_per_day, abs=0.02)


def test_the_episode_id_is_its_first_runs_id_whichever_day_the_scan_ends(swap_series, start, at):
    series = swap_series(49)
    ids = {day: [a.id for a in scan_series(series, start, at(SWAP_DAY + day, 20))] for day in (0, 3, 10)}
    first_run = _stable_id("Agents/Support", "hour", at(SWAP_DAY, SWAP_HOUR))
    assert ids == {0: [first_run], 3: [first_run], 10: [first_run]}
    info = {"Agents/Support": AgentInfo("Agents/Support", "Support", agent_id="support")}
    keyed = [a.id for a in scan_series(series, start, at(SWAP_DAY + 10), agents=info)]
    assert keyed == [_stable_id("agent_id:support", "hour", at(SWAP_DAY, SWAP_HOUR))]


def test_severity_never_decreases_while_the_episode_goes_on(stream, table, daily_profile, start):
    days, onset = 56, SWAP_DAY * 24 + 9
    hours = np.arange(days * 24)
    tokens = 4000 * (1 + 5 * np.clip((hours - onset) / (10 * 24), 0, 1))  # contexts grow 6x over ten days
    series = table({"Agents/Drift": [stream(days * 24, daily_profile(days, 30, seed=4, weekend=0.5),
                                            usd_per_mtok=2, tokens_per_request=tokens)]})
    seen = []
    for clock in range(onset, days * 24, 12):
        found = scan_series(series, start, start + timedelta(hours=clock))
        assert len(found) <= 1
        if found:
            assert found[0].ongoing and found[0].family == "shift"
            seen.append((found[0].id, SEVERITIES.index(found[0].severity)))
    assert len({i for i, _ in seen}) == 1
    ranks = [r for _, r in seen]
    assert ranks == sorted(ranks)
    assert (SEVERITIES[ranks[0]], SEVERITIES[ranks[-1]]) == ("info", "warn")  # it grew, one id


def test_a_step_the_baseline_learns_ends_as_a_new_normal(swap_series, start, at):
    series = swap_series(77)
    found = scan_series(series, start, at(77))
    assert len(found) == 1
    a = found[0]
    assert (a.ongoing, a.end, a.family) == (False, "new normal", "shift")
    assert a.ended_at is not None and a.ended_at > a.last_bucket
    assert a.id == _stable_id("Agents/Support", "hour", at(SWAP_DAY, SWAP_HOUR))


def test_a_runaway_loop_that_stops_is_back_to_baseline_within_hours(loops, start, at):
    series = loops(28, 25 * 24 + 10)
    during = scan_series(series, start, at(25, 13))
    assert [(a.family, a.ongoing, a.ended_at) for a in during] == [("spike", True, None)]
    after = scan_series(series, start, at(25, 20))
    assert [(a.id, a.family, a.ongoing, a.end) for a in after] == [(during[0].id, "spike", False, "back to baseline")]
    assert at(25, 13).isoformat().replace("+00:00", "Z") <= after[0].ended_at <= at(25, 19).isoformat().replace("+00:00", "Z")
    assert after[0].cause == "volume"
    assert after[0].severity == during[0].severity


def test_a_new_onset_after_the_end_is_a_second_anomaly(loops, start, at):
    series = loops(35, 25 * 24 + 10, 29 * 24 + 11)
    found = sorted(scan_series(series, start, at(35)), key=lambda a: a.onset)
    assert [(a.onset, a.ongoing, a.end) for a in found] == [
        ("2024-01-26T10:00:00Z", False, "back to baseline"),
        ("2024-01-30T11:00:00Z", False, "back to baseline"),
    ]
    assert found[0].id != found[1].id
    assert found[0].id == scan_series(series, start, at(26))[0].id


def test_a_loop_is_over_once_its_requests_are_usual_again_idle_hours_included(stream, table, at, start):
    """A loop after hours on a Friday is over on the Friday night: the hours after it had the
    requests they usually have (none), so its excess is not projected over the next 30 days while
    the office is closed for the weekend (the demo's weekend retry loop stayed 'ongoing' till Monday)."""
    days = 36
    rng = np.random.default_rng(5)
    req = np.zeros(days * 24)
    for day in range(days):
        if day % 7 < 5:  # weekdays 09:00-17:00
            req[day * 24 + 9 : day * 24 + 18] = rng.poisson(40, 9)
    friday = 32 * 24  # `start` is a Monday
    req[friday + 18 : friday + 21] = 800  # a loop after hours on Friday
    series = table({"Agents/Office": [stream(days * 24, req, usd_per_mtok=5, tokens_per_request=2000)]})
    friday_night = scan_series(series, start, at(32, 22))
    assert [(a.onset, a.ongoing) for a in friday_night] == [("2024-02-02T18:00:00Z", True)]
    sunday = scan_series(series, start, at(34, 12))
    assert [(a.id, a.ongoing, a.end, a.family) for a in sunday] == [(friday_night[0].id, False, "back to baseline", "spike")]
    assert sunday[0].ended_at.startswith("2024-02-03T02:00")  # six usual hours after its last flagged one
    assert sunday[0].projected_30d_impact_usd < sunday[0].excess_usd_per_day * 30  # its cost in all, not 30 days of it
    monday = scan_series(series, start, at(35) + timedelta(hours=14))
    assert [(a.id, a.end) for a in monday] == [(sunday[0].id, "back to baseline")]


def test_a_far_stronger_incident_after_a_quiet_spell_is_its_own_anomaly(stream, table, daily_profile, start, at):
    days = 35
    hours = days * 24
    req = daily_profile(days, 30, seed=7)
    req[29 * 24 : 30 * 24] = np.round(req[29 * 24 : 30 * 24] * 1.8)  # a busy Tuesday: a mild daily shift
    swap = np.arange(hours) >= 30 * 24 + 10  # Wednesday 10:00, after a normal night: an 8x pricier model
    series = table({"Agents/Helper": [
        stream(hours, np.where(swap, 0, req), model="gpt-4o-mini", usd_per_mtok=5, tokens_per_request=2000),
        stream(hours, np.where(swap, req, 0), model="gpt-4o", usd_per_mtok=40, tokens_per_request=2000),
    ]})
    before = scan_series(series, start, at(30, 9))
    assert [(a.granularity, a.cause, a.ongoing) for a in before] == [("day", "volume", True)]
    found = sorted(scan_series(series, start, at(35)), key=lambda a: a.onset)
    assert [(a.id, a.ongoing, a.end) for a in found[:1]] == [(before[0].id, False, "back to baseline")]
    assert found[0].ended_at < "2024-01-31T10:00:00Z"
    assert [(a.granularity, a.cause, a.ongoing, a.detected_at_bucket) for a in found[1:]] == [
        ("hour", "model_mix", True, "2024-01-31T10:00:00Z")
    ]


@pytest.mark.parametrize("knob", [{"episode_end_ratio": 0.9}, {"episode_back_ratio": 0.5}, {"episode_new_onset_ratio": 0},
                                  {"episode_end_evidence_day_share": 0}, {"episode_end_wait_days": -1}])
def test_episode_knobs_that_cannot_work_are_refused(knob):
    with pytest.raises(ValueError, match="episode_"):
        AnomalyConfig(**knob)
