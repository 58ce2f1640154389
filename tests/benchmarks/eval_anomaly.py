"""Evaluation harness: inject anomaly families into 90-day synthetic traces and score the detector.

Runs the real core (`brain.anomaly.scan_series`, what `detect_anomalies` calls) over one
Arrow table shaped like `spend.hourly_agent_series`. Prints figures; asserts nothing.

Alerts per episode: alert passes are simulated every `--pass-hours` from day 38 (the events start
on day 40) on a trace of small agents ($0.1-20/day) and one of large agents ($50-500/day): the same
company with its unit prices scaled, so that each agent's usual daily cost lands in the range
(log-linearly, in the same order). Each pass scans the series up to its clock; an event counts one
alert when an anomaly id matched to it first shows at warn or above while open, and one more each
time that id's severity rises above the highest already counted. An id is the event's when first
detected from a day before its onset to a day after a runaway loop stopped, or, for a lasting
change, within `baseline_days` of its onset (a later flag is tested against a baseline of the new
level only); other ids count as false alerts. The count with every later anomaly of the agent
taken as the event's is printed too.

    .venv/bin/python tests/benchmarks/eval_anomaly.py [--agents 300] [--seed 1] [--scale mixed|small|large]
        [--passes small,large|none] [--pass-hours 6]
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from brain.anomaly import SEVERITIES, AgentInfo, AnomalyConfig, ChangeNote, scan_series

START = datetime(2024, 1, 1, tzinfo=UTC)
DAYS = 90
N = DAYS * 24
FAMILIES = {  # family -> (expected cause, recall window in hours, group)
    "runaway_loop": ("volume", 1, ">=5x"),
    "schedule_24x": ("volume", 1, ">=5x"),
    "model_swap": ("model_mix", 24, ">=5x"),
    "prompt_bloat_2x": ("tokens_per_request", 24, "sustained 2x"),
    "long_context_drift": ("tokens_per_request", 24, "sustained 2x"),
    "volume_step_2x": ("volume", 24, "sustained 2x"),
}
CHEAP, EXPENSIVE = ("openai", "gpt-4o-mini", 0.6), ("openai", "gpt-4o", 5.0)
SCALES = {"mixed": None, "small": (0.1, 20.0), "large": (50.0, 500.0)}  # usual $/day of the agents
FIRST_EVENT_DAY = 40  # every onset is on day 40 or later
PASSES_FROM_DAY = 38
TOOLS = [f"Tools/Tool {i}" for i in range(12)]


@dataclass
class Event:
    agent: str
    family: str
    onset_hour: int
    note: str | None  # the change note that explains it
    end_hour: int | None = None  # where a transient event (a runaway loop) stops; None: it persists


def _t(hour: int) -> datetime:
    return START + timedelta(hours=int(hour))


def build(n_agents: int, seed: int, scale: str = "mixed"):
    """Synthetic company: agents, their hourly usage per model, injected events and change notes.

    `scale`: "mixed" as drawn (about $0.1-130/day); "small" or "large" scales each agent's unit
    prices so its usual daily cost lands in SCALES[scale] (see `_scale_prices`)."""
    rng = np.random.default_rng(seed)
    hours = np.arange(N)
    hod, day = hours % 24, hours // 24
    weekday = (day + START.weekday()) % 7
    names = [f"Agents/Agent {i:03d}" for i in range(n_agents)]
    deps = {a: frozenset(rng.choice(TOOLS, size=2, replace=False)) for a in names}
    teams = {a: f"Teams/Team {i % 8}" for i, a in enumerate(names)}
    kind = rng.choice(["interactive", "batch", "tiny", "growing"], size=n_agents, p=[0.6, 0.12, 0.1, 0.18])

    req = np.zeros((n_agents, N))
    for i, k in enumerate(kind):
        if k == "batch":
            at = rng.integers(0, 24)
            req[i, hod == at] = rng.uniform(100, 600) * rng.lognormal(0, 0.1, DAYS)
            continue
        peak = rng.uniform(20, 250) if k != "tiny" else rng.uniform(0.5, 3)
        centre, width = rng.uniform(10, 17), rng.uniform(2.5, 6)
        shape = 0.1 + 0.9 * np.exp(-0.5 * ((hod - centre) / width) ** 2)
        weekend = rng.uniform(0.15, 1.0)
        lam = peak * shape * np.where(weekday >= 5, weekend, 1.0)
        lam = lam * np.repeat(rng.lognormal(0, 0.12, DAYS), 24) * rng.lognormal(0, 0.15, N)
        if k == "growing":  # slow benign growth: 0.2-0.8% a day (6-27% a month), compounding
            lam = lam * np.exp(rng.uniform(0.002, 0.008) * hours / 24)
        req[i] = rng.poisson(lam)
    tpr = rng.uniform(800, 12000, n_agents)[:, None] * rng.lognormal(0, 0.08, (n_agents, N))
    tpr[kind == "tiny"] = 400
    err = np.full((n_agents, N), 0.01)
    cpr = np.full((n_agents, N), 2.0)
    expensive_share = np.zeros((n_agents, N))  # share of requests on the expensive model
    events: list[Event] = []
    notes: list[ChangeNote] = []

    def note(name, hour, target, whole_day=False, planned=False):
        start = _t(hour)
        if whole_day:
            start = start.replace(hour=0)
        nid = f"Changes/{name}"
        notes.append(ChangeNote(nid, name, start, start + timedelta(days=1) if whole_day else start,
                                frozenset({target}), planned))
        return name

    candidates = [i for i, k in enumerate(kind) if k in ("interactive", "growing")]
    batch = [i for i, k in enumerate(kind) if k == "batch"]
    rng.shuffle(candidates)
    fams = [f for f in FAMILIES if f != "schedule_24x"]
    n_events = int(len(candidates) * 0.6)
    plan = [(candidates[j], fams[j % len(fams)]) for j in range(n_events)]
    plan += [(i, "schedule_24x") for i in batch[: max(1, len(batch) * 2 // 3)]]
    for i, fam in plan:
        onset = int(rng.integers(40 * 24, 86 * 24))
        a = names[i]
        mean_rate = req[i, : onset].mean()
        if fam == "runaway_loop":
            length = int(rng.integers(2, 9))
            extra = rng.uniform(5, 20) * max(mean_rate, 5) * np.ones(length)
            req[i, onset : onset + length] += rng.poisson(extra)
            err[i, onset : onset + length] = 0.6
            cpr[i, onset : onset + length] = 12
        elif fam == "schedule_24x":
            rate = req[i, : onset][req[i, :onset] > 0].mean()
            req[i, onset:] = rng.poisson(rate, N - onset)
        elif fam == "prompt_bloat_2x":
            tpr[i, onset:] *= 2
        elif fam == "long_context_drift":
            ramp = np.clip((hours[onset:] - onset) / 36.0, 0, 1)
            tpr[i, onset:] *= 1 + 2.0 * ramp  # to 3x over a day and a half
        elif fam == "volume_step_2x":
            req[i, onset:] = rng.poisson(req[i, onset:] * 2)
        elif fam == "model_swap":
            expensive_share[i, onset:] = 1.0
        r = rng.random()
        if fam == "runaway_loop" and r < 0.4:
            n = None  # nobody wrote anything down
        else:
            when = onset - int(rng.integers(0, 4))
            target = sorted(deps[a])[0] if r > 0.8 else a
            n = note(f"{fam} change for {a.split('/')[1]}", when, target, whole_day=0.6 < r <= 0.8)
        events.append(Event(a, fam, onset, n, onset + length if fam == "runaway_loop" else None))
    # negatives: docs-only notes on quiet agents, old unrelated notes on team nodes
    quiet = [names[i] for i in range(n_agents) if names[i] not in {e.agent for e in events}]
    for j, a in enumerate(quiet[: max(1, len(quiet) // 2)]):
        note(f"Docs only {j}", int(rng.integers(30 * 24, N)), a, whole_day=j % 2 == 0)
    for j in range(20):
        note(f"Team offsite {j}", int(rng.integers(0, N)), f"Teams/Team {j % 8}", whole_day=True)
    upm_cheap = np.where(kind == "tiny", 0.6, rng.choice([0.6, 1.5, 3.0], n_agents))
    models = []
    for i in range(n_agents):
        cheap_req = req[i] * (1 - expensive_share[i])
        swap_price = upm_cheap[i] * rng.uniform(5, 16)
        models.append([("cheap", cheap_req, upm_cheap[i]), ("expensive", req[i] - cheap_req, swap_price)])
    office = _office_agents(max(1, n_agents // 10), seed)
    names = names + office["names"]
    models += office["models"]
    tpr, err, cpr = (np.vstack([x, office[k]]) for x, k in ((tpr, "tpr"), (err, "err"), (cpr, "cpr")))
    teams.update({a: f"Teams/Team {i % 8}" for i, a in enumerate(office["names"])})
    deps.update({a: frozenset() for a in office["names"]})
    if SCALES[scale] is not None:
        models = _scale_prices(models, tpr, SCALES[scale])
    infos = {
        a: AgentInfo(a, a.split("/")[1], a.split("/")[1].lower().replace(" ", "-"), None,
                     teams[a], frozenset({a, teams[a], *deps[a]}))
        for a in names
    }
    return names, models, tpr, err, cpr, events, notes, infos


def _scale_prices(models: list, tpr: np.ndarray, usd_per_day: tuple[float, float]) -> list:
    """The same usage with each agent's unit prices multiplied so that its mean daily cost before
    the events maps log-linearly (cheapest to cheapest, costliest to costliest) onto usd_per_day:
    volumes, token counts and every agent's shape stay as drawn, only the dollars change."""
    before = slice(0, FIRST_EVENT_DAY * 24)
    daily = np.array([
        sum(float((r[before] * tpr[i, before]).sum()) * upm / 1e6 for _, r, upm in m) / FIRST_EVENT_DAY
        for i, m in enumerate(models)
    ])
    logs = np.log(np.maximum(daily, 1e-9))
    lo, hi = np.log(usd_per_day[0]), np.log(usd_per_day[1])
    span = max(logs.max() - logs.min(), 1e-9)
    target = np.exp(lo + (logs - logs.min()) / span * (hi - lo))
    factor = target / np.maximum(daily, 1e-9)
    return [[(label, r, upm * factor[i]) for label, r, upm in m] for i, m in enumerate(models)]


def _office_agents(n: int, seed: int) -> dict:
    """Negatives shaped like the demo's working-hours assistants: nothing at night or at weekends,
    a working day that starts and ends an hour or two earlier or later from day to day, and runs
    of many calls each (lumpy hourly counts). Drawn from their own generator so the other agents'
    traces do not change."""
    rng = np.random.default_rng(10_000 + seed)
    hours = np.arange(N)
    hod, day = hours % 24, hours // 24
    weekday = (day + START.weekday()) % 7
    names = [f"Agents/Office {i:03d}" for i in range(n)]
    req = np.zeros((n, N))
    calls = rng.integers(2, 13, n).astype(float)
    for i in range(n):
        runs_per_hour = rng.uniform(0.5, 6)
        first = 8 + rng.integers(-1, 2, DAYS)  # this day's first working hour
        last = 18 + rng.integers(-1, 2, DAYS)
        working = (hod >= np.repeat(first, 24)) & (hod <= np.repeat(last, 24)) & (weekday < 5)
        shape = 0.4 + 0.6 * np.exp(-0.5 * ((hod - 13) / 3.0) ** 2)
        lam = runs_per_hour * shape * working * np.repeat(rng.lognormal(0, 0.1, DAYS), 24)
        req[i] = rng.poisson(lam) * calls[i]
    tpr = rng.uniform(2000, 12000, n)[:, None] * rng.lognormal(0, 0.08, (n, N))
    upm = rng.choice([0.6, 1.5, 3.0], n)
    return {
        "names": names,
        "models": [[("cheap", req[i], upm[i]), ("expensive", np.zeros(N), upm[i] * 5)] for i in range(n)],
        "tpr": tpr,
        "err": np.full((n, N), 0.01),
        "cpr": np.repeat(calls[:, None], N, axis=1),
    }


def to_table(names, models, tpr, err, cpr) -> pa.Table:
    """The hourly agent series rows (one per agent, hour and model with requests)."""
    parts = []
    for i, a in enumerate(names):
        for label, r, upm in models[i]:
            h = np.flatnonzero(r > 0)
            if not len(h):
                continue
            rr = r[h]
            tokens = rr * tpr[i, h]
            model = CHEAP[1] if label == "cheap" else EXPENSIVE[1]
            parts.append({
                "agent": np.full(len(h), a, dtype=object),
                "hour": (np.datetime64("2024-01-01T00:00") + h.astype("timedelta64[h]")).astype("datetime64[us]"),
                "provider": np.full(len(h), "openai", dtype=object),
                "model": np.full(len(h), model, dtype=object),
                "requests": rr.astype(np.int64),
                "error_requests": np.round(rr * err[i, h]).astype(np.int64),
                "runs": np.maximum(1, np.round(rr / cpr[i, h])).astype(np.int64),
                "input_tokens": (tokens * 0.85).astype(np.int64),
                "output_tokens": (tokens * 0.15).astype(np.int64),
                "cost_usd": tokens * upm / 1e6,
                "input_tokens_p95": tpr[i, h] * 0.85 * 1.6,
                "output_tokens_p95": tpr[i, h] * 0.15 * 1.6,
            })
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    t = pa.table(cols)
    return t.set_column(1, "hour", t.column("hour").cast(pa.timestamp("us", tz="UTC")))


def _matches(a, e: Event | None) -> bool:
    """Whether an anomaly is the event's: the event's agent, first detected from a day before its onset."""
    return e is not None and datetime.fromisoformat(a.detected_at_bucket) >= _t(e.onset_hour) - timedelta(days=1)


def _of_episode(a, e: Event | None, cfg: AnomalyConfig) -> bool:
    """Whether an anomaly can be the event's episode: matched (`_matches`) and first detected by a
    day after a transient event stopped, or, for a lasting change, while the baseline still holds
    days from before it (`baseline_days` after the onset; later flags test a baseline of the new
    level only, as on any agent)."""
    if not _matches(a, e):
        return False
    assert e is not None
    end = e.end_hour if e.end_hour is not None else e.onset_hour + cfg.baseline_days * 24
    return datetime.fromisoformat(a.detected_at_bucket) < _t(end) + timedelta(days=1)


def alert_passes(n_agents: int, seed: int, cfg: AnomalyConfig, scale: str, every_hours: int = 6) -> dict:
    """Alerts per labelled episode when a pass runs every `every_hours` from PASSES_FROM_DAY: each
    pass scans the series up to its clock (testing from PASSES_FROM_DAY, the history before it is
    baseline); an id counts once when first seen at warn+ while open, and again on each rise."""
    names, models, tpr, err, cpr, events, notes, infos = build(n_agents, seed, scale)
    table = to_table(names, models, tpr, err, cpr)
    before = table.filter(pc.field("hour") < pa.scalar(_t(FIRST_EVENT_DAY * 24), pa.timestamp("us", tz="UTC")))
    daily = before.group_by("agent").aggregate([("cost_usd", "sum")])
    usd_per_day = np.asarray(daily.column("cost_usd_sum").to_pylist()) / FIRST_EVENT_DAY  # usual, before the events
    event_of = {e.agent: e for e in events}
    warn = SEVERITIES.index("warn")
    counted: dict[str, int] = {}  # anomaly id -> the highest severity rank alerted
    per_event: dict[str, int] = defaultdict(int)
    per_event_any: dict[str, int] = defaultdict(int)  # counting every later anomaly of the agent too
    false_alerts = 0
    evaluate_from = _t(PASSES_FROM_DAY * 24)
    t0 = time.perf_counter()
    clocks = range(PASSES_FROM_DAY * 24 + every_hours, N + 1, every_hours)
    for clock in clocks:
        for a in scan_series(table, START, _t(clock), config=cfg, agents=infos, changes=notes,
                             evaluate_from=evaluate_from):
            rank = SEVERITIES.index(a.severity)
            if rank < warn or a.status != "open" or rank <= counted.get(a.id, -1):
                continue
            counted[a.id] = rank
            e = event_of.get(a.agent_node)
            if _matches(a, e):
                per_event_any[e.agent] += 1
            if _of_episode(a, e, cfg):
                per_event[e.agent] += 1
            else:
                false_alerts += 1
    alerted = [per_event[e.agent] for e in events if per_event[e.agent]]
    alerted_any = [per_event_any[e.agent] for e in events if per_event_any[e.agent]]
    worst = sorted(events, key=lambda e: -per_event[e.agent])[:3]
    return {
        "scale": scale,
        "usd_per_day": (float(usd_per_day.min()), float(np.median(usd_per_day)), float(usd_per_day.max())),
        "passes": len(clocks),
        "seconds": time.perf_counter() - t0,
        "events": len(events),
        "events_alerted": len(alerted),
        "median": float(np.median(alerted)) if alerted else None,
        "max": max(alerted, default=0),
        "counts": {k: alerted.count(k) for k in sorted(set(alerted))},
        "median_any": float(np.median(alerted_any)) if alerted_any else None,
        "max_any": max(alerted_any, default=0),
        "worst": [(e.agent, e.family, per_event[e.agent]) for e in worst if per_event[e.agent] > 1],
        "false_alerts_per_agent_week": false_alerts / (len(names) * (DAYS - PASSES_FROM_DAY) / 7),
    }


def evaluate(n_agents: int, seed: int, cfg: AnomalyConfig, scale: str = "mixed") -> dict:
    """Build, scan and score one synthetic company."""
    names, models, tpr, err, cpr, events, notes, infos = build(n_agents, seed, scale)
    table = to_table(names, models, tpr, err, cpr)
    t0 = time.perf_counter()
    found = scan_series(table, START, START + timedelta(days=DAYS), config=cfg, agents=infos, changes=notes)
    scan_s = time.perf_counter() - t0
    by_agent = defaultdict(list)
    for a in found:
        by_agent[a.agent_node].append(a)
    event_of = {e.agent: e for e in events}
    rows = []
    for e in events:
        onset = _t(e.onset_hour)
        hits = sorted(
            (a for a in by_agent[e.agent] if datetime.fromisoformat(a.detected_at_bucket) >= onset - timedelta(days=1)),
            key=lambda a: a.detected_at_bucket,
        )
        first = hits[0] if hits else None
        delay = None
        if first is not None:
            width = timedelta(hours=1) if first.granularity == "hour" else timedelta(days=1)
            done = datetime.fromisoformat(first.detected_at_bucket) + width
            delay = max((done - onset).total_seconds() / 3600, 0.0)
        rows.append((e, first, delay))
    matched_ids, false = set(), []
    for a in found:
        if _matches(a, event_of.get(a.agent_node)):
            matched_ids.add(a.id)
        else:
            false.append(a)
    warn = [a for a in found if a.severity != "info"]
    false_warn = [a for a in false if a.severity != "info"]
    agent_weeks = len(names) * DAYS / 7
    office = [a for a in false if a.agent_node.startswith("Agents/Office")]
    out = {"agents": len(names), "events": len(events), "alerts": len(found), "scan_seconds": scan_s,
           "office_agents": sum(n.startswith("Agents/Office") for n in names),
           "office_false": len(office), "office_false_warn": sum(a.severity != "info" for a in office)}
    for fam, (cause, window_h, _) in FAMILIES.items():
        fr = [r for r in rows if r[0].family == fam]
        delays = [d for _, _, d in fr if d is not None]
        out[fam] = {
            "n": len(fr),
            "recall_window": sum(d is not None and d <= window_h for _, _, d in fr) / max(len(fr), 1),
            "window_h": window_h,
            "recall_48h": sum(d is not None and d <= 48 for _, _, d in fr) / max(len(fr), 1),
            "median_delay_h": float(np.median(delays)) if delays else None,
            "cause_ok": sum(f is not None and f.cause == cause for _, f, _ in fr) / max(len(delays), 1),
        }
    for group in (">=5x", "sustained 2x"):
        gr = [r for r in rows if FAMILIES[r[0].family][2] == group]
        delays = [d for _, _, d in gr if d is not None]
        out[group] = {
            "n": len(gr),
            "recall_24h": sum(d is not None and d <= 24 for _, _, d in gr) / len(gr),
            "recall_48h": sum(d is not None and d <= 48 for _, _, d in gr) / len(gr),
            "median_delay_h": float(np.median(delays)) if delays else None,
        }
    out["recall_48h"] = sum(d is not None and d <= 48 for _, _, d in rows) / max(len(rows), 1)
    out["recall_any"] = sum(d is not None for _, _, d in rows) / max(len(rows), 1)
    det = [(e, f) for e, f, d in rows if f is not None]
    out["precision"] = len(matched_ids) / max(len(found), 1)
    out["precision_warn"] = (len(warn) - len(false_warn)) / max(len(warn), 1)
    # the same with every event's anomalies counted once: how many alerts an episode makes does not move it
    hit_events = {event_of[a.agent_node].agent for a in found if a.id in matched_ids}
    hit_events_warn = {event_of[a.agent_node].agent for a in warn if a.id in matched_ids}
    out["precision_events"] = len(hit_events) / max(len(hit_events) + len(false), 1)
    out["precision_events_warn"] = len(hit_events_warn) / max(len(hit_events_warn) + len(false_warn), 1)
    out["false_warn_per_agent_week"] = len(false_warn) / agent_weeks
    out["false_any_per_agent_week"] = len(false) / agent_weeks
    out["cause_accuracy"] = sum(f.cause == FAMILIES[e.family][0] for e, f in det) / max(len(det), 1)
    linked = [(e, f) for e, f in det]
    out["change_link_accuracy"] = sum(
        (f.changes[:1] == [e.note]) if e.note else not f.changes for e, f in linked
    ) / max(len(linked), 1)
    out["false_examples"] = [(a.agent_node, a.granularity, a.detected_at_bucket, a.severity, a.cause,
                              a.excess_usd_per_day) for a in false[:8]]
    return out


def main() -> None:
    """Parse options, run, print."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agents", type=int, default=300)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--scale", choices=list(SCALES), default="mixed",
                   help="agents' usual $/day: mixed (as drawn), small ($0.1-20) or large ($50-500)")
    p.add_argument("--passes", default="small,large",
                   help="traces (scales) on which to count alerts per episode, comma-separated, or none")
    p.add_argument("--pass-hours", type=int, default=6, help="hours between simulated alert passes")
    args = p.parse_args()
    passes = [] if args.passes == "none" else args.passes.split(",")
    if unknown := [x for x in passes if x not in SCALES]:
        p.error(f"unknown scale {unknown[0]!r} in --passes; use {', '.join(SCALES)}")
    cfg = AnomalyConfig()
    r = evaluate(args.agents, args.seed, cfg, args.scale)
    print(f"agents={r['agents']} days={DAYS} events={r['events']} alerts={r['alerts']} scan={r['scan_seconds']:.2f}s"
          f" scale={args.scale}")
    print(f"{'family':22} {'n':>4} {'recall@win':>11} {'recall@48h':>10} {'median delay h':>15} {'cause ok':>9}")
    for fam in FAMILIES:
        f = r[fam]
        med = "-" if f["median_delay_h"] is None else f"{f['median_delay_h']:.1f}"
        print(f"{fam:22} {f['n']:>4} {f['recall_window']:>6.2f} @{f['window_h']:>2}h {f['recall_48h']:>10.2f} {med:>15} {f['cause_ok']:>9.2f}")
    for g in (">=5x", "sustained 2x"):
        f = r[g]
        med = "-" if f["median_delay_h"] is None else f"{f['median_delay_h']:.1f}"
        print(f"group {g:16} n={f['n']:>3} recall@24h={f['recall_24h']:.2f} recall@48h={f['recall_48h']:.2f} median delay={med} h")
    print(f"recall (all events)         @48h {r['recall_48h']:.3f}   found at all {r['recall_any']:.3f}")
    print(f"precision (all alerts)      {r['precision']:.3f}")
    print(f"precision (warn+)           {r['precision_warn']:.3f}")
    print(f"precision, one per event    {r['precision_events']:.3f}   warn+ {r['precision_events_warn']:.3f}")
    print(f"false alerts / agent-week   warn+ {r['false_warn_per_agent_week']:.4f}   any {r['false_any_per_agent_week']:.4f}")
    print(f"working-hours negatives     {r['office_agents']} agents: {r['office_false']} false alerts, "
          f"{r['office_false_warn']} at warn+")
    print(f"cause accuracy              {r['cause_accuracy']:.3f}")
    print(f"change-link accuracy        {r['change_link_accuracy']:.3f}")
    for ex in r["false_examples"]:
        print("  false:", ex)
    for scale in passes:
        q = alert_passes(args.agents, args.seed, cfg, scale, args.pass_hours)
        lo, med, hi = q["usd_per_day"]
        median = "-" if q["median"] is None else f"{q['median']:.1f}"
        print(f"alerts per episode ({scale:5} agents ${lo:.2f}-{hi:.0f}/day, median ${med:.2f}): median {median} "
              f"max {q['max']}  ({q['events_alerted']}/{q['events']} events alerted, counts {q['counts']}; "
              f"false alerts/agent-week {q['false_alerts_per_agent_week']:.4f}; {q['passes']} passes every "
              f"{args.pass_hours} h in {q['seconds']:.0f} s)")
        print(f"  with every later anomaly of an event's agent counted as the event's: median {q['median_any']} "
              f"max {q['max_any']}")
        for w in q["worst"]:
            print("  most alerts:", w)


if __name__ == "__main__":
    main()
