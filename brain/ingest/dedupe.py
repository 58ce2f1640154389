"""Dedupe within an ingest and against the store: which new rows are duplicates, which stored
buckets a re-imported bucket replaces (see the `brain.ingest` docstring for the rules)."""

from __future__ import annotations

import logging

import duckdb

from brain.ingest.canonical import Source, _lit
from brain.store.database import CANONICAL_COLUMNS, EVENT_KEY_SQL, KEPT_EVENT_SQL, one_row

log = logging.getLogger(__name__)

# The size of a bucket row (alias `{e}`), compared as a list (lexicographically): a provider's
# bucket only grows as usage is reported, so the larger of two versions is the newer. More
# requests first, then more tokens (input + output), then input, cache read, cache write and
# reasoning tokens. Versions of equal size are the same bucket, whatever else differs.
BUCKET_SIZE_SQL = (
    "[{e}.requests, {e}.input_tokens + {e}.output_tokens, {e}.input_tokens, "
    "{e}.cache_read_tokens, {e}.cache_write_tokens, {e}.reasoning_tokens]"
)


def dedupe(
    con: duckdb.DuckDBPyConnection, ingest_id: int, sources: list[Source], events_empty: bool, order: list[str]
) -> None:
    """Drop this ingest's duplicate rows (and delete the stored buckets they replace); fill `_drop`.

    Duplicates are marked with the negated ingest id and deleted after the commit (see `_JUNK` in
    `brain.ingest`), or deleted at once when they are most of the ingest (a file ingested again).

    `_drop(rid, source_file, kind)`: one row per new row dropped (`duplicate`) or stored bucket
    replaced (`replaced`, under the new row's source). Within the ingest the largest bucket row of
    an id wins (`BUCKET_SIZE_SQL`), else the first row (files in `order`, then line). Candidates are found by grouping on a 64-bit
    hash of the id (integers group much faster than long strings); only those rows are compared
    by the id itself, so a hash collision never drops an event. A new row whose id is already
    stored is dropped, except a bucket row meeting a stored bucket it is larger than: the stored one
    is deleted (its hour noted in `_replaced_hours` for the rollups) and the new one kept. An older
    download (a smaller or equal bucket) is a duplicate, in whatever order the files come.
    Rows of a text file are stored without line numbers; where copies of an id in one such file
    differ, `_number_text_duplicates` finds their lines (identical copies need none).
    """
    order_sql = "[" + ", ".join(_lit(f) for f in order) + "]"
    key = EVENT_KEY_SQL.format(e="e")
    canon = ", ".join(f'e."{c}"' for c, _ in CANONICAL_COLUMNS)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _cand AS
        SELECT e.rowid AS rid, {key} AS k, e.source_file, e.source_line AS line, e.bucketed, {canon}
        FROM events e
        WHERE e.ingest_id = ? AND hash({key}) IN (
            SELECT h FROM (SELECT hash({key}) AS h FROM events e WHERE ingest_id = ?)
            GROUP BY h HAVING count(*) > 1)""",
        [ingest_id, ingest_id],
    )
    _number_text_duplicates(con, sources)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _drop AS
        SELECT rid, source_file, 'duplicate' AS kind FROM (
            SELECT rid, source_file, row_number() OVER (
                PARTITION BY k ORDER BY CASE WHEN bucketed THEN {BUCKET_SIZE_SQL.format(e="_cand")} END DESC NULLS LAST,
                                        list_position({order_sql}, source_file), line, rid) AS rn
            FROM _cand
        ) WHERE rn > 1"""
    )
    con.execute("DROP TABLE _cand")
    if not events_empty:
        # The new keys first, then the stored events: joined as `events n JOIN events o`, the
        # planner scanned all stored rows per ingest (100k into 10M: 1.9 s; this way ~0.01 s).
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _stored AS
            SELECT m.rid AS new_rid, o.rowid AS old_rid, m.source_file, o."timestamp" AS old_ts,
                   m.bucketed AND o.bucketed AS replace
            FROM (SELECT e.rowid AS rid, {EVENT_KEY_SQL.format(e="e")} AS k, e.source_file, e.bucketed
                  FROM events e WHERE e.ingest_id = ? AND e.rowid NOT IN (SELECT rid FROM _drop)) m
            JOIN events o ON {EVENT_KEY_SQL.format(e="o")} = m.k AND {KEPT_EVENT_SQL.format(e="o")} AND o.ingest_id <> ?""",
            [ingest_id, ingest_id],
        )
        # a bucket replaces the stored one only when it is larger (bucketed exports: few rows)
        if one_row(con.execute("SELECT bool_or(replace) FROM _stored"))[0]:
            larger = f'{BUCKET_SIZE_SQL.format(e="n")} > {BUCKET_SIZE_SQL.format(e="o")}'
            con.execute(
                f"""UPDATE _stored s SET replace = ({larger}) FROM events n, events o
                WHERE s.replace AND n.rowid = s.new_rid AND o.rowid = s.old_rid"""
            )
        con.execute(
            """INSERT INTO _drop
            SELECT CASE WHEN replace THEN old_rid ELSE new_rid END, source_file,
                   CASE WHEN replace THEN 'replaced' ELSE 'duplicate' END FROM _stored"""
        )
        con.execute(
            "INSERT INTO _replaced_hours SELECT DISTINCT epoch_us(old_ts) // 3600000000 FROM _stored WHERE replace"
        )
        con.execute("DROP TABLE _stored")
    # Stored buckets a new one replaces go now. This ingest's duplicates are marked junk (`_JUNK`),
    # unless they are most of its rows (a file ingested again): deleting those is cheaper.
    con.execute("DELETE FROM events WHERE rowid IN (SELECT rid FROM _drop WHERE kind = 'replaced')")
    dups, rows = one_row(con.execute("SELECT (SELECT count(*) FROM _drop WHERE kind = 'duplicate'), "
                                     "(SELECT count(*) FROM events WHERE ingest_id = ?)", [ingest_id]))
    mark = "DELETE FROM events" if 2 * dups >= rows else "UPDATE events SET ingest_id = -ingest_id"
    con.execute(f"{mark} WHERE rowid IN (SELECT rid FROM _drop WHERE kind = 'duplicate')")


def _number_text_duplicates(con: duckdb.DuckDBPyConnection, sources: list[Source]) -> None:
    """Line numbers for the `_cand` rows of text files whose id has differing copies in that file.

    Such rows were stored without line numbers, and the parallel read does not keep file order,
    so the first copy is found by reading the file again line by line (rare: re-sent requests
    are usually identical copies, and then any copy can stay).
    """
    canon = ", ".join(f'"{c}"' for c, _ in CANONICAL_COLUMNS)
    differing = con.execute(
        f"""SELECT DISTINCT source_file FROM (
            SELECT source_file FROM _cand WHERE line IS NULL
            GROUP BY k, source_file HAVING count(DISTINCT hash({canon})) > 1)"""
    ).fetchall()
    same = " AND ".join(f'c."{col}" IS NOT DISTINCT FROM l."{col}"' for col, _ in CANONICAL_COLUMNS)
    files = {p.source: p for s in sources for p in s.singles}
    for (source_file,) in differing:
        s = files[source_file]
        log.info("%s: an id repeats with different values; numbering the file's lines to keep the first", source_file)
        con.execute(
            f"""UPDATE _cand c SET line = l.line FROM (
                SELECT {EVENT_KEY_SQL.format(e="v")} AS k, {", ".join(f'v."{col}"' for col, _ in CANONICAL_COLUMNS)},
                       min(v._line) AS line
                FROM ({s.numbered()}) v
                WHERE NOT v._bad AND {EVENT_KEY_SQL.format(e="v")} IN (SELECT k FROM _cand WHERE source_file = $f)
                GROUP BY ALL
            ) l WHERE c.source_file = $f AND c.k = l.k AND {same}""",
            {"f": source_file},
        )
