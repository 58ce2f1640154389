"""Inventory gaps of the company graph: agents with no owner, owners that do not resolve, duplicate
agent ids or keys, aliases that name another agent, secrets pasted into notes, broken YAML, links
and fragments (`brain check`; the facade adds the usage gaps)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from brain.names import fold
from brain.vault.secrets import find_secrets


@dataclass(frozen=True)
class Gap:
    """One inventory problem: `kind` names it, `severity` is error or warning."""

    kind: str
    severity: str
    node: str
    message: str
    line: int | None = None

    def as_dict(self) -> dict:
        """JSON-able form."""
        return {"kind": self.kind, "severity": self.severity, "node": self.node, "message": self.message, "line": self.line}


def graph_gaps(graph) -> list[Gap]:
    """Every gap a CompanyGraph itself shows, in a stable order (agents, then notes, then links)."""
    gaps: list[Gap] = []
    agent_ids: dict[str, list[str]] = defaultdict(list)
    key_ids: dict[str, list[str]] = defaultdict(list)
    for nid in graph.nodes_of_type("agent"):
        d = graph.g.nodes[nid]
        agent_ids[fold(d["agent_id"])].append(nid)
        for k in d.get("api_keys") or ():
            key_ids[fold(k)].append(nid)
        owners = graph.targets(nid, "owned_by")
        if not owners:
            gaps.append(Gap("agent_without_owner", "error", nid, f"agent {d['title']!r} has no owner"))
        for t in owners:
            ttype = graph.g.nodes[t].get("type")
            if ttype not in ("person", "team"):
                what = "does not resolve to a note" if ttype == "ghost" else f"is a {ttype}, not a person or team"
                gaps.append(Gap("owner_unresolved", "error", nid, f"owner {graph.name_of(t)!r} of {d['title']!r} {what}"))
    for aid, nids in agent_ids.items():
        if len(nids) > 1:
            gaps.append(Gap("duplicate_agent_id", "error", nids[0], f"agent_id {aid!r} is claimed by {', '.join(sorted(nids))}"))
    for kid, nids in key_ids.items():
        if len(set(nids)) > 1:
            gaps.append(Gap("duplicate_api_key", "error", nids[0], f"api key {kid!r} is claimed by {', '.join(sorted(set(nids)))}"))
    # an alias naming another agent loses to that agent's id or name in attribution: say so
    named = {fold(v): nid for nid in graph.nodes_of_type("agent") for v in (graph.g.nodes[nid]["agent_id"], graph.g.nodes[nid]["title"])}
    for nid in graph.nodes_of_type("agent"):
        for alias in graph.g.nodes[nid].get("aliases") or ():
            other = named.get(fold(str(alias).strip()))
            if other is not None and other != nid:
                gaps.append(Gap("alias_names_other_agent", "warning", nid, f"alias {alias!r} of {graph.g.nodes[nid]['title']!r} is the name or agent_id of {other}: usage naming {alias!r} goes to {other}"))
    for nid, note in graph.notes.items():
        for hit in find_secrets(note):
            gaps.append(Gap("secret_in_note", "error", nid, f"value that looks like {_article(hit.kind)} {hit.kind} in {hit.where}: {hit.masked}", hit.line))
    for issue in graph.issues.values():
        kind = issue.kind or ("broken_yaml" if "YAML" in issue.message or "frontmatter" in issue.message else "unreadable_file")
        gaps.append(Gap(kind, issue.severity, issue.path, f"{issue.path}: {issue.message}", issue.line))
    for u, v, d in graph.g.edges(data=True):
        tdata = graph.g.nodes[v]
        if tdata.get("type") == "ghost":
            gaps.append(Gap("broken_link", "warning", u, f"link to {v!r} in {u!r} does not resolve", d.get("line") or None))
        elif d.get("fragment") and v in graph.notes:
            frag = d["fragment"]
            target = graph.notes[v]
            ok = (frag[1:] in target.block_ids) if frag.startswith("^") else _heading_match(frag, target.headings)
            if not ok:
                gaps.append(Gap("broken_fragment", "warning", u, f"link to {v}#{frag} in {u!r}: no such {'block' if frag.startswith('^') else 'heading'}", d.get("line") or None))
    return gaps


def _heading_match(fragment: str, headings: tuple[str, ...]) -> bool:
    def norm(s: str) -> str:
        return " ".join(s.replace("#", " ").replace("|", " ").replace("^", " ").replace(":", " ").split()).lower()

    f = norm(fragment)
    return any(norm(h) == f for h in headings)


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"
