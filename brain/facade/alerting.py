"""The alerting part of the Brain facade: the settings note, budgets, the alert pass and its
delivery records, anomaly notes acknowledged by hand and budget writes. A mixin of `Brain`
(core.py), which supplies the vault, graph, store and lock these methods use."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from brain.errors import BrainError, NotFound
from brain.vault import edits as note_files

if TYPE_CHECKING:
    from pathlib import Path

    from brain.graph.company import CompanyGraph
    from brain.settings import Settings


class Alerting:
    """Alert settings, budgets, alert passes and anomaly-note writes of a Brain."""

    if TYPE_CHECKING:  # what Brain (core.py) provides
        settings: Settings
        _lock: threading.RLock
        @property
        def root(self) -> Path: ...
        @property
        def graph(self) -> CompanyGraph: ...
        @property
        def store(self) -> Any: ...

        def price_notes(self) -> list[dict]: ...
        def identities(self) -> list: ...
        def anomalies(self, days: int | None = 7, min_severity: str = "info", now=None,
                      agent: str | None = None) -> list[dict]: ...
        def acknowledge(self, anomaly_id: str, note: str = "", planned: bool = False, now=None) -> Any: ...
        def refresh_note(self, rel_path: str) -> None: ...

    # -- alert settings and budgets ---------------------------------------------------------------

    def alert_settings(self) -> tuple:
        """The company's alert settings from the vault's settings note (brain.alerts.settings), and
        the findings about it: (AlertSettings, [SettingFinding]). Re-read when the note changes."""
        from brain.alerts.settings import SETTINGS_NOTE, read_alert_settings

        path = self.root / SETTINGS_NOTE
        try:
            st = path.stat()
            stamp: tuple | None = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            stamp = None
        with self._lock:
            cached = self.__dict__.get("_alert_settings")
            if cached is None or cached[0] != stamp:
                cached = (stamp, read_alert_settings(self.root))
                self._alert_settings = cached
            settings, findings = cached[1]
            return settings, list(findings)

    def company_usd_per_day(self, now=None) -> float:
        """The company's spend per day (attributed or not), the mean of its last 30 complete days:
        what the relative alert floors scale with. 0 without a store or usage."""
        import datetime as dt

        from brain.costs.budgets import company_usd_per_day

        if not self.settings.store_path.exists() and "store" not in self.__dict__:
            return 0.0
        day = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).date()
        with self._lock:
            store = self.store
            version = getattr(store, "version", None)
            key = (day, repr(self.price_notes()), version)
            cached = self.__dict__.get("_company_usd")
            if version is None or cached is None or cached[0] != key:
                cached = (key, company_usd_per_day(store, now, self.price_notes()))
                self._company_usd = cached
            return cached[1]

    def anomaly_config(self, now=None):
        """The anomaly detector's thresholds with the settings note's severity floors applied
        (scaled to the company's spend): what every anomaly scan of this brain uses."""
        import dataclasses

        from brain.anomaly import AnomalyConfig

        settings, _ = self.alert_settings()
        return dataclasses.replace(AnomalyConfig(), **settings.severity_floors(self.company_usd_per_day(now)))

    def budgets(self, now=None) -> list[dict]:
        """Every budget of the vault's agent, team and person notes in its current period (month
        or day, UTC): budget, spent, projected, % used (brain.costs.budgets.BudgetStatus dicts)."""
        return [b.to_dict() for b in self.budget_statuses(now)]

    def budget_statuses(self, now=None) -> list:
        """`budgets` as brain.costs.budgets.BudgetStatus records (their `crossed` says which
        thresholds a period has crossed)."""
        from brain.costs.budgets import budget_statuses

        with self._lock:
            store = self.store if self.settings.store_path.exists() or "store" in self.__dict__ else None
            return budget_statuses(store, self.graph, self.identities(), self.price_notes(), now)

    def _with_alert_gaps(self, gaps: list) -> list:
        """Graph gaps plus the alert ones: the settings note's findings (in place of its broken-YAML
        gap, which they repeat with what it means), budgets and alert properties that are not used."""
        from brain.alerts.settings import with_alert_gaps

        _, findings = self.alert_settings()
        with self._lock:
            return with_alert_gaps(gaps, self.graph, findings)

    # -- alerts ----------------------------------------------------------------------------------

    def channel_gaps(self) -> list:
        """`brain check` findings about alert channels: a channel a note (or the settings note's
        default_channel) names that has no URL, a URL Apprise cannot use, a channels file refused."""
        from brain.alerts.channels import channel_findings

        settings, _ = self.alert_settings()
        with self._lock:
            return channel_findings(self.graph, settings.default_channel)

    def alert_inputs(self, now=None):
        """What an alert pass reads (brain.alerts.run.AlertInputs): the anomalies of the last 14
        days (and ongoing ones), the budgets, the settings note, the graph, the store."""
        from brain.alerts.run import AlertInputs

        settings, _ = self.alert_settings()
        anomalies = self.anomalies(days=14, now=now)
        budgets = self.budget_statuses(now)
        graph = self.graph

        def dependents(node: str) -> list[str]:
            with self._lock:
                if node not in graph.g:
                    return []
                return [d["name"] for d in graph.dependents(node, depth=3)]

        return AlertInputs(anomalies, budgets, settings, graph, self.store, dependents)

    def alert_pass(self, now=None, dry_run: bool = False) -> dict:
        """One alert pass (brain.alerts.run.run_pass): decide what is owed, send it through Apprise,
        record it; `dry_run` decides only. One pass at a time per brain. The report as a dict."""
        import datetime as dt

        from brain.alerts.run import run_pass

        when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        with self.__dict__.setdefault("_alert_lock", threading.Lock()):
            return run_pass(self.alert_inputs(now), when, dry_run=dry_run).to_dict()

    def alert_status(self) -> list[dict]:
        """Per channel: last success, failures waiting for a retry and when, messages held."""
        from brain.alerts.run import delivery_status

        return delivery_status(self.store)

    def alerts(self, status: str | None = None) -> list[dict]:
        """Recorded alert deliveries (held, sending, sent, failed, digested), oldest first."""
        from brain.alerts.state import STATUSES, load_deliveries

        if status is not None and status not in STATUSES:
            raise BrainError(f"no alert status {status!r}; use one of {', '.join(STATUSES)}")
        return [d.to_dict() for d in load_deliveries(self.store, status)]

    def test_channel(self, name: str) -> dict:
        """Send a test message to one channel now; how it went (never the URL)."""
        from brain.alerts.run import send_test

        return send_test(name).to_dict()


    # -- anomaly notes and budget writes ---------------------------------------------------------

    def note_acks(self) -> dict:
        """Acks people wrote in the published anomaly notes (`status: acknowledged|planned`, an
        optional `ack_note`) by anomaly id, what scans merge over the store's; values the brain
        wrote there itself are not read back. Recomputed only after the graph changes."""
        from brain.anomaly.acks import note_ack, note_acks
        from brain.publish.anomaly_notes import person_properties

        with self._lock:
            version = self.graph.version
            cached = self.__dict__.get("_note_acks")
            if cached is None or cached[0] != version:
                notes = sorted((n for n in self.graph.notes.values() if note_ack(n.properties) is not None),
                               key=lambda n: n.path)
                cached = (version, note_acks(person_properties(n.properties, n.body) for n in notes))
                self._note_acks = cached
            return dict(cached[1])

    def anomaly_note_paths(self, anomaly_id: str) -> list[str]:
        """Vault paths of the notes `brain publish` wrote for an anomaly id (one per publish folder)."""
        key = (anomaly_id or "").strip().lower()
        with self._lock:
            return sorted(n.path for n in self.graph.notes.values()
                          if n.properties.get("brain_generated") is True and str(n.properties.get("type")) == "anomaly"
                          and str(n.properties.get("anomaly_id", "")).strip().lower() == key)

    def ack_anomaly(self, anomaly_id: str, note: str = "", planned: bool = False, now=None) -> dict:
        """Acknowledge (or mark planned) an anomaly as `acknowledge` does, and show it in its
        published notes: their `status` (and `ack_note`, when `note` is given) are set, every other
        byte kept. A note that cannot be written now (being saved, read-only) is named in
        `note_problems`; the ack holds anyway. Returns the anomaly's dict with `notes_written`."""
        from brain.vault.frontmatter_edit import yaml_string

        found = self.acknowledge(anomaly_id, note=note, planned=planned, now=now)
        values = {"status": found.status, **({"ack_note": yaml_string(" ".join(note.split()))} if note.strip() else {})}
        written, problems = [], []
        for path in self.anomaly_note_paths(found.id):
            try:
                written.append(self._set_properties(path, values, f"set status of {path[:-3]!r} to {found.status}").path)
            except BrainError as exc:
                problems.append(str(exc))
        return {**found.to_dict(), "notes_written": written, "note_problems": problems}

    def set_budget(self, name: str, usd, period: str = "month") -> note_files.WriteResult:
        """Set an agent, team or person note's budget (`budget_usd_per_month`, or per day) in US
        dollars; only that property changes. Zero, a negative, infinite or non-number amount is refused,
        as `brain check` would refuse it in the note."""
        import math

        from brain.money import usd as dollars

        if period not in ("month", "day"):
            raise BrainError(f"unknown budget period {period!r}; use 'month' or 'day'")
        try:
            amount = math.nan if isinstance(usd, bool) else float(usd)
        except (TypeError, ValueError):
            amount = math.nan
        if not math.isfinite(amount) or amount <= 0:
            raise BrainError(f"a budget is an amount of US dollars above 0; got {usd!r}. Nothing was written")
        with self._lock:
            g = self.graph
            nid = g.find(name)
            kind = g.node(nid).get("type")
            if kind not in ("agent", "team", "person"):
                raise BrainError(f"{g.name_of(nid)!r} is a {kind} note; budgets go on agent, team or person notes")
            note = g.notes.get(nid)
            if note is None:
                raise NotFound("note", name, g.suggest(name))
            key = f"budget_usd_per_{period}"
            value = str(int(amount)) if amount.is_integer() and amount < 1e15 else repr(amount)
            return self._set_properties(note.path, {key: value}, f"set {key} of {g.name_of(nid)!r} to {dollars(amount)}")

    def _published(self, report):
        """Re-read the anomaly notes a publish wrote or removed into the graph (their acks, and
        where ack_anomaly finds them), as a vault watcher would; returns the report."""
        from brain.publish.anomaly_notes import SUBFOLDER

        for rel in (*report.written, *report.removed):
            if f"/{SUBFOLDER}/" in rel and rel.endswith(".md"):
                self.refresh_note(rel)
        return report

    def _set_properties(self, path: str, values: dict[str, str], summary: str) -> note_files.WriteResult:
        """Set frontmatter properties of one note the graph holds, as set_owner does (refused when
        the note changed since it was read: then re-read), and re-read it."""
        with self._lock:
            seen = self.graph.notes.get(path[:-3])
            try:
                result = note_files.set_properties(self.root, path, values, summary, seen=seen)
            except note_files.NoteBusy:
                raise
            except note_files.NoteChanged:
                self.refresh_note(path)
                raise
            self.refresh_note(result.path)
            return result

