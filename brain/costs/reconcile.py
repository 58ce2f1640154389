"""Reconciliation: our cost estimate beside provider-reported cost, by day, provider and model.

Provider cost reports (OpenAI costs API, Anthropic cost report) are kept in `provider_costs`
(brain.ingest.sources.provider_costs imports them).
Estimates come from `rollup_daily` only, after the vault's `price` notes, exactly as `brain spend`
prices them (discounts and negotiated rates included). Where a day and provider has no cost report, the cost
reported on the events themselves (`reported_cost_usd`, e.g. LiteLLM's `spend`) stands in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta


def _has_table(con, name: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
        ).fetchall()[0][0]
    )


_RECONCILE_SQL = """
WITH est AS (
    SELECT CAST(day AS DATE) AS day, lower(coalesce(provider, '')) AS provider,
           coalesce(model, '') AS model,
           sum({cost}) AS estimate_usd, sum(reported_cost_usd) AS event_reported_usd,
           sum(requests) AS requests, sum(unpriced_requests) AS unpriced_requests
    FROM ({rollups}) GROUP BY ALL
),
pc AS (
    SELECT day, provider, coalesce(model, '') AS model, sum(amount_usd) AS reported_usd
    FROM {costs} WHERE day BETWEEN $since AND $until GROUP BY ALL
),
pc_days AS (
    SELECT day, provider, bool_or(model <> '') AS has_model FROM pc GROUP BY ALL
),
by_model AS (
    SELECT coalesce(e.day, p.day) AS day, coalesce(e.provider, p.provider) AS provider,
           coalesce(e.model, p.model) AS model, coalesce(e.estimate_usd, 0) AS estimate_usd,
           coalesce(p.reported_usd, 0) AS reported_usd, 'cost_export' AS reported_source,
           coalesce(e.requests, 0) AS requests, coalesce(e.unpriced_requests, 0) AS unpriced_requests
    FROM (SELECT * FROM est WHERE (day, provider) IN (SELECT (day, provider) FROM pc_days WHERE has_model)) e
    FULL JOIN (SELECT * FROM pc WHERE (day, provider) IN (SELECT (day, provider) FROM pc_days WHERE has_model)) p
      ON e.day = p.day AND e.provider = p.provider AND e.model = p.model
),
by_provider AS (
    SELECT p.day, p.provider, '' AS model, coalesce(sum(e.estimate_usd), 0) AS estimate_usd,
           any_value(p.reported_usd) AS reported_usd, 'cost_export' AS reported_source,
           coalesce(sum(e.requests), 0) AS requests, coalesce(sum(e.unpriced_requests), 0) AS unpriced_requests
    FROM (SELECT * FROM pc WHERE (day, provider) IN (SELECT (day, provider) FROM pc_days WHERE NOT has_model)) p
    LEFT JOIN est e ON e.day = p.day AND e.provider = p.provider
    GROUP BY p.day, p.provider
),
from_events AS (
    SELECT day, provider, model, estimate_usd, event_reported_usd AS reported_usd,
           CASE WHEN event_reported_usd IS NULL THEN NULL ELSE 'events' END AS reported_source,
           requests, unpriced_requests
    FROM est WHERE (day, provider) NOT IN (SELECT (day, provider) FROM pc_days)
)
SELECT * FROM by_model UNION ALL SELECT * FROM by_provider UNION ALL SELECT * FROM from_events
ORDER BY day, provider, model
"""


def reconcile(
    store,
    days: int = 30,
    since: date | None = None,
    until: date | None = None,
    threshold_pct: float = 5.0,
    threshold_usd: float = 0.01,
    now: datetime | None = None,
    price_notes: Sequence[dict] = (),
) -> dict:
    """Estimate (after vault price notes) vs reported cost per (day, provider, model) for the last
    `days` days (or `since`..`until`, whole days), gaps flagged."""
    from brain.costs.attribution import COST_SUM_SQL
    from brain.costs.window import make_window
    from brain.pricing.prices import adjusted_costs_sql, price_notes_table
    from brain.store.database import session

    days_shown = make_window(days, since, until, now=now)  # whole UTC days, to today by default
    since, until = days_shown.start.date(), days_shown.end.date() - timedelta(days=1)
    con = store.con.cursor()
    session(con)
    try:
        costs = "provider_costs" if _has_table(con, "provider_costs") else (
            "(SELECT NULL::DATE AS day, NULL::VARCHAR AS provider, NULL::VARCHAR AS model, "
            "NULL::DOUBLE AS amount_usd WHERE false)"
        )  # fmt: skip
        con.register("_notes", price_notes_table(price_notes))
        rollups = adjusted_costs_sql("(SELECT * FROM rollup_daily WHERE CAST(day AS DATE) BETWEEN $since AND $until)", "day")
        sql = _RECONCILE_SQL.format(costs=costs, rollups=rollups, cost=COST_SUM_SQL)
        raw = con.execute(sql, {"since": since, "until": until}).fetchall()
    finally:
        con.close()
    rows = []
    for day, provider, model, est, reported, src, requests, unpriced in raw:
        gap = None if reported is None else est - reported
        pct = None
        if gap is not None and reported:
            pct = gap / reported * 100.0
        flagged = bool(
            gap is not None
            and abs(gap) >= threshold_usd
            and (pct is None or abs(pct) > threshold_pct)
        )
        rows.append(
            {
                "day": day.isoformat(),
                "provider": provider or None,
                "model": model or None,
                "estimate_usd": round(est, 10),
                "reported_usd": None if reported is None else round(reported, 10),
                "reported_source": src,
                "gap_usd": None if gap is None else round(gap, 10),
                "gap_pct": None if pct is None else round(pct, 4),
                "flagged": flagged,
                "requests": int(requests),
                "unpriced_requests": int(unpriced),
            }
        )
    reported_rows = [r for r in rows if r["reported_usd"] is not None]
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "threshold_pct": threshold_pct,
        "threshold_usd": threshold_usd,
        "rows": rows,
        "totals": {
            "estimate_usd": round(sum(r["estimate_usd"] for r in rows), 10),
            "reported_usd": round(sum(r["reported_usd"] for r in reported_rows), 10),
            "estimate_with_reported_usd": round(sum(r["estimate_usd"] for r in reported_rows), 10),
            "flagged": sum(r["flagged"] for r in rows),
        },
    }
