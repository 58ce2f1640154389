"""Usage store benchmark: ingest vs plain DuckDB, peak RSS, SQL pricing vs calc_price, warm queries.

Run: .venv/bin/python tests/benchmarks/bench_usage.py [--rows 10000000]. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "bench-data"
MODELS = [  # (provider, model, cache?, reasoning?)
    ("openai", "gpt-4o", 1, 0),
    ("openai", "gpt-4o-mini", 1, 0),
    ("openai", "gpt-4.1-mini", 1, 0),
    ("openai", "o3-mini", 1, 1),
    ("anthropic", "claude-sonnet-4-5", 1, 0),
    ("anthropic", "claude-3-5-haiku", 1, 0),
    ("google", "gemini-2.5-pro", 1, 1),
    ("google", "gemini-2.5-flash", 1, 1),
    ("deepseek", "deepseek-chat", 1, 0),
    ("mistral", "mistral-large-latest", 0, 0),
    ("x-ai", "grok-3", 1, 0),
    ("groq", "llama-3.3-70b-versatile", 0, 0),
    ("selfhosted", "in-house-13b", 0, 0),  # unknown: unpriced
]
AGENTS = 500
DAYS = 90


def generate(rows: int, now: datetime) -> tuple[Path, Path]:
    """Write `rows` canonical per-request events as Parquet and JSONL with DuckDB SQL (cached)."""
    import duckdb

    DATA.mkdir(exist_ok=True)
    pq, js = DATA / f"usage_v3_{rows}.parquet", DATA / f"usage_v3_{rows}.jsonl"
    if pq.exists() and js.exists():
        return pq, js
    start = now - timedelta(days=DAYS)
    span_us = DAYS * 86_400_000_000
    providers = "[" + ", ".join(f"'{p}'" for p, *_ in MODELS) + "]"
    models = "[" + ", ".join(f"'{m}'" for _, m, *_ in MODELS) + "]"
    cache = "[" + ", ".join(str(c) for *_, c, _ in MODELS) + "]"
    reason = "[" + ", ".join(str(r) for *_, r in MODELS) + "]"
    sql = f"""
    SELECT
      TIMESTAMPTZ '{start.isoformat()}' + to_microseconds(((i::HUGEINT * {span_us}) // {rows})::BIGINT + (hash(i, 9) % 60000000)::BIGINT)
        AS "timestamp",
      'agent-' || lpad((hash(i, 1) % {AGENTS})::VARCHAR, 3, '0') AS agent,
      'key_' || lpad((hash(i, 1) % {AGENTS})::VARCHAR, 3, '0') AS api_key_id,
      NULL::VARCHAR AS service_name,
      {providers}[1 + m] AS provider,
      {models}[1 + m] AS model,
      inp AS input_tokens,
      outp AS output_tokens,
      CASE WHEN {cache}[1 + m] = 1 AND hash(i, 5) % 2 = 0 THEN inp // 2 ELSE 0 END AS cache_read_tokens,
      CASE WHEN {cache}[1 + m] = 1 AND hash(i, 6) % 10 = 0 THEN inp // 5 ELSE 0 END AS cache_write_tokens,
      CASE WHEN {reason}[1 + m] = 1 THEN outp // 2 ELSE 0 END AS reasoning_tokens,
      1 AS requests,
      -- a run is one agent's (DESIGN): ~4 calls of the agent within ~half an hour at 10M rows
      'run-' || (hash(i, 1) % {AGENTS}) || '-' || (i // {4 * AGENTS}) AS run_id,
      'req_' || i AS request_id,
      CASE WHEN hash(i, 7) % 100 = 0 THEN 'error' ELSE 'ok' END AS status,
      NULL::DOUBLE AS cost_usd
    FROM (
      SELECT i, (((hash(i, 1) % {AGENTS}) * 7 + CASE WHEN hash(i, 2) % 10 < 8 THEN 0 ELSE 1 END)
                 % {len(MODELS)})::INTEGER AS m,
        (200 + hash(i, 3) % 8000 + CASE WHEN hash(i, 4) % 100 = 0 THEN 250000 ELSE 0 END)::BIGINT AS inp,
        (20 + hash(i, 8) % 1500)::BIGINT AS outp
      FROM range({rows}) t(i)
    )"""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    t = time.perf_counter()
    con.execute(f"COPY ({sql}) TO '{pq}' (FORMAT PARQUET)")
    con.execute(f"COPY (SELECT * FROM read_parquet('{pq}')) TO '{js}' (FORMAT JSON)")
    print(f"generated {rows:,} rows in {time.perf_counter() - t:.1f}s: {pq.stat().st_size / 1e6:.0f} MB parquet, "
          f"{js.stat().st_size / 1e6:.0f} MB jsonl", flush=True)
    return pq, js


def child(kind: str, src: str, db: str) -> None:
    """One measured run in this process; prints JSON with seconds and peak RSS."""
    import duckdb

    t = time.perf_counter()
    if kind.startswith("plain"):
        con = duckdb.connect(db)
        reader = "read_parquet" if src.endswith(".parquet") else "read_json"
        con.execute(f"CREATE TABLE t AS SELECT * FROM {reader}('{src}')")
        n = con.execute("SELECT count(*) FROM t").fetchone()[0]
        con.close()
    else:
        sys.path.insert(0, str(ROOT))
        from brain.ingest import ingest_files
        from brain.ingest.canonical import usage_files_in
        from brain.store.database import Store

        store = Store(db)
        files = usage_files_in(Path(src)) if Path(src).is_dir() else [src]
        n = ingest_files(store, files).accepted
        store.close()
    seconds = time.perf_counter() - t
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"kind": kind, "rows": n, "seconds": seconds, "rss_mb": rss_mb}))


def measure(kind: str, src: Path, db: Path, start_from: Path | None = None) -> dict:
    """One child run into a fresh store at `db`, or into a copy of the store `start_from`."""
    for p in (db, Path(f"{db}.wal")):
        p.unlink(missing_ok=True)
    if start_from is not None:
        shutil.copyfile(start_from, db)
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(src), str(db)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def scenarios(pq: Path, store: Path, work: Path, clean_s: float, rows: int) -> None:
    """What real files and later ingests cost: a bad row, a duplicate, the file again, increments."""
    import duckdb

    last = "(SELECT max(file_row_number) FROM read_parquet('{pq}', file_row_number = true))"
    derived = {
        "one untrusted row (negative tokens)": f"""SELECT * REPLACE (CASE WHEN request_id = 'req_5000'
            THEN -1 ELSE input_tokens END AS input_tokens) FROM read_parquet('{pq}')""",
        "one duplicate request id": f"""SELECT * FROM read_parquet('{pq}')
            UNION ALL SELECT * FROM read_parquet('{pq}') WHERE request_id = 'req_5000'""",
    }
    increments = {  # new events of the last hours, into the store the main run built
        "100,000 new events of the last day": 100_000,
        "1,000 new events of the last hour": 1_000,
    }
    print(f"\nlater ingests and imperfect files (Parquet; the clean file above: {clean_s:.2f}s):", flush=True)
    con = duckdb.connect()
    for label, sql in derived.items():
        f = work / "derived.parquet"
        con.execute(f"COPY ({sql}) TO '{f}' (FORMAT parquet)")
        r = measure("ours-derived", f, work / "derived.duckdb")
        print(f"  {label:<44} {r['seconds']:7.2f}s  fresh store", flush=True)
    r = measure("ours-again", pq, work / "again.duckdb", start_from=store)
    print(f"  {'the same file again (all duplicates)':<44} {r['seconds']:7.2f}s  into the {rows:,}-event store", flush=True)
    for label, n in increments.items():
        f = work / "derived.parquet"
        con.execute(f"""COPY (SELECT * EXCLUDE (file_row_number) REPLACE ('new_' || request_id AS request_id)
            FROM read_parquet('{pq}', file_row_number = true) WHERE file_row_number > {last.format(pq=pq)} - {n})
            TO '{f}' (FORMAT parquet)""")
        r = measure("ours-increment", f, work / "again.duckdb", start_from=store)
        print(f"  {label:<44} {r['seconds']:7.2f}s  into the {rows:,}-event store ({r['rows']:,} accepted)", flush=True)
    # a folder of small logs (an hourly export, say): the same events as one file and as 2,000
    n = min(rows, 1_000_000)
    con.execute(f"""CREATE TEMP TABLE f AS SELECT * EXCLUDE (file_row_number), file_row_number * 2000 // {n} AS part
        FROM read_parquet('{pq}', file_row_number = true) WHERE file_row_number < {n}""")
    for fmt, copy in (("jsonl", "FORMAT json"), ("csv", "FORMAT csv, HEADER")):
        one, folder = work / f"folder-events.{fmt}", work / "folder"
        shutil.rmtree(folder, ignore_errors=True)
        con.execute(f"COPY (SELECT * EXCLUDE (part) FROM f) TO '{one}' ({copy})")
        con.execute(f"COPY f TO '{folder}' ({copy}, PARTITION_BY (part))")
        whole = measure("ours-folder", one, work / "derived.duckdb")
        many = measure("ours-folder", folder, work / "derived.duckdb")
        label = f"{n:,} events in 2,000 {fmt.upper()} files"
        print(f"  {label:<44} {many['seconds']:7.2f}s  fresh store; the same events in one file: "
              f"{whole['seconds']:.2f}s ({many['seconds'] / whole['seconds']:.2f}x)", flush=True)
        shutil.rmtree(folder, ignore_errors=True)
        one.unlink()
    # CSV as exported, and the same file with one row cut short in the middle (the reader cannot
    # parse it: the file is read again past it, and the row quarantined with its line)
    clean, broken = work / "events.csv", work / "broken.csv"
    con.execute(f"COPY (SELECT * FROM read_parquet('{pq}')) TO '{clean}' (FORMAT csv, HEADER)")
    with open(clean, "rb") as src, open(broken, "wb") as dst:
        for i, line in enumerate(src):
            if i == rows // 2:
                dst.write(b"2026-11-01T00:00:00Z,cut-short\n")
            dst.write(line)
    a = measure("ours-csv", clean, work / "derived.duckdb")
    b = measure("ours-csv", broken, work / "derived.duckdb")
    print(f"  {f'{rows:,} events as CSV':<44} {a['seconds']:7.2f}s  fresh store", flush=True)
    print(f"  {'the same CSV with one row cut short':<44} {b['seconds']:7.2f}s  fresh store "
          f"({b['seconds'] / a['seconds']:.2f}x; {b['rows']:,} accepted)", flush=True)
    for f in ("derived.parquet", "derived.duckdb", "again.duckdb", clean.name, broken.name):
        (work / f).unlink(missing_ok=True)


def pricing(db: Path, sample: int) -> dict:
    """Seconds to price every event in SQL vs calc_price per row extrapolated from a sample."""
    sys.path.insert(0, str(ROOT))
    import genai_prices
    from genai_prices import Usage

    from brain.pricing.prices import EVENT_COST_SQL, PRICE_JOIN_SQL, PRICE_KEY_COLUMNS_SQL
    from brain.store.database import Store

    store = Store(db)
    con = store.con
    n = con.execute("SELECT count(*) FROM events").fetchone()[0]
    t = time.perf_counter()
    total = con.execute(
        f"""SELECT sum({EVENT_COST_SQL}), count(p.price_id) FROM
        (SELECT *, {PRICE_KEY_COLUMNS_SQL} FROM events) e LEFT JOIN price_table p ON {PRICE_JOIN_SQL}"""
    ).fetchone()
    sql_s = time.perf_counter() - t
    rows = con.execute(
        f"""SELECT "timestamp", provider, model, input_tokens, output_tokens, cache_read_tokens,
        cache_write_tokens, reasoning_tokens FROM events USING SAMPLE {sample} ROWS"""
    ).fetchall()
    store.close()
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for ts, prov, model, i, o, cr, cw, r in rows:
            usage = Usage(input_tokens=i, output_tokens=o, cache_read_tokens=cr, cache_write_tokens=cw,
                          output_reasoning_tokens=r)
            with contextlib.suppress(LookupError):
                genai_prices.calc_price(usage, model, provider_id=prov, genai_request_timestamp=ts)
    per_row = (time.perf_counter() - t) / len(rows)
    return {"events": n, "sql_s": sql_s, "calc_price_us_per_row": per_row * 1e6,
            "calc_price_extrapolated_s": per_row * n, "priced": total[1], "total_usd": total[0]}


def queries(db: Path, now: datetime, repeats: int) -> dict:
    """Median warm time of spend --by agent --days 30 and of one agent card."""
    sys.path.insert(0, str(ROOT))
    from brain.costs.spend import agent_card, spend_report
    from brain.graph.identity import AgentIdentity
    from brain.store.database import Store

    idents = [
        AgentIdentity(node_id=f"Agents/Agent {k:03d}", name=f"Agent {k:03d}", agent_id=f"agent-{k:03d}",
                      api_keys=(f"key_{k:03d}",), owner=f"Person {k % 40}", team=f"Team {k % 8}")
        for k in range(AGENTS)
    ]
    store = Store(db, read_only=True)
    out = {}
    for name, fn in (
        ("spend --by agent --days 30", lambda: spend_report(store, idents, by="agent", days=30, now=now)),
        ("agent card", lambda: agent_card(store, random.choice(idents), days=30, now=now, identities=idents)),
    ):
        fn()  # warm
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        out[name] = statistics.median(times) * 1000
    out["rollup_daily_rows"] = store.con.execute("SELECT count(*) FROM rollup_daily").fetchone()[0]
    out["rollup_hourly_rows"] = store.con.execute("SELECT count(*) FROM rollup_hourly").fetchone()[0]
    store.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--sample", type=int, default=3000, help="rows priced with calc_price")
    ap.add_argument("--repeats", type=int, default=15, help="timed runs of each warm query")
    ap.add_argument("--repeat", type=int, default=3, help="rounds of plain + ours ingest per format")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    pq, js = generate(args.rows, now)
    work = DATA / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    print(f"\n{args.rows:,} events, {AGENTS} agents, {DAYS} days, {len(MODELS)} models\n", flush=True)
    print(f"ingest: {args.repeat} alternating rounds of plain and ours per format; medians (each round's ratio)\n")
    print(f"{'source':<8} {'plain s':>8} {'ours s':>8} {'ratio':>6} {'ours rows/s':>12} "
          f"{'plain RSS':>10} {'ours RSS':>9}  rounds (ours/plain)", flush=True)
    medians = {}
    for label, src in (("parquet", pq), ("jsonl", js)):
        rounds = []
        for _ in range(args.repeat):
            plain = measure(f"plain-{label}", src, work / f"plain_{label}.duckdb")
            ours = measure(f"ours-{label}", src, work / f"ours_{label}.duckdb")
            rounds.append((plain, ours))
        plain_s = statistics.median(p["seconds"] for p, _ in rounds)
        ours_s = medians[label] = statistics.median(o["seconds"] for _, o in rounds)
        each = " ".join(f"{o['seconds'] / p['seconds']:.2f}" for p, o in rounds)
        print(f"{label:<8} {plain_s:>8.2f} {ours_s:>8.2f} {ours_s / plain_s:>6.2f} "
              f"{rounds[0][1]['rows'] / ours_s:>12,.0f} {max(p['rss_mb'] for p, _ in rounds):>8.0f}MB "
              f"{max(o['rss_mb'] for _, o in rounds):>7.0f}MB  {each}", flush=True)
    # the same JSONL with a truncated last line: the typed parallel read fails and ours falls back
    # to the line-exact reader (what a log copied while it was being written looks like)
    broken = work / "truncated.jsonl"
    shutil.copyfile(js, broken)
    with open(broken, "a") as fh:
        fh.write('{"timestamp": "2026-')
    t = measure("ours-truncated", broken, work / "ours_truncated.duckdb")
    broken.unlink()
    print(f"jsonl with one truncated last line: ours {t['seconds']:.2f}s ({t['rows']:,} rows accepted, "
          f"{t['seconds'] / medians['jsonl']:.2f}x ours on the clean file), peak RSS {t['rss_mb']:.0f}MB", flush=True)
    db = work / "ours_parquet.duckdb"
    scenarios(pq, db, work, medians["parquet"], args.rows)
    p = pricing(db, args.sample)
    print(f"\npricing {p['events']:,} events in SQL: {p['sql_s']:.2f}s ({p['priced']:,} priced, "
          f"${p['total_usd']:,.0f}); calc_price {p['calc_price_us_per_row']:.0f} us/row -> "
          f"{p['calc_price_extrapolated_s']:,.0f}s extrapolated; speed-up {p['calc_price_extrapolated_s'] / p['sql_s']:,.0f}x")
    q = queries(db, now, args.repeats)
    print(f"\nwarm queries (median of {args.repeats}; rollup_daily {q['rollup_daily_rows']:,} rows, "
          f"rollup_hourly {q['rollup_hourly_rows']:,} rows):")
    for name in ("spend --by agent --days 30", "agent card"):
        print(f"  {name:<28} {q[name]:7.1f} ms")


if __name__ == "__main__":
    main()
