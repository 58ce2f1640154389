"""LiveBrain: keeps a served Brain current (shared store + control endpoint, vault watcher, OTLP
receiver, debounced publisher), and steps back when another server on the same store takes the
hand-offs (brain.live.control); Collecting is `brain collect`, the OTLP receiver on its own."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from brain.errors import StoreError
from brain.live.control import ControlServer, running_server
from brain.live.timers import Debounced, Every
from brain.store.shared import SharedStore

log = logging.getLogger(__name__)

CLAIM_EVERY_S = 2.0  # how often a server that defers checks that the announced one is still there
ALERT_TICK_S = 60.0  # how often a server looks whether the settings note's `every_minutes` asks for an alert pass


class AlertPasses:
    """An alert pass every `every_minutes` of the vault's settings note (looked at every `tick_s`),
    run while `owner()` says this process takes the hand-offs (one sender per store). A pass that
    fails is logged and tried again at the next tick; it never stops the server."""

    def __init__(self, brain, owner: Callable[[], bool], tick_s: float = ALERT_TICK_S):
        self.brain, self.owner, self.tick_s = brain, owner, tick_s
        self.last = time.monotonic()
        self.timer = Every(self.tick, tick_s, name="brain-alerts")

    def tick(self, now=None) -> dict | None:
        """Run a pass when one is due (as of `now`, default the clock); its report (None when none was)."""
        every = self.brain.alert_settings()[0].every_minutes
        if not every or not self.owner() or time.monotonic() - self.last < every * 60 - self.tick_s / 2:
            return None
        self.last = time.monotonic()
        report = self.brain.alert_pass(now=now)
        counts = report["counts"]
        log.info("alert pass: %s", ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing owed")
        return report

    def stop(self) -> None:
        """Stop the timer (a pass under way finishes)."""
        self.timer.stop()


class LiveBrain:
    """Keeps a served Brain current: vault watcher, shared store + control endpoint, OTLP, publish."""

    def __init__(
        self,
        brain,
        watch: bool = True,
        publish_folder: str | None = None,
        otlp: tuple[str, int] | None = None,
        on_vault_change: Callable[[Any], None] | None = None,
        on_store_change: Callable[[], None] | None = None,
    ):
        self.brain = brain
        self.watch = watch
        self.publish_folder = publish_folder
        self.otlp = otlp
        self.on_vault_change = on_vault_change
        self.on_store_change = on_store_change
        self.shared: SharedStore | None = None
        self.control: ControlServer | None = None
        self.watcher: Any = None
        self.collector: Any = None
        self.publisher: Debounced | None = None
        self.claimer: Every | None = None
        self.alerter: AlertPasses | None = None
        self._claim_lock = threading.Lock()
        self._stopped = False

    def start(self) -> LiveBrain:
        """Open the shared store, take the hand-offs unless another server does, start the background work."""
        brain = self.brain
        self.shared = SharedStore(brain.settings.store_path, lock=brain._lock)
        old = brain.__dict__.pop("store", None)
        if old is not None:
            old.close()
        brain.__dict__["store"] = self.shared
        self.shared.listeners.append(self._store_changed)
        self.claim()
        self.claimer = Every(self.claim, CLAIM_EVERY_S, name="brain-claim")
        self.alerter = AlertPasses(brain, lambda: self.control is not None)
        if self.publish_folder:

            folder = self.publish_folder
            self.publisher = Debounced(lambda: brain.publish(folder=folder), delay_s=2.0, name="brain-publish")
            self.publisher.trigger()
        if self.watch:
            from brain.live.watch import VaultWatcher

            self.watcher = VaultWatcher(brain.graph, brain.settings.vault, lock=brain._lock, on_change=self._vault_changed).start()
        if self.otlp:
            from brain.live.collector import start_collector

            shared = self.shared
            self.collector = start_collector(lambda: NoCloseStore(shared), host=self.otlp[0], port=self.otlp[1])
            log.warning("OTLP receiver on %s", self.collector.endpoint)
        return self

    def claim(self) -> None:
        """Announce this server in server.json unless another live one is announced; step back when
        another announced itself after us (two started at once: the last one written keeps it)."""
        assert self.shared is not None
        with self._claim_lock:
            if self._stopped:
                return
            info = running_server(self.shared.path)
            if self.control is None and info is None:
                self.control = ControlServer(self.shared, handlers={"/ack": self._ack, "/alerts": self._alerts}).start()
                log.info("taking the writes handed to %s (pid %d, control port %d)", self.shared.path, os.getpid(), self.control.port)
            elif self.control is not None and info is not None and info.get("token") != self.control.token:
                log.info("server pid %s takes the writes handed to %s; this one defers to it", info.get("pid"), self.shared.path)
                self.control.stop()
                self.control = None

    def _ack(self, req: dict) -> dict:
        a = self.brain.acknowledge(str(req.get("id", "")), note=str(req.get("note", "")), planned=bool(req.get("planned")))
        return a.to_dict()

    def _alerts(self, req: dict) -> dict:
        return self.brain.alert_pass(dry_run=bool(req.get("dry_run")))

    def stop(self) -> None:
        """Stop everything started, flushing OTLP spans first, and withdraw the announcement (twice is harmless)."""
        with self._claim_lock:
            self._stopped = True
        parts, self.claimer, self.alerter, self.collector, self.watcher, self.publisher = (
            (self.claimer, self.alerter, self.collector, self.watcher, self.publisher), None, None, None, None, None)
        for part in parts:
            if part is not None:
                try:
                    part.stop()
                except Exception:
                    log.exception("stopping %r failed", part)
        control, self.control = self.control, None
        if control is not None:
            control.stop()

    def _vault_changed(self, change) -> None:
        folder = (self.publish_folder or "").strip("/") + "/"
        ids = change.added | change.removed | change.modified
        if self.publisher is not None and any(not i.startswith(folder) for i in ids):
            self.publisher.trigger()
        if self.on_vault_change is not None:
            self.on_vault_change(change)

    def _store_changed(self, _result) -> None:
        if self.publisher is not None:
            self.publisher.trigger()
        if self.on_store_change is not None:
            self.on_store_change()


class NoCloseStore:
    """The shared store as the OTLP writer sees it: it ingests through the server and never closes it."""

    def __init__(self, shared: SharedStore):
        self._shared = shared

    def ingest_table(self, table, source: str):
        """Ingest a canonical Arrow table through the shared store's write path."""
        from brain.ingest import ingest_table

        return self._shared.write(lambda st: ingest_table(st, table, source=source))

    def close(self) -> None:
        pass


class Collecting:
    """`brain collect`: the OTLP receiver on its own, owning the store as a server does. The store
    stays read-only between batches (CLI readers work beside it), and `brain ingest` hands its files
    to this process through .brain/server.json."""

    def __init__(self, store_path: Path | None, host: str, port: int, batch_rows: int = 5000, flush_interval_s: float = 1.0,
                 lake: str | None = None, brain=None):
        self.store_path = store_path
        self.brain = brain  # a Brain over the vault around the store: alert passes (`every_minutes`) from here too
        self.alerter: AlertPasses | None = None
        self.host, self.port, self.batch_rows, self.flush_interval_s = host, port, batch_rows, flush_interval_s
        self.lake = lake  # write batches to this event lake (brain.lake.writer) instead of the store
        self.endpoint = ""
        self._shared: SharedStore | None = None
        self._control: ControlServer | None = None

    def start(self) -> Collecting:
        """Refuse when a server or collector already owns the store, else start receiving."""
        from brain.live.collector import start_collector

        if self.lake is not None:  # no store: each batch is a lake batch (one file per day it covers)
            from brain.lake.writer import LakeWriter

            LakeWriter(self.lake).close()  # a lake that cannot be made fails here, not in the writer thread
            lake = self.lake
            self._collector = start_collector(lambda: LakeWriter(lake), host=self.host, port=self.port,
                                              batch_rows=self.batch_rows, flush_interval_s=self.flush_interval_s)
            self.endpoint = self._collector.endpoint
            return self
        assert self.store_path is not None
        server = running_server(self.store_path)
        if server is not None:
            if server.get("command") == "collect":
                raise StoreError(
                    f"a running `brain collect` (pid {server['pid']}) owns {self.store_path}; "
                    "send spans to that one, or stop it first"
                )
            raise StoreError(
                f"a running `brain serve` (pid {server['pid']}) owns {self.store_path}; "
                "start it with --otlp to receive spans there, or stop it first"
            )
        shared = self._shared = SharedStore(self.store_path, lock=self.brain._lock if self.brain is not None else None)
        self._control = ControlServer(shared, command="collect").start()
        if self.brain is not None:  # the brain reads and records alerts through the store this process owns
            old = self.brain.__dict__.pop("store", None)
            if old is not None:
                old.close()
            self.brain.__dict__["store"] = shared
            self.alerter = AlertPasses(self.brain, lambda: True)
        self._collector = start_collector(lambda: NoCloseStore(shared), host=self.host, port=self.port,
                                          batch_rows=self.batch_rows, flush_interval_s=self.flush_interval_s)
        self.endpoint = self._collector.endpoint
        return self

    def stop(self) -> dict:
        """Flush and stop; what was received and ingested."""
        if self.alerter is not None:
            self.alerter.stop()
        self._collector.stop()
        if self._control is not None:
            self._control.stop()
        if self._shared is not None:
            self._shared.close()
        return self._collector.snapshot()
