"""Budgets on agent, team and person notes (`budget_usd_per_month`, `budget_usd_per_day`): what is
spent in the period, what the period will end at, and which thresholds are crossed.

A month is the calendar month (UTC) of `now`, a day its UTC day. A team's budget sums the agents
whose team it is, a person's the agents they own. Spend is read from the daily rollups, attributed
at query time as `brain spend` does (one query for every agent); the run-rate is spend's too (the
trailing 7 days, today by the hour), so a projection here matches `brain spend`'s figures.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from brain.costs.attribution import COST_SUM_SQL, attributed_sql, costed_sql, registered
from brain.costs.spend import RUN_RATE_DAYS
from brain.costs.window import midnight
from brain.graph.identity import AgentIdentity
from brain.vault.reader import decode_note_bytes, split_frontmatter

BUDGET_PROPERTIES = {"budget_usd_per_month": "month", "budget_usd_per_day": "day"}
BUDGET_KINDS = ("agent", "team", "person")
COMPANY_MEAN_DAYS = 30
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class BudgetStatus:
    """One budget of one note in its current period."""

    node: str
    name: str
    kind: str  # "agent" | "team" | "person"
    period: str  # "month" | "day"
    period_start: str  # ISO date
    budget_usd: float
    spent_usd: float
    projected_usd: float
    used_pct: float
    agents: tuple[str, ...]  # the agent node ids summed

    def crossed(self, thresholds: tuple[float, ...] = (0.8, 1.0)) -> list[str]:
        """The thresholds this period has crossed: "forecast" (projected over budget, not yet
        spent over it), and each share of `thresholds` spent ("80%", "100%")."""
        out = [f"{round(t * 100)}%" for t in thresholds if self.spent_usd >= t * self.budget_usd]
        if self.projected_usd > self.budget_usd and self.spent_usd < self.budget_usd:
            out.insert(0, "forecast")
        return out

    def to_dict(self) -> dict:
        """Plain JSON-ready dict."""
        return {**asdict(self), "agents": list(self.agents)}


@dataclass(frozen=True)
class _Budget:
    node: str
    kind: str
    period: str
    budget_usd: float


# -- budgets in the notes --------------------------------------------------------------------------

def budget_value(value) -> float:
    """A budget property's amount in USD; ValueError saying what it must be otherwise."""
    what = "it must be an amount in USD above 0, such as 500"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(what)
    try:
        x = float(value)
    except ValueError:
        raise ValueError(what) from None
    if not math.isfinite(x) or x <= 0:
        raise ValueError(what)
    return x


def _show(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, str) else str(value)


def _read_budgets(graph) -> tuple[list[_Budget], list[tuple[str, str]]]:
    """Valid budgets of the graph's agent, team and person notes, and (node id, message) per problem."""
    budgets: list[_Budget] = []
    problems: list[tuple[str, str]] = []
    for nid, note in sorted(graph.notes.items()):
        props = note.properties
        keys = [k for k in props if str(k).lower().startswith("budget")]
        if not keys:
            continue
        kind = graph.g.nodes[nid].get("type") if nid in graph.g else None
        if kind == "template":
            continue

        def problem(key: str, message: str, nid: str = nid, path: str = note.path) -> None:
            line = property_line(graph.root, path, key)
            problems.append((nid, f"{path}:{line}: {message}" if line else f"{path}: {message}"))

        for key in keys:
            period = BUDGET_PROPERTIES.get(key)
            if period is None and kind not in BUDGET_KINDS:
                continue  # another note's own property (the settings note's budget_thresholds)
            if period is None:
                close = difflib.get_close_matches(str(key).lower(), list(BUDGET_PROPERTIES), n=1, cutoff=0.6)
                hint = f"did you mean {close[0]}?" if close else f"the budgets are {' and '.join(BUDGET_PROPERTIES)}"
                problem(key, f"{key} is not a budget property; {hint} (ignored)")
            elif props[key] is None:
                continue  # an empty property in Obsidian: no budget
            elif kind not in BUDGET_KINDS:
                problem(key, f"{key} on a {kind} note: budgets are read on agent, team and person notes (ignored)")
            else:
                try:
                    budgets.append(_Budget(nid, kind, period, budget_value(props[key])))
                except ValueError as bad:
                    problem(key, f"{key} is {_show(props[key])}; {bad} (no budget)")
    return budgets, problems


def budget_findings(graph) -> list[tuple[str, str]]:
    """(node id, message) for every budget property that is not used: negative, not a number, a
    misspelt name, or on a note that is not an agent, team or person. The message starts with the
    note's file and line (`Agents/Bot.md:5: budget_usd_per_month is -5; ...`)."""
    return _read_budgets(graph)[1]


def property_line(vault_root: Path | None, rel_path: str, key: str) -> int | None:
    """The 1-based line of a top-level frontmatter property in a note file (None when unknown)."""
    if vault_root is None:
        return None
    try:
        text, _ = decode_note_bytes((Path(vault_root) / rel_path).read_bytes())
    except OSError:
        return None
    fm, _, _ = split_frontmatter((text or "").replace("\r\n", "\n").lstrip("\ufeff"))
    if fm is None:
        return None
    for i, line in enumerate(fm.split("\n")):
        m = re.match(r"^([^\s#:][^:]*?)\s*:(?:\s|$)", line)
        if m and m.group(1).strip("'\"") == key:
            return i + 2  # +1 for the '---' line, +1 for 1-based
    return None


# -- spend in the period ---------------------------------------------------------------------------

def _next_month(day: datetime) -> datetime:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _agent_spend(store, identities: Sequence[AgentIdentity], price_notes: Sequence[dict],
                 now: datetime) -> tuple[dict[str, tuple[float, float, float]], float]:
    """{agent node id: (spent this month, spent today, run-rate $/day)} in one query over the daily
    rollups, and the days the run-rate is taken over."""
    today = midnight(now.date())
    month = today.replace(day=1)
    end = today + timedelta(days=1)
    rr_start = midnight((now - timedelta(microseconds=1)).date()) - timedelta(days=RUN_RATE_DAYS - 1)
    rr_days = max((now - rr_start).total_seconds() / 86400, 1 / 24)
    if store is None or not identities:
        return {}, rr_days
    cost = COST_SUM_SQL.replace("cost_", "a.cost_")
    with registered(store, identities, price_notes) as notes:
        rows = store.con.execute(
            f"""SELECT a.node_id,
                coalesce(sum({cost}) FILTER (WHERE a.day >= $month), 0),
                coalesce(sum({cost}) FILTER (WHERE a.day >= $today), 0),
                coalesce(sum({cost}) FILTER (WHERE a.day >= $rr), 0)
            FROM ({attributed_sql("rollup_daily", "day", "day >= $lo AND day < $end", notes)}) a
            WHERE a.node_id IS NOT NULL
            GROUP BY a.node_id""",
            {"month": month, "today": today, "rr": rr_start, "lo": min(month, rr_start), "end": end},
        ).fetchall()
    return {nid: (m, d, rr / rr_days) for nid, m, d, rr in rows}, rr_days


def budget_statuses(
    store,
    graph,
    identities: Sequence[AgentIdentity],
    price_notes: Sequence[dict] = (),
    now: datetime | None = None,
) -> list[BudgetStatus]:
    """Every valid budget of the vault in its current period (the month or the day of `now`, UTC):
    spent so far, projected to the period's end at the run-rate, % used. `store` None: nothing
    spent yet. Invalid budgets are left out (see `budget_findings`)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    budgets, _ = _read_budgets(graph)
    if not budgets:
        return []
    spend, _ = _agent_spend(store, identities, price_notes, now)
    agents = graph.nodes_of_type("agent")
    owners = {nid: graph.owner_of_id(nid) for nid in agents}
    today = midnight(now.date())
    ends = {"month": (today.replace(day=1), _next_month(today)), "day": (today, today + timedelta(days=1))}
    out = []
    for b in budgets:
        if b.kind == "agent":
            summed = (b.node,)
        else:
            field = "team_id" if b.kind == "team" else "person_id"
            summed = tuple(a for a in agents if owners[a][field] == b.node)
        figures = [spend.get(a, (0.0, 0.0, 0.0)) for a in summed]
        spent = sum(f[0] if b.period == "month" else f[1] for f in figures)
        run_rate = sum(f[2] for f in figures)
        start, end = ends[b.period]
        left_days = max((end - now).total_seconds() / 86400, 0.0)
        out.append(BudgetStatus(
            node=b.node,
            name=graph.name_of(b.node),
            kind=b.kind,
            period=b.period,
            period_start=start.date().isoformat(),
            budget_usd=b.budget_usd,
            spent_usd=round(spent, 6),
            projected_usd=round(spent + run_rate * left_days, 6),
            used_pct=round(spent / b.budget_usd * 100, 2),
            agents=summed,
        ))
    return out


def company_usd_per_day(store, now: datetime | None = None, price_notes: Sequence[dict] = ()) -> float:
    """The company's spend per day, attributed or not: the mean of the last 30 complete UTC days
    (or of the days since its first usage, when that is later). 0 without usage."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    end = midnight(now.date())
    start = end - timedelta(days=COMPANY_MEAN_DAYS)
    if store is None:
        return 0.0
    with registered(store, (), price_notes) as notes:
        total, first_us = store.con.execute(
            f"""SELECT coalesce(sum({COST_SUM_SQL}), 0), epoch_us(min(day))
            FROM ({costed_sql("rollup_daily", "day", "day >= $start AND day < $end", notes)})""",
            {"start": start, "end": end},
        ).fetchall()[0]
    if first_us is None:
        return 0.0
    first = _EPOCH + timedelta(microseconds=first_us)
    days = max((end - first).total_seconds() / 86400, 1.0)
    return float(total) / days
