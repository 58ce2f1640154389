"""Price table from genai-prices (periods, tiers, cache, reasoning) and vault price notes, priced in SQL."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import duckdb
import genai_prices
import pyarrow as pa
from genai_prices import data_snapshot
from genai_prices import types as gt
from genai_prices.units import _get_registry
from genai_prices.validation import validate_priced_units

from brain.store.database import small_table

log = logging.getLogger(__name__)

DAY_US = 86_400_000_000
_FAR_PAST_DAY = -1_000_000
_FAR_FUTURE_DAY = 1_000_000
_BAND_INF = 1e30

# Which canonical field a genai-prices usage key stands for; every other key is zero for us.
USAGE_KEY_OF_FIELD = {
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "cache_read_tokens": "cache_read_tokens",
    "cache_write_tokens": "cache_write_tokens",
    "reasoning_tokens": "output_reasoning_tokens",
}
_PRICE_KEY_OF = {
    "input_tokens": "p_input",
    "cache_read_tokens": "p_cache_read",
    "cache_write_tokens": "p_cache_write",
    "output_tokens": "p_output",
    "output_reasoning_tokens": "p_reasoning",
}

# SQL (alias `p` = price_table row, `e` = event) for the parts of one event's cost.
# Leaves follow genai-prices: a part priced on its own is taken out of its total.
COST_PART_SQL = {
    "input": "p.p_input * (e.input_tokens - e.cache_read_tokens * p.cache_read_split"
    " - e.cache_write_tokens * p.cache_write_split)",
    "cache_read": "p.p_cache_read * e.cache_read_tokens",
    "cache_write": "p.p_cache_write * e.cache_write_tokens",
    "output": "p.p_output * (e.output_tokens - e.reasoning_tokens * p.reasoning_split)",
    "reasoning": "p.p_reasoning * e.reasoning_tokens",
    "request": "p.p_request * e.requests",
}
EVENT_COST_SQL = "(" + " + ".join(COST_PART_SQL.values()) + ")"

# Join condition of events `e` to the price table `p` (TimeZone-independent epoch arithmetic).
PRICE_JOIN_SQL = """p.provider IS NOT DISTINCT FROM e.provider AND p.model = e.model
    AND e._day >= p.day_from AND e._day < p.day_to
    AND e._tod >= p.tod_from_us AND e._tod < p.tod_to_us
    AND e._band > p.band_lo AND e._band <= p.band_hi"""
# Columns an events relation needs for PRICE_JOIN_SQL.
PRICE_KEY_COLUMNS_SQL = """(epoch_us("timestamp") // 86400000000)::INTEGER AS _day,
    epoch_us("timestamp") % 86400000000 AS _tod,
    input_tokens::DOUBLE / greatest(requests, 1) AS _band"""


@dataclass(frozen=True)
class ModelPricing:
    """How one (provider, model) pair of the store is priced: status and its price rows."""

    provider: str | None
    model: str
    status: str  # "priced" | "unknown" | "invalid"
    matched_provider: str | None
    matched_model: str | None
    detail: str | None
    rows: tuple[dict, ...]


# OpenTelemetry GenAI `gen_ai.provider.name` (and older `gen_ai.system`) values -> genai-prices ids,
# where genai-prices' own provider matching does not find them (or finds another provider).
SEMCONV_PROVIDERS = {
    "gcp.gen_ai": "google",
    "gcp.vertex_ai": "google",
    "gcp.gemini": "google",
    "x_ai": "x-ai",
    "aws.bedrock": "aws",
    "azure.ai.openai": "azure",
    "az.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "az.ai.inference": "azure",
    "mistral_ai": "mistral",
}


def prices_provider(provider: str | None) -> str | None:
    """The genai-prices provider id to look a pair up with: the semconv name mapped, else as given,
    or None (match by model alone) when genai-prices knows no such provider."""
    if not provider or not provider.strip():
        return None
    key = provider.strip().lower()
    mapped = SEMCONV_PROVIDERS.get(key, key)
    if key == "litellm":  # genai-prices reads the provider from a litellm model's prefix itself
        return key
    snap = data_snapshot.get_snapshot()
    return mapped if data_snapshot.find_provider_by_id(snap.providers, mapped) else None


def resolve(provider: str | None, model: str) -> tuple[gt.Provider, gt.ModelInfo] | None:
    """The genai-prices provider and model for a pair, as `calc_price` finds them with `prices_provider`."""
    snap = data_snapshot.get_snapshot()
    try:
        return snap.find_provider_model(model, None, prices_provider(provider), None)
    except LookupError:
        return None


def _tod_us(t: time) -> int:
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    u = datetime.combine(date(1970, 1, 1), t).astimezone(UTC).timetz()
    return ((u.hour * 60 + u.minute) * 60 + u.second) * 1_000_000 + u.microsecond


def _periods(info: gt.ModelInfo) -> list[tuple[int, int, int, int, datetime]]:
    """Disjoint (day_from, day_to, tod_from, tod_to, representative instant) cells of a model."""
    days: set[int] = set()
    tods: set[int] = {0, DAY_US}
    if isinstance(info.prices, list):
        for cp in info.prices:
            c = cp.constraint
            if isinstance(c, gt.StartDateConstraint):
                days.add((c.start_date - date(1970, 1, 1)).days)
            elif isinstance(c, gt.TimeOfDateConstraint):
                tods.update((_tod_us(c.start_time), _tod_us(c.end_time)))
    day_edges = [_FAR_PAST_DAY, *sorted(days), _FAR_FUTURE_DAY]
    tod_edges = sorted(tods)
    cells = []
    for d0, d1 in zip(day_edges, day_edges[1:], strict=False):
        rep_day = date(1970, 1, 1) + timedelta(days=max(d0, d1 - 1) if d0 == _FAR_PAST_DAY else d0)
        for t0, t1 in zip(tod_edges, tod_edges[1:], strict=False):
            rep = datetime.combine(rep_day, time(0), tzinfo=UTC) + timedelta(microseconds=t0)
            cells.append((d0, d1, t0, t1, rep))
    return cells


def _band_rows(model_price: gt.ModelPrice) -> list[dict]:
    """Scalar per-token prices for each input-token band of one ModelPrice (tiers flattened)."""
    registry = _get_registry()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        resolved = gt._collect_resolved_model_prices(model_price, registry)
    validate_priced_units(tuple(unit for unit, _ in resolved), registry)
    starts = sorted({t.start for _, p in resolved if isinstance(p, gt.TieredPrices) for t in p.tiers})
    edges = [-1.0, *[float(s) for s in starts], _BAND_INF]
    keys = {unit.usage_key for unit, _ in resolved}
    rows = []
    for lo, hi in zip(edges, edges[1:], strict=False):
        probe = int(lo) + 1
        row = {
            "band_lo": lo,
            "band_hi": hi,
            "p_input": 0.0,
            "p_cache_read": 0.0,
            "p_cache_write": 0.0,
            "p_output": 0.0,
            "p_reasoning": 0.0,
            "p_request": 0.0,
            "cache_read_split": int("cache_read_tokens" in keys),
            "cache_write_split": int("cache_write_tokens" in keys),
            "reasoning_split": int("output_reasoning_tokens" in keys),
        }
        for unit, price in resolved:
            scalar: Decimal
            if not isinstance(price, gt.TieredPrices):
                scalar = price
            else:
                scalar = price.base
                for tier in reversed(price.tiers):
                    if probe > tier.start:
                        scalar = tier.price
                        break
            per_unit = Decimal(scalar) / unit.per
            if unit.usage_key in _PRICE_KEY_OF:
                row[_PRICE_KEY_OF[unit.usage_key]] = float(per_unit)
            elif unit.usage_key == "requests":
                row["p_request"] = float(per_unit)
        rows.append(row)
    return rows


def model_pricing(provider: str | None, model: str) -> ModelPricing:
    """Every price row (period x band) for one pair, or why it is unpriced."""
    found = resolve(provider, model)
    if found is None:
        return ModelPricing(provider, model, "unknown", None, None, "genai-prices does not know it", ())
    prov, info = found
    rows: list[dict] = []
    try:
        for d0, d1, t0, t1, rep in _periods(info):
            for band in _band_rows(info.get_prices(rep)):
                rows.append(
                    {"day_from": d0, "day_to": d1, "tod_from_us": t0, "tod_to_us": t1, **band}
                )
    except ValueError as exc:
        return ModelPricing(provider, model, "invalid", prov.id, info.id, str(exc), ())
    return ModelPricing(provider, model, "priced", prov.id, info.id, None, tuple(rows))


def ensure_prices(con: duckdb.DuckDBPyConnection, pairs: Iterable[tuple[str | None, str]]) -> int:
    """Add price rows for pairs the store has not priced yet; returns how many pairs were new."""
    known = {
        (p, m) for p, m in con.execute("SELECT provider, model FROM price_models").fetchall()
    }
    new = [pair for pair in set(pairs) if pair not in known and pair[1] is not None]
    if not new:
        return 0
    top = con.execute("SELECT coalesce(max(price_id), 0) + 1 FROM price_table").fetchone()
    next_id = top[0] if top else 1
    price_rows, model_rows = [], []
    version = genai_prices.__version__
    for provider, model in sorted(new, key=lambda pm: (pm[0] or "", pm[1])):
        mp = model_pricing(provider, model)
        model_rows.append(
            (provider, model, mp.status, mp.matched_provider, mp.matched_model, mp.detail, version)
        )
        for row in mp.rows:
            price_rows.append({"price_id": next_id, "provider": provider, "model": model, **row})
            next_id += 1
    con.executemany("INSERT INTO price_models VALUES (?, ?, ?, ?, ?, ?, ?)", model_rows)
    if price_rows:
        con.register("_new_prices", pa.Table.from_pylist(price_rows))
        try:
            con.execute("INSERT INTO price_table BY NAME SELECT * FROM _new_prices")
        finally:
            con.unregister("_new_prices")
    log.info("priced %d new provider/model pairs", len(new))
    return len(new)


# ---- vault price notes, applied at query time on rollups --------------------------------

NOTE_PRICE_FIELDS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok", "reasoning_mtok")
NOTES_TYPES = {
    "provider": "VARCHAR",
    "model": "VARCHAR",
    "valid_from": "TIMESTAMPTZ",
    "valid_to": "TIMESTAMPTZ",
    **dict.fromkeys(NOTE_PRICE_FIELDS, "DOUBLE"),
    "discount_pct": "DOUBLE",
}


def _num(value: object) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(str(value).replace("$", "").replace("%", "").replace(",", ""))
    except ValueError:
        log.warning("price note value %r is not a number; ignored", value)
        return None


def _when(value: object) -> datetime | None:
    """A note's valid_from as an aware UTC datetime, floored to its hour (rollups are hourly)."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        d = value
    elif isinstance(value, date):
        d = datetime.combine(value, time(0), tzinfo=UTC)
    else:
        try:
            d = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            log.warning("price note valid_from %r is not a date; ignored", value)
            return None
    d = d.astimezone(UTC) if d.tzinfo else d.replace(tzinfo=UTC)
    return d.replace(minute=0, second=0, microsecond=0)


def price_notes_table(notes: Sequence[dict]) -> pa.Table:
    """Vault `price` notes as non-overlapping validity intervals per (provider, model)."""
    by_key: dict[tuple[str | None, str], list[dict]] = {}
    for note in notes:
        model = note.get("model")
        if not model:
            continue
        provider = note.get("provider")
        row = {
            "provider": str(provider).strip().lower() if provider else None,
            "model": str(model).strip().lower(),
            "valid_from": _when(note.get("valid_from")),
            **{f: _num(note.get(f)) for f in NOTE_PRICE_FIELDS},
            "discount_pct": _num(note.get("discount_pct")),
        }
        by_key.setdefault((row["provider"], row["model"]), []).append(row)  # type: ignore[arg-type]
    rows = []
    floor = datetime(1970, 1, 1, tzinfo=UTC)
    for group in by_key.values():
        group.sort(key=lambda r: r["valid_from"] or floor)
        for i, row in enumerate(group):
            nxt = group[i + 1]["valid_from"] if i + 1 < len(group) else None
            rows.append({**row, "valid_from": row["valid_from"] or floor, "valid_to": nxt})
    return small_table({f: [r[f] for r in rows] for f in NOTES_TYPES}, NOTES_TYPES)


# Each cost part a note can price: (its $/1M-token price in the matched note `r`, its tokens).
_NOTE_PARTS = {
    "input": ("r.input_mtok", "(r.input_tokens - r.cache_read_tokens - r.cache_write_tokens)"),
    "cache_read": ("coalesce(r.cache_read_mtok, r.input_mtok)", "r.cache_read_tokens"),
    "cache_write": ("coalesce(r.cache_write_mtok, r.input_mtok)", "r.cache_write_tokens"),
    "output": ("r.output_mtok", "(r.output_tokens - r.reasoning_tokens)"),
    "reasoning": ("coalesce(r.reasoning_mtok, r.output_mtok)", "r.reasoning_tokens"),
}
COST_PARTS = (*_NOTE_PARTS, "request")
_NOTE_FIELDS = (*NOTE_PRICE_FIELDS, "discount_pct")
# Notes a rollup row may match, best first: (alias, model match, provider match). A note names the
# model as reported, or as genai-prices resolves it (`claude-sonnet-4-5` covers the dated
# `claude-sonnet-4-5-20250929`); the exact id wins, then a note naming the provider.
_NOTE_MATCHES = (
    ("nxp", "lower(r.model)", "lower(r.provider) = nxp.provider"),
    ("nxg", "lower(r.model)", "nxg.provider IS NULL"),
    ("nbp", "lower(_pm.matched_model)", "lower(r.provider) = nbp.provider"),
    ("nbg", "lower(_pm.matched_model)", "nbg.provider IS NULL"),
)


def _noted_sql(source: str, bucket: str) -> str:
    """Rows of `source` with per-type costs after the note matching each row at its `bucket`."""
    cols = []
    still_unpriced = []
    factor = "(1 - coalesce(r.discount_pct, 0) / 100.0)"
    for part, (price, tokens) in _NOTE_PARTS.items():
        # A part the note does not price keeps genai-prices' cost; for a model genai-prices does
        # not know it stays unknown (NULL) and its requests stay unpriced.
        cols.append(
            f"(CASE WHEN {price} IS NOT NULL THEN {price} / 1e6 * {tokens} "
            f"WHEN r.unpriced_requests > 0 AND {tokens} <> 0 THEN NULL "
            f"ELSE r.cost_{part}_usd END) * {factor} AS cost_{part}_usd"
        )
        still_unpriced.append(f"({price} IS NULL AND {tokens} <> 0)")
    cols.append(f"r.cost_request_usd * {factor} AS cost_request_usd")
    unpriced = f"r.unpriced_requests > 0 AND ({' OR '.join(still_unpriced)})"
    sep = ",\n        "
    picked = ", ".join(
        "CASE " + " ".join(f"WHEN {a}.model IS NOT NULL THEN {a}.{f}" for a, _, _ in _NOTE_MATCHES) + f" END AS {f}"
        for f in _NOTE_FIELDS
    )
    joins = "\n".join(
        f"LEFT JOIN _notes {a} ON {model} = {a}.model AND {provider} AND r.{bucket} >= {a}.valid_from "
        f"AND ({a}.valid_to IS NULL OR r.{bucket} < {a}.valid_to)"
        for a, model, provider in _NOTE_MATCHES
    )
    return f"""
    SELECT r.* EXCLUDE ({", ".join(f"cost_{p}_usd" for p in COST_PARTS)},
                        unpriced_requests, unpriced_tokens, {", ".join(_NOTE_FIELDS)}),
        {sep.join(cols)},
        CASE WHEN {unpriced} THEN r.unpriced_requests ELSE 0 END AS unpriced_requests,
        CASE WHEN {unpriced} THEN r.unpriced_tokens ELSE 0 END AS unpriced_tokens
    FROM (
        SELECT r.*, {picked}
        FROM {source} r
        LEFT JOIN (SELECT provider, model, any_value(matched_model) AS matched_model
                   FROM price_models GROUP BY ALL) _pm
          ON _pm.provider IS NOT DISTINCT FROM r.provider AND _pm.model = r.model
        {joins}
    ) r"""


def adjusted_costs_sql(source: str, bucket: str) -> str:
    """SELECT over rollup rows with per-type costs after vault notes (needs `_notes`).

    `cost_usd` stays the genai-prices (list) estimate; the adjusted cost is the sum of the parts.
    A note takes effect from the hour of its valid_from: a `day` source (rows of `rollup_daily`)
    takes its costs on a day a note starts within from that day's `rollup_hourly` rows.
    """
    if bucket != "day":
        return _noted_sql(source, bucket)
    day_of = f"(epoch_us({{c}}) // {DAY_US})"
    split = f"(SELECT DISTINCT {day_of.format(c='valid_from')} FROM _notes WHERE epoch_us(valid_from) % {DAY_US} <> 0)"
    keys = ("agent", "api_key_id", "service_name", "provider", "model")
    summed = ", ".join(f"sum(cost_{p}_usd) AS cost_{p}_usd" for p in COST_PARTS)
    hourly = f"(SELECT * FROM rollup_hourly WHERE {day_of.format(c='hour')} IN {split})"
    measured = [*(f"cost_{p}_usd" for p in COST_PARTS), "unpriced_requests", "unpriced_tokens"]
    # (a day with no hourly rows, which ingest never leaves, keeps its daily costs)
    from_hours = ", ".join(f"CASE WHEN h.day IS NULL THEN d.{c} ELSE h.{c} END AS {c}" for c in measured)
    return f"""
    SELECT * FROM ({_noted_sql(f"(SELECT * FROM {source} _s WHERE {day_of.format(c='day')} NOT IN {split})", "day")})
    UNION ALL BY NAME
    SELECT d.* EXCLUDE ({", ".join(measured)}), {from_hours}
    FROM (SELECT * FROM {source} _s WHERE {day_of.format(c='day')} IN {split}) d
    LEFT JOIN (SELECT to_timestamp({day_of.format(c='hour')} * 86400) AS day, {", ".join(keys)}, {summed},
                 sum(unpriced_requests)::BIGINT AS unpriced_requests, sum(unpriced_tokens)::BIGINT AS unpriced_tokens
          FROM ({_noted_sql(hourly, "hour")}) GROUP BY ALL) h
      ON h.day = d.day AND {" AND ".join(f"h.{k} IS NOT DISTINCT FROM d.{k}" for k in keys)}"""
