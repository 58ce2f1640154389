"""Benchmark: anomaly scan over 500 agents x 90 days of hourly rollups, and the newest-hour scan.

Targets (DESIGN/issue 4): full scan <= 3 s, incremental newest hour <= 300 ms. Prints figures only.
Also times the scan as `detect_anomalies` runs it: 90 tested days after 28 days of baseline history.

`--store` times what a user waits for on bench_mcp.py's data (a 10k-note vault, 10M events,
copied to a temp folder first): in-process, the store query plus the scan of `brain anomalies`;
then `brain anomalies --json`, `brain agent NAME --json` and `brain publish` as commands, end to
end (medians of 3 after a warm-up run, peak RSS from /usr/bin/time -v).

    .venv/bin/python tests/benchmarks/bench_anomaly.py [--agents 500] [--repeat 3] [--store [--tmp DIR]]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).parent))
import eval_anomaly as ev  # noqa: E402

from brain.anomaly import AnomalyConfig, scan_series  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "bench-data"
BRAIN = str(Path(sys.executable).parent / "brain")


def copy_data(tmp: Path) -> tuple[Path, Path]:
    """bench_mcp.py's vault and 10M-event store, copied (the benchmark data is never modified)."""
    vault, store = DATA / "mcp-vault-10000", DATA / "mcp-usage-10000000.duckdb"
    if not (vault.exists() and store.exists()):
        sys.exit("run tests/benchmarks/bench_mcp.py --rows 10000000 first: it builds the vault and store")
    tmp.mkdir(parents=True, exist_ok=True)
    if not (tmp / vault.name).exists():
        shutil.copytree(vault, tmp / vault.name)
    if not (tmp / store.name).exists():
        shutil.copy2(store, tmp / store.name)
    return tmp / vault.name, tmp / store.name


def time_in_process(vault: Path, store: Path, repeat: int) -> None:
    """The store query and the scan of `brain anomalies` (vault loaded first, not timed)."""
    from brain import anomaly
    from brain.facade import Brain
    from brain.settings import Settings

    brain = Brain.open(Settings.from_env(str(vault), str(store)), read_only=True)
    query_s: list[float] = []
    real = anomaly.usage_series

    def timed_query(*a, **k):
        t0 = time.perf_counter()
        try:
            return real(*a, **k)
        finally:
            query_s.append(time.perf_counter() - t0)

    anomaly.usage_series = timed_query
    try:
        brain.graph  # noqa: B018 - load the vault before timing
        total = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            found = anomaly.detect_anomalies(brain.scan_inputs(), days=7)
            total.append(time.perf_counter() - t0)
    finally:
        anomaly.usage_series = real
        brain.close()
    q, t = statistics.median(query_s), statistics.median(total)
    print(f"brain anomalies in-process, 10M events ({len(found)} listed): store query {q:.2f} s + scan "
          f"{t - q:.2f} s = {t:.2f} s (medians of {repeat})")


def _run(argv: list[str], env: dict) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in GB and stdout of one command under /usr/bin/time -v."""
    with tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        done = subprocess.run(["/usr/bin/time", "-v", *argv], env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        wall = time.perf_counter() - t0
        err.seek(0)
        log = err.read()
    if done.returncode:
        sys.exit(f"{' '.join(argv)} failed:\n{log[-2000:]}")
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", log).group(1))
    return wall, rss_kb / 1e6, done.stdout


def time_commands(vault: Path, store: Path, repeat: int) -> None:
    """The commands as a user runs them on the copies (BRAIN_VAULT/BRAIN_STORE, as bench_mcp.py pairs them)."""
    import json

    env = {**os.environ, "BRAIN_VAULT": str(vault), "BRAIN_STORE": str(store),
           "BRAIN_CACHE_DIR": str(vault.parent / "cache")}
    listed = json.loads(_run([BRAIN, "anomalies", "--json"], env)[2])  # also the warm-up run
    agent = listed[0]["agent_id"] if listed else sorted(p.stem for p in (vault / "Agents").glob("*.md"))[0]
    for argv in (["anomalies", "--json"], ["agent", agent, "--json"], ["publish"]):
        if argv[0] != "anomalies":
            _run([BRAIN, *argv], env)  # warm-up (publish: the first writes every note)
        runs = [_run([BRAIN, *argv], env) for _ in range(repeat)]
        wall = statistics.median(r[0] for r in runs)
        rss = statistics.median(r[1] for r in runs)
        print(f"brain {' '.join(argv)}: median {wall:.2f} s (runs {', '.join(f'{r[0]:.2f}' for r in runs)}), "
              f"peak RSS {rss:.2f} GB")


def main() -> None:
    """Build the synthetic company once, then time full and incremental scans."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agents", type=int, default=500)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--store", action="store_true", help="time brain anomalies/agent/publish on the 10M-event data instead")
    p.add_argument("--tmp", type=Path, default=Path(tempfile.gettempdir()) / "bench-anomaly",
                   help="where the data is copied to (kept for the next run)")
    args = p.parse_args()
    if args.store:
        vault, store = copy_data(args.tmp)
        time_in_process(vault, store, args.repeat)
        time_commands(vault, store, args.repeat)
        return
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
