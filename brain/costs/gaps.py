"""Usage that needs a person's attention, for `brain check`: spend no agent note claims, models
genai-prices does not price, and keys fed by two kinds of source (counted twice)."""

from __future__ import annotations

from collections.abc import Sequence

from brain.costs import spend
from brain.graph.gaps import Gap
from brain.graph.identity import AgentIdentity
from brain.ingest.overlap import overlapping_sources
from brain.money import usd


def unattributed(report: dict) -> dict:
    """The rows of a spend report by agent that no agent note claims, each with how to claim it."""
    rows = []
    for r in report.get("rows", []):
        if r.get("attributed"):
            continue
        label = str(r.get("group") or "")
        hint = label.split(":", 1)[1] if ":" in label else None
        rows.append(
            {
                "seen_as": hint,
                "spend_usd": r.get("spend_usd"),
                "requests": r.get("requests"),
                "run_rate_usd_per_day": r.get("run_rate_usd_per_day"),
                "projected_30d_usd": r.get("projected_30d_usd"),
                "how_to_claim": (
                    f"add {hint!r} to an agent note's api_keys, service_names or agent_id" if hint else
                    "usage rows carry no agent, key or service name; tag them at the source"
                ),
            }
        )
    return {
        "days": report.get("days"),
        "since": report.get("since"),
        "until": report.get("until"),
        "unattributed_usd": report.get("unattributed_usd", 0.0),
        "total_usd": report.get("total_usd", 0.0),
        "rows": rows,
    }


def usage_gaps(store, identities: Sequence[AgentIdentity], price_notes: Sequence[dict], days: int = 30) -> list[Gap]:
    """Gaps in the last `days` of usage: unclaimed usage, unpriced models, overlapping sources."""
    gaps: list[Gap] = []
    for r in unattributed(spend.spend_report(store, identities, by="agent", days=days, price_notes=price_notes)).get("rows", []):
        spent = f"spent {usd(r.get('spend_usd'), missing='an unpriced amount')} in {days} days"
        if r.get("seen_as") is None:
            gaps.append(Gap("unclaimed_usage", "warning", "-",
                            f"usage with no agent, key or service name ({r.get('requests') or 0:,} requests) {spent}; "
                            "no note can claim it (tag it at the source)"))
            continue
        gaps.append(Gap("unclaimed_usage", "warning", str(r["seen_as"]),
                        f"{r['seen_as']} {spent} and no agent note claims it "
                        "(add it to an agent's api_keys, service_names or agent_id)"))
    rows = store.con.execute(
        "SELECT provider, model, any_value(detail) FROM price_models WHERE status <> 'priced' GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    if rows:  # a model a price note prices is not unpriced: the models spend still reports unpriced
        still = {r["group"] for r in spend.spend_report(store, identities, by="model", days=days, price_notes=price_notes)["rows"]
                 if r.get("unpriced_requests")}
        rows = [r for r in rows if r[1] in still]
    overlaps = overlapping_sources(store, days=days)
    by_key: dict[str, list[dict]] = {}
    for o in overlaps:
        by_key.setdefault(o["api_key_id"], []).append(o)
    for key, days_ in sorted(by_key.items()):
        first = days_[0]
        gaps.append(Gap("overlapping_sources", "warning", key,
                        f"key {key} has usage from a provider export ({', '.join(first['bucketed_sources'])}) and from "
                        f"per-request telemetry ({', '.join(first['request_sources'])}) on {len(days_)} day(s) since "
                        f"{min(d['day'] for d in days_)}: the same calls are likely "
                        "counted twice; keep one source per key"))
    for provider, model, detail in rows:
        gaps.append(Gap("unpriced_model", "warning", f"{provider or '?'}/{model}",
                        f"model {model!r} ({provider or 'no provider'}) is not in genai-prices: its usage is unpriced, "
                        f"not $0; add a price note{' (genai-prices: ' + detail + ')' if detail else ''}"))
    return gaps
