"""Attribution: which agent a usage row belongs to, worked out at query time from the vault's agent
identities (agent field -> api key -> service name -> unattributed), and the SQL that joins it to
rollup rows. Editing a note re-attributes history without re-ingest (DESIGN "Agent identity and
attribution")."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache

import duckdb
import pyarrow as pa

from brain.graph.identity import AgentIdentity
from brain.names import fold
from brain.pricing.prices import adjusted_costs_sql, price_notes_table
from brain.store.database import Store, small_table

TOKEN_TYPES = ("input", "cache_read", "cache_write", "output", "reasoning", "request")
UNATTRIBUTED = "unattributed"
# A rollup row's cost: the sum of its per-type costs (after vault notes, from `adjusted_costs_sql`).
# A part a price note leaves unknown (a model genai-prices does not know) is NULL: it adds nothing.
COST_SUM_SQL = " + ".join(f"coalesce(cost_{t}_usd, 0)" for t in TOKEN_TYPES)


# What an agent field may name, strongest first (DESIGN "Agent identity and attribution"): an
# exact agent id or note name beats another note's alias.
_AGENT_FIELD_ORDER = (
    lambda i: (i.agent_id,), lambda i: (i.name,), lambda i: (i.node_id,), lambda i: i.aliases,
)


@lru_cache(maxsize=8)
def _match_rows(identities: tuple[AgentIdentity, ...]) -> pa.Table:
    """(kind, folded value, node_id): each value to one agent, by _AGENT_FIELD_ORDER then path."""
    seen: dict[tuple[str, str], str] = {}
    ordered = sorted(identities, key=lambda i: i.node_id)
    values = [("agent", v, i) for field in _AGENT_FIELD_ORDER for i in ordered for v in field(i)]
    values += [("key", v, i) for i in ordered for v in i.api_keys]
    values += [("service", v, i) for i in ordered for v in i.service_names]
    for kind, value, ident in values:
        if value:
            seen.setdefault((kind, fold(str(value).strip())), ident.node_id)
    columns = {"kind": [k for k, _ in seen], "value": [v for _, v in seen], "node_id": list(seen.values())}
    return small_table(columns, dict.fromkeys(columns, "VARCHAR"))


@lru_cache(maxsize=8)
def _ident_rows(identities: tuple[AgentIdentity, ...]) -> pa.Table:
    fields = ("node_id", "name", "agent_id", "owner", "team")
    return small_table({f: [getattr(i, f) for i in identities] for f in fields}, dict.fromkeys(fields, "VARCHAR"))


@contextmanager
def registered(
    store: Store,
    identities: Sequence[AgentIdentity],
    price_notes: Sequence[dict],
    con: duckdb.DuckDBPyConnection | None = None,
) -> Iterator[bool]:
    """Register the attribution tables (and `_notes` when there are price notes) on `con` (default:
    the store's connection); yields has-notes."""
    con = store.con if con is None else con
    idents = tuple(identities)
    names = ["_m", "_ident"]
    con.register("_m", _match_rows(idents))
    con.register("_ident", _ident_rows(idents))
    notes = price_notes_table(price_notes) if price_notes else None
    if notes is not None and notes.num_rows:
        con.register("_notes", notes)
        names.append("_notes")
    try:
        yield "_notes" in names
    finally:
        for name in names:
            con.unregister(name)


def mapping_sql(source: str) -> str:
    """Distinct (agent, api_key_id, service_name) of a relation, each attributed once (needs `_m`).

    Values match in any case and either Unicode form (macOS tools write names decomposed, NFD)."""
    return f"""
    SELECT c.agent, c.api_key_id, c.service_name,
        coalesce(ma.node_id, mk.node_id, ms.node_id) AS node_id,
        coalesce(ma.node_id, mk.node_id, ms.node_id,
                 '{UNATTRIBUTED}' || coalesce(':' || coalesce(c.api_key_id, c.service_name, c.agent), ''))
            AS agent_label,
        CASE WHEN ma.node_id IS NOT NULL THEN 'agent' WHEN mk.node_id IS NOT NULL THEN 'api_key'
             WHEN ms.node_id IS NOT NULL THEN 'service_name' ELSE '{UNATTRIBUTED}' END AS attributed_by
    FROM (SELECT DISTINCT agent, api_key_id, service_name FROM {source}) c
    LEFT JOIN (SELECT * FROM _m WHERE kind = 'agent') ma ON ma.value = lower(nfc_normalize(c.agent))
    LEFT JOIN (SELECT * FROM _m WHERE kind = 'key') mk ON mk.value = lower(nfc_normalize(c.api_key_id))
    LEFT JOIN (SELECT * FROM _m WHERE kind = 'service') ms ON ms.value = lower(nfc_normalize(c.service_name))"""


SAME_TRIPLE = """a.agent IS NOT DISTINCT FROM m.agent AND a.api_key_id IS NOT DISTINCT FROM m.api_key_id
        AND a.service_name IS NOT DISTINCT FROM m.service_name"""


def costed_sql(table: str, bucket: str, where: str, notes: bool) -> str:
    """Rollup rows of a window with vault price notes applied (the rows as they are without notes)."""
    window = f"(SELECT * FROM {table} WHERE {where})"
    return adjusted_costs_sql(window, bucket) if notes else f"SELECT * FROM {window}"


def attributed_sql(table: str, bucket: str, where: str, notes: bool = True) -> str:
    """Rollup rows (vault notes applied) with `node_id` (NULL = unattributed), `agent_label` and
    `attributed_by` (agent / api_key / service_name / unattributed).

    Attribution is worked out once per distinct (agent, key, service) of the window, a few
    thousand rows, and joined back on equality: cheaper than matching every rollup row.
    """
    return f"""
    SELECT a.*, m.node_id, m.agent_label, m.attributed_by
    FROM ({costed_sql(table, bucket, where, notes)}) a
    JOIN ({mapping_sql(f"(SELECT agent, api_key_id, service_name FROM {table} WHERE {where})")}) m
      ON {SAME_TRIPLE}"""
