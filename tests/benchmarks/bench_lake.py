"""Lake rollup benchmark: the Spark job in local mode on 1 and 2 cores against the DuckDB engine, on
the same generated lake (time, events/s, peak memory of the whole process tree, JVM included).

Run: .venv/bin/python tests/benchmarks/bench_lake.py [--rows 50000000] [--days 30]. Prints figures
and the per-core extrapolation docs/lake.md quotes; asserts nothing. The events and the lake are
kept in bench-data/ between runs. Every run rebuilds all days (`full`): the cost of a first run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "bench-data"
NOW = datetime(2026, 12, 1, tzinfo=UTC)

CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
engine, lake, out = {engine!r}, {lake!r}, {out!r}
if engine == "duckdb":
    from brain.lake.duckdb_engine import run
    report = run(lake, out, full=True)
    started = None
else:
    t = time.monotonic()
    from brain.lake.spark_job import run, session
    spark = session(engine, memory={memory!r})
    spark.sparkContext.setLogLevel("ERROR")
    started = time.monotonic() - t
    report = run(spark, lake, out, full=True)
print(json.dumps({{"events": report.events, "job_s": report.seconds, "startup_s": started}}))
"""


def prepare(rows: int, days: int) -> Path:
    """The generated events written to a lake (cached in bench-data/)."""
    sys.path.insert(0, str(ROOT))
    from tests.lake.conftest import generate_events

    DATA.mkdir(exist_ok=True)
    lake = DATA / f"lake-{rows}"
    if (lake / ".complete").exists():
        return lake
    src = DATA / f"lake-events-{rows}.parquet"
    t = time.perf_counter()
    generate_events(src, rows, NOW, days=days)
    print(f"generated {rows:,} events in {time.perf_counter() - t:.1f} s", flush=True)
    shutil.rmtree(lake, ignore_errors=True)
    t = time.perf_counter()
    out = subprocess.run([str(ROOT / ".venv/bin/brain"), "lake", "write", str(lake), str(src), "--json"],
                         capture_output=True, text=True, check=True)
    report = json.loads(out.stdout)
    print(f"brain lake write: {report['accepted']:,} events, {len(report['written'])} day files in "
          f"{time.perf_counter() - t:.1f} s", flush=True)
    (lake / ".complete").touch()
    return lake


def measure(engine: str, lake: Path, memory: str) -> dict:
    """One full rollup in a fresh process; wall time and the process tree's peak RSS (sampled)."""
    import psutil

    out = DATA / f"rollups-{engine.replace('[', '').replace(']', '')}"
    shutil.rmtree(out, ignore_errors=True)
    code = CHILD.format(root=str(ROOT), engine=engine, lake=str(lake), out=str(out), memory=memory)
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    parent, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            tree = [parent, *parent.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.2)
    seconds = time.perf_counter() - t
    result = json.loads(proc.stdout.read().strip().splitlines()[-1])
    return {"engine": engine, "seconds": seconds, "peak_mb": peak / 1e6, **result}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=50_000_000)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--memory", default="6g", help="Spark driver memory (local mode: the whole JVM)")
    p.add_argument("--engines", default="duckdb,local[1],local[2]")
    args = p.parse_args()
    lake = prepare(args.rows, args.days)
    results = [measure(e, lake, args.memory) for e in args.engines.split(",")]
    print(f"\n{args.rows:,} generated events (plus 1% re-sent copies) over {args.days} days; full rebuild\n")
    print(f"{'engine':<10} {'wall s':>8} {'job s':>8} {'events/s':>12} {'per core':>12} {'peak MB':>9}")
    for r in results:
        cores = 2 if r["engine"] in ("duckdb", "local[2]") else 1
        rate = r["events"] / r["job_s"]
        r["per_core"] = rate / cores
        print(f"{r['engine']:<10} {r['seconds']:>8.1f} {r['job_s']:>8.1f} {rate:>12,.0f} {rate / cores:>12,.0f} {r['peak_mb']:>9,.0f}")
    spark = {r["engine"]: r for r in results if r["engine"].startswith("local")}
    if "local[1]" in spark and "local[2]" in spark:
        print(f"\nSpark 1 -> 2 cores: {spark['local[1]']['job_s'] / spark['local[2]']['job_s']:.2f}x faster")
    if spark:
        per_core = min(r["per_core"] for r in spark.values())
        for workers, cores in ((10, 8), (50, 8), (100, 16)):
            hours = 10e9 / (per_core * workers * cores) / 3600
            print(f"10B events on {workers} workers x {cores} cores at {per_core:,.0f} events/s/core: {hours:.1f} h")


if __name__ == "__main__":
    main()
