"""One episode, one anomaly: an agent's runs of flags, fast and slow, merged in time order while the
episode is open, and the hour it ends (its series back within the baseline, or a new normal learnt).

A small agent's model swap is flagged at each day's peak hours for a week or two while its baseline
has not adapted; each day's flags are a run, and every flag that comes before the episode has ended
is the same episode. Everything here is causal: whether a flag joins depends only on the hours before
it, so an episode's runs, and its id (its first run's), do not change as newer hours are scanned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brain.anomaly.config import AnomalyConfig
from brain.anomaly.detect import Detection
from brain.anomaly.series import DenseSeries

BACK_TO_BASELINE, NEW_NORMAL = "back to baseline", "new normal"
_WEEK_HOURS = 7 * 24
_PRE_ONSET_WEEKS = 2  # same hours of the week averaged for the level before the onset
_USUAL_SLACK_REQUESTS = 3.0  # requests over the usual an hour may have and still be usual (Poisson noise)
_RUNNING_RATIO = 2.0  # hours after a spike's last flag this far above expected: it is still running
_LEVEL_FLOOR_SHARE = 0.1  # of a usual hour (day), added to both sides of a flag's cost ratio: hours
# that are usually idle have a finite level


@dataclass(frozen=True)
class Run:
    """Flags of one path no further apart than its gap: hour indices ("hour") or day indices ("day")."""

    granularity: str
    buckets: np.ndarray

    @property
    def width_hours(self) -> int:
        """Hours in one bucket."""
        return 1 if self.granularity == "hour" else 24

    @property
    def start(self) -> int:
        """The run's first hour."""
        return int(self.buckets[0]) * self.width_hours

    @property
    def end(self) -> int:
        """One past the run's last flagged hour."""
        return (int(self.buckets[-1]) + 1) * self.width_hours

    def hours(self) -> np.ndarray:
        """Every flagged hour of the run (a flagged day is its 24 hours)."""
        if self.granularity == "hour":
            return self.buckets
        return (self.buckets[:, None] * 24 + np.arange(24)).ravel()


@dataclass
class Episode:
    """One agent's runs from an onset to the hour it was judged over (None: it goes on)."""

    agent: int
    runs: list[Run]  # in order of their first hour
    last_end: int  # one past the last flagged hour of any of its runs
    ended_at: int | None = None  # the hour whose end closed the judgement
    end: str | None = None  # BACK_TO_BASELINE | NEW_NORMAL once ended
    running: bool = False  # its excess still accrues: open, and for a spike its newest hours still high

    @property
    def first(self) -> Run:
        """The run that opened the episode: its id, granularity and detection."""
        return self.runs[0]

    @property
    def ongoing(self) -> bool:
        """Not judged over yet."""
        return self.ended_at is None

    @property
    def last_flagged_hour(self) -> int:
        """The episode's last flagged hour."""
        return self.last_end - 1

    def is_shift(self) -> bool:
        """Whether the episode is a shift: it holds a daily run, or was flagged again a day or more
        after its first flag (a spike that stays within a day keeps its hourly explanation)."""
        return _is_shift(any(r.granularity == "day" for r in self.runs), self.first.start, self.last_end)

    def flagged_hours(self) -> np.ndarray:
        """The flagged hours of every run, in order."""
        return np.unique(np.concatenate([r.hours() for r in self.runs]))


def _is_shift(has_daily_run: bool, first_hour: int, last_end: int) -> bool:
    return has_daily_run or last_end - first_hour > 24


def _split(granularity: str, buckets: list[int], gap: int) -> list[Run]:
    """Buckets of one path cut into runs where they are further apart than gap."""
    values = np.asarray(buckets, dtype=np.int64)
    cut = np.flatnonzero(np.diff(values) > gap) + 1
    return [Run(granularity, part) for part in np.split(values, cut)]


class _Judge:
    """When an episode is over, from the complete hours (a spike) or days (a shift) after its last flag.

    A spike is judged on windows of the hours after its last flag that hold at least
    `episode_end_evidence_day_share` of a usual day's expected cost; a shift, flagged on days or on
    more than one day, on windows of the complete days after it (against the daily path's
    expectation) that hold `episode_shift_end_evidence_days` usual days of it: a sustained shift
    is flagged on and off while its baseline adapts, and one quiet day is noise.
    Hours or days idle as usual (nights, weekends) hold no expected cost: they keep the episode
    open without ending it. A window whose cost is within `episode_end_ratio` of its expectation
    ends the episode "back to baseline" when its cost is also within `episode_back_ratio` of the
    same hours of the week before the onset (a loop followed by normal working hours is over
    within hours); "new normal" when it is not (the baseline learnt a higher level) and no flag
    has come for `adapt_days`, the detector's own span of one regime (a step is flagged on and off
    while its baseline adapts). After `episode_end_wait_days` with no flag and nothing to judge
    by, it is over, back to baseline. (A far stronger incident can also close it: `episodes`.)
    """

    def __init__(self, s: DenseSeries, det: Detection, cfg: AnomalyConfig):
        self.s, self.cfg = s, cfg
        self.expected = det.expected_cost_usd
        self.expected_day = det.expected_day_cost_usd
        self.s_expected_requests = det.expected_requests
        self.wait_hours = int(round(cfg.episode_end_wait_days * 24))
        self.regime_hours = cfg.adapt_days * 24
        # a usual day's expected cost per (agent, day): the mean over the tested days of the week up to it
        by_day = self.expected.reshape(len(s.agents), s.n_days, 24)
        tested = ~np.isnan(by_day).all(axis=2)
        total = np.cumsum(np.where(tested, np.nansum(by_day, axis=2), 0.0), axis=1)
        count = np.cumsum(tested, axis=1)
        week_total = total - np.pad(total, ((0, 0), (7, 0)))[:, :-7]
        week_count = count - np.pad(count, ((0, 0), (7, 0)))[:, :-7]
        self.usual_day_usd = np.where(week_count > 0, week_total / np.maximum(week_count, 1), 0.0)

    def _usual_day_usd(self, a: int, last_end: int) -> float:
        """Expected cost of a usual day: the mean of the week of days up to the last flagged one."""
        return float(self.usual_day_usd[a, max(last_end - 1, 0) // 24])

    def levels(self, agent: np.ndarray, bucket: np.ndarray, daily: np.ndarray) -> np.ndarray:
        """How strong each flag is: its cost over its expectation, for its hour or day, both sides
        floored by a tenth of the agent's usual hour (day) so that usually idle hours stay finite."""
        n_agents = len(self.s.agents)
        day = np.where(daily, bucket, bucket // 24)
        hour = np.where(daily, 0, bucket)
        by_day = self.expected.reshape(n_agents, self.s.n_days, 24)[agent, day]
        day_expected = self.expected_day[agent, day]
        day_expected = np.where(np.isnan(day_expected), np.nansum(by_day, axis=1), day_expected)
        day_cost = self.s.cost_usd.reshape(n_agents, self.s.n_days, 24)[agent, day].sum(axis=1)
        usual = self.usual_day_usd[agent, day]
        floor = _LEVEL_FLOOR_SHARE * np.where(daily, usual, usual / 24)
        cost = np.where(daily, day_cost, self.s.cost_usd[agent, hour])
        expected = np.where(daily, day_expected, np.nan_to_num(self.expected[agent, hour]))
        with np.errstate(divide="ignore", invalid="ignore"):
            level = (cost + floor) / (expected + floor)
        return np.where(np.isnan(level), 1.0, level)

    def _before_onset(self, a: int, onset: int, lo: int, stop: int) -> np.ndarray:
        """Per hour of [lo, stop): the mean cost of the same hour of the week in the weeks before
        the onset (the level the episode left; the newest weeks, as an agent may be growing), or,
        for an agent younger than that, the onset day's expectation for the hour of the day."""
        hours = np.arange(lo, stop)
        weeks = (hours - onset) // _WEEK_HOURS + 1 + np.arange(_PRE_ONSET_WEEKS)[:, None]
        before = hours[None, :] - weeks * _WEEK_HOURS
        known = before >= max(self.s.first_valid, int(self.s.first_hour[a]))
        cost = np.where(known, self.s.cost_usd[a, np.maximum(before, 0)], 0.0)
        n = known.sum(axis=0)
        onset_day = np.nan_to_num(self.expected[a, max(onset, 0) // 24 * 24 + hours % 24])
        return np.where(n > 0, cost.sum(axis=0) / np.maximum(n, 1), onset_day)

    def spike_running(self, a: int, last_end: int) -> bool:
        """Whether a spike not yet judged over still runs: every complete hour since its last flag
        (fewer than `episode_gap_hours`) is still well above its expectation. One that does not
        may still be open, waiting for enough normal hours to say so, but its excess has stopped."""
        if self.s.n_valid - last_end >= self.cfg.episode_gap_hours:
            return False
        cost, expected = self.s.cost_usd[a, last_end:], np.nan_to_num(self.expected[a, last_end : self.s.n_valid])
        cost = cost[: len(expected)]
        high = (cost >= _RUNNING_RATIO * expected) & (cost - expected >= self.cfg.fast_min_excess_usd_per_hour)
        return bool(high.all())

    def volume_driven(self, a: int, hours: list[int]) -> bool:
        """Whether an episode's hourly flags were more requests than usual (a loop, a job run
        hourly), not dearer ones: then its end is judged on requests too (`volume_back`)."""
        if not hours:
            return False
        idx = np.asarray(hours, dtype=np.intp)
        mu = float(np.nansum(self.s_expected_requests[a, idx]))
        return float(self.s.requests[a, idx].sum()) >= self.cfg.fast_ratio * (mu + 1.0)

    def volume_back(self, a: int, last_end: int, stop: int, pre_cost: float) -> tuple[int, str] | None:
        """An episode of volume is over once the `episode_gap_hours` complete hours after its last
        flag had no more requests than usual, hours idle as usual included: the loop, or the extra
        schedule, has stopped (a weekly job's loop ended on Sunday is over on Sunday, not when the
        next Saturday's run shows it). None when those hours are not all usual (yet)."""
        gap = self.cfg.episode_gap_hours
        if min(stop, self.s.n_valid) - last_end < gap:
            return None
        window = slice(last_end, last_end + gap)
        mu = np.nan_to_num(self.s_expected_requests[a, window])
        if not (self.s.requests[a, window] <= self.cfg.episode_end_ratio * mu + _USUAL_SLACK_REQUESTS).all():
            return None
        cost = float(self.s.cost_usd[a, window].sum())
        back = cost <= self.cfg.episode_back_ratio * pre_cost + self.cfg.fast_min_excess_usd_per_hour
        return last_end + gap - 1, (BACK_TO_BASELINE if back else NEW_NORMAL)

    def end(self, a: int, onset: int, last_end: int, stop: int, shift: bool,
            volume: bool = False) -> tuple[int, str] | None:
        """When agent a's episode, from `onset` with flags up to `last_end`, is over, judged on the
        complete hours [last_end, stop): (the hour it was judged over, how it ended), or None while
        it goes on. `volume`: an episode of more requests, also over once its requests are usual."""
        judged = self._end(a, onset, last_end, stop, shift)
        if volume:
            pre = self._before_onset(a, onset, last_end, min(last_end + self.cfg.episode_gap_hours, self.s.n_hours))
            by_volume = self.volume_back(a, last_end, stop, float(pre.sum()))
            if by_volume is not None and (judged is None or by_volume[0] < judged[0]):
                return by_volume
        return judged

    def _end(self, a: int, onset: int, last_end: int, stop: int, shift: bool) -> tuple[int, str] | None:
        stop = min(stop, self.s.n_valid)
        if stop <= last_end:
            return None
        cfg = self.cfg
        usual = self._usual_day_usd(a, last_end)
        share = cfg.episode_end_evidence_day_share * usual
        expected = np.nan_to_num(self.expected[a, last_end:stop])
        actual = self.s.cost_usd[a, last_end:stop]
        pre = self._before_onset(a, onset, last_end, stop)
        hours = np.arange(last_end, stop)
        if not shift:
            return _verdict(expected, actual, pre, hours, share, last_end, self)
        first, end = -(-last_end // 24), stop // 24  # a shift: the complete days after the last flagged hour's
        if end <= first:
            return None
        cut = slice((first * 24) - last_end, (end * 24) - last_end)
        days = self.expected_day[a, first:end]  # the daily path's expectation where it has one
        per_day = expected[cut].reshape(-1, 24).sum(axis=1)
        return _verdict(
            np.where(np.isnan(days), per_day, days), actual[cut].reshape(-1, 24).sum(axis=1),
            pre[cut].reshape(-1, 24).sum(axis=1), np.arange(first + 1, end + 1) * 24 - 1,
            cfg.episode_shift_end_evidence_days * usual, last_end, self,
        )

    def elevated(self, a: int, last_end: int, stop: int) -> bool:
        """Whether the complete hours [last_end, stop) cost more than `episode_end_ratio` times
        their expectation (hours idle as usual and idle: not)."""
        actual = float(self.s.cost_usd[a, last_end:stop].sum())
        expected = float(np.nansum(self.expected[a, last_end:stop]))
        return actual > 0 and actual > self.cfg.episode_end_ratio * expected


def _verdict(expected: np.ndarray, actual: np.ndarray, pre: np.ndarray, hour: np.ndarray, need: float,
             last_end: int, judge: _Judge) -> tuple[int, str] | None:
    """The first bucket (an hour or a day, ending at `hour`) whose window, the shortest one back
    from it holding `need` of expected cost, says the episode is over; None while it goes on."""
    cfg = judge.cfg
    ce, ca, cp = (np.concatenate(([0.0], np.cumsum(x))) for x in (expected, actual, pre))
    k = np.arange(1, len(expected) + 1)  # windows [start, k)
    start = np.searchsorted(ce, ce[k] - need, side="right") - 1  # the shortest window with enough
    judged = (start >= 0) & (need > 0)
    start = np.maximum(start, 0)
    e_w, a_w, p_w = ce[k] - ce[start], ca[k] - ca[start], cp[k] - cp[start]
    within = judged & (a_w <= cfg.episode_end_ratio * e_w)
    back = within & (a_w <= cfg.episode_back_ratio * p_w)
    learnt = within & (hour + 1 - last_end >= judge.regime_hours)
    waited = (hour + 1 - last_end >= judge.wait_hours) & (np.cumsum(judged) == 0)
    over = back | learnt | waited
    if not over.any():
        return None
    i = int(np.argmax(over))
    return int(hour[i]), (NEW_NORMAL if learnt[i] and not back[i] else BACK_TO_BASELINE)


@dataclass
class _Open:
    """An episode being merged: its agent, flagged hours and days so far, and where they end."""

    agent: int
    hours: list[int]
    days: list[int]
    first_hour: int
    last_end: int
    level: float  # the strongest flag's cost over its expectation
    ended: tuple[int, str] | None = None  # when and how, once a later flag found it over

    def add(self, bucket: int, is_day: bool, end: int, level: float) -> None:
        """Take a flag into the episode."""
        (self.days if is_day else self.hours).append(bucket)
        self.last_end = max(self.last_end, end)
        self.level = max(self.level, level)

    @property
    def onset(self) -> int:
        """Where the level before the episode ends: a day's step may start the day before it."""
        return self.first_hour - 24 if self.days and self.days[0] * 24 == self.first_hour else self.first_hour


def episodes(s: DenseSeries, det: Detection, cfg: AnomalyConfig) -> list[Episode]:
    """The agents' fast (hourly) and slow (daily) flags merged into episodes, flag by flag in time
    order: a flag joins its agent's current episode when it follows one of the same path within
    that path's gap (`episode_gap_hours`, `slow_episode_gap_days`: one run, as before), or when
    the episode has not ended before it, unless it is `episode_new_onset_ratio` times stronger
    (cost over expectation) than any flag of the episode so far and the hours since the
    episode's last flag were not high (a model swap the day after a noisy day: a new incident,
    and the noisy day was over); else it opens a new episode. Each decision reads only earlier
    hours. Each episode knows whether, when and how it ended."""
    fast_agent, fast_hour = np.nonzero(det.fast)
    slow_agent, slow_day = np.nonzero(det.slow)
    agent = np.concatenate([fast_agent, slow_agent])
    bucket = np.concatenate([fast_hour, slow_day])
    daily = np.concatenate([np.zeros(len(fast_hour), bool), np.ones(len(slow_day), bool)])
    start = np.where(daily, bucket * 24, bucket)
    order = np.lexsort((daily, start, agent))
    agent, bucket, daily, start = agent[order], bucket[order], daily[order], start[order]
    judge = _Judge(s, det, cfg)
    level = judge.levels(agent, bucket, daily)
    gap = {False: cfg.episode_gap_hours, True: cfg.slow_episode_gap_days}
    found: list[_Open] = []
    for a, b, is_day, t, lv in zip(agent.tolist(), bucket.tolist(), daily.tolist(), start.tolist(), level.tolist(),
                                   strict=True):
        end = t + (24 if is_day else 1)
        ep = found[-1] if found and found[-1].agent == a else None
        if ep is not None:
            same = ep.days if is_day else ep.hours
            if t <= ep.last_end or (same and b - same[-1] <= gap[is_day]):  # adjacent, or the same run
                ep.add(b, is_day, end, lv)
                continue
            ep.ended = judge.end(a, ep.onset, ep.last_end, t, _is_shift(bool(ep.days), ep.first_hour, ep.last_end),
                                 judge.volume_driven(a, ep.hours))
            if ep.ended is None and lv >= cfg.episode_new_onset_ratio * ep.level and not judge.elevated(a, ep.last_end, t):
                ep.ended = (t - 1, BACK_TO_BASELINE)  # a far stronger incident, after hours that were not high
            if ep.ended is None:
                ep.add(b, is_day, end, lv)
                continue
        found.append(_Open(a, [] if is_day else [b], [b] if is_day else [], t, end, lv))
    out = []
    for ep in found:
        runs = _split("hour", ep.hours, gap[False]) if ep.hours else []
        runs += _split("day", ep.days, gap[True]) if ep.days else []
        episode = Episode(ep.agent, sorted(runs, key=lambda r: (r.start, r.granularity != "hour")), ep.last_end)
        shift = episode.is_shift()
        ended = ep.ended or judge.end(ep.agent, ep.onset, ep.last_end, s.n_valid, shift,
                                      judge.volume_driven(ep.agent, ep.hours))
        if ended is not None:
            episode.ended_at, episode.end = ended
        else:
            episode.running = shift or judge.spike_running(ep.agent, ep.last_end)
        out.append(episode)
    return out
