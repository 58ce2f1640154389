"""Benchmark: `brain publish` for 2,500 agents (10,000-note vault, 60 days of usage).

Run: .venv/bin/python tests/benchmarks/bench_publish.py
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import duckdb  # noqa: E402

from brain.facade import Brain  # noqa: E402
from brain.ingest import ingest_table  # noqa: E402
from brain.settings import Settings  # noqa: E402
from brain.store.database import Store  # noqa: E402
from tests.benchmarks.gen_vault import generate_vault  # noqa: E402

NOW = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "vault"
        counts = generate_vault(root, 10_000)
        t0 = time.perf_counter()
        table = duckdb.sql(
            f"""SELECT TIMESTAMPTZ '{NOW.isoformat()}' - INTERVAL (d * 24 + h * 6) HOUR AS timestamp,
                       'agent-' || lpad(a::VARCHAR, 5, '0') AS agent, 'openai' AS provider,
                       'gpt-4o-mini' AS model, (1000 + a)::BIGINT AS input_tokens, 300::BIGINT AS output_tokens,
                       10::BIGINT AS requests,
                       'r-' || a || '-' || d || '-' || h AS request_id
                FROM range({counts['agents']}) t(a), range(60) u(d), range(4) v(h)"""
        ).to_arrow_table()
        with Store(root / ".brain" / "usage.duckdb") as st:
            ingest_table(st, table, source="bench")
        print(f"vault: {counts['notes']} notes, {counts['agents']} agents; {table.num_rows:,} usage rows ingested in {time.perf_counter() - t0:.1f} s")
        brain = Brain.open(Settings.from_env(root))
        brain.graph  # noqa: B018 - load outside the timing
        t0 = time.perf_counter()
        rep = brain.publish(now=NOW)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        rep2 = brain.publish(now=NOW)
        second = time.perf_counter() - t0
        print(f"publish {counts['agents']} agents: {first:.2f} s ({len(rep.written)} files written)   target <= 10 s")
        print(f"publish again, nothing changed: {second:.2f} s ({len(rep2.written)} written, {len(rep2.unchanged)} unchanged)")
        brain.close()


if __name__ == "__main__":
    main()
