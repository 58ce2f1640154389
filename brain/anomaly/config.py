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
    episode_gap_hours: int = 6  # flagged hours closer than this form one episode
    # slow daily path (CUSUM on daily log residuals)
    cusum_k: float = 0.5
    cusum_h: float = 4.0
    slow_z: float = 6.0  # a single day this far out alarms without waiting for CUSUM
    slow_sigma_floor: float = 0.05  # floor of daily log-residual sigma
    slow_min_ratio: float = 1.5  # actual / expected daily cost
    slow_min_excess_usd_per_day: float = 2.0
    slow_episode_gap_days: int = 3  # flagged days this close form one episode (a weekend between)
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
