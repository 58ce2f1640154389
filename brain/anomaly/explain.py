"""Why an anomaly happened: exact cost decomposition, supporting signals, severity, change notes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from brain.anomaly.config import AnomalyConfig
from brain.anomaly.stats import log_mean

TERMS = ("volume", "tokens_per_request", "model_mix", "price")


def decompose_cost_change(
    requests0: np.ndarray,
    tokens0: np.ndarray,
    cost0: np.ndarray,
    requests1: np.ndarray,
    tokens1: np.ndarray,
    cost1: np.ndarray,
) -> dict[str, float]:
    """Split sum(cost1) - sum(cost0) over aligned per-model arrays into TERMS that sum exactly.

    Additive LMDI on cost = requests x model share x tokens/request x $/token; a model present
    in only one period (or unpriced in one) moves wholly into `model_mix`.
    """
    r0, t0, c0 = (np.asarray(a, dtype=float) for a in (requests0, tokens0, cost0))
    r1, t1, c1 = (np.asarray(a, dtype=float) for a in (requests1, tokens1, cost1))
    total = float(c1.sum() - c0.sum())
    terms = dict.fromkeys(TERMS, 0.0)
    if r0.sum() <= 0 or c0.sum() <= 0:
        terms["volume"] = total  # nothing to compare against: it is all new volume
        return terms
    if r1.sum() <= 0:
        terms["volume"] = total
        return terms
    both = (r0 > 0) & (r1 > 0) & (t0 > 0) & (t1 > 0) & (c0 > 0) & (c1 > 0)
    w = log_mean(c1[both], c0[both])
    with np.errstate(divide="ignore", invalid="ignore"):
        share0, share1 = r0[both] / r0.sum(), r1[both] / r1.sum()
        tpr0, tpr1 = t0[both] / r0[both], t1[both] / r1[both]
        price0, price1 = c0[both] / t0[both], c1[both] / t1[both]
    terms["volume"] = float(np.sum(w) * np.log(r1.sum() / r0.sum()))
    terms["model_mix"] = float(np.sum(w * np.log(share1 / share0)) + np.sum(c1[~both] - c0[~both]))
    terms["tokens_per_request"] = float(np.sum(w * np.log(tpr1 / tpr0)))
    terms["price"] = float(np.sum(w * np.log(price1 / price0)))
    # LMDI is exact in real numbers; give the last rounding to the largest term so sums match.
    biggest = max(TERMS, key=lambda k: abs(terms[k]))
    terms[biggest] += total - sum(terms.values())
    return terms


def cause_of(decomposition: dict[str, float]) -> str:
    """The term that added the most cost."""
    return max(TERMS, key=lambda k: decomposition[k])


def severity_of(ratio: float, excess_usd_per_day: float, projected_30d_usd: float, cfg: AnomalyConfig) -> str:
    """info / warn / critical from relative size, $/day excess and the 30-day projection.

    An episode that is over and cost less than `warn_min_impact_usd` in all stays info, however
    steep its hourly rate: a one-hour blip of cents is not worth a page.
    """
    if projected_30d_usd < cfg.warn_min_impact_usd:
        return "info"
    if excess_usd_per_day >= cfg.critical_excess_usd_per_day or projected_30d_usd >= 30 * cfg.critical_excess_usd_per_day:
        return "critical"
    if ratio >= cfg.critical_ratio and excess_usd_per_day >= cfg.critical_ratio_min_usd_per_day:
        return "critical"
    if excess_usd_per_day >= cfg.warn_excess_usd_per_day:
        return "warn"
    return "info"


@dataclass(frozen=True)
class PeriodStats:
    """Usage factors over a set of hours, for baseline-vs-anomaly comparison."""

    hours: int
    requests: float
    error_requests: float
    runs: float
    tokens: float
    cost_usd: float
    input_p95: float
    active_hours_per_day: float

    def factors(self) -> dict[str, float | None]:
        """The self-explaining factor values; None where undefined."""

        def div(a: float, b: float, scale: float = 1.0) -> float | None:
            return a / b * scale if b > 0 else None

        return {
            "requests_per_hour": div(self.requests, self.hours),
            "runs_per_hour": div(self.runs, self.hours),
            "calls_per_run": div(self.requests, self.runs),
            "tokens_per_request": div(self.tokens, self.requests),
            "input_tokens_p95": self.input_p95 or None,
            "usd_per_mtok": div(self.cost_usd, self.tokens, 1e6),
            "error_share": div(self.error_requests, self.requests),
            "active_hours_per_day": self.active_hours_per_day,
        }


def compare_signals(base: PeriodStats, actual: PeriodStats, new_models: list[str]) -> tuple[dict, list[str]]:
    """Per-factor expected vs actual (and ratio), and the supporting signals worth naming."""
    b, a = base.factors(), actual.factors()
    signals: dict[str, Any] = {}
    for name in b:
        exp, act = b[name], a[name]
        ratio = act / exp if exp and act is not None else None
        signals[name] = {"expected": _round(exp), "actual": _round(act), "ratio": _round(ratio)}
    supporting: list[str] = []
    err0, err1 = b["error_share"] or 0.0, a["error_share"] or 0.0
    if err1 >= err0 + 0.1 and err1 >= 2 * err0:
        supporting.append("error_rate")
    if (signals["calls_per_run"]["ratio"] or 0) >= 1.5:
        supporting.append("calls_per_run")
    if (a["active_hours_per_day"] or 0) - (b["active_hours_per_day"] or 0) >= 4:
        supporting.append("active_hours")
    if new_models:
        supporting.append("new_model")
    signals["new_models"] = new_models
    return signals, supporting


def _round(v: float | None) -> float | None:
    return None if v is None else float(f"{v:.4g}")


@dataclass(frozen=True)
class ChangeNote:
    """A `type: change` note: when it happened, what it touched, whether its cost was planned."""

    node_id: str
    name: str
    start: datetime  # a date-only note covers its whole day: start..end
    end: datetime
    targets: frozenset[str]  # node ids the change is about (its `agent` links)
    expected_cost_change: bool = False


def link_changes(
    onset: datetime, related: frozenset[str], changes: list[ChangeNote], cfg: AnomalyConfig
) -> list[ChangeNote]:
    """Change notes about `related` nodes dated from window-before to window-after onset, nearest first."""
    lo = onset - timedelta(hours=cfg.change_window_before_hours)
    hi = onset + timedelta(hours=cfg.change_window_after_hours)
    found = []
    for note in changes:
        if note.targets & related and note.end >= lo and note.start <= hi:
            gap = 0.0 if note.start <= onset <= note.end else min(
                abs((note.start - onset).total_seconds()), abs((note.end - onset).total_seconds())
            )
            found.append((gap, note.name, note))
    return [n for _, _, n in sorted(found, key=lambda x: (x[0], x[1]))]


def change_point(values: np.ndarray) -> int | None:
    """Index where a series most plausibly steps to a new level (least squares, two segments)."""
    ok = np.flatnonzero(np.isfinite(values))
    if len(ok) < 2:
        return None
    v = values[ok]
    n = len(v)
    csum, csq = np.cumsum(v), np.cumsum(v * v)
    k = np.arange(1, n)  # split before position k
    left_sse = csq[k - 1] - csum[k - 1] ** 2 / k
    right_sum, right_sq = csum[-1] - csum[k - 1], csq[-1] - csq[k - 1]
    right_sse = right_sq - right_sum**2 / (n - k)
    return int(ok[k[np.argmin(left_sse + right_sse)]])
