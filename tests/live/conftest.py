"""Running brains' fixtures: usage files to ingest, `brain ingest` beside a server, polling a client.

The plain functions behind the fixtures are here for tests/benchmarks/bench_live.py."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import duckdb
import pytest

BRAIN = str(Path(sys.executable).parent / "brain")
# Usage ends an hour ago, so that it stays inside the 30-day windows the tests ask for.
NOW = (datetime.now(UTC) - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0).isoformat()


def write_usage_file(path: Path, rows: int, agent: str = "support-agent", prefix: str = "r") -> Path:
    """Write `rows` canonical events as Parquet with DuckDB (one model call each)."""
    duckdb.sql(
        f"""COPY (SELECT TIMESTAMPTZ '{NOW}' - INTERVAL (i % (24 * 20)) HOUR AS timestamp,
                   '{agent}' AS agent, 'openai' AS provider, 'gpt-4o-mini' AS model,
                   1200::BIGINT AS input_tokens, 150::BIGINT AS output_tokens, 1::BIGINT AS requests,
                   '{prefix}-' || i AS request_id, 'run-' || (i // 3) AS run_id, 'ok' AS status
            FROM range({rows}) t(i)) TO '{path}' (FORMAT parquet)"""
    )
    return path


def ingest_with_cli(vault: Path, store: Path, file: Path) -> subprocess.CompletedProcess:
    """`brain ingest FILE --json` as a process of its own (it hands the file to a running server)."""
    return subprocess.run(
        [BRAIN, "ingest", str(file), "--vault", str(vault), "--store", str(store), "--json"],
        capture_output=True, text=True, timeout=600,
    )


async def wait_until(predicate, deadline_s: float = 5.0):
    """Poll an async predicate until it is truthy or the deadline passes; returns the last value."""
    end = time.monotonic() + deadline_s
    value = None
    while time.monotonic() < end:
        value = await predicate()
        if value:
            return value
        await anyio.sleep(0.05)
    return value


@pytest.fixture(scope="session")
def usage_file():
    """usage_file(path, rows, agent="support-agent", prefix="r") -> path: Parquet usage ending an hour ago."""
    return write_usage_file


@pytest.fixture(scope="session")
def ingest():
    """ingest(vault, store, file) -> the finished `brain ingest --json` process (stdout, stderr, returncode)."""
    return ingest_with_cli


@pytest.fixture(scope="session")
def wait():
    """await wait(predicate, deadline_s=5.0) -> the predicate's first truthy value, else its last one."""
    return wait_until
