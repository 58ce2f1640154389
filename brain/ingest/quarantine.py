"""What ingest did not trust: quarantined rows, recorded per source and reported by file and reason.

A file's quarantine is its state as of its latest ingest. Re-ingesting a file re-reads all of
it: rows still bad are re-stamped with the new ingest (not copied again), new bad rows are added,
and rows that are no longer in the file (fixed, or the file was replaced) stay in the table but
are *superseded*: `brain quarantine` hides them unless asked for history. Only file sources
(absolute paths) supersede; stdin and stream sources ("otlp") keep every quarantined row current.
"""

from __future__ import annotations

import duckdb

from brain.ingest import canonical
from brain.store.database import Store, one_row

# A quarantined row of a file that a later ingest read again (the row is `q`).
_SUPERSEDED_SQL = """starts_with(q.source_file, '/') AND EXISTS (
    SELECT 1 FROM ingests i WHERE i.ingest_id > q.ingest_id AND list_contains(i.sources, q.source_file))"""


def record(
    con: duckdb.DuckDBPyConnection,
    ingest_id: int,
    source: str,
    numbered_sql: str,
    lines_sql: str | None = None,
    rejects: str | None = None,
) -> None:
    """Quarantine the untrusted rows of `numbered_sql` (a `validated_select` with line numbers).

    `lines_sql`, when the untrusted lines are known, selects them: only lines in their range are
    parsed and validated again (a truncated last line costs one line, not a second full pass).
    `rejects`: the rows came from a tolerant CSV read, whose numbering skipped the lines it could
    not parse; `<rejects>_shift` adds them back.
    """
    only = ""
    if lines_sql:
        lo, hi = con.execute(f"SELECT min(l), max(l) FROM ({lines_sql}) t(l)").fetchall()[0]
        if lo is not None:  # a plain range is pushed below the parsing; the IN list is not
            only = f" AND _line BETWEEN {int(lo)} AND {int(hi)} AND _line IN ({lines_sql})"
    untrusted = f"SELECT _line, _reason, _raw FROM ({numbered_sql}) s WHERE _bad{only}"
    if rejects:  # row r (line r + 1 as numbered) comes after the i skipped lines with k <= r
        untrusted = (f"SELECT b._line + coalesce(x.shift, 0) AS _line, b._reason, b._raw FROM ({untrusted}) b "
                     f"ASOF LEFT JOIN {rejects}_shift x ON b._line - 1 >= x.k")
    _store(con, ingest_id, source, untrusted)


def record_jsonl(con: duckdb.DuckDBPyConnection, ingest_id: int, source: str, path: str, bad: int) -> None:
    """Quarantine the `bad` untrusted lines of a JSONL file, found in parallel, numbered by their text.

    Validating every line in file order would hold the whole file in one window; instead the
    untrusted lines are found by a parallel read (their text kept), and their numbers by matching
    a 64-bit hash of each line's text in a numbering pass that holds 16 bytes a line. When the
    malformed lines alone account for `bad` (a truncated last line), no line is validated again.
    """
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _bad_text AS
        SELECT 'malformed JSON line' AS _reason, _text AS _raw, hash(_text) AS _h, count(*) AS n
        FROM {canonical.line_reader(path)} WHERE NOT coalesce(json_valid(_text), false) AND trim(_text) <> ''
        GROUP BY ALL"""
    )
    if one_row(con.execute("SELECT coalesce(sum(n), 0) FROM _bad_text"))[0] < bad:
        parallel = canonical.validated_select(canonical.jsonl_lines_relation(path, numbered=False), malformed=True)
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _bad_text AS
            SELECT DISTINCT _reason, _raw, hash(_raw) AS _h FROM ({parallel}) s WHERE _bad"""
        )
    try:
        _store(con, ingest_id, source, f"SELECT n._line, b._reason, b._raw FROM {canonical.jsonl_line_hashes(path)} n "
                                       "JOIN _bad_text b USING (_h)")
    finally:
        con.execute("DROP TABLE _bad_text")


def record_rejected_csv(con: duckdb.DuckDBPyConnection, ingest_id: int, source: str, rejects: str) -> int:
    """Quarantine the CSV rows a tolerant read (`canonical.tolerant_csv`) could not parse; returns
    how many lines. Also makes `<rejects>_shift` for the rows `record` numbers: for the i-th
    skipped line L (by line), the rows read from row L - i on come after i skipped lines."""
    exists = one_row(con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = ?", [f"{rejects}_e"]
    ))[0]
    errors = f"{rejects}_e" if exists else (
        "(SELECT NULL::UBIGINT AS line, NULL::UBIGINT AS column_idx, NULL AS csv_line, NULL AS error_message LIMIT 0)")
    # a line once however often it was scanned (the price sample reads the first rows too), with
    # its first error (DuckDB adds one for each missing column)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {rejects}_lines AS
        SELECT line::BIGINT AS _line, any_value(csv_line) AS _raw,
               'malformed CSV row: ' || arg_min(error_message, coalesce(column_idx, 0)) AS _reason
        FROM {errors} GROUP BY line"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {rejects}_shift AS
        SELECT _line - i AS k, max(i) AS shift FROM (
            SELECT _line, row_number() OVER (ORDER BY _line) AS i FROM {rejects}_lines) GROUP BY ALL"""
    )
    _store(con, ingest_id, source, f"SELECT _line, _reason, trim(_raw, chr(10) || chr(13)) AS _raw FROM {rejects}_lines")
    return int(one_row(con.execute(f"SELECT count(*) FROM {rejects}_lines"))[0])


def drop_rejects(con: duckdb.DuckDBPyConnection, rejects: str) -> None:
    """Drop the temp tables of a tolerant CSV read."""
    for suffix in ("_e", "_s", "_lines", "_shift"):
        con.execute(f"DROP TABLE IF EXISTS {rejects}{suffix}")


def _store(con: duckdb.DuckDBPyConnection, ingest_id: int, source: str, untrusted_sql: str) -> None:
    """Write rows (`_line`, `_reason`, `_raw`) of `source` to the quarantine; rows already there are re-stamped."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _untrusted AS {untrusted_sql}")
    same = "q.source_file = $src AND q.source_line IS NOT DISTINCT FROM b._line AND q.raw IS NOT DISTINCT FROM b._raw"
    params = {"id": ingest_id, "src": source}
    con.execute(f"UPDATE quarantine q SET ingest_id = $id FROM _untrusted b WHERE {same}", params)
    con.execute(
        f"""INSERT INTO quarantine SELECT $id, $src, b._line, b._reason, b._raw, now() FROM _untrusted b
        WHERE NOT EXISTS (SELECT 1 FROM quarantine q WHERE {same})""",
        params,
    )
    con.execute("DROP TABLE _untrusted")


def quarantine_report(
    store: Store, file: str | None = None, reason: str | None = None, limit: int = 100, history: bool = False
) -> dict:
    """Quarantined rows, newest ingest first, with counts per (file, reason).

    `file` keeps rows whose source file is that path or ends with it (`u.jsonl`, `logs/u.jsonl`);
    `reason` keeps rows whose reason contains it (any case); `history` adds superseded rows (see
    the module docstring), flagged `superseded`. `total` counts every matching row, `rows` lists
    at most `limit` of them; `superseded` counts the hidden ones when `history` is off.
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
    hidden = 0
    if not history:
        hidden = one_row(con.execute(f"SELECT count(*) FROM quarantine q WHERE {cond} AND {_SUPERSEDED_SQL}", params))[0]
        cond += f" AND NOT ({_SUPERSEDED_SQL})"
    counts = con.execute(
        f"""SELECT source_file, reason, count(*) AS n FROM quarantine q WHERE {cond}
        GROUP BY ALL ORDER BY n DESC, source_file, reason""",
        params,
    ).fetchall()
    rows = con.execute(
        f"""SELECT ingest_id, source_file, source_line, reason, raw, {_SUPERSEDED_SQL} FROM quarantine q
        WHERE {cond}
        ORDER BY ingest_id DESC, source_file, source_line LIMIT ?""",
        [*params, max(int(limit), 0)],
    ).fetchall()
    return {
        "total": sum(n for *_, n in counts),
        "by_reason": [{"source_file": f, "reason": r, "rows": n} for f, r, n in counts],
        "superseded": hidden,
        "rows": [dict(zip(("ingest_id", "source_file", "source_line", "reason", "raw", "superseded"), r, strict=True))
                 for r in rows],
    }
