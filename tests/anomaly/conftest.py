"""Hand-built hourly agent series for the anomaly tests (the spend.hourly_agent_series shape).

Fixtures return the builders: `stream` (one model's usage of one agent, hour by hour), `table`
(the Arrow table of agent -> streams), `daily_profile` (Poisson requests with a working-day bump),
`at` (a time from `start`, a Monday) and `start` itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

START = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday
def _stream(
    hours: int,
    requests,
    model: str = "gpt-4o-mini",
    tokens_per_request=1000.0,
    usd_per_mtok=1.0,
    error_share=0.0,
    calls_per_run=1.0,
) -> dict:
    """One model's usage of one agent, hour by hour; scalars broadcast over all hours."""

    def arr(v):
        return np.broadcast_to(np.asarray(v, dtype=float), (hours,)).copy()

    return {
        "model": model,
        "requests": arr(requests),
        "tpr": arr(tokens_per_request),
        "upm": arr(usd_per_mtok),
        "err": arr(error_share),
        "cpr": arr(calls_per_run),
    }


def _table(agents: dict[str, list[dict]], start: datetime = START) -> pa.Table:
    """The Arrow table of agent -> model streams; hours without requests have no row."""
    cols: dict[str, list] = {k: [] for k in (
        "agent", "hour", "provider", "model", "requests", "error_requests", "runs", "input_tokens",
        "output_tokens", "cost_usd", "input_tokens_p95", "output_tokens_p95",
    )}
    for agent, streams in agents.items():
        for st in streams:
            for h in np.flatnonzero(st["requests"] > 0):
                r = st["requests"][h]
                tokens = r * st["tpr"][h]
                cols["agent"].append(agent)
                cols["hour"].append(start + timedelta(hours=int(h)))
                cols["provider"].append("openai")
                cols["model"].append(st["model"])
                cols["requests"].append(int(r))
                cols["error_requests"].append(int(round(r * st["err"][h])))
                cols["runs"].append(max(1, int(round(r / st["cpr"][h]))))
                cols["input_tokens"].append(int(tokens * 0.8))
                cols["output_tokens"].append(int(tokens * 0.2))
                cols["cost_usd"].append(tokens * st["upm"][h] / 1e6)
                cols["input_tokens_p95"].append(st["tpr"][h] * 0.8 * 1.5)
                cols["output_tokens_p95"].append(st["tpr"][h] * 0.2 * 1.5)
    schema = pa.schema([
        ("agent", pa.string()), ("hour", pa.timestamp("us", tz="UTC")), ("provider", pa.string()),
        ("model", pa.string()), ("requests", pa.int64()), ("error_requests", pa.int64()),
        ("runs", pa.int64()), ("input_tokens", pa.int64()), ("output_tokens", pa.int64()),
        ("cost_usd", pa.float64()), ("input_tokens_p95", pa.float64()), ("output_tokens_p95", pa.float64()),
    ])
    return pa.table(cols, schema=schema)


def _daily_profile(days: int, peak: float, seed: int = 0, weekend: float = 1.0) -> np.ndarray:
    """Poisson requests per hour with a working-day bump and optional quieter weekends."""
    rng = np.random.default_rng(seed)
    hod = np.arange(24)
    shape = 0.25 + 0.75 * np.exp(-0.5 * ((hod - 14) / 4.0) ** 2)
    lam = np.tile(shape, days) * peak
    weekday = (np.arange(days * 24) // 24) % 7
    lam = lam * np.where(weekday >= 5, weekend, 1.0)
    return rng.poisson(lam).astype(float)


def _at(day: int, hour: int = 0) -> datetime:
    """The UTC time of a (day, hour) offset from START."""
    return START + timedelta(days=day, hours=hour)


@pytest.fixture(scope="session")
def start() -> datetime:
    """The first hour of every hand-built series: Monday 2024-01-01 00:00 UTC."""
    return START


@pytest.fixture(scope="session")
def stream():
    """stream(hours, requests, model=..., tokens_per_request=..., usd_per_mtok=..., error_share=...,
    calls_per_run=...) -> one model's usage of one agent; scalars broadcast over all hours."""
    return _stream


@pytest.fixture(scope="session")
def table():
    """table({agent: [stream, ...]}, start=START) -> the Arrow table; hours without requests have no row."""
    return _table


@pytest.fixture(scope="session")
def daily_profile():
    """daily_profile(days, peak, seed=0, weekend=1.0) -> Poisson requests per hour with a working-day bump."""
    return _daily_profile


@pytest.fixture(scope="session")
def at():
    """at(day, hour=0) -> the UTC time of that offset from `start`."""
    return _at
