"""Live vault: watchdog events, debounced, applied to the graph incrementally (never fatal).

Besides the vault folder, the watcher watches the targets of the symlinks walk_vault follows
(folders and notes linked in from elsewhere; watchdog does not follow symlinks) and maps their
events back to the vault path through the link. It notices the vault folder itself going away
(deleted, moved) and coming back or being replaced at its path (a re-clone, a restored backup):
the last graph is served meanwhile, and the returned folder is watched anew and rescanned.

Over 400 lines on purpose: one watchdog handler and the bookkeeping of the symlink targets it
watches, whose events it maps back to vault paths.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from brain.graph.company import CompanyGraph
from brain.vault.paths import find_links, inside, is_hidden
from brain.vault.reader import (
    is_ignored,
    load_ignore_filters,
    load_templates_folder,
    read_note_file,
    walk_vault,
)

log = logging.getLogger(__name__)
# watchdog (7.x) warns "Callback with id ... already exists for watch ... It will be Overwritten",
# with a screenful of its internal state, when a folder moved into the vault already has a watch.
# The watch is replaced and no event is lost: not worth a line on the server's stderr.
warnings.filterwarnings("ignore", message="Callback with id .* already exists", category=RuntimeWarning)

# The Obsidian settings read_vault reads: a change means a rescan (config changes are rare).
CONFIG_FILES = (".obsidian/app.json", ".obsidian/templates.json")


def _under(note_id: str, folder: str | None) -> bool:
    return bool(folder) and note_id.lower().startswith(f"{folder}/".lower())


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
    """Queues a watch's events as vault paths (`to_rels` maps a disk path to the vault paths it is)."""

    def __init__(self, watcher: VaultWatcher, to_rels: Callable[[Any], list[str]]):
        self.watcher = watcher
        self.to_rels = to_rels

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        try:
            self.watcher._note_event(event, self.to_rels)
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
        self.root_lost = False  # the vault folder is gone: the last graph is served until it is back
        self._root_id: tuple[int, int] | None = None  # (st_dev, st_ino) of the folder being watched
        # Followed symlinks, {vault path: real target}; replaced whole, never mutated (the observer reads it).
        self.links: dict[str, str] = {}
        self._link_watches: dict[tuple[str, bool], Any] = {}  # (watched folder, recursive) -> watch
        self._ext_handler = _Handler(self, self._link_rels)
        self._pending = _Pending()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._observer: Any = None
        self._root_watch: Any = None
        self._worker: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> VaultWatcher:
        """Start watching (and resync with disk once, for edits made before the start)."""
        self._stop.clear()
        with self.lock:
            self.links = find_links(self.root, "", recursive=True)
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
        self._stop_observer()
        if self._worker is not None:
            self._worker.join(timeout=2)

    def __enter__(self) -> VaultWatcher:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _start_observer(self) -> None:
        obs = Observer()
        self._root_watch = obs.schedule(_Handler(self, self._root_rels), str(self.root), recursive=True)
        obs.daemon = True
        obs.start()
        self._observer = obs
        self._root_id = self._root_identity()
        self._link_watches = {}
        self._watch_links()

    def _stop_observer(self) -> None:
        if self._observer is not None:
            try:
                self._observer.stop()
                self._observer.join(timeout=2)
            except Exception:  # pragma: no cover - shutting down anyway
                log.debug("observer stop failed", exc_info=True)

    def _restart_observer(self) -> None:
        self.restarts += 1
        self._stop_observer()
        self._start_observer()

    def _root_identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.root)
        except OSError:
            return None
        return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None

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

    def _root_rels(self, path) -> list[str]:
        rel = inside(path, str(self.root))
        return [] if rel is None else [rel]

    def _link_rels(self, path) -> list[str]:
        """The vault paths a path in a symlink's target is seen at (through every link to it)."""
        out = []
        for link, target in self.links.items():
            rel = inside(path, target)
            if rel is not None:
                out.append(f"{link}/{rel}" if rel else link)
        return out

    def _note_event(self, event: FileSystemEvent, to_rels: Callable[[Any], list[str]]) -> None:
        paths = [event.src_path]
        if getattr(event, "dest_path", None):
            paths.append(event.dest_path)
        with self._cond:
            now = time.monotonic()
            if not (self._pending.files or self._pending.dirs or self._pending.resync):
                self._pending.first_at = now
            self._pending.last_at = now
            for p in paths:
                for rel in to_rels(p):
                    if rel in CONFIG_FILES or (rel == ".obsidian" and event.event_type != "modified"):
                        self._pending.resync = True  # Excluded files or the templates folder may have changed
                    elif event.is_directory:
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
        while not self._stop.is_set():
            with self._cond:
                p = self._pending
                if p.files or p.dirs or p.resync:
                    now = time.monotonic()
                    quiet = now - p.last_at >= self.debounce_s
                    overdue = now - p.first_at >= self.max_delay_s
                    if quiet or overdue:
                        self._pending = _Pending()
                        return p
                    self._cond.wait(min(self.debounce_s - (now - p.last_at), self.max_delay_s) + 0.001)
                    continue
                self._cond.wait(self.health_interval_s)
            if not self._stop.is_set():  # outside the condition: stopping an observer waits for its thread
                self._check_health()
        return None

    def _check_health(self) -> None:
        """Restart a dead observer, follow the vault folder going and coming back, re-watch link targets."""
        if not self._check_root():
            return
        obs = self._observer
        # The vault folder's emitter stops on its own when the folder is deleted (maybe re-created
        # since, with the same inode number): the observer thread lives on, deaf to the vault.
        if obs is not None and (not obs.is_alive() or not any(e.watch == self._root_watch and e.is_alive() for e in list(obs.emitters))):
            log.warning("vault watcher stopped; restarting it and resyncing with disk")
            try:
                self._restart_observer()
            except Exception:
                log.exception("could not restart the vault watcher; will retry")
                return
            self.request_resync()
            return
        self._watch_links()  # a link target that was missing, or whose watch died, is watched again

    def _check_root(self) -> bool:
        """False while the vault folder is gone. One back at its path (or replaced: another inode) is
        watched anew and rescanned; inotify watches the old inode, which is gone or elsewhere."""
        now = self._root_identity()
        if now is None:
            if not self.root_lost:
                self.root_lost = True
                log.warning("vault folder %s is gone; serving the last graph until it is back", self.root)
                self._stop_observer()  # a folder moved away would report its events as the vault's
            return False
        if self.root_lost or now != self._root_id:
            log.warning("vault folder %s is back or was replaced; watching it again and rescanning", self.root)
            self.root_lost = False
            self._restart_observer()
            self.request_resync()
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self._take_batch()
            if batch is None:
                return
            if not self._check_root():
                continue  # applied against a missing folder, this batch would empty the graph
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
            templates = load_templates_folder(self.root)
            if templates != self.graph.templates:  # notes in the old and new folder change type
                with self.lock:
                    old, self.graph.templates = self.graph.templates, templates
                    files = files | {n.path for nid, n in self.graph.notes.items() if _under(nid, old) or _under(nid, templates)}
        notes = {f for f in files if f.lower().endswith(".md")}
        attachments = {f for f in files if not f.lower().endswith(".md")}
        for d in dirs:  # everything under a touched folder, as it is on disk now
            if is_hidden(d):
                continue
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
            # Dot-folders (.trash, .obsidian) are not read at all: neither notes nor link targets
            hidden = {rel for rel in notes | attachments if is_hidden(rel)}
            notes -= hidden
            attachments -= hidden
            for rel in sorted(hidden):
                if rel.lower().endswith(".md") and rel[:-3] in g.notes:
                    g.remove_note(rel[:-3])
                    changes["removed"].add(rel[:-3])
                g.remove_file(rel)
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
            self._update_links(files, dirs, full=resync)
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
            if known is not None:
                g.remove_note(nid)  # drops the note's issue too: recorded after it
            if issue is not None:
                g.issues[rel] = issue
            return None if known is None else "removed"
        g.upsert_note(note, issue)
        return "modified" if known is not None else "added"

    # -- symlinks walk_vault follows ---------------------------------------------------------

    def _update_links(self, files: Iterable[str], dirs: Iterable[str], full: bool) -> None:
        """Keep the followed symlinks (and the watches on their targets) in line with the touched paths.

        Each folder created or moved in has an event of its own, so its entries are enough; a link
        that is new is searched in full (its target may hold links of its own)."""
        if full:
            links = find_links(self.root, "", recursive=True)
        else:
            root = str(self.root)
            links = {
                link: target for link, target in self.links.items()
                if not is_hidden(link) and os.path.islink(os.path.join(root, link))
                and os.path.realpath(os.path.join(root, link)) == target
            }
            for rel in (*dirs, *files):
                links.update(find_links(self.root, rel, recursive=False))
            for link in [link for link in links if link not in self.links]:
                links.update(find_links(self.root, link, recursive=True))
        if links != self.links:
            self.links = links
            self._watch_links()

    def _watch_links(self) -> None:
        """Watch each link's target: a folder recursively, a file through its folder; drop unused watches."""
        obs = self._observer
        if obs is None or not obs.is_alive():
            return
        wanted = {(t, True) if os.path.isdir(t) else (os.path.dirname(t), False) for t in self.links.values()}
        alive = {e.watch for e in list(obs.emitters) if e.is_alive()}
        for key, watch in list(self._link_watches.items()):
            if key not in wanted or watch not in alive:  # not needed, or its folder went away
                del self._link_watches[key]
                try:
                    obs.unschedule(watch)
                except Exception:
                    log.debug("unscheduling %s failed", key, exc_info=True)
        for key in wanted - self._link_watches.keys():
            if os.path.isdir(key[0]):
                try:
                    self._link_watches[key] = obs.schedule(self._ext_handler, key[0], recursive=key[1])
                except OSError as exc:  # unreadable or gone: tried again on the next health check
                    log.debug("cannot watch symlink target %s: %s", key[0], exc)
                    continue
                # what changed there while it was not watched (a target that came back) is read now
                if key[1]:
                    self._queue({link for link, t in self.links.items() if t == key[0]}, set())
                else:
                    self._queue(set(), {link for link, t in self.links.items() if os.path.dirname(t) == key[0]})

    def _queue(self, dirs: set[str], files: set[str]) -> None:
        if not (dirs or files):
            return
        with self._cond:
            if not (self._pending.files or self._pending.dirs or self._pending.resync):
                self._pending.first_at = time.monotonic()
            self._pending.last_at = time.monotonic() - self.debounce_s
            self._pending.dirs |= dirs
            self._pending.files |= files
            self._cond.notify_all()
