"""Nested OTLP spans within one request or file (see brain.ingest.otlp's docstring): a span whose
usage is the total of the spans below it is dropped, and an agent-less span takes its nearest
ancestor's agent."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Span:
    """What nesting needs of one span: its parent, own agent, whether it is a model call, its rows."""

    parent_id: str
    agent: str | None
    model_call: bool
    has_usage: bool
    rows: list[int] = field(default_factory=list)
    usage_below: bool = False


def resolve(spans: dict[tuple[str, str], Span], columns: dict[str, list]) -> int:
    """Drop roll-up spans' rows from `columns` and give agent-less spans their nearest ancestor's
    agent; returns how many rows were dropped."""
    if not any(s.rows for s in spans.values()):
        return 0
    inherit: dict[int, str] = {}
    for (trace_id, _), span in spans.items():
        if not span.has_usage:
            continue
        agent, seen, parent_id = span.agent, set(), span.parent_id
        while parent_id and parent_id not in seen:
            seen.add(parent_id)
            parent = spans.get((trace_id, parent_id))
            if parent is None:
                break
            parent.usage_below = True
            agent = agent or parent.agent
            parent_id = parent.parent_id
        if span.agent is None and agent is not None:
            inherit.update(dict.fromkeys(span.rows, agent))
    drop = {row for s in spans.values() if s.usage_below and s.has_usage and not s.model_call for row in s.rows}
    agents = columns["agent"]
    for row, agent in inherit.items():
        agents[row] = agent
    if drop:
        for k, values in columns.items():
            columns[k] = [v for i, v in enumerate(values) if i not in drop]
    return len(drop)
