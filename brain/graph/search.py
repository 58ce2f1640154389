"""Looking notes up by text: a scored search over names, aliases, properties and bodies, and the
short form (id, name, type, path) that every listing uses."""

from __future__ import annotations

from brain.errors import BrainError


def summary_of(graph, node_id: str) -> dict:
    """A node's id, name, type and path in a CompanyGraph: the short form lists use."""
    d = graph.g.nodes[node_id]
    return {"id": node_id, "name": graph.name_of(node_id), "type": d.get("type"), "path": d.get("path")}


def search_notes(graph, query: str, node_type: str | None = None, limit: int = 20) -> list[dict]:
    """Notes of a CompanyGraph matching a text query, best first: name, then aliases and
    properties, then body text."""
    q = " ".join((query or "").split()).lower()
    if not q:
        raise BrainError("search needs a query: a word or phrase to look for in note names and text")
    hits: list[tuple[float, str, dict]] = []
    for nid, note in graph.notes.items():
        d = graph.g.nodes[nid]
        if node_type and d.get("type") != node_type:
            continue
        title = note.name.lower()
        score = 0.0
        if title == q:
            score += 100
        elif q in title:
            score += 40
        if any(q == a.lower() for a in note.aliases):
            score += 60
        elif any(q in a.lower() for a in note.aliases):
            score += 20
        if q in nid.lower() and q not in title:
            score += 10
        if any(q in str(v).lower() for v in note.properties.values()):
            score += 8
        body = note.body.lower()
        count = body.count(q) if q in body else 0
        if count:
            score += 4 + min(count, 10)
        if score:
            hit = summary_of(graph, nid)
            hit["snippet"] = _snippet(note.body, q) if count else None
            hits.append((-score, nid, hit))
    hits.sort(key=lambda h: (h[0], h[1]))
    return [dict(h[2], score=-h[0]) for h in hits[: max(1, limit)]]


def _snippet(body: str, q: str, width: int = 160) -> str:
    i = body.lower().find(q)
    start = max(0, i - width // 3)
    text = " ".join(body[start : start + width].split())
    return ("…" if start else "") + text + ("…" if start + width < len(body) else "")
