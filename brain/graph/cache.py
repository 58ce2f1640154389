"""A load cache for the vault and its graph, outside the vault: unchanged notes are not re-read.

The cache of a vault lives in `$BRAIN_CACHE_DIR` (default `$XDG_CACHE_HOME/company-brain`, else
`~/.cache/company-brain`), in a folder named by a hash of the vault's resolved path; never in the
vault, which may be a shared repository (a pickle is code). `BRAIN_NO_CACHE=1` turns it off.

A load walks the vault as read_vault does (it is read_vault, with a note reader that serves a
cached note while its file's (size, mtime_ns, inode, mode, ctime_ns) is unchanged and its mtime is
not within RACY_NS of when the cache was taken), then brings the cached graph up to date with the graph's own
incremental updates (CompanyGraph.remove_note / upsert_note / add_file / remove_file, as the live
watcher does), and puts nodes, edges and dicts back in the order a fresh build gives, so answers
are identical to a fresh load. A changed Obsidian config, another brain version or too many
changed files mean a fresh build; any cache problem means a fresh load, logged, never an error.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import pickle
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from brain.files import replacing
from brain.graph.company import CompanyGraph
from brain.names import fold
from brain.vault.reader import Note, Vault, VaultIssue, read_note_file, read_vault

log = logging.getLogger(__name__)

CACHE_FORMAT = 2
RACY_NS = 2_000_000_000  # a file modified this close to the snapshot may change unseen: re-read it
MAX_CHANGED_SHARE = 0.2  # more changed files than this: build the graph afresh
CONFIG_FILES = (".obsidian/app.json", ".obsidian/templates.json")  # what read_vault reads of Obsidian's config
CACHE_FILE = "vault.pickle"

# (size, mtime_ns, inode, mode, ctime_ns): a chmod changes only the mode and ctime, and a note that can
# no longer be read must be re-read (and reported) rather than served from the cache.
Stat = tuple[int, int, int, int, int]


@dataclass
class LoadReport:
    """How a load went: `mode` is fresh, cached (nothing re-read) or updated; `reason` for fresh ones."""

    mode: str = "fresh"
    reason: str = ""
    reread: int = 0
    removed: int = 0
    saved: bool = False


@dataclass
class _Entry:
    stat: Stat
    note: Note | None
    issue: VaultIssue | None


@dataclass
class _State:
    """What is pickled after the header: the snapshot's entries, vault and graph."""

    taken_ns: int
    entries: dict[str, _Entry]
    vault: Vault
    graph: CompanyGraph


@dataclass
class _Reader:
    """A read_vault note reader: a cached note while its file is unchanged, else read_note_file."""

    cached: dict[str, _Entry]
    taken_ns: int  # when the cached stats were taken (0: nothing is trusted)
    entries: dict[str, _Entry] = field(default_factory=dict)
    reread: list[str] = field(default_factory=list)

    def __call__(self, root: Path, rel: str, templates: str | None) -> tuple[Note | None, VaultIssue | None]:
        try:
            st = os.stat(os.path.join(root, rel))  # not root / rel: pathlib costs more than the stat
        except OSError:
            self.reread.append(rel)
            return read_note_file(root, rel, templates, walked=True)  # reports it, as a fresh read does
        stat = (st.st_size, st.st_mtime_ns, st.st_ino, st.st_mode, st.st_ctime_ns)
        old = self.cached.get(rel)
        if old is not None and old.stat == stat and stat[1] < self.taken_ns - RACY_NS:
            self.entries[rel] = old
            return old.note, old.issue
        self.reread.append(rel)
        note, issue = read_note_file(root, rel, templates, walked=True)
        # The stat taken before the read: if the file changed in between, the next load re-reads it.
        self.entries[rel] = _Entry(stat, note, issue)
        return note, issue


def cache_dir_for(vault: str | os.PathLike, environ: dict | None = None) -> Path | None:
    """The cache folder of a vault, or None when caching is off (`BRAIN_NO_CACHE`)."""
    env = os.environ if environ is None else environ
    if env.get("BRAIN_NO_CACHE", "").strip().lower() not in ("", "0", "false", "no"):
        return None
    base = env.get("BRAIN_CACHE_DIR") or os.path.join(
        env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "company-brain"
    )
    key = hashlib.sha256(os.fsencode(os.path.realpath(vault))).hexdigest()[:24]
    return Path(base) / key


def _code_fingerprint() -> str:
    """The package version and the size and mtime of the modules of brain's packages, so an edited parser is not served stale notes."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version("company-brain")
    except PackageNotFoundError:
        ver = "?"
    h = hashlib.sha256(f"{CACHE_FORMAT}|{ver}|{sys.version_info[:2]}".encode())
    pkg = Path(__file__).parents[1]  # brain/: the vault reader and the graph builder live below it
    for p in sorted(pkg.glob("*/*.py")):
        st = p.stat()
        h.update(f"|{p.parent.name}/{p.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def _config_key(root: Path) -> str:
    """A hash of the Obsidian config files read_vault reads (absent files count too)."""
    h = hashlib.sha256()
    for rel in CONFIG_FILES:
        try:
            data = (root / rel).read_bytes()
        except OSError:
            data = b"\0absent"
        h.update(hashlib.sha256(data).digest())
    return h.hexdigest()


def _header(root: Path) -> dict:
    return {"format": CACHE_FORMAT, "code": _code_fingerprint(), "root": str(root), "config": _config_key(root)}


def _read_state(path: Path, header: dict) -> tuple[_State | None, str]:
    """The cached state if its header matches; (None, why) on any problem."""
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_uid != os.getuid():
                return None, "cache file owned by another user"
            cached_header = pickle.load(f)
            if not isinstance(cached_header, dict):
                return None, "not a cache file"
            for k in ("format", "code", "root", "config"):
                if cached_header.get(k) != header[k]:
                    return None, f"{k} changed"
            state = pickle.load(f)
    except FileNotFoundError:
        return None, "no cache yet"
    except Exception as exc:  # a corrupt or partial cache must never break a command
        return None, f"unreadable cache ({type(exc).__name__}: {exc})"
    if not isinstance(state, _State):
        return None, "not a cache file"
    return state, ""


def _write_state(folder: Path, header: dict, state: _State) -> bool:
    """Write the cache atomically (temp file, then rename); False (logged) when it cannot."""
    state.graph._names = None  # a derived index, rebuilt on demand
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with replacing(folder / CACHE_FILE, prefix=".vault-") as (f, _):
            pickle.dump(header, f, protocol=pickle.HIGHEST_PROTOCOL)
            pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # an unwritable cache folder costs speed, never the command
        log.info("vault cache not written to %s: %s", folder, exc)
        return False
    return True


def load_vault_graph(
    vault_root: str | os.PathLike, cache_dir: Path | None, max_changed_share: float = MAX_CHANGED_SHARE
) -> tuple[Vault, CompanyGraph, LoadReport]:
    """The vault and its graph, as read_vault + CompanyGraph.from_vault give them, from the cache when it helps."""
    if cache_dir is None:
        vault = read_vault(vault_root)
        return vault, CompanyGraph.from_vault(vault), LoadReport(reason="cache off")
    # A vault is a million small objects that live as long as the process: the collector would scan
    # them again and again while they are unpickled, reordered and pickled (doubling the load), so
    # it is off meanwhile, and they are moved out of its sight (gc.freeze) once loaded.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _load(vault_root, cache_dir, max_changed_share)
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def _load(vault_root: str | os.PathLike, cache_dir: Path, max_changed_share: float) -> tuple[Vault, CompanyGraph, LoadReport]:
    taken_ns = time.time_ns()  # before any stat: files modified after it are racy next time
    root = Path(vault_root).resolve()
    header = _header(root)
    state, why = _read_state(cache_dir / CACHE_FILE, header)
    reader = _Reader(state.entries if state else {}, state.taken_ns if state else 0)
    vault = read_vault(root, note_reader=reader)
    report = LoadReport(reread=len(reader.reread))
    if state is None:
        log.debug("vault cache: fresh load (%s)", why)
        graph = CompanyGraph.from_vault(vault)
        report.reason = why
    else:
        removed = state.entries.keys() - reader.entries.keys()
        report.removed = len(removed)
        graph, report.mode, report.reason = _update_graph(
            state, vault, len(reader.reread) + len(removed), max_changed_share
        )
        log.debug("vault cache: %s (%d re-read, %d gone) %s", report.mode, report.reread, report.removed, report.reason)
    if report.mode != "cached" or _racy_ones_settle(reader, taken_ns):
        report.saved = _write_state(cache_dir, header, _State(taken_ns, reader.entries, vault, graph))
    return vault, graph, report


def _racy_ones_settle(reader: _Reader, taken_ns: int) -> bool:
    """True when a re-read file would count as unchanged in a snapshot taken now (worth saving)."""
    return any(e.stat[1] < taken_ns - RACY_NS for rel in reader.reread if (e := reader.entries.get(rel)))


def _update_graph(state: _State, vault: Vault, touched: int, max_share: float) -> tuple[CompanyGraph, str, str]:
    """The cached graph brought up to date with `vault` incrementally; a fresh build when that is not sure."""
    old = state.vault
    old_files, new_files = set(old.files), set(vault.files)
    removed = [nid for nid in old.notes if nid not in vault.notes]
    changed = [n for nid, n in vault.notes.items() if old.notes.get(nid) != n]
    if not removed and not changed and old_files == new_files:
        graph = state.graph
        graph.issues = {i.path: i for i in vault.issues}
        return graph, ("cached" if touched == 0 else "updated"), ""
    total = max(1, len(vault.notes) + len(vault.files))
    if touched + len(old_files ^ new_files) > max_share * total:
        return CompanyGraph.from_vault(vault), "fresh", f"over {max_share:.0%} of the files changed"
    if _folded_paths_collide(vault):
        return CompanyGraph.from_vault(vault), "fresh", "paths that differ only in case: resolution depends on order"
    graph = state.graph
    issues = {i.path: i for i in vault.issues}
    for nid in removed:
        graph.remove_note(nid)
    for path in old.files:
        if path not in new_files:
            graph.remove_file(path)
    for path in vault.files:
        if path not in old_files:
            graph.add_file(path)
    for note in changed:
        graph.upsert_note(note, issues.get(note.path))
    if not _put_in_fresh_order(graph, vault):
        return CompanyGraph.from_vault(vault), "fresh", "a broken link's ghost would be named by another link"
    graph.issues = issues
    return graph, "updated", ""


def _folded_paths_collide(vault: Vault) -> bool:
    """True when two note ids or files fold to one path (a case-sensitive disk): resolution then depends on order."""
    ids = [fold(nid) for nid in vault.notes]
    ids += [fold(p[:-3]) if p[-3:].lower() == ".md" else fold(p) for p in vault.files]
    return len(set(ids)) != len(ids)


def _put_in_fresh_order(graph: CompanyGraph, vault: Vault) -> bool:
    """Reorder notes, nodes and adjacency as CompanyGraph.from_vault(vault) orders them; False when a
    ghost's id is not the one a fresh build would give it (the first link to it names it)."""
    g = graph.g
    graph.notes = dict(vault.notes)
    order = list(vault.notes)
    ghosts: dict[str, None] = {}
    for u in order:
        for v in g.succ[u]:
            if v not in vault.notes and v not in ghosts:
                ghosts[v] = None
    if not _ghost_ids_are_fresh(graph, vault, ghosts):
        return False
    order += ghosts
    if len(order) != g.number_of_nodes():
        return False
    rank = {n: i for i, n in enumerate(vault.notes)}
    # networkx keeps nodes and adjacency in insertion-ordered dicts; reorder them in place so every
    # view of the graph stays valid. Edge keys and each node's out-edges are already in link order.
    for outer in (g._node, g._succ, g._pred):
        items = [(n, outer[n]) for n in order]
        outer.clear()
        outer.update(items)
    for preds in g._pred.values():
        if len(preds) > 1:
            items = sorted(preds.items(), key=lambda kv: rank[kv[0]])
            preds.clear()
            preds.update(items)
    return True


def _ghost_ids_are_fresh(graph: CompanyGraph, vault: Vault, ghosts: dict[str, None]) -> bool:
    """True when each ghost is named by the first link (in vault order) that points at it, as in a fresh build."""
    if not ghosts:
        return True
    by_fold = {key: gid for key, gid in graph._ghost_by_fold.items() if gid in ghosts}
    named: set[str] = set()
    for nid, note in vault.notes.items():
        targets = graph.g.succ[nid]
        for link in note.links:
            if not link.target:
                continue
            gid = by_fold.get(fold(link.target))
            if gid is None or gid in named or gid not in targets:
                continue
            expected = link.target if link.target not in vault.notes else f"{link.target} (unresolved)"
            if gid != expected:
                return False
            named.add(gid)
    return len(named) == len(ghosts)
