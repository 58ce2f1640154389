"""The anomaly scan over a store's horizon: what a listing of the last N days shows, the newest hour
for an incremental pass, and acknowledging one.

The core (`scan_series`) works on the hourly agent series table alone; these functions feed it
from what a scan needs (`ScanInputs`: a store, the graph, the agents' identities, price notes),
never from the Brain facade that builds them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from brain.anomaly.acks import ANOMALY_ID, load_acks, merge_acks, record_ack
from brain.anomaly.changes import AgentInfos, change_notes, utc
from brain.anomaly.config import SEVERITIES, AnomalyConfig
from brain.anomaly.detect import PREDATES_WINDOW_DAYS
from brain.anomaly.scan import Ack, Anomaly, scan_series
from brain.anomaly.usage import usage_series
from brain.errors import BrainError, NotFound
from brain.graph.identity import AgentIdentity

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ScanInputs:
    """What a scan reads: the usage store, the company graph (CompanyGraph), the agents' identities
    and the vault's price notes, and the lock that guards graph and store when a served brain shares
    them with a watcher and writers (the graph is read under it; the scan runs without it).
    `note_acks`: acks people wrote in the published anomaly notes (brain.anomaly.acks.note_acks),
    merged over the store's (`scan_acks`)."""

    store: Any
    graph: Any
    identities: Sequence[AgentIdentity]
    price_notes: Sequence[dict] = ()
    lock: AbstractContextManager = field(default_factory=nullcontext)
    note_acks: Mapping[str, Ack] = field(default_factory=dict)


def scan_acks(inputs: ScanInputs, store=None) -> dict[str, Ack]:
    """The acks a scan applies: the store's (`store`, default the inputs' store) with those
    written in anomaly notes over them (brain.anomaly.acks.merge_acks)."""
    return merge_acks(load_acks(inputs.store if store is None else store), inputs.note_acks)


@contextmanager
def _reading(inputs: ScanInputs) -> Iterator:
    """The store for a scan's queries: a served store's cursor, used without the lock (the series
    query takes ~1 s on 10M events, and every tool would wait behind it); another store under it."""
    store = inputs.store
    if not hasattr(store, "reading"):
        with inputs.lock:
            yield store
        return
    with store.reading() as cursor_store:
        yield cursor_store


def _context(inputs: ScanInputs, cfg: AnomalyConfig):
    identities = inputs.identities
    return identities, AgentInfos(inputs.graph, identities, cfg, inputs.lock), change_notes(inputs.graph)


def _midnight(when: datetime) -> datetime:
    return when.replace(hour=0, minute=0, second=0, microsecond=0)


def scan_until(now: datetime | None) -> datetime:
    """The end of the last complete hour: what a scan at `now` tests up to."""
    return utc(now).replace(minute=0, second=0, microsecond=0)


def _first_usage(store, since: datetime, until: datetime) -> datetime | None:
    """The first hour with usage in [since, until), attributed or not (read as epoch µs: a tz-aware
    Arrow timestamp's `as_py` imports pandas)."""
    (first_us,) = store.con.execute(
        "SELECT epoch_us(min(hour)) FROM rollup_hourly WHERE hour >= $since AND hour < $until",
        {"since": since, "until": until},
    ).fetchall()[0]
    return None if first_us is None else _EPOCH + timedelta(microseconds=first_us)


def scan_horizon(
    inputs: ScanInputs,
    now: datetime | None = None,
    *,
    config: AnomalyConfig | None = None,
    agents: Collection[str] | None = None,
    days: int | None = None,
) -> list[Anomaly]:
    """Every anomaly of the horizon (any severity, acknowledged ones too), explained: what
    `select` picks a listing from. `agents`: scan only these agent node ids (their anomalies are
    the same as in a scan of everyone: baselines are per agent). `days`: explain only the
    anomalies a listing of the last `days` days can show (flagged since, or ongoing).

    Detection always tests the same history, the horizon: `horizon_days` back from midnight of
    the last complete hour, or from the first day of usage when that is later, with baselines
    from the `baseline_days` before it. A baseline is the data before its day, never where a
    shorter listing would have started reading, so an anomaly has the same id and figures
    whatever window a listing shows.
    """
    cfg = config or AnomalyConfig()
    until = scan_until(now)
    horizon = _midnight(until) - timedelta(days=cfg.horizon_days)
    # the horizon's first days are tested against `baseline_days` of the history before it (when the
    # store has it), not against the day or two since the horizon's start
    since = horizon - timedelta(days=cfg.baseline_days)
    with inputs.lock:  # read the graph under the lock; scan without holding it
        identities, infos, changes = _context(inputs, cfg)
        price_notes = inputs.price_notes
    with _reading(inputs) as store:
        first = _first_usage(store, since, until)
        table = usage_series(store, identities, since, until, price_notes, agents=agents)
        found_acks = scan_acks(inputs, store)
    if first is not None:
        # Usage that starts later is read from a week before its first day: every agent is then new
        # at its first sighting, exactly as when reading from further back.
        since = max(since, _midnight(first) - timedelta(days=PREDATES_WINDOW_DAYS))
    return scan_series(
        table,
        since,
        until,
        report_from=None if days is None else until - timedelta(days=days),
        config=cfg,
        agents=infos,
        changes=changes,
        acks=found_acks,
        evaluate_from=max(horizon, since),
    )


def select(
    found: list[Anomaly],
    days: int | None = 7,
    now: datetime | None = None,
    *,
    min_severity: str = "info",
    config: AnomalyConfig | None = None,
    include_closed: bool = True,
) -> list[Anomaly]:
    """What a listing of the last `days` days (None: the whole horizon) shows of a horizon scan at
    `now`: anomalies flagged within the window, and those still ongoing."""
    if min_severity not in SEVERITIES:
        raise BrainError(f"unknown severity {min_severity!r}; use one of {', '.join(SEVERITIES)}")
    cfg = config or AnomalyConfig()
    days = cfg.horizon_days if days is None else days
    if not 1 <= days <= cfg.horizon_days:
        raise BrainError(f"days must be between 1 and {cfg.horizon_days} (anomalies are looked for in that many days)")
    report_from = scan_until(now) - timedelta(days=days)
    min_rank = SEVERITIES.index(min_severity)
    return [
        a for a in found
        if (a.ongoing or datetime.fromisoformat(a.last_bucket) >= report_from)
        and SEVERITIES.index(a.severity) >= min_rank
        and (include_closed or a.status == "open")
    ]


def detect_anomalies(
    inputs: ScanInputs,
    days: int | None = 7,
    now: datetime | None = None,
    *,
    min_severity: str = "info",
    config: AnomalyConfig | None = None,
    include_closed: bool = True,
    agents: Collection[str] | None = None,
) -> list[Anomaly]:
    """Anomalies active in the last `days` days (complete hours up to now; None: the whole
    horizon), explained: a horizon scan (`scan_horizon`), then what a listing of `days` shows
    (`select`). An anomaly has the same id and figures whatever `days` is."""
    select([], days, now, min_severity=min_severity, config=config)  # check the arguments before scanning
    found = scan_horizon(inputs, now, config=config, agents=agents, days=days)
    return select(found, days, now, min_severity=min_severity, config=config, include_closed=include_closed)


def scan_newest_hour(inputs: ScanInputs, now: datetime | None = None, config: AnomalyConfig | None = None) -> list[Anomaly]:
    """Incremental scan: test only the newest complete hour (and its day) against the baselines."""
    from brain.costs import spend

    cfg = config or AnomalyConfig()
    until = scan_until(now)
    since = until - timedelta(days=cfg.baseline_days + 1)
    with inputs.lock:
        identities, agents, changes = _context(inputs, cfg)
        table = spend.hourly_agent_series(inputs.store, identities, since, until, inputs.price_notes)
        found_acks = scan_acks(inputs)
    return scan_series(
        table,
        since,
        until,
        config=cfg,
        agents=agents,
        changes=changes,
        acks=found_acks,
        evaluate_from=until - timedelta(hours=1),
    )


def acknowledge(
    inputs: ScanInputs, anomaly_id: str, note: str = "", planned: bool = False, now: datetime | None = None,
    config: AnomalyConfig | None = None,
) -> Anomaly:
    """Record an ack (or planned) for an anomaly id found in the horizon (any that a listing shows);
    it then stops alerting. `config`: the thresholds the listing used (the severity returned)."""
    anomaly_id = anomaly_id.strip().lower()
    if not ANOMALY_ID.match(anomaly_id):
        raise NotFound("anomaly", anomaly_id)
    found = {a.id: a for a in detect_anomalies(inputs, days=None, now=now, config=config)}
    if anomaly_id not in found:
        close = [i for i in found if i.startswith(anomaly_id[:4])]
        raise NotFound("anomaly", anomaly_id, close[:3])
    status = "planned" if planned else "acknowledged"
    record_ack(inputs.store, anomaly_id, status, note, utc(now))
    return replace(found[anomaly_id], status=status, note=note)
