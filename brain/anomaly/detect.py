"""The two detection paths over dense series: fast hourly spikes and slow daily CUSUM shifts."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from brain.anomaly.config import AnomalyConfig
from brain.anomaly.series import DenseSeries
from brain.anomaly.stats import nanmedian, robust_sigma

COLD, FLAT, HOUR_OF_DAY, WEEKDAY = 0, 1, 2, 3
_SLOT_SIGMA_SCALE = 1.39  # MAD around a 4-sample median understates sigma by this factor
SLOW_COST_FLOOR_USD = 0.5
_SLOW_REQUEST_FLOOR = 5.0
_ACTIVE_SLOT_REQUESTS = 3.0  # slots quieter than this are Poisson noise, not dispersion
PREDATES_WINDOW_DAYS = 7


@dataclass(frozen=True)
class Detection:
    """Flags and the baselines they were tested against; NaN where a bucket was not tested."""

    fast: np.ndarray  # (A, N) bool, flagged hours
    slow: np.ndarray  # (A, D) bool, flagged days
    expected_requests: np.ndarray  # (A, N)
    expected_cost_usd: np.ndarray  # (A, N)
    expected_day_cost_usd: np.ndarray  # (A, D)
    excluded: np.ndarray  # (A, N) bool, hours kept out of baselines (flagged, or before the agent)
    mode: np.ndarray  # (A, D) int8 baseline kind used per day: COLD..WEEKDAY


def _mode(history_days: np.ndarray, cfg: AnomalyConfig) -> np.ndarray:
    return np.select(
        [
            history_days >= cfg.seasonal_weekday_min_days,
            history_days >= cfg.seasonal_hour_min_days,
            history_days >= cfg.cold_start_days,
        ],
        [WEEKDAY, HOUR_OF_DAY, FLAT],
        COLD,
    ).astype(np.int8)


def _log_ratio(x: np.ndarray, mu: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.log((x + 1.0) / (mu + 1.0))
    return np.where(mu >= _ACTIVE_SLOT_REQUESTS, r, np.nan)


def _hourly_baseline(xm: np.ndarray, d: int, lo: int, mode: np.ndarray, cfg: AnomalyConfig, spread: bool = True):
    """Expected value per (agent, hour-of-day) for day d, each agent's dispersion, the test level
    and whether the hour was active on any day of the window (the agent's working hours).

    The test level lifts an hour that was active on any day of the window to the mean of its
    neighbours' medians and to half its own largest sample: work that starts or ends a little
    earlier or later from day to day leaves the shoulder slots near zero in most samples, and
    such a slot is not a spike when the work lands in it. An hour idle on every day next to the
    edge of a block of two or more active hours takes that edge's median: a daily pattern kept
    in local time moves by one UTC hour when daylight saving time starts or ends. Other hours
    idle on every day keep their zero, so work in new hours (a single daily job now running
    hourly) still counts in its first hour. Before `cold_start_days` of history the expectation
    is the mean hour so far (the level the cost figures compare with; the test there is absolute).
    """
    n_agents = xm.shape[0]
    mu = np.zeros((n_agents, 24))
    ever = np.zeros((n_agents, 24), dtype=bool)
    top = np.zeros((n_agents, 24))
    phi = np.full(n_agents, cfg.dispersion_default)
    week = [d - 7 * k for k in range(1, 5) if d - 7 * k >= lo]
    for kind in (WEEKDAY, HOUR_OF_DAY, FLAT, COLD):
        idx = np.flatnonzero(mode == kind)
        if not len(idx) or d <= lo:
            continue
        window = xm[idx, lo:d, :]
        if kind == COLD:
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # an agent born today has no hours yet
                m = np.repeat(np.nanmean(window.reshape(len(idx), -1), axis=1)[:, None], 24, axis=1)
            active = np.zeros(m.shape, dtype=bool)
            peak, p = m, None
        elif kind == WEEKDAY and week:
            slots = xm[np.ix_(idx, np.asarray(week, dtype=np.intp))]
            m = nanmedian(slots, axis=1)
            active = np.nanmax(np.nan_to_num(window, nan=0.0), axis=1) > 0  # on any day
            peak = np.nan_to_num(slots, nan=0.0).max(axis=1)
            gaps = np.isnan(m)
            if gaps.any():
                m = np.where(gaps, nanmedian(window, axis=1), m)
            p = (
                robust_sigma(_log_ratio(slots, m[:, None, :]).reshape(len(idx), -1), 1,
                             cfg.dispersion_floor, cfg.dispersion_default, _SLOT_SIGMA_SCALE)
                if spread else None
            )
        elif kind == FLAT:
            m = np.repeat(nanmedian(window.reshape(len(idx), -1), axis=1)[:, None], 24, axis=1)
            active = np.zeros(m.shape, dtype=bool)  # one level for every hour: nothing to smooth
            peak = m
            res = _log_ratio(window, m[:, None, :]).reshape(len(idx), -1)
            p = robust_sigma(res, 1, cfg.dispersion_floor, cfg.dispersion_default)
        else:
            m = nanmedian(window, axis=1)
            peak = np.nan_to_num(window, nan=0.0).max(axis=1)
            active = peak > 0
            res = _log_ratio(window, m[:, None, :]).reshape(len(idx), -1)
            p = robust_sigma(res, 1, cfg.dispersion_floor, cfg.dispersion_default)
        mu[idx] = np.nan_to_num(m)
        ever[idx] = active
        top[idx] = np.nan_to_num(peak)
        if spread and p is not None:
            phi[idx] = p
    neighbours = (np.roll(mu, 1, axis=1) + np.roll(mu, -1, axis=1)) / 2
    edge_after = np.roll(ever, 1, axis=1) & np.roll(ever, 2, axis=1)  # hours h-2 and h-1 active
    edge_before = np.roll(ever, -1, axis=1) & np.roll(ever, -2, axis=1)  # hours h+1 and h+2 active
    shifted = np.maximum(np.where(edge_after, np.roll(mu, 1, axis=1), 0.0),
                         np.where(edge_before, np.roll(mu, -1, axis=1), 0.0))
    test = np.where(ever, np.maximum(np.maximum(mu, neighbours), top / 2), np.maximum(mu, shifted))
    return mu, phi, test, ever


def _z(x: np.ndarray, mu: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Overdispersed-Poisson z of counts x against expectation mu (the +1 floors empty slots)."""
    return (x - mu) / np.sqrt(mu + (phi[:, None] * mu) ** 2 + 1.0)


def _daily_baseline(y: np.ndarray, d: int, lo: int, seasonal: np.ndarray, floor: float):
    """Median and sigma of a daily log series for day d; same-weekday median where `seasonal`."""
    window = y[:, lo:d]
    flat = nanmedian(window, axis=1)
    centre = np.repeat(flat[:, None], window.shape[1], axis=1)
    base = flat.copy()
    if seasonal.any():
        offsets = np.arange(lo, d)
        for wd in range(7):
            cols = np.flatnonzero(offsets % 7 == wd)
            if len(cols):
                med = nanmedian(window[:, cols], axis=1)
                med = np.where(np.isnan(med), flat, med)
                centre[:, cols] = np.where(seasonal[:, None], med[:, None], centre[:, cols])
                if wd == d % 7:
                    base = np.where(seasonal, med, flat)
    sigma = robust_sigma(window - centre, 1, floor, np.inf)
    return base, sigma


def detect(s: DenseSeries, cfg: AnomalyConfig, first_day: int = 0) -> Detection:
    """Run both paths day by day from `first_day`; flagged buckets leave later baselines."""
    n_agents, n_hours, n_days = len(s.agents), s.n_hours, s.n_days
    req = s.requests.reshape(n_agents, n_days, 24)
    cost = s.cost_usd.reshape(n_agents, n_days, 24)
    tokens_day = (s.input_tokens + s.output_tokens).reshape(n_agents, n_days, 24).sum(axis=2)
    req_day, cost_day = req.sum(axis=2), cost.sum(axis=2)
    # An agent first seen in the window's first week predates the window (a weekly rhythm hides
    # it for up to a week): its quiet first days are zeros. Later first sightings are births.
    agent_day0 = s.first_hour // 24
    agent_day0 = np.where(agent_day0 < PREDATES_WINDOW_DAYS, 0, agent_day0)
    absent = np.arange(n_days)[None, :] < agent_day0[:, None]  # before the agent existed: not zeros
    hour_grid = np.arange(n_hours).reshape(n_days, 24)
    future = hour_grid >= s.n_valid
    unknown = future | (hour_grid < s.first_valid)  # outside [since, until): no data, not zeros
    born = np.where(agent_day0 > 0, s.first_hour, 0)  # the hours of a birth day before its first use
    excluded = (
        absent[:, :, None] | unknown[None, :, :] | (hour_grid[None, :, :] < born[:, None, None])
    )
    req_m = np.where(excluded, np.nan, req)
    cost_m = np.where(excluded, np.nan, cost)
    runs = s.runs.reshape(n_agents, n_days, 24)
    runs_m = np.where(excluded, np.nan, runs)
    day_out = absent.copy()
    if s.first_valid > 0:
        day_out[:, 0] = True  # a partial first day is no daily baseline

    with np.errstate(divide="ignore", invalid="ignore"):
        y_cost = np.log(cost_day + SLOW_COST_FLOOR_USD)
        y_req = np.log(req_day + _SLOW_REQUEST_FLOOR)
        y_tpr = np.log(tokens_day / req_day)
        y_upm = np.log(cost_day / tokens_day)
    y_tpr[~np.isfinite(y_tpr)] = np.nan
    y_upm[~np.isfinite(y_upm)] = np.nan
    factors = [y_cost, y_req, y_tpr, y_upm]
    cusum = np.zeros((len(factors), n_agents))

    fast = np.zeros((n_agents, n_days, 24), dtype=bool)
    slow = np.zeros((n_agents, n_days), dtype=bool)
    exp_req = np.full((n_agents, n_days, 24), np.nan)
    exp_cost = np.full((n_agents, n_days, 24), np.nan)
    exp_day = np.full((n_agents, n_days), np.nan)
    modes = np.zeros((n_agents, n_days), dtype=np.int8)
    ep_start = np.full(n_agents, -(10**9))
    last_flag = np.full(n_agents, -(10**9))
    slow_start = np.full(n_agents, -(10**9))
    slow_last = np.full(n_agents, -(10**9))
    adapt_hours = cfg.adapt_days * 24
    hours_of_day = np.arange(24)

    for d in range(first_day, n_days):
        if d * 24 >= s.n_valid:
            break
        lo = max(0, d - cfg.baseline_days)
        exists = agent_day0 <= d
        mode = np.where(exists, _mode(np.clip(d - np.maximum(agent_day0, lo), 0, None), cfg), COLD)
        modes[:, d] = mode
        mu, phi_r, mu_test, working = _hourly_baseline(req_m, d, lo, mode, cfg)
        kappa, _, kappa_test, _ = _hourly_baseline(cost_m, d, lo, mode, cfg, spread=False)
        with np.errstate(divide="ignore", invalid="ignore"):
            window_req = np.nansum(req_m[:, lo:d], axis=(1, 2))
            cpr = np.nansum(cost_m[:, lo:d], axis=(1, 2)) / window_req
            calls_per_run = window_req / np.nansum(runs_m[:, lo:d], axis=(1, 2))
        priced = np.isfinite(cpr) & (cpr > 0)
        cpr = np.where(priced, cpr, 1.0)
        # In its working hours an agent's requests arrive in runs of several calls and the Poisson
        # noise is on runs, so z counts runs: the hour's requests in usual-size runs, or the runs
        # it reported (a loop of one-call runs in an agent whose runs are usually long). An hour
        # idle on every day of the window keeps request counts: any work there is a new schedule.
        lump = np.where(np.isfinite(calls_per_run), np.maximum(calls_per_run, 1.0), 1.0)[:, None]
        lump = np.where(working, lump, 1.0)
        exp_req[:, d], exp_cost[:, d] = mu, kappa

        x, c = req[:, d], cost[:, d]
        z_r = np.maximum(_z(x / lump, mu_test / lump, phi_r), _z(runs[:, d], mu_test / lump, phi_r))
        hit_r = (z_r >= cfg.fast_z) & ((x + 1) / (mu_test + 1) >= cfg.fast_ratio)
        # per-request cost jumps (an expensive model, giant contexts) independent of volume noise
        with np.errstate(divide="ignore", invalid="ignore"):
            cpr_ratio = c / np.maximum(x, 1.0) / cpr[:, None]
            cost_ratio = c / kappa_test
        hit_c = (
            priced[:, None]
            & (x >= cfg.fast_min_requests_for_cost)
            & (cpr_ratio >= cfg.fast_ratio)
            & ~(cost_ratio < cfg.fast_ratio)
        )
        hit = (hit_r | hit_c) & (c - kappa_test >= cfg.fast_min_excess_usd_per_hour)
        hit &= (mode > COLD)[:, None]
        flat = mode == FLAT  # a flat level cannot know a daily job's hour: demand a new extreme too
        if flat.any():
            peak = np.nanmax(np.where(np.isnan(req_m[:, lo:d]), -np.inf, req_m[:, lo:d]), axis=(1, 2))
            hit &= ~flat[:, None] | (x >= 2 * peak[:, None])
        cold = exists & (mode == COLD)
        hit |= cold[:, None] & ((c >= cfg.cold_start_usd_per_hour) | (x >= cfg.cold_start_requests_per_hour))
        hit &= ~future[d][None, :]
        fast[:, d] = hit

        for h in hours_of_day[hit.any(axis=0)]:  # episode bookkeeping only where something fired
            t = d * 24 + h
            f = hit[:, h]
            new = f & (t - last_flag > adapt_hours)  # flags recurring within a week are one regime
            ep_start = np.where(new, t, ep_start)
            last_flag = np.where(f, t, last_flag)
            keep_out = f & (t - ep_start < adapt_hours)
            req_m[keep_out, d, h] = np.nan
            cost_m[keep_out, d, h] = np.nan
            runs_m[keep_out, d, h] = np.nan
            day_out[keep_out, d] = True

        if (d + 1) * 24 > s.n_valid or d <= lo:
            continue
        seasonal = mode == WEEKDAY
        alarm = np.zeros(n_agents, dtype=bool)
        for i, y in enumerate(factors):
            ym = np.where(day_out, np.nan, y)
            seas = seasonal if i < 2 else np.zeros_like(seasonal)
            base, sigma = _daily_baseline(ym, d, lo, seas, cfg.slow_sigma_floor)
            with np.errstate(invalid="ignore"):
                z = np.nan_to_num((y[:, d] - base) / sigma)
            cusum[i] = np.clip(cusum[i] + z - cfg.cusum_k, 0.0, 2 * cfg.cusum_h)
            alarm |= (cusum[i] > cfg.cusum_h) | (z >= cfg.slow_z)
            if i == 0:
                expected = np.maximum(np.exp(base) - SLOW_COST_FLOOR_USD, 0.0)
        expected = np.where(np.isnan(expected), 0.0, expected)
        exp_day[:, d] = expected
        ratio = (cost_day[:, d] + SLOW_COST_FLOOR_USD) / (expected + SLOW_COST_FLOOR_USD)
        flag = alarm & (ratio >= cfg.slow_min_ratio)
        flag &= cost_day[:, d] - expected >= cfg.slow_min_excess_usd_per_day
        flag &= (mode > COLD) & ~fast[:, d].any(axis=1)
        # a daily level that is not weekday-aware cannot know a weekly job's day: below 14 days of
        # history a shift must also top the costliest day so far (a weekly run's second run does not)
        weekly_blind = flag & (mode < WEEKDAY)
        if weekly_blind.any():
            past = np.where(day_out[:, lo:d], -np.inf, cost_day[:, lo:d])
            flag &= ~weekly_blind | (cost_day[:, d] >= cfg.slow_min_ratio * past.max(axis=1))
        slow[:, d] = flag
        new = flag & (d - slow_last > cfg.adapt_days)
        slow_start = np.where(new, d, slow_start)
        slow_last = np.where(flag, d, slow_last)
        keep_out = flag & (d - slow_start < cfg.adapt_days)
        day_out[keep_out, d] = True
        req_m[keep_out, d, :] = np.nan
        cost_m[keep_out, d, :] = np.nan
        runs_m[keep_out, d, :] = np.nan

    return Detection(
        fast=fast.reshape(n_agents, n_hours),
        slow=slow,
        expected_requests=exp_req.reshape(n_agents, n_hours),
        expected_cost_usd=exp_cost.reshape(n_agents, n_hours),
        expected_day_cost_usd=exp_day,
        excluded=np.isnan(req_m).reshape(n_agents, n_hours),
        mode=modes,
    )
