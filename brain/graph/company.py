"""The typed company graph (networkx.MultiDiGraph) built from the vault, and its queries.

Over 400 lines on purpose: the watcher patches the graph note by note (`upsert_note`,
`remove_note`), and that index upkeep shares private state (name index, link keys, ghosts) with
the lookups; gaps (graph/gaps.py) and text search (graph/search.py) live apart.
"""

from __future__ import annotations

import difflib
import logging
from collections import defaultdict, deque
from pathlib import Path

import networkx as nx

from brain.errors import AmbiguousName, NotFound
from brain.graph.gaps import Gap, graph_gaps
from brain.graph.identity import AgentIdentity, slugify
from brain.names import fold
from brain.vault.links import Link, Resolver, link_key
from brain.vault.reader import Note, Vault, VaultIssue

log = logging.getLogger(__name__)

# Property names -> edge relation. Anything else keeps its (lower-case) property name.
RELATIONS = {
    "owner": "owned_by",
    "owners": "owned_by",
    "owned_by": "owned_by",
    "team": "member_of",
    "teams": "member_of",
    "member_of": "member_of",
    "uses": "depends_on",
    "depends_on": "depends_on",
    "dependencies": "depends_on",
    "tools": "depends_on",
    "integrations": "depends_on",
}


def relation_for(link: Link, source_type: str) -> str:
    """The normalised edge relation of a link, from its property name or its body form."""
    if link.property is None:
        return "embeds" if link.embed else "links_to"
    key = link.property.strip().lower().replace(" ", "_").replace("-", "_")
    if key == "agent" and source_type == "change":
        return "changes"
    return RELATIONS.get(key, key)


def _str_list(value) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(str(v).strip() for v in value if v is not None and str(v).strip())
    s = str(value).strip()
    return (s,) if s else ()


class CompanyGraph:
    """The vault as a typed MultiDiGraph; node ids are vault paths without `.md`."""

    def __init__(self) -> None:
        self.g = nx.MultiDiGraph()
        self.notes: dict[str, Note] = {}
        self.issues: dict[str, VaultIssue] = {}
        self.resolver = Resolver()
        self._sources_by_key: dict[str, set[str]] = defaultdict(set)
        self._ghost_by_fold: dict[str, str] = {}
        self._names: dict[str, dict[str, set[str]]] | None = None  # name index, rebuilt after edits
        self.version = 0  # bumps on every edit, so callers can tell when cached answers went stale
        self.root: Path | None = None  # the vault folder, once built from one
        self.ignore_filters: tuple[str, ...] = ()
        self.templates: str | None = None  # Obsidian's templates folder

    # -- building ------------------------------------------------------------------------------

    @classmethod
    def from_vault(cls, vault: Vault) -> CompanyGraph:
        """Build the graph of a whole vault."""
        cg = cls()
        cg.root = vault.root
        cg.ignore_filters = vault.ignore_filters
        cg.templates = vault.templates
        for path in vault.files:
            cg.resolver.add_file(path)
        for issue in vault.issues:
            cg.issues[issue.path] = issue
        for note in vault.notes.values():
            cg.notes[note.id] = note
            cg.resolver.add(note.id)
        for note in vault.notes.values():
            cg._set_node(note)
        for note in vault.notes.values():
            cg._add_edges(note)
        return cg

    def _set_node(self, note: Note) -> None:
        self._names = None
        self.version += 1
        if note.id in self.g and self.g.nodes[note.id].get("type") == "ghost":
            self._ghost_by_fold.pop(fold(note.id), None)
        attrs = {
            "type": note.type,
            "title": note.name,
            "path": note.path,
            "aliases": list(note.aliases),
            "tags": list(note.tags),
            "properties": note.properties,
            "error": note.error,
        }
        if note.type == "agent":
            p = note.properties
            attrs["agent_id"] = str(p.get("agent_id") or "").strip() or slugify(note.name)
            attrs["api_keys"] = list(_str_list(p.get("api_keys")) + _str_list(p.get("api_key")))
            attrs["service_names"] = list(_str_list(p.get("service_names")) + _str_list(p.get("service_name")))
        if note.id in self.g:
            self.g.nodes[note.id].clear()
        self.g.add_node(note.id, **attrs)

    def _ghost(self, target: str) -> str:
        low = fold(target)
        gid = self._ghost_by_fold.get(low)
        if gid is None:
            gid = target
            if gid in self.notes:  # cannot happen for a resolvable name; keep ids unique anyway
                gid = f"{target} (unresolved)"
            self._ghost_by_fold[low] = gid
            self.g.add_node(gid, type="ghost", title=target.rsplit("/", 1)[-1], path=None, aliases=[], tags=[], properties={}, error=None)
        return gid

    def _add_edges(self, note: Note) -> None:
        for link in note.links:
            if link.target:
                self._sources_by_key[link_key(link.target)].add(note.id)
            target = self.resolver.resolve(link.target, note.id)
            if target is None:
                if self.resolver.resolves_to_file(link.target, note.id):
                    continue  # an attachment: resolved, but not a node of the company graph
                target = self._ghost(link.target)
            self.g.add_edge(
                note.id,
                target,
                relation=relation_for(link, note.type),
                fragment=link.fragment,
                property=link.property,
                line=link.line,
                embed=link.embed,
            )

    def _drop_edges(self, note_id: str) -> None:
        if note_id in self.g:
            self.g.remove_edges_from(list(self.g.out_edges(note_id, keys=True)))

    def _prune_ghosts(self, candidates) -> None:
        for gid in list(candidates):
            if gid in self.g and self.g.nodes[gid].get("type") == "ghost" and self.g.in_degree(gid) == 0:
                self.g.remove_node(gid)
                self._ghost_by_fold.pop(fold(gid), None)

    def _reresolve(self, key: str) -> None:
        """Re-resolve every note with a link through base name `key` (after add/remove)."""
        touched: set[str] = set()
        for src in list(self._sources_by_key.get(key, ())):
            note = self.notes.get(src)
            if note is None:
                continue
            touched.update(v for _, v in self.g.out_edges(src))
            self._drop_edges(src)
            self._add_edges(note)
        self._prune_ghosts(touched)

    # -- incremental updates -------------------------------------------------------------------

    def upsert_note(self, note: Note, issue: VaultIssue | None = None) -> None:
        """Add or replace one note and re-resolve only the links it can affect."""
        old = self.notes.get(note.id)
        old_targets = [v for _, v in self.g.out_edges(note.id)] if old else []
        if old is not None:
            self._forget_keys(old)
        self.notes[note.id] = note
        if issue is not None:
            self.issues[note.path] = issue
        else:
            self.issues.pop(note.path, None)
        is_new = old is None
        if is_new:
            self.resolver.add(note.id)
        self._drop_edges(note.id)
        self._set_node(note)
        self._add_edges(note)
        if is_new:
            self._reresolve(link_key(note.id))
        self._prune_ghosts(old_targets)

    def remove_note(self, note_id: str) -> None:
        """Remove a note (deleted or moved away); links to it re-resolve or become ghosts."""
        old = self.notes.pop(note_id, None)
        if old is None:
            return
        self.issues.pop(old.path, None)
        self._forget_keys(old)
        targets = [v for _, v in self.g.out_edges(note_id)]
        self.resolver.remove(note_id)
        self._names = None
        self.version += 1
        if note_id in self.g:
            self.g.remove_node(note_id)
        self._reresolve(link_key(note_id))
        self._prune_ghosts(targets)

    def add_file(self, path: str) -> None:
        """A non-note file (attachment) appeared: links to it stop being ghosts."""
        if self.resolver.has_file(path):
            return
        self.resolver.add_file(path)
        self.version += 1
        self._reresolve(link_key(path))

    def remove_file(self, path: str) -> None:
        """A non-note file went away: links to it become ghosts."""
        if not self.resolver.has_file(path):
            return
        self.resolver.remove_file(path)
        self.version += 1
        self._reresolve(link_key(path))

    def _forget_keys(self, note: Note) -> None:
        for link in note.links:
            if link.target:
                s = self._sources_by_key.get(link_key(link.target))
                if s is not None:
                    s.discard(note.id)

    # -- lookup ------------------------------------------------------------------------------

    def node(self, node_id: str) -> dict:
        """The attribute dict of a node id (raises NotFound)."""
        if node_id not in self.g:
            raise NotFound("note", node_id, self.suggest(node_id))
        return self.g.nodes[node_id]

    def name_of(self, node_id: str) -> str:
        """The display name of a node: its note name, or the ghost's link text."""
        return self.g.nodes[node_id].get("title") or node_id

    def nodes_of_type(self, node_type: str) -> list[str]:
        """Node ids of one type, sorted."""
        return sorted(n for n, d in self.g.nodes(data=True) if d.get("type") == node_type)

    def _name_index(self) -> dict[str, dict[str, set[str]]]:
        if self._names is not None:
            return self._names
        idx: dict[str, dict[str, set[str]]] = {"path": defaultdict(set), "name": defaultdict(set), "agent_id": defaultdict(set), "alias": defaultdict(set)}
        for nid, d in self.g.nodes(data=True):
            if d.get("type") == "ghost":
                continue
            idx["path"][fold(nid)].add(nid)
            if (d.get("properties") or {}).get("brain_generated") is True:
                continue  # generated cost notes are found by path only, never by name
            idx["name"][fold(str(d.get("title", "")))].add(nid)
            if d.get("agent_id"):
                idx["agent_id"][fold(d["agent_id"])].add(nid)
            for a in d.get("aliases") or ():
                idx["alias"][fold(a)].add(nid)
        self._names = idx
        return idx

    def find(self, name: str, node_type: str | None = None) -> str:
        """Node id for a note name, path, alias or agent id (case- and NFC/NFD-insensitive); raises on none/many."""
        key = fold(name.strip())
        if key.endswith(".md"):
            key = key[:-3]
        idx = self._name_index()
        for tier in ("path", "name", "agent_id", "alias"):
            hits = idx[tier].get(key, set())
            if node_type:
                hits = {h for h in hits if self.g.nodes[h].get("type") == node_type}
            if len(hits) == 1:
                return next(iter(hits))
            if len(hits) > 1:
                raise AmbiguousName(name, sorted(hits))
        raise NotFound(node_type or "note", name, self.suggest(name, node_type))

    def suggest(self, name: str, node_type: str | None = None, n: int = 3) -> list[str]:
        """Close matches for a misspelt name (note names, aliases, agent ids)."""
        pool: dict[str, str] = {}
        for nid, d in self.g.nodes(data=True):
            if d.get("type") == "ghost" or (node_type and d.get("type") != node_type):
                continue
            if (d.get("properties") or {}).get("brain_generated") is True:
                continue
            title = str(d.get("title", nid))
            for k in (title, *(d.get("aliases") or ()), d.get("agent_id") or ""):
                if k:
                    pool.setdefault(fold(k), title)
        hits = difflib.get_close_matches(fold(name), list(pool), n=n, cutoff=0.6)
        return list(dict.fromkeys(pool[h] for h in hits))

    # -- queries -----------------------------------------------------------------------------

    def _walk(self, start: str, depth: int, reverse: bool, relations: tuple[str, ...]) -> list[dict]:
        seen = {start: 0}
        out: list[dict] = []
        queue = deque([start])
        while queue:
            cur = queue.popleft()
            if seen[cur] >= depth:
                continue
            edges = self.g.in_edges(cur, data=True) if reverse else self.g.out_edges(cur, data=True)
            for u, v, d in edges:
                nxt = u if reverse else v
                if d.get("relation") not in relations or nxt in seen:
                    continue
                seen[nxt] = seen[cur] + 1
                out.append({"id": nxt, "name": self.name_of(nxt), "type": self.g.nodes[nxt].get("type"), "depth": seen[nxt], "via": cur})
                queue.append(nxt)
        return out

    def dependencies(self, name: str, depth: int = 1) -> list[dict]:
        """What `name` needs: depends_on edges followed outwards up to `depth`."""
        return self._walk(self.find(name), max(1, depth), reverse=False, relations=("depends_on",))

    def dependents(self, name: str, depth: int = 1) -> list[dict]:
        """What needs `name`: depends_on edges followed inwards up to `depth`."""
        return self._walk(self.find(name), max(1, depth), reverse=True, relations=("depends_on",))

    def impact(self, name: str) -> list[dict]:
        """Agents affected if `name` breaks: every agent that depends on it, at any depth."""
        nid = self.find(name)
        hits = self._walk(nid, 10_000, reverse=True, relations=("depends_on",))
        return [h for h in hits if h["type"] == "agent"]

    def targets(self, node_id: str, relation: str) -> list[str]:
        return [v for _, v, d in self.g.out_edges(node_id, data=True) if d.get("relation") == relation]

    def owner_of_id(self, node_id: str) -> dict:
        """Owner person and team of a node id, following person -> team."""
        person = team = None
        unresolved: list[str] = []
        for t in self.targets(node_id, "owned_by"):
            ttype = self.g.nodes[t].get("type")
            if ttype == "person" and person is None:
                person = t
            elif ttype == "team" and team is None:
                team = t
            else:
                unresolved.append(self.name_of(t))
        if team is None and person is not None:
            teams = [t for t in self.targets(person, "member_of") if self.g.nodes[t].get("type") == "team"]
            team = teams[0] if teams else None
        if team is None:
            teams = [t for t in self.targets(node_id, "member_of") if self.g.nodes[t].get("type") == "team"]
            team = teams[0] if teams else None
        return {
            "node": node_id,
            "person": self.name_of(person) if person else None,
            "person_id": person,
            "team": self.name_of(team) if team else None,
            "team_id": team,
            "unresolved_owners": unresolved,
        }

    def owner_of(self, name: str) -> dict:
        """Owner person and team of a note by name (person -> team followed)."""
        return self.owner_of_id(self.find(name))

    def agent_identities(self) -> list[AgentIdentity]:
        """Attribution records of every agent note."""
        out = []
        for nid in self.nodes_of_type("agent"):
            d = self.g.nodes[nid]
            own = self.owner_of_id(nid)
            out.append(
                AgentIdentity(
                    node_id=nid,
                    name=d["title"],
                    agent_id=d["agent_id"],
                    aliases=tuple(d.get("aliases") or ()),
                    api_keys=tuple(d.get("api_keys") or ()),
                    service_names=tuple(d.get("service_names") or ()),
                    owner=own["person"] or own["team"],
                    team=own["team"],
                )
            )
        return out

    def price_notes(self) -> list[dict]:
        """Properties of every `type: price` note (with `note` set to its name)."""
        return [{**self.g.nodes[n]["properties"], "note": self.name_of(n)} for n in self.nodes_of_type("price")]

    def stats(self) -> dict:
        """Counts of nodes by type and edges by relation."""
        types: dict[str, int] = defaultdict(int)
        for _, d in self.g.nodes(data=True):
            types[d.get("type", "note")] += 1
        rels: dict[str, int] = defaultdict(int)
        for _, _, d in self.g.edges(data=True):
            rels[d.get("relation", "links_to")] += 1
        return {
            "notes": len(self.notes),
            "nodes": self.g.number_of_nodes(),
            "edges": self.g.number_of_edges(),
            "by_type": dict(sorted(types.items())),
            "by_relation": dict(sorted(rels.items())),
        }

    def edges(self) -> list[dict]:
        """Every edge as {source, target, relation, fragment} with node ids."""
        return [
            {"source": u, "target": v, "relation": d.get("relation"), "fragment": d.get("fragment")}
            for u, v, d in self.g.edges(data=True)
        ]

    def links_of(self, node_id: str) -> dict:
        """Links out of and into a node, with relations and the other side's type."""
        out = [
            {"relation": d.get("relation"), "target": v, "name": self.name_of(v), "type": self.g.nodes[v].get("type"), "fragment": d.get("fragment")}
            for _, v, d in self.g.out_edges(node_id, data=True)
        ]
        inc = [
            {"relation": d.get("relation"), "source": u, "name": self.name_of(u), "type": self.g.nodes[u].get("type")}
            for u, _, d in self.g.in_edges(node_id, data=True)
        ]
        return {"out": out, "in": inc}

    # -- inventory ---------------------------------------------------------------------------

    def inventory_gaps(self) -> list[Gap]:
        """Agents with no owner, unresolved owners, duplicate ids/keys, secrets, broken links/YAML."""
        return graph_gaps(self)
