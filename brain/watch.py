"""Live vault: watchdog events, debounced, applied to the graph incrementally (never fatal)."""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from brain.graph import CompanyGraph
from brain.vault import is_ignored, load_ignore_filters, read_note_file, walk_vault

log = logging.getLogger(__name__)
# watchdog (7.x) warns "Callback with id ... already exists for watch ... It will be Overwritten",
# with a screenful of its internal state, when a folder moved into the vault already has a watch.
# The watch is replaced and no event is lost: not worth a line on the server's stderr.
warnings.filterwarnings("ignore", message="Callback with id .* already exists", category=RuntimeWarning)


@dataclass(frozen=True)
class VaultChange:
    """What one applied batch did to the graph: note ids added, removed and modified."""

    added: frozenset[str] = frozenset()
    removed: frozenset[str] = frozenset()
    modified: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.modified)


@dataclass
class _Pending:
    files: set[str] = field(default_factory=set)
    dirs: set[str] = field(default_factory=set)
    resync: bool = False
    first_at: float = 0.0
    last_at: float = 0.0


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: VaultWatcher):
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        try:
            self.watcher._note_event(event)
        except Exception:  # a bad event must never kill the observer thread
            log.exception("ignoring a watch event that could not be queued: %r", event)


class VaultWatcher:
    """Watches a vault folder and keeps a CompanyGraph current; restarts a dead observer."""

    def __init__(
        self,
        graph: CompanyGraph,
        root: str | os.PathLike,
        lock: threading.RLock | None = None,
        on_change: Callable[[VaultChange], None] | None = None,
        debounce_s: float = 0.025,
        max_delay_s: float = 0.5,
        health_interval_s: float = 1.0,
    ):
        self.graph = graph
        self.root = Path(root).resolve()
        self.lock = lock or threading.RLock()
        self.on_change = on_change
        self.debounce_s = debounce_s
        self.max_delay_s = max_delay_s
        self.health_interval_s = health_interval_s
        self.filters = load_ignore_filters(self.root)
        self.generation = 0  # bumps after each applied batch
        self.restarts = 0
        self._pending = _Pending()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._observer: Any = None
        self._worker: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> VaultWatcher:
        """Start watching (and resync with disk once, for edits made before the start)."""
        self._stop.clear()
        self._start_observer()
        self._worker = threading.Thread(target=self._run, name="brain-vault-watch", daemon=True)
        self._worker.start()
        self.request_resync()
        return self

    def stop(self) -> None:
        """Stop watching; pending events are dropped."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._observer is not None:
            try:
                self._observer.stop()
                self._observer.join(timeout=2)
            except Exception:  # pragma: no cover - shutting down anyway
                log.debug("observer stop failed", exc_info=True)
        if self._worker is not None:
            self._worker.join(timeout=2)

    def __enter__(self) -> VaultWatcher:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _start_observer(self) -> None:
        obs = Observer()
        obs.schedule(_Handler(self), str(self.root), recursive=True)
        obs.daemon = True
        obs.start()
        self._observer = obs

    def is_alive(self) -> bool:
        """True while both the observer and the applying worker run."""
        return bool(self._observer and self._observer.is_alive() and self._worker and self._worker.is_alive())

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Wait (on the apply condition, not a sleep loop) until predicate() holds or timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    # -- events ------------------------------------------------------------------------------

    def _rel(self, path) -> str | None:
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        root = str(self.root)
        path = str(path)
        if path == root:
            return ""
        if not path.startswith(root + os.sep):
            return None
        return path[len(root) + 1 :].replace(os.sep, "/")

    def _note_event(self, event: FileSystemEvent) -> None:
        paths = [event.src_path]
        if getattr(event, "dest_path", None):
            paths.append(event.dest_path)
        with self._cond:
            now = time.monotonic()
            if not (self._pending.files or self._pending.dirs or self._pending.resync):
                self._pending.first_at = now
            self._pending.last_at = now
            for p in paths:
                rel = self._rel(p)
                if rel is None:
                    continue
                if rel == ".obsidian/app.json":
                    self._pending.resync = True
                    continue
                if event.is_directory:
                    self._pending.dirs.add(rel)
                else:
                    self._pending.files.add(rel)
            self._cond.notify_all()

    def request_resync(self) -> None:
        """Ask the worker to compare the whole vault with the graph (after a restart)."""
        with self._cond:
            now = time.monotonic()
            if not (self._pending.files or self._pending.dirs or self._pending.resync):
                self._pending.first_at = now
            self._pending.resync = True
            self._pending.last_at = now - self.debounce_s
            self._cond.notify_all()

    # -- the worker --------------------------------------------------------------------------

    def _take_batch(self) -> _Pending | None:
        with self._cond:
            while not self._stop.is_set():
                p = self._pending
                if p.files or p.dirs or p.resync:
                    now = time.monotonic()
                    quiet = now - p.last_at >= self.debounce_s
                    overdue = now - p.first_at >= self.max_delay_s
                    if quiet or overdue:
                        self._pending = _Pending()
                        return p
                    self._cond.wait(min(self.debounce_s - (now - p.last_at), self.max_delay_s) + 0.001)
                else:
                    self._cond.wait(self.health_interval_s)
                    if not self._stop.is_set():
                        self._check_health()
            return None

    def _check_health(self) -> None:
        if self._observer is not None and not self._observer.is_alive():
            log.warning("vault watcher stopped; restarting it and resyncing with disk")
            self.restarts += 1
            try:
                self._start_observer()
            except Exception:
                log.exception("could not restart the vault watcher; will retry")
                return
            self._pending.resync = True
            self._pending.first_at = self._pending.last_at = time.monotonic() - self.debounce_s

    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self._take_batch()
            if batch is None:
                return
            try:
                change = self.apply(batch.files, batch.dirs, resync=batch.resync)
            except Exception:  # never take the server down; resync next time
                log.exception("applying vault changes failed; resyncing")
                with self._cond:
                    self._pending.resync = True
                    self._pending.first_at = self._pending.last_at = time.monotonic()
                continue
            with self._cond:
                self.generation += 1
                self._cond.notify_all()
            if change and self.on_change is not None:
                try:
                    self.on_change(change)
                except Exception:
                    log.exception("vault change callback failed")

    # -- applying ----------------------------------------------------------------------------

    def apply(self, files: set[str], dirs: set[str], resync: bool = False) -> VaultChange:
        """Bring the graph in line with disk for the touched paths (or the whole vault)."""
        if resync:
            self.filters = load_ignore_filters(self.root)
            dirs = {""}
        notes = {f for f in files if f.lower().endswith(".md")}
        attachments = {f for f in files if not f.lower().endswith(".md")}
        for d in dirs:  # everything under a touched folder, as it is on disk now
            base = self.root / d if d else self.root
            if base.is_dir():
                for rel in walk_vault(base, (), [], vault_root=self.root):
                    full_rel = f"{d}/{rel}" if d else rel
                    (notes if full_rel.lower().endswith(".md") else attachments).add(full_rel)
        changes: dict[str, set[str]] = {"added": set(), "removed": set(), "modified": set()}
        with self.lock:
            g = self.graph
            for d in dirs:  # notes the graph has under those folders, so the gone ones are removed
                prefix = f"{d}/" if d else ""
                notes.update(n + ".md" for n in g.notes if n.startswith(prefix))
            # Notes in Excluded files are no nodes, but links to them resolve (as a cold load does)
            excluded = {rel for rel in notes if is_ignored(rel, self.filters)}
            notes -= excluded
            attachments |= excluded
            for rel in sorted(excluded):
                if rel[:-3] in g.notes:  # excluded since it was read
                    g.remove_note(rel[:-3])
                    changes["removed"].add(rel[:-3])
            for rel in sorted(notes):
                outcome = self._sync_note(rel, touched=rel in files)
                if outcome:
                    changes[outcome].add(rel[:-3])
            for rel in attachments:
                if (self.root / rel).is_file():
                    g.add_file(rel)
                else:
                    g.remove_file(rel)
        return VaultChange(
            frozenset(changes["added"]), frozenset(changes["removed"]), frozenset(changes["modified"] - changes["added"])
        )

    def _sync_note(self, rel: str, touched: bool) -> str | None:
        """Re-read one note path into the graph, as a cold load would; returns what happened."""
        g = self.graph
        nid = rel[:-3]
        known = g.notes.get(nid)
        try:
            st = (self.root / rel).stat()
        except OSError:  # gone (deleted, moved away, or vanished mid-read)
            g.issues.pop(rel, None)
            if known is None:
                return None
            g.remove_note(nid)
            return "removed"
        if known is not None and not touched and (known.mtime_ns, known.size) == (st.st_mtime_ns, st.st_size):
            return None  # unchanged since it was read
        note, issue = read_note_file(self.root, rel, g.templates)
        if note is None:  # unreadable now (binary, vanished mid-read): reported, not a note
            if issue is not None:
                g.issues[rel] = issue
            if known is None:
                return None
            g.remove_note(nid)
            return "removed"
        g.upsert_note(note, issue)
        return "modified" if known is not None else "added"
