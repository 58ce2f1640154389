"""Budgets on agent, team and person notes (`budget_usd_per_month`, `budget_usd_per_day`): what is
spent in the period, what the period will end at, and which thresholds are crossed."""

from __future__ import annotations

from dataclasses import asdict, dataclass


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
