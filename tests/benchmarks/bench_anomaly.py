"""Benchmark: anomaly scan over 500 agents x 90 days of hourly rollups, and the newest-hour scan.

Targets (DESIGN/issue 4): full scan <= 3 s, incremental newest hour <= 300 ms. Prints figures only.
Also times the scan as `detect_anomalies` runs it: 90 tested days after 28 days of baseline history.

    .venv/bin/python tests/benchmarks/bench_anomaly.py [--agents 500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).parent))
import eval_anomaly as ev  # noqa: E402

from brain.anomaly import AnomalyConfig, scan_series  # noqa: E402


def main() -> None:
    """Build the synthetic company once, then time full and incremental scans."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agents", type=int, default=500)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    names, models, tpr, err, cpr, events, notes, infos = ev.build(args.agents, seed=2)
    table = ev.to_table(names, models, tpr, err, cpr)
    until = ev.START + timedelta(days=ev.DAYS)
    cfg = AnomalyConfig()
    since_inc = until - timedelta(days=cfg.baseline_days + 1)
    recent = table.filter(pc.field("hour") >= pa.scalar(since_inc, pa.timestamp("us", tz="UTC")))
    print(f"agents={len(names)} ({args.agents} + working-hours negatives) days={ev.DAYS} rows={table.num_rows:,} (newest-hour input: {recent.num_rows:,} rows)")

    full, inc = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        found = scan_series(table, ev.START, until, config=cfg, agents=infos, changes=notes)
        full.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        newest = scan_series(recent, since_inc, until, config=cfg, agents=infos, changes=notes,
                             evaluate_from=until - timedelta(hours=1))
        inc.append(time.perf_counter() - t0)
    print(f"full scan (90 days, {len(found)} anomalies): median {statistics.median(full):.2f} s  (target <= 3 s)")
    print(f"incremental newest hour ({len(newest)} anomalies): median {statistics.median(inc) * 1000:.0f} ms  (target <= 300 ms)")

    # what detect_anomalies runs: the 90-day horizon tested after baseline_days of history read before it
    days = ev.DAYS + cfg.baseline_days
    saved = ev.DAYS, ev.N
    ev.DAYS, ev.N = days, days * 24  # build() sizes every array by these module constants
    try:
        names, models, tpr, err, cpr, events, notes, infos = ev.build(args.agents, seed=2)
        table = ev.to_table(names, models, tpr, err, cpr)
    finally:
        ev.DAYS, ev.N = saved
    until = ev.START + timedelta(days=days)
    horizon = ev.START + timedelta(days=cfg.baseline_days)
    timed = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        found = scan_series(table, ev.START, until, config=cfg, agents=infos, changes=notes, evaluate_from=horizon)
        timed.append(time.perf_counter() - t0)
    print(f"horizon scan ({cfg.baseline_days} baseline days read + 90 tested, {len(found)} anomalies): "
          f"median {statistics.median(timed):.2f} s  (target <= 3 s)")


if __name__ == "__main__":
    main()
