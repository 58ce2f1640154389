"""From an hourly agent series to explained anomaly records: the core that every caller runs."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime

import numpy as np
import pyarrow as pa

from brain.anomaly.config import SEVERITIES, AnomalyConfig
from brain.anomaly.detect import Detection, detect
from brain.anomaly.episodes import Episode, episodes
from brain.anomaly.explain import (
    ChangeNote,
    PeriodStats,
    cause_of,
    change_point,
    compare_signals,
    decompose_cost_change,
    link_changes,
    severity_of,
)
from brain.anomaly.series import DenseSeries, dense_series

FAMILY = {"hour": "spike", "day": "shift"}


@dataclass(frozen=True)
class AgentInfo:
    """What the graph knows about an agent: names, owner, and the nodes whose changes concern it."""

    node_id: str
    name: str
    agent_id: str | None = None
    owner: str | None = None
    team: str | None = None
    related: frozenset[str] = frozenset()  # the agent, its dependencies, its owner and team


@dataclass(frozen=True)
class Ack:
    """A human decision on an anomaly id: acknowledged or planned, with a note."""

    status: str  # "acknowledged" | "planned"
    note: str = ""


@dataclass(frozen=True)
class Anomaly:
    """One explained anomaly episode of one agent: its id, onset, detection and granularity are its
    first run's; family, figures and cause cover the whole episode, and severity is the higher of
    its first run's and the whole episode's. `ended_at` and `end` say when and how it was judged
    over (None while it goes on)."""

    id: str
    agent: str
    agent_id: str | None
    agent_node: str
    owner: str | None
    team: str | None
    onset: str
    detected_at_bucket: str
    last_bucket: str
    granularity: str
    family: str
    ongoing: bool
    severity: str
    cause: str
    supporting: list[str]
    signals: dict
    expected_usd_per_day: float
    actual_usd_per_day: float
    excess_usd_per_day: float
    projected_30d_impact_usd: float
    decomposition: dict[str, float]
    changes: list[str]
    status: str
    note: str = ""
    change_ids: list[str] = field(default_factory=list)
    ended_at: str | None = None  # the hour the episode was judged over
    end: str | None = None  # "back to baseline" | "new normal" once over

    def to_dict(self) -> dict:
        """Plain JSON-ready dict."""
        return asdict(self)


def _stable_id(agent: str, granularity: str, bucket: datetime) -> str:
    key = f"{agent}|{granularity}|{FAMILY[granularity]}|{bucket.isoformat()}"
    return hashlib.sha1(key.encode()).hexdigest()[:12]


def _ids(meta: AgentInfo, node: str, granularity: str, bucket: datetime) -> tuple[str, str]:
    """The episode's id, keyed on the agent's `agent_id` so that moving or renaming its note keeps
    it, and the id it had when ids were keyed on the note's vault path (acks made then still hold).
    An agent without an agent_id (unattributed usage) is keyed on its label, as before."""
    legacy = _stable_id(node, granularity, bucket)
    return (_stable_id(f"agent_id:{meta.agent_id}", granularity, bucket) if meta.agent_id else legacy), legacy


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


class _Explainer:
    """Per-episode explanation over one DenseSeries and its Detection."""

    def __init__(self, s: DenseSeries, det: Detection, cfg: AnomalyConfig):
        self.s, self.det, self.cfg = s, det, cfg
        codes = s.rows.agent.astype(np.int16 if len(s.agents) < 2**15 else np.int64)
        order = np.argsort(codes, kind="stable")  # radix sort on small ints
        self.order = order
        self.row_start = np.searchsorted(s.rows.agent[order], np.arange(len(s.agents) + 1))

    def _model_totals(self, a: int, hours_mask: np.ndarray):
        rows = self.order[self.row_start[a] : self.row_start[a + 1]]
        rows = rows[hours_mask[self.s.rows.hour[rows]]]
        m = len(self.s.models)
        idx = self.s.rows.model[rows]
        return tuple(
            np.bincount(idx, weights=getattr(self.s.rows, f)[rows], minlength=m)
            for f in ("requests", "tokens", "cost_usd")
        )

    def _stats(self, a: int, mask: np.ndarray) -> PeriodStats:
        s = self.s
        n = int(mask.sum())
        req = s.requests[a, mask]
        days = np.flatnonzero(mask.reshape(-1, 24).any(axis=1))
        active = (s.requests[a].reshape(-1, 24)[days] > 0).sum(axis=1)
        p95 = s.input_p95[a, mask][req > 0]
        return PeriodStats(
            hours=n,
            requests=float(req.sum()),
            error_requests=float(s.error_requests[a, mask].sum()),
            runs=float(s.runs[a, mask].sum()),
            tokens=float(s.input_tokens[a, mask].sum() + s.output_tokens[a, mask].sum()),
            cost_usd=float(s.cost_usd[a, mask].sum()),
            input_p95=float(np.median(p95)) if len(p95) else 0.0,
            active_hours_per_day=float(active.mean()) if len(active) else 0.0,
        )

    def figures(self, a: int, granularity: str, buckets: np.ndarray) -> dict:
        """Onset and expected/actual $ of a run whose episode is explained as a whole: what its
        severity needs (an hourly run's without the decomposition; a daily run's onset needs it)."""
        if granularity != "hour":
            return self.explain(a, granularity, buckets, signals=False)
        expected = self.det.expected_cost_usd[a]
        c0 = float(np.nansum(expected[buckets]))
        c1 = float(self.s.cost_usd[a, buckets].sum())
        day0 = int(buckets[0]) // 24
        return {
            "onset_hour": int(buckets[0]),
            "expected_day": float(np.nansum(expected[day0 * 24 : day0 * 24 + 24])),
            "excess": (c1 - c0) / (len(buckets) / 24),
            "total_excess": c1 - c0,
        }

    def explain(self, a: int, granularity: str, buckets: np.ndarray, refine_onset: bool = True,
                signals: bool = True) -> dict:
        """Numbers of flagged hours, or of whole days: onset, expected/actual $, decomposition and
        (unless `signals` is False) the supporting signals."""
        s, det, cfg = self.s, self.det, self.cfg
        n_hours = s.n_hours
        if granularity == "hour":
            hours = buckets
            c0 = float(np.nansum(det.expected_cost_usd[a, hours]))
            onset_hour = int(hours[0])
            day0 = onset_hour // 24
            expected_day = float(np.nansum(det.expected_cost_usd[a, day0 * 24 : day0 * 24 + 24]))
        else:
            hours = (buckets[:, None] * 24 + np.arange(24)).ravel()
            hours = hours[hours < s.n_valid]
            day_expected = det.expected_day_cost_usd[a, buckets]
            if np.isnan(day_expected).any():  # a day the daily path did not test: its hours' expectations
                hourly = np.nansum(det.expected_cost_usd[a].reshape(-1, 24)[buckets], axis=1)
                day_expected = np.where(np.isnan(day_expected), hourly, day_expected)
            c0 = float(day_expected.sum())
            onset_hour = int(buckets[0]) * 24
            expected_day = c0 / len(buckets)
        period = np.zeros(n_hours, dtype=bool)
        period[hours] = True
        first = int(hours[0]) if granularity == "hour" else int(buckets[0]) * 24
        window = np.zeros(n_hours, dtype=bool)
        window[max(0, first - cfg.baseline_days * 24) : first] = True
        window &= ~det.excluded[a]

        r1, t1, k1 = self._model_totals(a, period)
        rw, tw, kw = self._model_totals(a, window)
        r0_total = float(np.nansum(det.expected_requests[a, hours]))
        r0_level = r0_total
        if granularity == "day" and kw.sum() > 0:
            # the daily path's expected cost, at the baseline window's cost per request: requests
            # read off the hourly path would give the baseline another $/request (the two paths
            # learn a new level at different speeds) and a price change that is not there
            r0_level = c0 * rw.sum() / kw.sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            r0 = r0_level * rw / rw.sum() if rw.sum() > 0 else np.zeros_like(rw)
            t0 = np.where(rw > 0, r0 * tw / rw, 0.0)
            k0 = c0 * kw / kw.sum() if kw.sum() > 0 else np.zeros_like(kw)
        c1 = float(k1.sum())
        days_equiv = len(hours) / 24
        terms = decompose_cost_change(r0, t0, k0, r1, t1, k1)
        excess = (c1 - c0) / days_equiv
        decomposition = {k: v / days_equiv for k, v in terms.items()}
        cause = cause_of(terms)

        if granularity == "day" and refine_onset:
            onset_hour = self._refine_onset(a, int(buckets[0]), cause)
        found: dict = {
            "onset_hour": onset_hour,
            "expected_day": expected_day,
            "excess": excess,
            "decomposition": decomposition,
            "cause": cause,
            "total_excess": c1 - c0,
        }
        if not signals:
            return found
        new_models = [s.models[i] for i in np.flatnonzero((r1 > 0) & (rw == 0))] if rw.sum() > 0 else []
        compared, supporting = compare_signals(self._stats(a, window), self._stats(a, period), new_models)
        rph = compared["requests_per_hour"]  # the seasonal expectation, not the window's average
        rph["expected"] = round(r0_total / len(hours), 2)
        rph["ratio"] = round(rph["actual"] / rph["expected"], 2) if rph["expected"] and rph["actual"] else None
        return {**found, "signals": compared, "supporting": supporting}

    def _refine_onset(self, a: int, day: int, cause: str) -> int:
        """The hour, in the flagged day or the one before, where the cause's factor stepped."""
        s = self.s
        lo, hi = max(0, (day - 1) * 24), min((day + 1) * 24, s.n_valid)
        req = s.requests[a, lo:hi]
        with np.errstate(divide="ignore", invalid="ignore"):
            if cause == "volume":
                mu = np.nan_to_num(self.det.expected_requests[a, lo:hi])
                values = np.log((req + 1) / (mu + 1))
            elif cause == "tokens_per_request":
                values = np.log((s.input_tokens[a, lo:hi] + s.output_tokens[a, lo:hi]) / req)
            else:
                values = np.log(s.cost_usd[a, lo:hi] / (s.input_tokens[a, lo:hi] + s.output_tokens[a, lo:hi]))
        values[~np.isfinite(values)] = np.nan
        k = change_point(values)
        return day * 24 if k is None else lo + k


def scan_series(
    table: pa.Table,
    since: datetime,
    until: datetime,
    *,
    report_from: datetime | None = None,
    config: AnomalyConfig | None = None,
    agents: Mapping[str, AgentInfo] | None = None,
    changes: Sequence[ChangeNote] = (),
    acks: Mapping[str, Ack] | None = None,
    min_severity: str = "info",
    evaluate_from: datetime | None = None,
) -> list[Anomaly]:
    """Detect and explain anomalies in an hourly agent series; report episodes flagged after report_from or still ongoing.

    Each agent's fast and slow flags are merged into episodes (`episodes.episodes`), one anomaly
    each, keyed on its first run. `evaluate_from` skips testing earlier buckets (an incremental
    scan); they still serve as baseline.
    """
    cfg = config or AnomalyConfig()
    agents = agents or {}
    acks = acks or {}
    s = dense_series(table, since, until)
    first_day = 0 if evaluate_from is None else max(0, s.hour_index(evaluate_from) // 24)
    det = detect(s, cfg, first_day=first_day)
    report_hour = 0 if report_from is None else s.hour_index(report_from)
    if evaluate_from is not None:
        report_hour = max(report_hour, s.hour_index(evaluate_from))
    explainer = _Explainer(s, det, cfg)
    changes = list(changes)
    by_target: dict[str, list[int]] = {}  # the change notes about each node
    for i, change in enumerate(changes):
        for t in change.targets:
            by_target.setdefault(t, []).append(i)
    min_rank = SEVERITIES.index(min_severity)
    out: list[Anomaly] = []
    for ep in episodes(s, det, cfg):
        ongoing = ep.ongoing
        if ep.last_end <= report_hour and not ongoing:  # shown: flagged in the window, or still going on
            continue
        a, first = ep.agent, ep.first
        info, whole = _explanations(ep, explainer, s.n_valid)
        whole_figures = _figures(whole, ep.running, cfg)
        severity = max(_figures(info, ep.running, cfg)["severity"], whole_figures["severity"], key=SEVERITIES.index)
        if SEVERITIES.index(severity) < min_rank:
            continue
        node = s.agents[a]
        meta = agents.get(node) or AgentInfo(node_id=node, name=_name_of(node), related=frozenset({node}))
        onset = s.hour_time(info["onset_hour"])
        detected = s.hour_time(first.start)
        expected_day, excess = whole_figures["expected_day"], whole_figures["excess"]
        related = meta.related or frozenset({node})
        near = sorted({i for t in related for i in by_target.get(t, ())})  # in their given order
        linked = link_changes(onset, related, [changes[i] for i in near], cfg)
        anomaly_id, legacy_id = _ids(meta, node, first.granularity, detected)
        ack = acks.get(anomaly_id) or acks.get(legacy_id)
        if ack is not None:
            status, note = ack.status, ack.note
        elif any(c.expected_cost_change for c in linked):
            status, note = "planned", f"expected_cost_change on {linked[0].name}"
        else:
            status, note = "open", ""
        out.append(
            Anomaly(
                id=anomaly_id,
                agent=meta.name,
                agent_id=meta.agent_id,
                agent_node=node,
                owner=meta.owner,
                team=meta.team,
                onset=_iso(onset),
                detected_at_bucket=_iso(detected),
                last_bucket=_iso(s.hour_time(min(ep.last_end, s.n_valid) - 1)),  # its last flagged hour
                granularity=first.granularity,
                family="shift" if ep.is_shift() else FAMILY[first.granularity],
                ongoing=ongoing,
                severity=severity,
                cause=whole["cause"],
                supporting=whole["supporting"],
                signals=whole["signals"],
                expected_usd_per_day=round(expected_day, 2),
                actual_usd_per_day=round(expected_day + excess, 2),
                excess_usd_per_day=round(excess, 2),
                projected_30d_impact_usd=round(whole_figures["projected"], 2),
                decomposition={k: round(v, 4) for k, v in whole["decomposition"].items()},
                changes=[c.name for c in linked],
                change_ids=[c.node_id for c in linked],
                status=status,
                note=note,
                ended_at=None if ep.ended_at is None else _iso(s.hour_time(ep.ended_at)),
                end=ep.end,
            )
        )
    out.sort(key=lambda x: (-SEVERITIES.index(x.severity), -x.excess_usd_per_day, x.id))
    return out


def _figures(info: dict, running: bool, cfg: AnomalyConfig) -> dict:
    """$/day expected and excess, projected 30-day impact (the excess rate while it runs, what it
    cost once over or stopped) and severity of one explanation."""
    excess = max(info["excess"], 0.0)
    projected = excess * 30 if running else max(info["total_excess"], 0.0)
    expected_day = max(info["expected_day"], 0.0)
    ratio = (expected_day + excess) / expected_day if expected_day > 0 else float("inf")
    return {"expected_day": expected_day, "excess": excess, "projected": projected,
            "severity": severity_of(ratio, excess, projected, cfg)}


def _explanations(ep: Episode, explainer: _Explainer, n_valid: int) -> tuple[dict, dict]:
    """The first run's figures (its onset, its severity) and the whole episode's explanation: the
    first run's when that is all of it; every flagged hour of a spike that stays within a day;
    whole days from the onset's to the last flagged (or, while it goes on, the newest complete)
    day of a shift."""
    a, first = ep.agent, ep.first
    if not ep.is_shift():
        if len(ep.runs) == 1:
            info = explainer.explain(a, first.granularity, first.buckets)
            return info, info
        return explainer.figures(a, first.granularity, first.buckets), explainer.explain(a, "hour", ep.flagged_hours())
    last_hour = n_valid - 1 if ep.ongoing else ep.last_flagged_hour
    first_day = first.start // 24
    last_day = max(min(last_hour // 24, n_valid // 24 - 1), first_day)  # complete days, at least one
    days = np.arange(first_day, last_day + 1)
    if len(ep.runs) == 1 and first.granularity == "day" and np.array_equal(days, first.buckets):
        info = explainer.explain(a, "day", days)  # a run of consecutive flagged days is all of it
        return info, info
    return explainer.figures(a, first.granularity, first.buckets), explainer.explain(a, "day", days, refine_onset=False)


def _name_of(node: str) -> str:
    return node.rsplit("/", 1)[-1]


