"""Anomaly detection on per-agent usage: detectors, cause decomposition, change linking, acks.

The core (`scan_series`) works on the hourly agent series table alone; `detect_anomalies`
feeds it from a Brain's store and graph.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from brain.anomaly.config import SEVERITIES, AnomalyConfig
from brain.anomaly.detect import PREDATES_WINDOW_DAYS
from brain.anomaly.explain import ChangeNote, decompose_cost_change, link_changes
from brain.anomaly.scan import Ack, AgentInfo, Anomaly, scan_series
from brain.anomaly.usage import usage_series
from brain.errors import BrainError, NotFound

__all__ = [
    "SEVERITIES",
    "Ack",
    "AgentInfo",
    "Anomaly",
    "AnomalyConfig",
    "ChangeNote",
    "acknowledge",
    "change_notes",
    "decompose_cost_change",
    "detect_anomalies",
    "link_changes",
    "load_acks",
    "scan_horizon",
    "scan_newest_hour",
    "scan_series",
    "scan_until",
    "select",
]

log = logging.getLogger(__name__)
_ID = re.compile(r"^[0-9a-f]{12}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc(when: datetime | None) -> datetime:
    when = when or datetime.now(UTC)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _parse_when(value) -> tuple[datetime, datetime] | None:
    """A change note's `date` as a (start, end) span; a bare date covers its whole day."""
    if isinstance(value, datetime):
        t = _utc(value)
        return t, t
    if isinstance(value, date):
        t = datetime(value.year, value.month, value.day, tzinfo=UTC)
        return t, t + timedelta(days=1)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        if len(text) == 10:
            t = datetime.fromisoformat(text).replace(tzinfo=UTC)
            return t, t + timedelta(days=1)
        t = _utc(datetime.fromisoformat(text))
        return t, t
    except ValueError:
        return None


def _truthy(value) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in ("true", "yes", "1"))


def change_notes(graph) -> list[ChangeNote]:
    """Every dated change note of a CompanyGraph with the nodes its `agent` links point at."""
    out = []
    for nid in graph.nodes_of_type("change"):
        attrs = graph.node(nid)
        props = attrs.get("properties") or {}
        span = _parse_when(props.get("date"))
        if span is None:
            log.debug("change note %s has no usable date", nid)
            continue
        targets = {v for _, v, e in graph.g.out_edges(nid, data=True) if e.get("relation") == "changes"}
        out.append(
            ChangeNote(
                node_id=nid,
                name=graph.name_of(nid),
                start=span[0],
                end=span[1],
                targets=frozenset(targets),
                expected_cost_change=_truthy(props.get("expected_cost_change")),
            )
        )
    return out


def agent_info(graph, ident, cfg: AnomalyConfig) -> AgentInfo:
    """An agent's names, owner, team and the nodes whose changes concern it."""
    related = {ident.node_id}
    related.update(d["id"] for d in graph.dependencies(ident.node_id, cfg.related_depth))
    owner = graph.owner_of_id(ident.node_id)
    related.update(x for x in (owner.get("person_id"), owner.get("team_id")) if x)
    return AgentInfo(
        node_id=ident.node_id,
        name=ident.name,
        agent_id=ident.agent_id,
        owner=ident.owner,
        team=ident.team,
        related=frozenset(related),
    )


class AgentInfos(Mapping[str, AgentInfo]):
    """AgentInfo per agent node id, each worked out from the graph (under the brain's lock) when a
    scan first asks for it: a scan asks only for the agents it reports on (2,500 agents up front
    took 0.37 s of every scan)."""

    def __init__(self, brain, identities, cfg: AnomalyConfig):
        self._brain, self._graph, self._cfg = brain, brain.graph, cfg
        self._identities = {i.node_id: i for i in identities}
        self._known: dict[str, AgentInfo] = {}

    def __getitem__(self, node_id: str) -> AgentInfo:
        if node_id not in self._known:
            ident = self._identities[node_id]
            with _guard(self._brain):
                self._known[node_id] = agent_info(self._graph, ident, self._cfg)
        return self._known[node_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._identities)

    def __len__(self) -> int:
        return len(self._identities)


def load_acks(store) -> dict[str, Ack]:
    """Acknowledged and planned anomaly ids from the store."""
    rows = store.con.execute("SELECT anomaly_id, status, note FROM anomaly_acks").fetchall()
    return {r[0]: Ack(status=r[1], note=r[2] or "") for r in rows}


def _guard(brain):
    """The brain's lock (graph and store are shared with a watcher and writers), if it has one."""
    lock = getattr(brain, "_lock", None)
    return lock if lock is not None else nullcontext()


@contextmanager
def _reading(brain) -> Iterator:
    """The store for a scan's queries: a served store's cursor, used without the brain's lock (the
    series query takes ~1 s on 10M events, and every tool would wait behind it); another store
    under the lock."""
    with _guard(brain):
        store = brain.store
        if not hasattr(store, "reading"):
            yield store
            return
    with store.reading() as cursor_store:
        yield cursor_store


def _context(brain, cfg: AnomalyConfig):
    identities = brain.identities()
    return identities, AgentInfos(brain, identities, cfg), change_notes(brain.graph)


def _midnight(when: datetime) -> datetime:
    return when.replace(hour=0, minute=0, second=0, microsecond=0)


def scan_until(now: datetime | None) -> datetime:
    """The end of the last complete hour: what a scan at `now` tests up to."""
    return _utc(now).replace(minute=0, second=0, microsecond=0)


def _first_usage(store, since: datetime, until: datetime) -> datetime | None:
    """The first hour with usage in [since, until), attributed or not (read as epoch µs: a tz-aware
    Arrow timestamp's `as_py` imports pandas)."""
    (first_us,) = store.con.execute(
        "SELECT epoch_us(min(hour)) FROM rollup_hourly WHERE hour >= $since AND hour < $until",
        {"since": since, "until": until},
    ).fetchall()[0]
    return None if first_us is None else _EPOCH + timedelta(microseconds=first_us)


def scan_horizon(
    brain,
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
    with _guard(brain):  # read the graph under the brain's lock; scan without holding it
        identities, infos, changes = _context(brain, cfg)
        price_notes = brain.price_notes()
    with _reading(brain) as store:
        first = _first_usage(store, since, until)
        table = usage_series(store, identities, since, until, price_notes, agents=agents)
        acks = load_acks(store)
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
        acks=acks,
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
    brain,
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
    found = scan_horizon(brain, now, config=config, agents=agents, days=days)
    return select(found, days, now, min_severity=min_severity, config=config, include_closed=include_closed)


def scan_newest_hour(brain, now: datetime | None = None, config: AnomalyConfig | None = None) -> list[Anomaly]:
    """Incremental scan: test only the newest complete hour (and its day) against the baselines."""
    from brain import spend

    cfg = config or AnomalyConfig()
    until = scan_until(now)
    since = until - timedelta(days=cfg.baseline_days + 1)
    with _guard(brain):
        identities, agents, changes = _context(brain, cfg)
        table = spend.hourly_agent_series(brain.store, identities, since, until, brain.price_notes())
        acks = load_acks(brain.store)
    return scan_series(
        table,
        since,
        until,
        config=cfg,
        agents=agents,
        changes=changes,
        acks=acks,
        evaluate_from=until - timedelta(hours=1),
    )


def acknowledge(
    brain, anomaly_id: str, note: str = "", planned: bool = False, now: datetime | None = None
) -> Anomaly:
    """Record an ack (or planned) for an anomaly id found in the horizon (any that a listing shows);
    it then stops alerting."""
    anomaly_id = anomaly_id.strip().lower()
    if not _ID.match(anomaly_id):
        raise NotFound("anomaly", anomaly_id)
    found = {a.id: a for a in detect_anomalies(brain, days=None, now=now)}
    if anomaly_id not in found:
        close = [i for i in found if i.startswith(anomaly_id[:4])]
        raise NotFound("anomaly", anomaly_id, close[:3])
    status = "planned" if planned else "acknowledged"

    def _record(store) -> None:
        with store.transaction() as con:
            con.execute(
                "INSERT OR REPLACE INTO anomaly_acks VALUES (?, ?, ?, ?)",
                [anomaly_id, status, note, _utc(now)],
            )

    write = getattr(brain.store, "write", None)  # a running server's shared store writes this way
    if write is not None:
        write(_record)
    else:
        _record(brain.store)
    return replace(found[anomaly_id], status=status, note=note)
