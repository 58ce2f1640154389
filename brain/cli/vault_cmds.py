"""CLI commands over the vault graph: graph, show, check."""

from __future__ import annotations

import argparse
import re

from brain.cli.common import add_common, notes_line, print_json, print_table, settings_from
from brain.facade import Brain


def register(sub: argparse._SubParsersAction) -> None:
    """Register graph, show and check."""
    p = sub.add_parser("graph", help="counts of notes by type and links by relation")
    add_common(p)
    p.add_argument("--edges", action="store_true", help="with --json, also list every edge")
    p.set_defaults(func=cmd_graph)

    p = sub.add_parser("show", help="one note: type, properties and links in both directions")
    add_common(p)
    p.add_argument("name", help="note name, path, alias or agent id")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("check", help="inventory gaps: owners, duplicates, secrets, broken links and YAML")
    add_common(p, store=True)
    p.set_defaults(func=cmd_check)


def cmd_graph(args) -> int:
    """Print graph counts."""
    brain = Brain.open(settings_from(args))
    stats = brain.graph.stats()
    if args.json:
        if args.edges:
            stats["edges_list"] = brain.graph.edges()
        print_json(stats)
        return 0
    print(f"{notes_line(stats['notes'], stats['by_type'].get('template', 0))}, {stats['nodes']} nodes, {stats['edges']} links")
    print_table([{"type": k, "count": v} for k, v in stats["by_type"].items()], [("type", "type"), ("count", "count")])
    print()
    print_table(
        [{"relation": k, "count": v} for k, v in stats["by_relation"].items()],
        [("relation", "relation"), ("count", "count")],
    )
    return 0


# Frontmatter keys Obsidian reads as aliases or tags, in any case (brain.vault collects them).
_SHOWN_APART = re.compile(r"alias(?:es)?|tags?", re.I)


def cmd_show(args) -> int:
    """Print one node."""
    brain = Brain.open(settings_from(args))
    g = brain.graph
    nid = g.find(args.name)
    d = dict(g.node(nid))
    data = {"id": nid, **d, "links": g.links_of(nid)}
    if d.get("type") in ("agent", "tool", "integration"):
        data["owner"] = g.owner_of_id(nid)
    if args.json:
        print_json(data)
        return 0
    print(f"{d.get('title')}  ({d.get('type')})  {d.get('path') or '(unresolved link target)'}")
    if d.get("error"):
        print(f"  ! {d['error']}")
    for k, v in (d.get("properties") or {}).items():
        if _SHOWN_APART.fullmatch(k):  # aliases and tags get their own lines below, as Obsidian reads them
            continue
        print(f"  {k}: {_value(v)}")
    if d.get("aliases"):
        print(f"  aliases: {', '.join(d['aliases'])}")
    if d.get("tags"):
        print(f"  tags: {', '.join('#' + t for t in d['tags'])}")
    links = data["links"]
    if links["out"]:
        print("links out:")
        for e in links["out"]:
            print(f"  -{e['relation']}-> {e['name']} ({e['type']})")
    if links["in"]:
        print("links in:")
        for e in links["in"]:
            print(f"  <-{e['relation']}- {e['name']} ({e['type']})")
    return 0


def _value(v) -> str:
    """A property as Obsidian shows it: a list as its items, a map as key: value pairs, not reprs."""
    if isinstance(v, (list, tuple)):
        return ", ".join(_value(x) for x in v)
    if isinstance(v, dict):
        return ", ".join(f"{k}: {_value(x)}" for k, x in v.items())
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def cmd_check(args) -> int:
    """Print inventory gaps; exit 1 when any is an error."""
    brain = Brain.open(settings_from(args))
    gaps = [g.as_dict() for g in brain.inventory_gaps()]
    errors = sum(1 for g in gaps if g["severity"] == "error")
    if args.json:
        print_json({"gaps": gaps, "errors": errors, "warnings": len(gaps) - errors})
    elif not gaps:
        print("No gaps: every agent has an owner, no duplicates, no secrets, no broken links.")
    else:
        print_table(gaps, [("severity", "severity"), ("kind", "kind"), ("node", "note"), ("message", "problem")])
        print(f"\n{errors} errors, {len(gaps) - errors} warnings")
    return 1 if errors else 0
