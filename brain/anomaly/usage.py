"""The hourly per-agent usage the detectors read, from the store: only the columns they use, an
integer agent code instead of the label, and no ORDER BY in SQL (sorted here on integer keys).

`spend.hourly_agent_series` groups 2M rows by the agent label string and sorts them by strings
(3.4 s + 1.4 s and 1.5 GB on 10M events); here the rollup rows are regrouped only for agents
that several (agent, key, service) triples feed, and an agent filter is applied in SQL after
attribution. The rows, their values and their order within an agent are those of
`hourly_agent_series`, so the scan's sums (float additions in row order) come out the same.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from brain.anomaly.series import constant, numpy_of
from brain.graph.identity import AgentIdentity
from brain.store.database import Store

# Integer columns the detectors read (summed per agent, hour and model), then cost and the p95s.
SUMMED_COLUMNS = ("requests", "error_requests", "runs", "input_tokens", "output_tokens")
# runs: the agent's (a run on two models is one), kept on one model's row of each agent hour
_SOURCE = {"runs": "agent_runs"}


def _mapping(store: Store, where: str, params: dict, agents: Collection[str] | None) -> pa.Table:
    """Each attributed (agent, key, service) triple of the window with its agent's code (the rank of
    its label) and how many triples feed that agent."""
    from brain.costs.attribution import mapping_sql

    pick = "" if agents is None else "WHERE m.agent_label IN (SELECT unnest($agents::VARCHAR[]))"
    if agents is not None:
        params = {**params, "agents": sorted(agents)}
    return store.con.sql(
        f"""SELECT m.agent, m.api_key_id, m.service_name, m.agent_label,
                (dense_rank() OVER (ORDER BY m.agent_label) - 1)::INTEGER AS agent_code,
                count(*) OVER (PARTITION BY m.agent_label) AS triples
            FROM ({mapping_sql(f"(SELECT agent, api_key_id, service_name FROM rollup_hourly WHERE {where})")}) m
            {pick}""",
        params=params,
    ).to_arrow_table()


def _rows_sql(costed: str, grouped: bool) -> str:
    """Rollup rows joined to their agent code: as they are (one triple) or summed per model and hour."""
    from brain.costs.attribution import COST_SUM_SQL, SAME_TRIPLE

    cost = COST_SUM_SQL.replace("cost_", "a.cost_")
    if grouped:
        cols = ", ".join(f"sum(a.{_SOURCE.get(c, c)})::BIGINT AS {c}" for c in SUMMED_COLUMNS)
        cols += f", sum({cost}) AS cost_usd, max(a.input_tokens_p95) AS input_tokens_p95, "
        cols += "max(a.output_tokens_p95) AS output_tokens_p95"
    else:
        cols = ", ".join(f"a.{_SOURCE.get(c, c)}::BIGINT AS {c}" for c in SUMMED_COLUMNS)
        cols += f", {cost} AS cost_usd, a.input_tokens_p95, a.output_tokens_p95"
    return f"""SELECT m.agent_code, a.hour, a.provider, a.model, {cols}
        FROM ({costed}) a JOIN _series_map m ON {SAME_TRIPLE}
        WHERE m.triples {"> 1" if grouped else "= 1"}{" GROUP BY ALL" if grouped else ""}"""


def _arrow(values: np.ndarray) -> pa.Array:
    """A numpy array as an Arrow one without `pa.array`, which imports pandas (~0.3 s) to check its input."""
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), len(values), [None, pa.py_buffer(values)])


def _model_codes(table: pa.Table) -> tuple[pa.Array, np.ndarray]:
    """The "provider/model" labels `dense_series` builds (distinct, as a dictionary) with each
    row's index into them, and each row's rank in ORDER BY provider, model (NULLS LAST)."""
    provider = pc.dictionary_encode(table.column("provider").combine_chunks())
    model = pc.dictionary_encode(table.column("model").combine_chunks())
    providers, models = provider.dictionary.to_pylist(), model.dictionary.to_pylist()
    n_m = len(models) + 1
    p_codes = numpy_of(pc.fill_null(provider.indices, constant(len(providers), provider.indices.type)))
    m_codes = numpy_of(pc.fill_null(model.indices, constant(len(models), model.indices.type)))
    pairs = p_codes.astype(np.int64) * n_m + m_codes
    seen = np.bincount(pairs, minlength=(len(providers) + 1) * n_m) > 0  # no sort of 2M rows
    present = np.flatnonzero(seen)
    index_of = np.zeros(len(seen), dtype=np.int64)
    index_of[present] = np.arange(len(present))
    row_pair = index_of[pairs]
    named = [(providers + [None])[k // n_m] for k in present], [(models + [None])[k % n_m] for k in present]

    def last(v):  # NULLS LAST; strings compare by code point, as DuckDB's
        return (v is None, v or "")

    order = sorted(range(len(present)), key=lambda i: (last(named[0][i]), last(named[1][i])))
    rank = np.empty(len(present), dtype=np.int64)
    rank[order] = np.arange(len(present))
    # the labels, built by Arrow (a pyarrow array from Python objects imports pandas, ~0.3 s)
    p_idx, m_idx = present // n_m, present % n_m
    null = pa.nulls(1, pa.string())  # index len(values): a null
    p = pa.concat_arrays([provider.dictionary.cast(pa.string()), null]).take(_arrow(p_idx))
    m = pa.concat_arrays([model.dictionary.cast(pa.string()), null]).take(_arrow(m_idx))
    empty = constant("", pa.string())
    joined = pc.if_else(pc.equal(pc.fill_null(p, empty), empty), m, pc.binary_join_element_wise(p, m, constant("/", pa.string())))
    labels = pc.dictionary_encode(pc.fill_null(joined, constant("?", pa.string())))
    pair_label = numpy_of(labels.indices)
    return labels.dictionary, np.stack([pair_label[row_pair], rank[row_pair]])


def usage_series(
    store: Store,
    identities: Sequence[AgentIdentity],
    since: datetime,
    until: datetime,
    price_notes: Sequence[dict] = (),
    agents: Collection[str] | None = None,
) -> pa.Table:
    """Per (agent, hour, provider, model) usage for the detectors, ordered by agent, hour, provider
    and model. `agent` and `model` ("provider/model") are dictionary-encoded; `agents`: only these
    agent labels (node ids)."""
    from brain.costs.attribution import costed_sql, registered

    where = "hour >= $since AND hour < $until"
    params = {"since": since, "until": until}
    con = store.con
    with registered(store, identities, price_notes) as notes:
        mapping = _mapping(store, where, params, agents)
        _, first_of_code = np.unique(numpy_of(mapping.column("agent_code")), return_index=True)
        labels = mapping.column("agent_label").take(_arrow(first_of_code)).combine_chunks()  # code k: the k-th label
        costed = costed_sql("rollup_hourly", "hour", where, notes)
        con.register("_series_map", mapping.select(["agent", "api_key_id", "service_name", "agent_code", "triples"]))
        try:
            parts = [con.sql(_rows_sql(costed, grouped=False), params=params).to_arrow_table()]
            if mapping.num_rows and pc.max(mapping.column("triples")).as_py() > 1:
                parts.append(con.sql(_rows_sql(costed, grouped=True), params=params).to_arrow_table())
        finally:
            con.unregister("_series_map")
    table = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    codes = numpy_of(table.column("agent_code")).astype(np.int64)
    model_labels, (model_idx, model_rank) = _model_codes(table)
    hours = numpy_of(table.column("hour")) // 3_600_000_000
    hours = hours - (hours.min() if len(hours) else 0)
    key = (codes * (int(hours.max(initial=0)) + 1) + hours) * (int(model_rank.max(initial=0)) + 1) + model_rank
    order = np.argsort(key)  # (agent, hour, provider, model) is unique: no ties
    agent = pa.DictionaryArray.from_arrays(_arrow(codes[order].astype(np.int32)), labels)
    model = pa.DictionaryArray.from_arrays(_arrow(model_idx[order]), model_labels)
    rest = table.select(["hour", *SUMMED_COLUMNS, "cost_usd", "input_tokens_p95", "output_tokens_p95"])
    rest = rest.combine_chunks().take(_arrow(order))  # a take from one chunk, not from DuckDB's many
    return rest.add_column(0, "agent", agent).add_column(2, "model", model)
