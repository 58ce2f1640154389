"""What ingest did not trust: the quarantined rows, counted by file and reason, and listed."""

from __future__ import annotations

from brain.store import Store


def quarantine_report(store: Store, file: str | None = None, reason: str | None = None, limit: int = 100) -> dict:
    """Quarantined rows, newest ingest first, with counts per (file, reason).

    `file` keeps rows whose source file is that path or ends with it (`u.jsonl`, `logs/u.jsonl`);
    `reason` keeps rows whose reason contains it (any case). `total` counts every matching row,
    `rows` lists at most `limit` of them.
    """
    where, params = ["TRUE"], []
    if file:
        where.append("(source_file = ? OR source_file LIKE '%/' || ? ESCAPE '\\' OR source_file = ?)")
        escaped = file.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params += [file, escaped.lstrip("/"), file.rstrip("/")]
    if reason:
        where.append("contains(lower(reason), lower(?))")
        params.append(reason)
    cond = " AND ".join(where)
    con = store.con
    counts = con.execute(
        f"""SELECT source_file, reason, count(*) AS n FROM quarantine WHERE {cond}
        GROUP BY ALL ORDER BY n DESC, source_file, reason""",
        params,
    ).fetchall()
    rows = con.execute(
        f"""SELECT ingest_id, source_file, source_line, reason, raw FROM quarantine WHERE {cond}
        ORDER BY ingest_id DESC, source_file, source_line LIMIT ?""",
        [*params, max(int(limit), 0)],
    ).fetchall()
    return {
        "total": sum(n for *_, n in counts),
        "by_reason": [{"source_file": f, "reason": r, "rows": n} for f, r, n in counts],
        "rows": [dict(zip(("ingest_id", "source_file", "source_line", "reason", "raw"), r, strict=True)) for r in rows],
    }
