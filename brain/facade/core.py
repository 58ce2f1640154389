"""Brain: the vault, its graph and the usage store joined; the one facade adapters use.

One short method per question an adapter asks (CLI, MCP, publish), each taking the brain's lock
around the graph and store; the work itself lives in the packages. What concerns alerts (settings,
budgets, the alert pass, anomaly notes and budget writes) is the Alerting part (alerting.py).
"""

from __future__ import annotations

import logging
import threading
from functools import cached_property

from brain.errors import BrainError, NotFound
from brain.facade.alerting import Alerting
from brain.graph.cache import cache_dir_for, load_vault_graph
from brain.graph.company import CompanyGraph
from brain.graph.identity import AGENT_COST_FIELDS, AgentIdentity
from brain.graph.search import search_notes, summary_of
from brain.names import fold
from brain.settings import Settings
from brain.vault import edits as note_files
from brain.vault.reader import Vault, read_note_file

log = logging.getLogger(__name__)

COST_FIELDS = (*AGENT_COST_FIELDS, "anomalies")
AGENT_SORT_KEYS = ("name", "spend_usd", "run_rate_usd_per_day", "projected_30d_usd", "cost_per_request_usd")


class Brain(Alerting):
    """One company brain: `graph` (CompanyGraph) from the vault, `store` (Store) opened lazily."""

    def __init__(self, settings: Settings, read_only: bool = False):
        self.settings = settings
        self.read_only = read_only
        self._lock = threading.RLock()
        self._scan_lock = threading.Lock()  # one anomaly scan at a time (`_anomaly_scan`)

    @classmethod
    def open(cls, settings: Settings, read_only: bool = False) -> Brain:
        """Open a brain over an existing vault folder."""
        return cls(settings, read_only=read_only)

    @cached_property
    def _loaded(self) -> tuple[Vault, CompanyGraph]:
        """The vault and its graph, through the load cache (brain.graph.cache) unless it is off."""
        vault, graph, report = load_vault_graph(self.settings.vault, cache_dir_for(self.settings.vault))
        log.debug("vault loaded: %s", report)
        return vault, graph

    @property
    def vault(self) -> Vault:
        """The parsed vault (notes by id), as it was when loaded."""
        return self._loaded[0]

    @property
    def graph(self) -> CompanyGraph:
        """The typed company graph built from the vault."""
        return self._loaded[1]

    @cached_property
    def store(self):
        """The DuckDB usage store (created with its schema on first use)."""
        from brain.store.shared import open_store

        return open_store(self.settings.store_path, read_only=self.read_only)

    @property
    def root(self):
        """The vault folder (absolute)."""
        return self.settings.vault

    def identities(self) -> list[AgentIdentity]:
        """Attribution records of every agent note; recomputed only after the graph changes."""
        with self._lock:
            version = self.graph.version
            cached = self.__dict__.get("_identities")
            if cached is None or cached[0] != version:
                cached = (version, self.graph.agent_identities(), self.graph.price_notes())
                self._identities = cached
            return cached[1]

    def price_notes(self) -> list[dict]:
        """Properties of the vault's price notes (cached with the identities)."""
        self.identities()
        return self._identities[2]

    def costs_version(self) -> int:
        """Changes when agent cost fields may change: agent identities, price notes or usage data."""
        idents = self.identities()
        store = self.__dict__.get("store")
        return hash((
            tuple((i.node_id, i.agent_id, i.aliases, i.api_keys, i.service_names) for i in idents),
            repr(self.price_notes()),
            getattr(store, "version", 0),
        ))

    def inventory_gaps(self, days: int = 30) -> list:
        """Graph gaps plus usage gaps: unclaimed keys, unpriced models, keys fed by two sources."""
        from brain.costs.gaps import usage_gaps

        gaps = self._with_alert_gaps(list(self.graph.inventory_gaps())) + self.channel_gaps()
        if not self.settings.store_path.exists():
            return gaps
        with self._lock:
            return gaps + usage_gaps(self.store, self.identities(), self.price_notes(), days=days)

    def close(self) -> None:
        """Close the store connection if it was opened."""
        store = self.__dict__.pop("store", None)
        if store is not None:
            store.close()

    # -- graph views -----------------------------------------------------------------------------

    def summary_of(self, node_id: str) -> dict:
        """A node's id, name, type and path: the short form lists use."""
        return summary_of(self.graph, node_id)

    def node_card(self, name: str) -> dict:
        """Everything about one node by name: properties, links both ways, owner, and cost fields for agents."""
        with self._lock:
            g = self.graph
            nid = g.find(name)
            d = g.node(nid)
            card = {
                **self.summary_of(nid),
                "aliases": list(d.get("aliases") or ()),
                "tags": list(d.get("tags") or ()),
                "properties": dict(d.get("properties") or {}),
                "error": d.get("error"),
                "links": g.links_of(nid),
            }
            if d.get("type") in ("agent", "tool", "integration"):
                card["owner"] = g.owner_of_id(nid)
            if d.get("type") == "agent":
                card["agent_id"] = d.get("agent_id")
                card["api_keys"] = list(d.get("api_keys") or ())
                card["service_names"] = list(d.get("service_names") or ())
                card["costs"] = {k: d.get(k) for k in COST_FIELDS if k in d} or None
            return card

    def search_notes(self, query: str, node_type: str | None = None, limit: int = 20) -> list[dict]:
        """Notes matching a text query, best first: name, then aliases and properties, then body text."""
        with self._lock:
            return search_notes(self.graph, query, node_type=node_type, limit=limit)

    def agents(self, owner: str | None = None, team: str | None = None, sort_by: str = "name") -> list[dict]:
        """Agents with owner, team and cost fields; filtered by owner/team name, sorted by `sort_by`."""
        if sort_by not in AGENT_SORT_KEYS:
            raise BrainError(f"cannot sort agents by {sort_by!r}; use one of {', '.join(AGENT_SORT_KEYS)}")
        with self._lock:
            g = self.graph
            owner_id = g.find(owner) if owner else None
            team_id = g.find(team, "team") if team else None
            rows = []
            for nid in g.nodes_of_type("agent"):
                d = g.g.nodes[nid]
                own = g.owner_of_id(nid)
                if owner_id and owner_id not in (own["person_id"], own["team_id"]):
                    continue
                if team_id and own["team_id"] != team_id:
                    continue
                row = {
                    **self.summary_of(nid),
                    "agent_id": d.get("agent_id"),
                    "owner": own["person"] or own["team"],
                    "team": own["team"],
                    "status": (d.get("properties") or {}).get("status"),
                }
                row.update({k: d.get(k) for k in COST_FIELDS if k in d})
                rows.append(row)
        if sort_by == "name":
            rows.sort(key=lambda r: r["name"].lower())
        else:
            rows.sort(key=lambda r: (r.get(sort_by) is None, -(r.get(sort_by) or 0.0), r["name"].lower()))
        return rows

    def dependencies(self, name: str, depth: int = 1) -> list[dict]:
        """What `name` needs, up to `depth` hops."""
        with self._lock:
            return self.graph.dependencies(name, depth)

    def dependents(self, name: str, depth: int = 1) -> list[dict]:
        """What needs `name`, up to `depth` hops."""
        with self._lock:
            return self.graph.dependents(name, depth)

    def impact(self, name: str) -> list[dict]:
        """Agents affected if `name` breaks."""
        with self._lock:
            return self.graph.impact(name)

    def owner_of(self, name: str) -> dict:
        """Owner person and team of a note by name."""
        with self._lock:
            return self.graph.owner_of(name)

    def graph_stats(self) -> dict:
        """Counts of notes, nodes and links by type and relation."""
        with self._lock:
            return self.graph.stats()

    # -- costs -----------------------------------------------------------------------------------

    def agent_cost_fields(self, days: int = 30, now=None) -> dict[str, dict]:
        """Cost fields of every agent node id (spend, run-rate, per-request, per-1k-runs, projection)."""
        from brain.costs import spend

        with self._lock:
            return spend.agent_cost_fields(
                self.store, self.identities(), days=days, price_notes=self.price_notes(), now=now
            )

    def attach_costs(self, days: int = 30, now=None) -> int:
        """Set the cost fields (and open anomalies of the last 7 days) on the graph's agent nodes."""
        fields = self.agent_cost_fields(days=days, now=now)
        by_agent: dict[str, list[dict]] = {}
        try:
            for a in self.anomalies(days=7, now=now):
                if a.get("status") == "open":
                    brief = {k: a.get(k) for k in ("id", "severity", "cause", "onset", "excess_usd_per_day")}
                    by_agent.setdefault(a["agent_node"], []).append(brief)
        except ImportError:
            log.info("anomaly detection not available; agent nodes get no anomalies field")
        with self._lock:
            g = self.graph.g
            for nid in self.graph.nodes_of_type("agent"):
                values = fields.get(nid) or {}
                for k in COST_FIELDS:
                    g.nodes[nid][k] = by_agent.get(nid, []) if k == "anomalies" else values.get(k)
        return len(fields)

    def usage_note(self) -> str | None:
        """A hint for cost answers from a store that holds no usage yet (None once it does)."""
        with self._lock:
            # the rollups, not raw events: nothing above them reads events (DESIGN "Growing past one machine")
            empty = self.store.con.execute("SELECT count(*) = 0 FROM (SELECT 1 FROM rollup_daily LIMIT 1)").fetchall()[0][0]
        if empty:
            return (f"no usage has been ingested into {self.settings.store_path} yet, so every figure is 0: "
                    "run `brain ingest FILE` (canonical JSONL/CSV/Parquet, OTLP or provider exports) "
                    "or `brain collect` for OpenTelemetry")
        return None

    def agent_costs(self, name: str, days: int = 30, now=None) -> dict:
        """One agent's cost card: spend by token type, run-rate, unit costs, projection, daily series."""
        from brain.costs import spend

        with self._lock:
            nid = self.graph.find(name, "agent")
            everyone = self.identities()
            identity = next(i for i in everyone if i.node_id == nid)  # find() checked the type
            return spend.agent_card(
                self.store, identity, days=days, price_notes=self.price_notes(), now=now, identities=everyone
            )

    def cost_leaderboard(self, group_by: str = "agent", days: int = 30, now=None) -> dict:
        """Spend grouped by agent, owner, team, model, provider or key, biggest first."""
        from brain.costs import spend

        with self._lock:
            return spend.spend_report(
                self.store, self.identities(), by=group_by, days=days, price_notes=self.price_notes(), now=now
            )

    def quarantine(self, file: str | None = None, reason: str | None = None, limit: int = 100) -> dict:
        """Usage rows ingest did not trust: counts by file and reason, then the rows (newest first)."""
        from brain.ingest.quarantine import quarantine_report

        with self._lock:
            return quarantine_report(self.store, file=file, reason=reason, limit=limit)

    def unattributed_usage(self, days: int = 30, now=None) -> dict:
        """Usage no agent note claims, by key id / service name / agent field, so someone can claim it."""
        from brain.costs.gaps import unattributed

        return unattributed(self.cost_leaderboard(group_by="agent", days=days, now=now))

    # -- anomalies -------------------------------------------------------------------------------

    def anomalies(
        self, days: int | None = 7, min_severity: str = "info", now=None, agent: str | None = None
    ) -> list[dict]:
        """Cost anomalies active in the last `days` (None: the whole scan horizon), at or above
        `min_severity`, as dicts; `agent`: only that agent node id's (a scan of its usage alone)."""
        from brain import anomaly

        anomaly.select([], days, now, min_severity=min_severity)  # check the arguments first
        cfg = self.anomaly_config(now)
        if agent is not None:
            found = anomaly.detect_anomalies(self.scan_inputs(), days=days, now=now, min_severity=min_severity,
                                             agents=[agent], config=cfg)
        else:
            found = anomaly.select(self._anomaly_scan(now, days), days, now, min_severity=min_severity, config=cfg)
        return [a.to_dict() for a in found]

    def scan_inputs(self):
        """What an anomaly scan reads (brain.anomaly.ScanInputs): the store, graph, identities and
        price notes as they are now, with this brain's lock."""
        from brain.anomaly import ScanInputs

        with self._lock:
            return ScanInputs(self.store, self.graph, self.identities(), self.price_notes(), self._lock,
                              note_acks=self.note_acks())

    def acknowledge(self, anomaly_id: str, note: str = "", planned: bool = False, now=None):
        """Acknowledge (or mark planned) an anomaly by id; it then stops alerting."""
        from brain import anomaly

        return anomaly.acknowledge(self.scan_inputs(), anomaly_id, note=note, planned=planned, now=now,
                                   config=self.anomaly_config(now))

    def _anomaly_scan(self, now=None, days: int | None = None) -> list:
        """The horizon scan, kept while what it reads is unchanged (usage, identities, price and
        change notes, acks, the last complete hour) when the store tells when its data changed (a
        served store does). Without that, a scan explains only what a `days` listing can show."""
        from brain import anomaly

        cfg = self.anomaly_config(now)
        with self._lock:
            store = self.store
            if getattr(store, "version", None) is None:
                return anomaly.scan_horizon(self.scan_inputs(), now, days=days, config=cfg)
            key = (anomaly.scan_until(now), self.costs_version(), self.graph.version,
                   tuple(sorted(anomaly.load_acks(store).items())), cfg)
        if self._lock._is_owned():  # type: ignore[attr-defined]  # waiting on a scan that needs our lock would deadlock
            return anomaly.scan_horizon(self.scan_inputs(), now, days=days, config=cfg)
        with self._scan_lock:  # one scan at a time; a caller that waited finds it cached
            cached = self.__dict__.get("_scan")
            if cached is None or cached[0] != key:
                cached = (key, anomaly.scan_horizon(self.scan_inputs(), now, config=cfg))
                self._scan = cached
            return cached[1]

    def explain_anomaly(self, anomaly_id: str, now=None) -> dict:
        """One anomaly by id (any a listing shows: searched in the whole scan horizon, as an ack is)
        with its cause decomposition and nearby change notes."""
        import difflib

        from brain import anomaly

        key = (anomaly_id or "").strip().lower()
        found = anomaly.select(self._anomaly_scan(now), None, now, config=self.anomaly_config(now))
        for a in found:
            if a.id == key:
                return a.to_dict()
        close = difflib.get_close_matches(key, [a.id for a in found], n=3, cutoff=0.5)
        raise NotFound("anomaly", anomaly_id, close)

    # -- publish ---------------------------------------------------------------------------------

    def publish(self, folder: str = "Brain", days: int = 30, chart_days: int = 60, now=None):
        """Write cost notes, the dashboard, the Bases tables, charts and one note per anomaly of the
        last 14 days (acknowledged by hand there: brain.publish.anomaly_notes) under `folder`.

        The figures are `brain spend`'s at the same moment (the daily rollups hold every event so
        far, so a run-rate over the hours up to an earlier `now` would overstate it); anomalies are
        scanned up to the last complete hour, as `brain anomalies` does."""
        import datetime as dt
        from pathlib import Path

        from brain.costs import spend
        from brain.publish.notes import PublishData, check_target
        from brain.publish.notes import publish as write

        root = Path(self.settings.vault).resolve()
        folder = check_target(root, folder, has_notes=bool(self.graph.notes))
        now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        fields = self.agent_cost_fields(days=days, now=now)
        by_agent = self.cost_leaderboard(group_by="agent", days=days, now=now)
        by_team = self.cost_leaderboard(group_by="team", days=days, now=now)
        recent: list | None
        try:
            recent = self.anomalies(days=14, now=now)  # every one gets a note; the dashboard lists the open ones
            anomalies = [a for a in recent if a.get("status") == "open"]
        except Exception:  # anomalies are an addition; a failure there must not block the costs
            log.exception("anomaly scan failed; publishing costs without anomalies")
            anomalies, recent = [], None
        gaps = [g.as_dict() if hasattr(g, "as_dict") else g for g in self.inventory_gaps()]
        unattributed = self.unattributed_usage(days=days, now=now)
        until = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), dt.UTC)
        with self._lock:
            daily = spend.daily_agent_series(self.store, self.identities(), until - dt.timedelta(days=chart_days),
                                             until, self.price_notes())
        data = PublishData(fields, by_agent, by_team, anomalies, gaps, unattributed, daily, recent)
        return self._published(write(root, folder, self.graph, data, days=days, chart_days=chart_days, now=now))

    # -- notes -----------------------------------------------------------------------------------

    def read_note(self, path: str) -> note_files.NoteText:
        """One note's Markdown by vault path. The path never leaves the vault; a note the graph holds
        is readable even when the vault links its folder in from elsewhere, as Obsidian reads it."""
        return note_files.read_note_text(self.root, path, linked=lambda rel: rel[:-3] in self.graph.notes)

    def refresh_note(self, rel_path: str) -> None:
        """Re-read one note file into the graph (after a write, or when it changed on disk)."""
        with self._lock:
            note, issue = read_note_file(self.root, rel_path, getattr(self.graph, "templates", None))
            if note is None:
                self.graph.remove_note(rel_path[:-3])
                return
            g = self.graph.g
            old = g.nodes[note.id] if note.id in g else {}
            costs = {k: old[k] for k in COST_FIELDS if k in old}
            self.graph.upsert_note(note, issue)
            if note.type == "agent":
                g.nodes[note.id].update(costs)

    def set_owner(self, name: str, owner: str) -> note_files.WriteResult:
        """Point one note's `owner` at a person or team note; refuses if the note changed since read,
        is being saved by an editor right now, or is read-only."""
        with self._lock:
            g = self.graph
            nid = g.find(name)
            oid = _find_owner(g, owner)
            note = g.notes.get(nid)
            if note is None:
                raise NotFound("note", name, g.suggest(name))
            link = f"[[{g.name_of(oid)}]]" if _name_is_unique(g, oid) else f"[[{oid}]]"
            try:
                # `seen`: refused unless the file still reads as the graph holds it (mtime, properties, body)
                result = note_files.set_owner(self.root, note.path, link, seen=note)
            except note_files.NoteBusy:
                raise  # mid-save: what is on disk now is no copy to keep
            except note_files.NoteChanged:
                self.refresh_note(note.path)
                raise
            self.refresh_note(result.path)
            return result

    def record_change(self, agent: str, kind: str, summary: str, when=None) -> note_files.WriteResult:
        """Create a change note for an agent from the vault's change template."""
        with self._lock:
            nid = self.graph.find(agent, "agent")
            result = note_files.record_change(self.root, self.graph.name_of(nid), kind, summary, when)
            self.refresh_note(result.path)
            return result


def _find_owner(g: CompanyGraph, owner: str) -> str:
    """Node id of a person or team by name; raises NotFound naming people and teams close to it."""
    for t in ("person", "team"):
        try:
            return g.find(owner, t)
        except NotFound:
            continue
    suggestions = list(dict.fromkeys(g.suggest(owner, "person") + g.suggest(owner, "team")))
    raise NotFound("person or team", owner, suggestions)


def _name_is_unique(g: CompanyGraph, node_id: str) -> bool:
    name = fold(g.name_of(node_id))
    return sum(1 for n in g.notes.values() if fold(n.name) == name) == 1
