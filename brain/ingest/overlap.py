"""Where a per-request source and a provider usage export both carry the same key's usage (double counting)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from brain.store.database import KEPT_EVENT_SQL, Store


def overlapping_sources(store: Store, days: int = 30, now: datetime | None = None) -> list[dict]:
    """(api key, day) pairs with usage from both a bucketed export and a per-request source: likely double counted.

    Only events carrying an `api_key_id` can be matched (an export falls back to the project or
    workspace id when it is not grouped by key). Days are UTC; the window is the `days` days
    up to `now`. Each dict: `api_key_id`, `day` (ISO date), `bucketed_sources`,
    `request_sources` (source files), `bucketed_requests`, `request_requests`.
    """
    since = (now or datetime.now(UTC)) - timedelta(days=days)
    kept = KEPT_EVENT_SQL.format(e="events")
    rows = store.con.execute(
        f"""WITH keys AS (
            SELECT DISTINCT api_key_id FROM events
            WHERE bucketed AND api_key_id IS NOT NULL AND "timestamp" >= ? AND {kept})
        SELECT api_key_id, CAST("timestamp" AS DATE) AS day,
               list_sort(list(DISTINCT source_file) FILTER (WHERE bucketed)),
               list_sort(list(DISTINCT source_file) FILTER (WHERE NOT bucketed)),
               sum(requests) FILTER (WHERE bucketed), sum(requests) FILTER (WHERE NOT bucketed)
        FROM events
        WHERE "timestamp" >= ? AND {kept} AND api_key_id IN (SELECT api_key_id FROM keys)
        GROUP BY ALL
        HAVING bool_or(bucketed) AND bool_or(NOT bucketed)
        ORDER BY day, api_key_id""",
        [since, since],
    ).fetchall()
    return [
        {
            "api_key_id": key,
            "day": day.isoformat(),
            "bucketed_sources": bucketed_sources,
            "request_sources": request_sources,
            "bucketed_requests": int(bucketed_requests),
            "request_requests": int(request_requests),
        }
        for key, day, bucketed_sources, request_sources, bucketed_requests, request_requests in rows
    ]
