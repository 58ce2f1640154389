"""Thresholds of the anomaly detector, one frozen dataclass with sensible defaults."""

from __future__ import annotations

from dataclasses import dataclass

SEVERITIES = ("info", "warn", "critical")


@dataclass(frozen=True)
class AnomalyConfig:
    """Every knob of the detector; units are in the names."""

    # the scan: every listing reads the same history, so an anomaly's id and figures do not depend on
    # the window asked for; the window only picks which anomalies are shown
    horizon_days: int = 90  # days of history scanned (from a midnight, or from the first usage if later)
    # baselines
    baseline_days: int = 28
    seasonal_weekday_min_days: int = 14  # hour-of-day x weekday from here
    seasonal_hour_min_days: int = 7  # hour-of-day from here, flat below
    cold_start_days: int = 3  # below: gross absolute thresholds only
    adapt_days: int = 7  # flagged buckets leave the baseline for this long from the first flag of a
    # run of flags (recurring within this long), then count again: a new normal is learnt, not alarmed forever
    dispersion_floor: float = 0.10  # floor of the robust log spread (flat series)
    dispersion_default: float = 0.30  # spread assumed when history is too thin to measure it
    # fast hourly path
    fast_ratio: float = 4.0  # (actual + 1) / (expected + 1) on requests or cost
    fast_z: float = 5.0  # overdispersed-Poisson z on requests or cost-equivalent requests
    fast_min_excess_usd_per_hour: float = 0.50
    fast_min_requests_for_cost: float = 3.0  # requests in the hour before $/request is trusted
    episode_gap_hours: int = 6  # flagged hours closer than this form one run
    # slow daily path (CUSUM on daily log residuals)
    cusum_k: float = 0.5
    cusum_h: float = 4.0
    slow_z: float = 6.0  # a single day this far out alarms without waiting for CUSUM
    slow_sigma_floor: float = 0.05  # floor of daily log-residual sigma
    slow_min_ratio: float = 1.5  # actual / expected daily cost
    slow_min_excess_usd_per_day: float = 2.0
    slow_episode_gap_days: int = 3  # flagged days this close form one run (a weekend between)
    # episodes: runs of either path join the agent's open episode (one anomaly, one id) until it ends
    episode_end_evidence_day_share: float = 0.25  # expected cost since the last flag, as a share of a
    # usual day's, before the hours after it can say the series is back (idle-as-usual hours add nothing)
    episode_shift_end_evidence_days: float = 2.0  # the same for a shift (flagged on days or over a day
    # apart), judged on whole days: usual days of expected cost
    episode_end_ratio: float = 1.5  # within the baseline: actual cost <= this x expected over them
    episode_back_ratio: float = 1.25  # and <= this x the same hours before the onset: back to baseline;
    # else a new normal, once adapt_days have passed without a flag (one regime, as in the detector)
    episode_end_wait_days: float = 7.0  # no flag and nothing to judge by for this long: over
    episode_new_onset_ratio: float = 2.0  # a flag this many times stronger (cost / expected) than any of
    # the open episode's, not in its runs and after hours that were not high, is a new incident
    # cold start (< cold_start_days of history): absolute only
    cold_start_usd_per_hour: float = 25.0
    cold_start_requests_per_hour: float = 5000.0
    # severity
    warn_excess_usd_per_day: float = 10.0
    warn_min_impact_usd: float = 2.0  # projected 30-day (or, once over, total) excess below this: info
    critical_excess_usd_per_day: float = 200.0
    critical_ratio: float = 5.0
    critical_ratio_min_usd_per_day: float = 25.0
    # explanation
    change_window_before_hours: float = 24.0
    change_window_after_hours: float = 1.0
    related_depth: int = 2  # dependencies of the agent searched for change notes

    def __post_init__(self) -> None:
        """Reject thresholds that cannot work together."""
        if not (self.cold_start_days <= self.seasonal_hour_min_days <= self.seasonal_weekday_min_days):
            raise ValueError("cold_start_days <= seasonal_hour_min_days <= seasonal_weekday_min_days")
        if self.baseline_days < self.seasonal_weekday_min_days:
            raise ValueError("baseline_days must cover seasonal_weekday_min_days")
        if self.horizon_days < 1:
            raise ValueError("horizon_days must be at least 1")
        if min(self.episode_end_ratio, self.episode_back_ratio, self.episode_new_onset_ratio) < 1:
            raise ValueError("episode_end_ratio, episode_back_ratio and episode_new_onset_ratio must be at least 1")
        if min(self.episode_end_evidence_day_share, self.episode_shift_end_evidence_days, self.episode_end_wait_days) <= 0:
            raise ValueError("episode_end_evidence_day_share, episode_shift_end_evidence_days and "
                             "episode_end_wait_days must be positive")
