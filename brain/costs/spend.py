"""Spend, run-rate and projections per agent/owner/team/model/provider/key, read from the rollups."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa

from brain.costs.attribution import (
    COST_SUM_SQL,
    SAME_TRIPLE,
    TOKEN_TYPES,
    UNATTRIBUTED,
    attributed_sql,
    costed_sql,
    mapping_sql,
    registered,
)
from brain.costs.window import Window, make_window, midnight, quarter_bounds
from brain.errors import BrainError
from brain.graph.identity import AGENT_COST_FIELDS, AgentIdentity
from brain.store.database import Store

GROUPINGS = ("agent", "owner", "team", "model", "provider", "key")
RUN_RATE_DAYS = 7


_GROUP_SQL = {
    "agent": "a.agent_label",
    "owner": f"CASE WHEN a.node_id IS NULL THEN '{UNATTRIBUTED}' ELSE coalesce(i.owner, '(no owner)') END",
    "team": f"CASE WHEN a.node_id IS NULL THEN '{UNATTRIBUTED}' ELSE coalesce(i.team, '(no team)') END",
    "model": "coalesce(a.model, '(unknown)')",
    "provider": "coalesce(a.provider, '(unknown)')",
    "key": "coalesce(a.api_key_id, '(no key)')",
}


def _r(x: float | None, nd: int = 9) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(x, nd)


def _div(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _aggregate(
    store: Store, group_sql: str, w: Window, notes: bool, extra_where: str = "", params: Sequence = (),
    runs: str = "agent_runs",
) -> list[dict]:
    """Per-group figures for the window, previous period, run-rate tail and quarter-to-date.

    `runs`: the rollup count of runs to add up: `agent_runs` (a run on several models of one agent
    is one run) for groups of whole agents or keys, `runs` (one in each model it used) per model."""
    prev_start = w.start - (w.end - w.start)
    as_of = min(w.now, w.end)
    # the trailing RUN_RATE_DAYS days up to as_of, whatever the window (today counts by the hour)
    rr_start = midnight((as_of - timedelta(microseconds=1)).date()) - timedelta(days=RUN_RATE_DAYS - 1)
    q_start, _ = quarter_bounds((as_of - timedelta(microseconds=1)).date())
    lo = min(prev_start, q_start, rr_start)
    flags = {
        "f_cur": "day >= $start AND day < $end",
        "f_prev": "day >= $prev AND day < $start",
        "f_rr": "day >= $rr AND day < $end",
        "f_q": "day >= $q AND day < $end",
    }
    measures = [*(f"cost_{t}_usd" for t in TOKEN_TYPES), "requests", "error_requests", runs,
                "unpriced_requests", "unpriced_tokens", "reported_cost_usd"]
    cost = COST_SUM_SQL.replace("cost_", "a.cost_")
    # a token type whose every cost in the window is unknown (NULL) is unknown, not $0
    parts = ", ".join(
        f"CASE WHEN count(a.cost_{t}_usd) FILTER (WHERE a.f_cur) = 0 AND bool_or(a.f_cur) THEN NULL "
        f"ELSE coalesce(sum(a.cost_{t}_usd) FILTER (WHERE a.f_cur), 0) END AS spend_{t}"
        for t in TOKEN_TYPES
    )
    # One scan of the window: rollup rows summed per (agent, key, service, provider, model) and
    # which of the periods they fall in (a few thousand rows), then attributed and grouped.
    sql = f"""
    WITH pre AS MATERIALIZED (
        SELECT agent, api_key_id, service_name, provider, model,
            {", ".join(f"{sql} AS {name}" for name, sql in flags.items())},
            {", ".join(f"sum({m}) AS {m}" for m in measures)},
            sum(input_tokens + output_tokens) AS tokens
        FROM ({costed_sql("rollup_daily", "day", "day >= $lo AND day < $end", notes)})
        GROUP BY ALL
    )
    SELECT {group_sql} AS grp, any_value(a.node_id) AS node_id, bool_or(a.node_id IS NOT NULL) AS attributed,
        {parts},
        coalesce(sum({cost}) FILTER (WHERE a.f_prev), 0) AS prev_spend,
        coalesce(sum({cost}) FILTER (WHERE a.f_rr), 0) AS rr_spend,
        coalesce(sum({cost}) FILTER (WHERE a.f_q), 0) AS qtd_spend,
        coalesce(sum({cost}) FILTER (WHERE a.f_cur AND a.node_id IS NULL), 0) AS unattributed_spend,
        coalesce(sum(a.requests) FILTER (WHERE a.f_cur), 0) AS requests,
        coalesce(sum(a.error_requests) FILTER (WHERE a.f_cur), 0) AS error_requests,
        coalesce(sum(a.{runs}) FILTER (WHERE a.f_cur), 0) AS runs,
        coalesce(sum(a.unpriced_requests) FILTER (WHERE a.f_cur), 0) AS unpriced_requests,
        coalesce(sum(a.requests) FILTER (WHERE a.f_rr), 0) AS rr_requests,
        coalesce(sum(a.unpriced_requests) FILTER (WHERE a.f_rr), 0) AS rr_unpriced_requests,
        coalesce(sum(a.unpriced_tokens) FILTER (WHERE a.f_cur), 0) AS unpriced_tokens,
        sum(a.reported_cost_usd) FILTER (WHERE a.f_cur) AS reported_cost_usd,
        coalesce(sum(a.tokens) FILTER (WHERE a.f_cur), 0) AS tokens
    FROM (SELECT a.*, m.node_id, m.agent_label FROM pre a JOIN ({mapping_sql("pre")}) m ON {SAME_TRIPLE}) a
    LEFT JOIN _ident i ON i.node_id = a.node_id
    WHERE TRUE {extra_where}
    GROUP BY ALL"""
    named = {"start": w.start, "end": w.end, "prev": prev_start, "rr": rr_start, "q": q_start, "lo": lo}
    for i, p in enumerate(params):
        named[f"p{i}"] = p
    cur_rows = store.con.execute(sql, named).fetchall()
    cols = [d[0] for d in store.con.description]
    rr_days = max((as_of - rr_start).total_seconds() / 86400, 1 / 24)
    _, q_end = quarter_bounds((as_of - timedelta(microseconds=1)).date())
    # the quarter as of the window's end: its spend to then plus the run-rate for the rest of it
    q_left = max((q_end - as_of).total_seconds() / 86400, 0)
    out = []
    for values in cur_rows:
        r = dict(zip(cols, values, strict=True))
        spend = sum(r[f"spend_{t}"] or 0 for t in TOKEN_TYPES)
        if not (spend or r["requests"] or r["prev_spend"] or r["rr_spend"]):
            continue
        priced_requests = r["requests"] - r["unpriced_requests"]
        # A group whose requests are all unpriced has an unknown cost, never $0 (its unpriced
        # requests and tokens are reported instead); likewise a run-rate whose tail is all unpriced.
        # (a price note may price part of an unknown model's usage: that part is known)
        known = bool(priced_requests or not r["requests"] or spend)
        run_rate = (r["rr_spend"] / rr_days
                    if r["rr_unpriced_requests"] < r["rr_requests"] or not r["rr_requests"] or r["rr_spend"]
                    else None)
        out.append(
            {
                "group": r["grp"],
                "node_id": r["node_id"],
                "attributed": bool(r["attributed"]),
                "spend_usd": _r(spend) if known else None,
                "spend_by_token_type_usd": {t: _r(r[f"spend_{t}"]) if known else None for t in TOKEN_TYPES},
                "requests": int(r["requests"]),
                "runs": int(r["runs"]),
                "error_share": _r(_div(r["error_requests"], r["requests"]), 4),
                "cost_per_request_usd": _r(_div(spend, priced_requests), 10),
                "cost_per_run_usd": _r(_div(spend, r["runs"]), 10) if known else None,
                "cost_per_1k_runs_usd": _r(_div(spend * 1000, r["runs"])) if known else None,
                "run_rate_usd_per_day": _r(run_rate),
                "projected_30d_usd": None if run_rate is None else _r(run_rate * 30),
                "projected_quarter_usd": None if run_rate is None else _r(r["qtd_spend"] + run_rate * q_left),
                "previous_spend_usd": _r(r["prev_spend"]),
                "change_vs_previous_pct": _r(_div((spend - r["prev_spend"]) * 100, r["prev_spend"]), 2),
                "unpriced_requests": int(r["unpriced_requests"]),
                "unpriced_tokens": int(r["unpriced_tokens"]),
                "reported_cost_usd": _r(r["reported_cost_usd"]),
                "tokens": int(r["tokens"]),
                # a wholly unattributed group's share is its spend, to the last bit (totals add up)
                "_unattributed_usd": (r["unattributed_spend"] if r["attributed"] else spend) if known else 0.0,
            }
        )
    out.sort(key=lambda x: (-(x["spend_usd"] or 0), -x["requests"], str(x["group"])))
    return out


def spend_report(
    store: Store,
    identities: Sequence[AgentIdentity],
    by: str = "agent",
    days: int | None = 30,
    since: date | datetime | str | None = None,
    until: date | datetime | str | None = None,
    price_notes: Sequence[dict] = (),
    now: datetime | None = None,
) -> dict:
    """Ranked spend rows for one grouping plus totals that always add up to the whole."""
    if by not in GROUPINGS:
        raise BrainError(f"cannot group spend by {by!r}; use one of {', '.join(GROUPINGS)}")
    w = make_window(days, since, until, now)
    with registered(store, identities, price_notes) as notes:
        rows = _aggregate(store, _GROUP_SQL[by], w, notes, runs="runs" if by in ("model", "provider") else "agent_runs")
    names = {i.node_id: i for i in identities}
    for row in rows:
        ident = names.get(row["node_id"]) if row["attributed"] else None
        if by == "agent":
            row["agent_id"] = ident.agent_id if ident else None
            row["owner"] = ident.owner if ident else None
            row["team"] = ident.team if ident else None
            row["group"] = ident.name if ident else row["group"]
        if by != "agent":
            row.pop("node_id")
    total = sum(r["spend_usd"] or 0 for r in rows)
    unattributed = sum(_r(r.pop("_unattributed_usd")) or 0.0 for r in rows)
    for row in rows:
        row["share_pct"] = None if row["spend_usd"] is None else _r(_div(row["spend_usd"] * 100, total), 2)
        if by not in ("agent", "owner", "team"):
            row.pop("attributed")
    return {
        "by": by,
        "since": w.start.date().isoformat(),
        "until": (w.end - timedelta(days=1)).date().isoformat(),
        "days": w.days,
        "rows": rows,
        "total_usd": _r(total),
        "attributed_usd": _r(total - unattributed),
        "unattributed_usd": _r(unattributed),
        "unpriced_requests": sum(r["unpriced_requests"] for r in rows),
        "unpriced_tokens": sum(r["unpriced_tokens"] for r in rows),
        "requests": sum(r["requests"] for r in rows),
        "run_rate_usd_per_day": _r(sum(r["run_rate_usd_per_day"] or 0 for r in rows)),
        "projected_30d_usd": _r(sum(r["projected_30d_usd"] or 0 for r in rows)),
    }


def _identity_filter(identity: AgentIdentity) -> tuple[str, list]:
    return " AND a.node_id = $p0", [identity.node_id]


def agent_card(
    store: Store,
    identity: AgentIdentity,
    days: int = 30,
    price_notes: Sequence[dict] = (),
    now: datetime | None = None,
    identities: Sequence[AgentIdentity] | None = None,
) -> dict:
    """One agent's cost card: spend by token type, run-rate, unit costs, projection, daily series."""
    w = make_window(days, now=now)
    everyone = list(identities) if identities is not None else [identity]
    where, params = _identity_filter(identity)
    with registered(store, everyone, price_notes) as notes:
        rows = _aggregate(store, "a.node_id", w, notes, where, params)
        daily, models = {}, []
        for is_model, day, provider, model, spend, requests, unpriced in store.con.execute(
            f"""SELECT grouping(a.day) = 1, a.day, a.provider, a.model,
                sum({COST_SUM_SQL.replace("cost_", "a.cost_")}) AS spend, sum(a.requests),
                sum(a.requests) = sum(a.unpriced_requests) AND sum({COST_SUM_SQL.replace("cost_", "a.cost_")}) = 0
                    AS unpriced
            FROM ({attributed_sql("rollup_daily", "day", "day >= $start AND day < $end", notes)}) a
            WHERE a.node_id = $p0
            GROUP BY GROUPING SETS ((a.day), (a.provider, a.model))
            ORDER BY spend DESC""",
            {"start": w.start, "end": w.end, "p0": identity.node_id},
        ).fetchall():
            spend = None if unpriced else spend  # all of it unpriced: unknown, not $0
            if is_model:
                models.append((provider, model, spend, requests))
            else:
                daily[day] = (spend, requests)
    by_day = {d.astimezone(UTC).date(): sn for d, sn in daily.items()}
    series = []
    for k in range(w.days):
        d = (w.start + timedelta(days=k)).date()
        s, n = by_day.get(d, (0.0, 0))
        series.append({"day": d.isoformat(), "spend_usd": _r(s), "requests": int(n)})
    base = rows[0] if rows else _empty_row()
    base.pop("_unattributed_usd", None)
    base.pop("group", None)
    base.pop("attributed", None)
    return {
        "node_id": identity.node_id,
        "name": identity.name,
        "agent_id": identity.agent_id,
        "owner": identity.owner,
        "team": identity.team,
        "days": w.days,
        "since": w.start.date().isoformat(),
        "until": (w.end - timedelta(days=1)).date().isoformat(),
        **{k: v for k, v in base.items() if k != "node_id"},
        "models": [
            {"provider": p, "model": m, "spend_usd": _r(s), "requests": int(n)} for p, m, s, n in models
        ],
        "daily": series,
    }


def _empty_row() -> dict:
    return {
        "spend_usd": 0.0,
        "spend_by_token_type_usd": dict.fromkeys(TOKEN_TYPES, 0.0),
        "requests": 0,
        "runs": 0,
        "error_share": None,
        "cost_per_request_usd": None,
        "cost_per_run_usd": None,
        "cost_per_1k_runs_usd": None,
        "run_rate_usd_per_day": 0.0,
        "projected_30d_usd": 0.0,
        "projected_quarter_usd": 0.0,
        "previous_spend_usd": 0.0,
        "change_vs_previous_pct": None,
        "unpriced_requests": 0,
        "unpriced_tokens": 0,
        "reported_cost_usd": None,
        "tokens": 0,
    }


COST_FIELDS = AGENT_COST_FIELDS


def agent_cost_fields(
    store: Store,
    identities: Sequence[AgentIdentity],
    days: int = 30,
    price_notes: Sequence[dict] = (),
    now: datetime | None = None,
) -> dict[str, dict]:
    """The graph's cost fields for every agent note in one query (zeros for agents with no usage)."""
    w = make_window(days, now=now)
    with registered(store, identities, price_notes) as notes:
        rows = _aggregate(store, "a.node_id", w, notes, " AND a.node_id IS NOT NULL")
    empty = _empty_row()
    out = {i.node_id: {f: empty[f] for f in COST_FIELDS} for i in identities}
    for row in rows:
        out[row["node_id"]] = {f: row[f] for f in COST_FIELDS}
    return out


_SERIES_COLUMNS = (
    "requests",
    "error_requests",
    "runs",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "unpriced_requests",
)


def _series(
    store: Store,
    identities: Sequence[AgentIdentity],
    since: datetime,
    until: datetime,
    price_notes: Sequence[dict],
    table: str,
    bucket: str,
) -> pa.Table:
    # runs: the agent's, on its first model's row (agent_runs), so a sum over models is exact
    sums = ", ".join(f"sum(a.{'agent_runs' if c == 'runs' else c})::BIGINT AS {c}" for c in _SERIES_COLUMNS)
    p95 = (", max(a.input_tokens_p95) AS input_tokens_p95, max(a.output_tokens_p95) AS output_tokens_p95"
           if table == "rollup_hourly" else "")
    with registered(store, identities, price_notes) as notes:
        return store.con.sql(
            f"""SELECT a.agent_label AS agent, a.{bucket} AS {bucket}, a.provider, a.model, {sums},
                sum({COST_SUM_SQL.replace("cost_", "a.cost_")}) AS cost_usd{p95}
            FROM ({attributed_sql(table, bucket, f"{bucket} >= $since AND {bucket} < $until", notes)}) a
            GROUP BY ALL ORDER BY agent, {bucket}, a.provider, a.model""",
            params={"since": since, "until": until},
        ).to_arrow_table()


def hourly_agent_series(
    store: Store,
    identities: Sequence[AgentIdentity],
    since: datetime,
    until: datetime,
    price_notes: Sequence[dict] = (),
) -> pa.Table:
    """Per (agent, hour, provider, model) factors for anomaly detection; p95s are the max over keys."""
    return _series(store, identities, since, until, price_notes, "rollup_hourly", "hour")


def daily_agent_series(
    store: Store,
    identities: Sequence[AgentIdentity],
    since: datetime,
    until: datetime,
    price_notes: Sequence[dict] = (),
) -> pa.Table:
    """The daily equivalent of `hourly_agent_series` (runs are distinct per day; no token p95s)."""
    return _series(store, identities, since, until, price_notes, "rollup_daily", "day")
