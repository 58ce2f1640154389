"""MCP benchmark: tool latency in-process and over stdio, and server start to first answer.

Run: .venv/bin/python tests/benchmarks/bench_mcp.py [--notes 10000] [--rows 1000000]
Uses the 10k-note vault generator (gen_vault.py) and the usage generator of bench_usage.py; data is
cached under bench-data/. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.benchmarks import bench_usage  # noqa: E402
from tests.benchmarks.gen_vault import generate_vault  # noqa: E402

DATA = ROOT / "bench-data"
BRAIN = str(Path(sys.executable).parent / "brain")
TARGETS_MS = {"get_node": 5, "dependents": 5, "cost_leaderboard": 50, "agent_costs": 50}


def build_data(notes: int, rows: int) -> tuple[Path, Path]:
    """The vault and a usage store whose agent ids match the vault's agents (both cached)."""
    import duckdb

    from brain.ingest import ingest_files
    from brain.store.database import Store

    DATA.mkdir(exist_ok=True)
    vault = DATA / f"mcp-vault-{notes}"
    if not vault.exists():
        t = time.perf_counter()
        generate_vault(vault, notes=notes, seed=0)
        print(f"generated {notes:,}-note vault in {time.perf_counter() - t:.1f}s", flush=True)
    store_path = DATA / f"mcp-usage-{rows}.duckdb"
    if not store_path.exists():
        pq, _ = bench_usage.generate(rows, datetime.now(UTC).replace(minute=0, second=0, microsecond=0))
        # bench_usage names agents agent-000..499; the vault's agent_ids are agent-00000.. (5 digits).
        fixed = DATA / f"mcp-usage-{rows}.parquet"
        con = duckdb.connect()
        con.execute(
            f"COPY (SELECT * REPLACE ('agent-' || lpad(substr(agent, 7), 5, '0') AS agent, "
            f"'key_' || lpad(substr(api_key_id, 5), 5, '0') AS api_key_id) FROM read_parquet('{pq}')) "
            f"TO '{fixed}' (FORMAT PARQUET)"
        )
        con.close()
        t = time.perf_counter()
        with Store(store_path) as store:
            report = ingest_files(store, [fixed])
        print(f"ingested {report.accepted:,} events in {time.perf_counter() - t:.1f}s", flush=True)
    return vault, store_path


def pct(samples: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    s = sorted(samples)
    return statistics.median(s) * 1000, s[min(len(s) - 1, int(len(s) * 0.99))] * 1000


def workload(agents: list[str], tools: list[str], repeats: int, cost_repeats: int, seed: int = 1):
    """(tool, arguments) calls per tool: random agents and tools, fixed seed."""
    rng = random.Random(seed)
    return {
        "get_node": [{"name": rng.choice(agents)} for _ in range(repeats)],
        "dependents": [{"name": rng.choice(tools), "depth": 2} for _ in range(repeats)],
        "cost_leaderboard": [{"group_by": rng.choice(["agent", "team", "model"]), "days": 30} for _ in range(cost_repeats)],
        "agent_costs": [{"name": rng.choice(agents[:500]), "days": 30} for _ in range(cost_repeats)],
    }


async def timed_calls(client, calls: dict) -> dict:
    """Latency samples per tool through an MCP client (errors count as failures, not samples)."""
    out = {}
    for tool, arg_list in calls.items():
        await client.call_tool(tool, arg_list[0])  # warm
        samples = []
        for args in arg_list:
            t = time.perf_counter()
            result = await client.call_tool(tool, args)
            samples.append(time.perf_counter() - t)
            if result.is_error:
                raise SystemExit(f"{tool}{args} failed: {result.content[0].text}")
        out[tool] = pct(samples)
    return out


async def in_process(vault: Path, store: Path, calls: dict) -> tuple[dict, dict, float]:
    """Facade-only and in-memory-client latencies; returns (facade, client, build seconds)."""
    from mcp import Client

    from brain.facade import Brain
    from brain.settings import Settings
    from mcp_server import build_server

    t = time.perf_counter()
    brain = Brain.open(Settings(vault=vault, store=store), read_only=True)
    brain.graph  # noqa: B018
    build_s = time.perf_counter() - t
    direct = {
        "get_node": lambda a: brain.node_card(a["name"]),
        "dependents": lambda a: brain.dependents(a["name"], a["depth"]),
        "cost_leaderboard": lambda a: brain.cost_leaderboard(a["group_by"], a["days"]),
        "agent_costs": lambda a: brain.agent_costs(a["name"], a["days"]),
    }
    facade = {}
    for tool, arg_list in calls.items():
        direct[tool](arg_list[0])
        samples = []
        for args in arg_list:
            t = time.perf_counter()
            direct[tool](args)
            samples.append(time.perf_counter() - t)
        facade[tool] = pct(samples)
    async with Client(build_server(brain)) as client:
        t = time.perf_counter()
        await client.call_tool("get_node", {"name": calls["get_node"][0]["name"]})
        print(f"  first get_node in-process (attaches cost fields + anomalies): {(time.perf_counter() - t) * 1000:.0f} ms")
        via_client = await timed_calls(client, calls)
    brain.close()
    return facade, via_client, build_s


async def over_stdio(vault: Path, store: Path, calls: dict) -> tuple[dict, float, float]:
    """Latencies through `brain serve` over stdio; plus spawn-to-first-answer for graph_stats and get_node."""
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=BRAIN, args=["serve", "--vault", str(vault), "--store", str(store)])
    t = time.perf_counter()
    async with Client(params) as client:
        await client.call_tool("graph_stats", {})
        first_graph = time.perf_counter() - t
        await client.call_tool("get_node", {"name": calls["get_node"][0]["name"]})
        first_node = time.perf_counter() - t
        lat = await timed_calls(client, calls)
    return lat, first_graph, first_node


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--notes", type=int, default=10_000)
    ap.add_argument("--rows", type=int, default=1_000_000, help="usage events (the README figure uses 10,000,000)")
    ap.add_argument("--repeats", type=int, default=300, help="calls per graph tool")
    ap.add_argument("--cost-repeats", type=int, default=40, help="calls per cost tool")
    args = ap.parse_args()

    vault, store = build_data(args.notes, args.rows)
    names = sorted(p.stem for p in (vault / "Agents").glob("*.md"))
    tools = sorted(p.stem for p in (vault / "Tools").glob("*.md"))
    calls = workload(names, tools, args.repeats, args.cost_repeats)
    print(f"vault: {args.notes:,} notes ({len(names):,} agents); store: {args.rows:,} events ({store.stat().st_size / 1e6:.0f} MB)")

    facade, inproc, build_s = anyio.run(in_process, vault, store, calls)
    stdio, first_graph, first_node = anyio.run(over_stdio, vault, store, calls)

    print(f"  vault read + graph build in-process: {build_s * 1000:.0f} ms")
    print(f"  brain serve (stdio) spawn to first answer: graph_stats {first_graph:.2f} s, get_node {first_node:.2f} s (target <= 3 s)")
    print()
    header = f"{'tool':<18}{'facade p50/p99':>18}{'in-process p50/p99':>22}{'stdio p50/p99':>18}{'stdio adds':>12}{'target p50':>12}"
    print(header)
    print("-" * len(header))
    for tool in calls:
        f50, f99 = facade[tool]
        i50, i99 = inproc[tool]
        s50, s99 = stdio[tool]
        print(
            f"{tool:<18}{f'{f50:.2f}/{f99:.2f} ms':>18}{f'{i50:.2f}/{i99:.2f} ms':>22}"
            f"{f'{s50:.2f}/{s99:.2f} ms':>18}{f'{s50 - i50:+.2f} ms':>12}{f'<= {TARGETS_MS[tool]} ms':>12}"
        )


if __name__ == "__main__":
    main()
